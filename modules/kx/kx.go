// Package kx exports KSR.kx, quick getters for the message and the proxy
// (loadmodule "kemix.so"), like Kamailio's kemix module.
package kx

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// getter reads one field; the kx functions come in three faces: get_X
// (null when absent), gete_X ("" when absent), getw_X ("<<null>>").
type getter func(c *router.Ctx) router.Value

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "kemix", KSR: "kx", New: func() dispatch.Module { return Module{} }})
}

// Module is the kemix module; it keeps no state.
type Module struct{}

// Exports are KSR.kx.
func (Module) Exports() []dispatch.Export {
	str := router.NonEmpty
	ruri := func(c *router.Ctx) *sip.URI {
		if !c.Msg.IsRequest() {
			return nil
		}
		u, _ := c.RURI()
		return u
	}
	addr := func(na *sip.NameAddr, f func(*sip.URI) []byte) router.Value {
		if na == nil {
			return router.Value{}
		}
		return str(f(&na.URI))
	}
	fields := []struct {
		name  string
		faces string // which of get/gete/getw exist
		get   getter
	}{
		{"au", "gew", func(c *router.Ctx) router.Value {
			d, err := c.Msg.Authorization()
			if err != nil || d == nil {
				if d, err = c.Msg.ProxyAuthorization(); err != nil || d == nil {
					return router.Value{}
				}
			}
			return str(d.Username)
		}},
		{"body", "gew", func(c *router.Ctx) router.Value { return str(c.Msg.Body()) }},
		{"callid", "g", func(c *router.Ctx) router.Value { return str(c.Msg.CallID()) }},
		{"cturi", "gew", func(c *router.Ctx) router.Value {
			ct, err := c.Msg.Contact()
			if err != nil || ct == nil {
				return router.Value{}
			}
			return str(ct.URI.Raw)
		}},
		{"duri", "gew", func(c *router.Ctx) router.Value { return str(c.DstURI()) }},
		{"fhost", "gew", func(c *router.Ctx) router.Value { return addr(c.Msg.From(), func(u *sip.URI) []byte { return u.Host }) }},
		{"furi", "g", func(c *router.Ctx) router.Value { return addr(c.Msg.From(), func(u *sip.URI) []byte { return u.Raw }) }},
		{"fuser", "gew", func(c *router.Ctx) router.Value { return addr(c.Msg.From(), func(u *sip.URI) []byte { return u.User }) }},
		{"thost", "gew", func(c *router.Ctx) router.Value { return addr(c.Msg.To(), func(u *sip.URI) []byte { return u.Host }) }},
		{"turi", "g", func(c *router.Ctx) router.Value { return addr(c.Msg.To(), func(u *sip.URI) []byte { return u.Raw }) }},
		{"tuser", "gew", func(c *router.Ctx) router.Value { return addr(c.Msg.To(), func(u *sip.URI) []byte { return u.User }) }},
		{"method", "g", func(c *router.Ctx) router.Value {
			if c.Msg.IsRequest() {
				return str(c.Msg.MethodName())
			}
			return str(c.Msg.CSeqMethodName())
		}},
		{"msgbuf", "g", func(c *router.Ctx) router.Value { return str(c.Msg.Bytes()) }},
		{"nhuri", "g", func(c *router.Ctx) router.Value {
			if c.DstSet() {
				return str(c.DstURI())
			}
			if !c.Msg.IsRequest() {
				return router.Value{}
			}
			return str(c.RURIText())
		}},
		{"ouri", "g", func(c *router.Ctx) router.Value {
			if !c.Msg.IsRequest() {
				return router.Value{}
			}
			return str(c.Msg.RURIText())
		}},
		{"ruri", "g", func(c *router.Ctx) router.Value {
			if !c.Msg.IsRequest() {
				return router.Value{}
			}
			return str(c.RURIText())
		}},
		{"rhost", "gew", func(c *router.Ctx) router.Value {
			if u := ruri(c); u != nil {
				return str(u.Host)
			}
			return router.Value{}
		}},
		{"ruser", "gew", func(c *router.Ctx) router.Value {
			if u := ruri(c); u != nil {
				return str(u.User)
			}
			return router.Value{}
		}},
		{"proto", "g", func(c *router.Ctx) router.Value { return router.StrValue(c.ProtoName()) }},
		{"srcip", "g", func(c *router.Ctx) router.Value { return str(c.SrcIP()) }},
		{"srcport", "g", func(c *router.Ctx) router.Value { return router.StrValue(strconv.Itoa(int(c.Src().Port()))) }},
		{"srcuri", "g", func(c *router.Ctx) router.Value {
			s := c.Src()
			return router.StrValue("sip:" + s.String() + ";transport=" + c.ProtoName())
		}},
		{"rcvip", "g", func(c *router.Ctx) router.Value {
			if c.Pkt == nil || c.Pkt.Local == nil {
				return router.Value{}
			}
			return router.StrValue(c.Pkt.Local.IP)
		}},
		{"rcvport", "g", func(c *router.Ctx) router.Value {
			if c.Pkt == nil || c.Pkt.Local == nil {
				return router.Value{}
			}
			return router.StrValue(strconv.Itoa(int(c.Pkt.Local.Addr.Port())))
		}},
		{"ua", "gew", func(c *router.Ctx) router.Value { return str(c.Msg.UserAgent()) }},
		// The receiving socket, as Kamailio writes one: "udp:127.0.0.1:5060".
		{"rcvaddr_sock", "g", func(c *router.Ctx) router.Value {
			if c.Pkt == nil || c.Pkt.Local == nil {
				return router.Value{}
			}
			return router.StrValue(c.Pkt.Local.String())
		}},
		{"srcaddr_sock", "g", func(c *router.Ctx) router.Value {
			return router.StrValue(strings.ToLower(c.ProtoName()) + ":" + c.Src().String())
		}},
		// Its advertised address (listen=... advertise), else its own.
		{"rcvadvip", "g", func(c *router.Ctx) router.Value {
			h, _ := advertised(c)
			return h
		}},
		{"rcvadvport", "g", func(c *router.Ctx) router.Value {
			_, p := advertised(c)
			return p
		}},
		// Socket names (listen=... name "x") and a forced send socket are
		// not kept by kemi: these are null, as Kamailio's are for a socket
		// without a name and a message without a forced socket.
		{"rcv_sock_name", "g", func(*router.Ctx) router.Value { return router.Value{} }},
		{"send_sock", "g", func(*router.Ctx) router.Value { return router.Value{} }},
		{"send_sock_name", "g", func(*router.Ctx) router.Value { return router.Value{} }},
	}
	var defs []dispatch.Export
	for _, f := range fields {
		f := f
		for _, face := range f.faces {
			switch face {
			case 'g':
				defs = append(defs, dispatch.Export{Name: "get_" + f.name, Ret: dispatch.XVal, Fn: dispatch.V0(f.get)})
			case 'e':
				defs = append(defs, dispatch.Export{Name: "gete_" + f.name, Ret: dispatch.XVal, Fn: dispatch.V0(func(c *router.Ctx) router.Value { return f.get(c).Or("") })})
			case 'w':
				defs = append(defs, dispatch.Export{Name: "getw_" + f.name, Ret: dispatch.XVal, Fn: dispatch.V0(func(c *router.Ctx) router.Value { return f.get(c).Or("<<null>>") })})
			}
		}
	}
	defs = append(defs,
		dispatch.Export{Name: "get_status", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Msg.IsRequest() {
				return -1
			}
			return c.Msg.StatusCode()
		})},
		dispatch.Export{Name: "gets_status", Ret: dispatch.XVal, Fn: dispatch.V0(func(c *router.Ctx) router.Value {
			if c.Msg.IsRequest() {
				return router.Value{}
			}
			return router.StrValue(strconv.Itoa(c.Msg.StatusCode()))
		})},
		dispatch.Export{Name: "get_msgtype", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Msg.IsRequest() {
				return 1
			}
			return 2
		})},
		dispatch.Export{Name: "get_msglen", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int { return len(c.Msg.Bytes()) })},
		dispatch.Export{Name: "get_bodylen", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int { return len(c.Msg.Body()) })},
		dispatch.Export{Name: "get_protoid", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int { return int(c.Proto()) })},
		dispatch.Export{Name: "get_conid", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Pkt == nil {
				return -1
			}
			return int(c.Pkt.ConnID())
		})},
		dispatch.Export{Name: "get_send_sock_port", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(*router.Ctx) int { return 0 })},
		dispatch.Export{Name: "get_timestamp", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int { return int(time.Now().Unix()) })},
		dispatch.Export{Name: "get_def", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, name string) router.Value {
			v, ok := c.Env().Defines[name]
			if !ok {
				return router.Value{}
			}
			return router.StrValue(v)
		})},
		dispatch.Export{Name: "get_defn", Ret: dispatch.Int, Value: true, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			n, _ := strconv.Atoi(c.Env().Defines[name])
			return n
		})},
		dispatch.Export{Name: "ifdef", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			_, ok := c.Env().Defines[name]
			return dispatch.Result(ok)
		})},
		dispatch.Export{Name: "ifndef", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			_, ok := c.Env().Defines[name]
			return dispatch.Result(!ok)
		})},
		dispatch.Export{Name: "get_env", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, name string) router.Value {
			v, ok := os.LookupEnv(name)
			if !ok {
				return router.Value{}
			}
			return router.StrValue(v)
		})},
		dispatch.Export{Name: "get_envn", Ret: dispatch.Int, Value: true, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			n, _ := strconv.Atoi(os.Getenv(name))
			return n
		})},
	)
	return defs
}

// advertised is the receiving socket's advertised host and port.
func advertised(c *router.Ctx) (host, port router.Value) {
	if c.Pkt == nil || c.Pkt.Local == nil {
		return router.Value{}, router.Value{}
	}
	h, p := c.Pkt.Local.Advertised()
	return router.StrValue(h), router.StrValue(strconv.Itoa(p))
}
