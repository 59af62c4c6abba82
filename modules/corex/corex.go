// Package corex holds extra core functions, like Kamailio's corex module:
// has_ruri_user, has_user_agent, append_branch, the extended flags,
// file_read/file_write.
package corex

import (
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "corex", New: func() dispatch.Module { return Module{} }})
}

// Module is the corex module; it keeps no state.
type Module struct{}

// Exports are KSR.corex.
func (Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "has_ruri_user", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if !c.Msg.IsRequest() {
				return -1
			}
			u, err := c.RURI()
			return dispatch.Result(err == nil && len(u.User) > 0)
		})},
		{Name: "has_user_agent", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(len(c.Msg.UserAgent()) > 0)
		})},
		{Name: "setxflag", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, 1) })},
		{Name: "resetxflag", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, 0) })},
		{Name: "isxflagset", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, -1) })},
		{Name: "append_branch", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return appendBranch(c, "", -1)
		})},
		{Name: "append_branch_uri", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, uri string) int {
			return appendBranch(c, uri, -1)
		})},
		{Name: "append_branch_uri_q", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, uri, q string) int {
			qv, err := router.ParseQ(q)
			if err != nil {
				c.Log().Error("corex: append_branch: "+err.Error(), "route", c.Route)
				return -1
			}
			return appendBranch(c, uri, qv)
		})},
		// Native append_branch() is a core function (modules/core).
		{Name: "is_faked_msg", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Pkt == nil) })},
		{Name: "file_read", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, path string) router.Value {
			b, err := os.ReadFile(path)
			if err != nil {
				c.Log().Error("corex: file_read: "+err.Error(), "route", c.Route)
				return router.Value{}
			}
			return router.StrValue(string(b))
		})},
		{Name: "file_write", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, path, text string) int {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				c.Log().Error("corex: file_write: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		{Name: "send_data", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, uri, data string) int { return sendData(c, uri, "", data) })},
		{Name: "sendx", Ret: dispatch.Int, Fn: dispatch.FSSS(sendData)},
		{Name: "via_add_srvid", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, on int) int { c.AddViaSrvID(on != 0); return 1 })},
		{Name: "via_add_xavp_params", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, on int) int { c.AddViaXAVPParams(on != 0); return 1 })},
		{Name: "via_use_xavp_fields", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, on int) int { c.UseViaXAVPFields(on != 0); return 1 })},
		{Name: "is_socket_name", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int { return dispatch.Result(c.SocketNamed(name) != nil) })},
		{Name: "set_send_socket_name", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			l := namedListener(c, name)
			if l == nil {
				return -1
			}
			c.SetSendSocket(l)
			return 1
		})},
		{Name: "set_recv_socket_name", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			l := namedListener(c, name)
			if l == nil || c.Pkt == nil {
				return -1
			}
			c.Pkt.Local = l
			return 1
		})},
		{Name: "set_send_socket", Ret: dispatch.Int, Fn: dispatch.FS(sendSocket)},
		{Name: "set_recv_socket", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, socket string) int {
			l := listener(c, socket)
			if l == nil || c.Pkt == nil {
				return -1
			}
			c.Pkt.Local = l
			return 1
		})},
		{Name: "set_source_address", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, addr string) int {
			// proto:ip:port, as Kamailio writes a socket; the protocol is
			// the message's own.
			if i := strings.IndexByte(addr, ':'); i > 0 && !strings.ContainsAny(addr[:i], ".[") {
				if _, err := netip.ParseAddr(addr[:i]); err != nil {
					addr = addr[i+1:]
				}
			}
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				c.Log().Error("corex: set_source_address: "+strconv.Quote(addr)+": want proto:ip:port", "route", c.Route)
				return -1
			}
			c.SetSource(ap)
			return 1
		})},
	}
}

// sendData sends data as it is to the address of a SIP URI (send_data,
// sendx), from the listener socket names ("udp:10.0.0.1:5060"; "" for the
// one the URI's transport picks).
func sendData(c *router.Ctx, uri, socket, data string) int {
	env := c.Env()
	if env.Transport == nil {
		c.Log().Error("corex: send_data: no sockets (outside a running proxy)", "route", c.Route)
		return -1
	}
	hop, err := env.Resolve([]byte(uri))
	if err != nil {
		c.Log().Error("corex: send_data: "+err.Error(), "route", c.Route)
		return -1
	}
	if socket != "" {
		if hop.Local = listener(c, socket); hop.Local == nil {
			return -1
		}
		hop.Proto = hop.Local.Proto
	}
	if err := env.Transport.Send(hop.Local, hop.Proto, hop.Addr, []byte(data)); err != nil {
		c.Log().Error("corex: send_data: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// sendSocket makes the message's requests leave from socket
// (proto:ip:port), a socket of this proxy.
func sendSocket(c *router.Ctx, socket string) int {
	l := listener(c, socket)
	if l == nil {
		return -1
	}
	c.SetSendSocket(l)
	return 1
}

// listener is the proxy's socket written as proto:ip:port; nil (logged)
// when it has none such.
func listener(c *router.Ctx, socket string) *transport.Listener {
	l := c.Socket(socket)
	if l == nil {
		c.Log().Error("corex: "+socket+" is not a socket of this proxy", "route", c.Route)
	}
	return l
}

// namedListener is the proxy's socket of that name (listen=... name);
// nil (logged) when it has none such.
func namedListener(c *router.Ctx, name string) *transport.Listener {
	l := c.SocketNamed(name)
	if l == nil {
		c.Log().Error("corex: no socket is named "+strconv.Quote(name), "route", c.Route)
	}
	return l
}

// appendBranch adds a branch for tm to fork to: uri, or the current
// request URI with $du and its path when uri is ""; q ×1000, -1 for none.
func appendBranch(c *router.Ctx, uri string, q int) int {
	if err := c.AppendBranchURI(uri, q); err != nil {
		c.Log().Error("corex: append_branch: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// xflag sets (op 1), resets (0) or tests (-1) extended flag f (0..127).
func xflag(c *router.Ctx, f, op int) int {
	if f < 0 || f > 127 {
		return -1
	}
	w, bit := &c.XFlags[f/64], uint64(1)<<uint(f%64)
	switch op {
	case 1:
		*w |= bit
	case 0:
		*w &^= bit
	default:
		return dispatch.Result(*w&bit != 0)
	}
	return 1
}
