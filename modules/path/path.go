// Package path is Kamailio's path module (RFC 3327): a REGISTER forwarded
// by this proxy gets a Path header with this proxy's address on the
// socket it leaves by (add_path*), the address the REGISTER came from in
// a received parameter when asked (add_path_received*), and, with
// use_received, a request routed back by that Path goes to the received
// address (loose_route's callback sets $du).
package path

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/outbound"
	"github.com/kemi-sip/kemi/modules/rr"
)

// Module is the path module of one proxy.
type Module struct {
	useReceived    bool
	receivedFormat int
	r2             bool
	receivedName   string
	ob             *outbound.Module // when loaded: flow tokens (RFC 5626)
}

var (
	_ dispatch.Initializer = (*Module)(nil)
)

func init() {
	i, s := dispatch.Int, dispatch.Str
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "path",
		Params: []dispatch.Param{
			p("use_received", i, "0", "1: a Route with the received parameter sets $du to it (needs rr)"),
			p("received_format", i, "0", "0: received=sip:ip:port%3Btransport%3Dtcp, 1: received=ip~port~proto"),
			p("enable_r2", i, "0", "1: two Path entries, the sending and the receiving socket, with ;r2=on"),
			p("sockname_mode", i, "0", "1 (the socket's name in the Path) is not supported: refused"),
			p("received_name", s, "received", "the name of the received parameter"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the parameters; use_received adds rr's callback.
func (m *Module) Init(p *dispatch.Params) error {
	m.useReceived = p.Int("use_received", 0) != 0
	m.receivedFormat = p.Int("received_format", 0)
	m.r2 = p.Int("enable_r2", 0) != 0
	m.receivedName = p.Str("received_name", "received")
	m.ob, _ = p.Module("outbound").(*outbound.Module)
	if p.Int("sockname_mode", 0) != 0 {
		return fmt.Errorf("path: sockname_mode 1 is not supported")
	}
	if m.receivedName == "" || strings.ContainsAny(m.receivedName, ";=<> ") {
		return fmt.Errorf("path: invalid received_name %q", m.receivedName)
	}
	if m.useReceived {
		r, err := dispatch.Need[*rr.Module](p, "rr")
		if err != nil {
			return fmt.Errorf("path: use_received: %w", err)
		}
		r.OnLooseRoute(m.onLooseRoute)
	}
	return nil
}

// entry is one add_path call: the user part and what follows the
// address (";lr;received=...;params").
type entry struct {
	user, suffix []byte
}

// reqState is the Path headers to write when the request leaves; it
// goes with the request into its transaction.
type reqState struct {
	entries []entry
	r2      bool
	line    []byte
}

var state = router.NewSlot[reqState]()

var (
	_ router.Forwarder = (*reqState)(nil)
	_ router.Carrier   = (*reqState)(nil)
)

func (s *reqState) Reset() { s.entries, s.r2 = s.entries[:0], false }

// AppendCarried writes the entries: r2, then each user and suffix after
// a 16-bit length.
func (s *reqState) AppendCarried(dst []byte) []byte {
	if len(s.entries) == 0 {
		return dst
	}
	r2 := byte(0)
	if s.r2 {
		r2 = 1
	}
	dst = append(dst, r2)
	for _, e := range s.entries {
		for _, f := range [...][]byte{e.user, e.suffix} {
			dst = append(append(dst, byte(len(f)>>8), byte(len(f))), f...)
		}
	}
	return dst
}

func (s *reqState) RestoreCarried(b []byte) {
	s.Reset()
	if len(b) == 0 {
		return
	}
	s.r2, b = b[0] == 1, b[1:]
	for len(b) >= 2 {
		var e entry
		for _, f := range [...]*[]byte{&e.user, &e.suffix} {
			if len(b) < 2 {
				return
			}
			n := int(b[0])<<8 | int(b[1])
			if 2+n > len(b) {
				return
			}
			*f, b = append([]byte(nil), b[2:2+n]...), b[2+n:]
		}
		s.entries = append(s.entries, e)
	}
}

// sock is a socket's address as Path writes it, and its transport.
type sock struct {
	addr  string
	proto sip.Transport
}

// PrepareForward writes the Path headers, each "Path: <sip:[user@]addr
// suffix>", before the request's first Path header, else after its last
// header; with enable_r2 each is followed by one with the receiving
// socket.
func (s *reqState) PrepareForward(c *router.Ctx) error {
	if len(s.entries) == 0 {
		return nil
	}
	hop := c.OutHop()
	for _, e := range s.entries {
		var socks []sock
		if hop.Local != nil {
			socks = append(socks, sock{string(c.AppendAdvertised(nil, hop.Local)), hop.Proto})
		}
		if s.r2 && c.Pkt != nil && c.Pkt.Local != nil {
			socks = append(socks, sock{string(c.AppendAdvertised(nil, c.Pkt.Local)), c.Pkt.Proto})
		}
		for _, sk := range socks {
			line := append(s.line[:0], "Path: <sip:"...)
			if len(e.user) > 0 {
				line = append(append(line, e.user...), '@')
			}
			line = append(line, sk.addr...)
			switch sk.proto {
			case sip.TransportTCP:
				line = append(line, ";transport=tcp"...)
			case sip.TransportTLS:
				line = append(line, ";transport=tls"...)
			}
			line = append(line, e.suffix...)
			s.line = line
			var err error
			if i := c.Msg.NextHeader(sip.HdrPath, -1); i >= 0 {
				err = c.Msg.InsertHeaderBefore(i, line)
			} else {
				err = c.Msg.AppendHeader(line)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// add is prepend_path: the entry for the request's Path, received: the
// source address in the received parameter. With outbound loaded, the
// functions given no user put the request's flow token in the user part
// when it uses outbound, and ";ob" when this proxy is its first hop.
func (m *Module) add(c *router.Ctx, user string, received bool, params string, userGiven bool) int {
	ob := false
	if m.ob != nil && !userGiven {
		var route *sip.URI
		var na sip.NameAddr
		if it := c.Msg.Addrs(sip.HdrRoute); it.Next(&na) {
			route = &na.URI
		}
		if m.ob.Use(c, route) != 0 {
			if f, ok := outbound.FlowOf(c); ok {
				user = m.ob.Encode(f)
				ob = !c.Msg.HasVia2()
			}
		}
	}
	suffix := []byte(";lr")
	if received {
		src := c.Src()
		proto := sip.TransportUDP
		if c.Pkt != nil {
			proto = c.Pkt.Proto
		}
		ip := src.Addr().Unmap().String()
		if src.Addr().Unmap().Is6() {
			ip = "[" + ip + "]"
		}
		suffix = append(suffix, ";"+m.receivedName+"="...)
		if m.receivedFormat == 0 {
			suffix = append(suffix, "sip:"+ip+":"+strconv.Itoa(int(src.Port()))...)
			switch proto {
			case sip.TransportTCP:
				suffix = append(suffix, "%3Btransport%3Dtcp"...)
			case sip.TransportTLS:
				suffix = append(suffix, "%3Btransport%3Dtls"...)
			case sip.TransportWS, sip.TransportWSS:
				suffix = append(suffix, "%3Btransport%3Dws"...)
			}
		} else {
			suffix = append(suffix, ip+"~"+strconv.Itoa(int(src.Port()))+"~"+strconv.Itoa(kamailioProto(proto))...)
		}
	}
	if ob {
		suffix = append(suffix, ";ob"...)
	}
	if params != "" {
		suffix = append(suffix, ";"+params...)
	}
	if m.r2 {
		suffix = append(suffix, ";r2=on"...)
	}
	suffix = append(suffix, '>')
	st := state.Of(c)
	st.r2 = m.r2
	st.entries = append(st.entries, entry{user: []byte(user), suffix: suffix})
	return 1
}

// kamailioProto is Kamailio's number of a transport (PROTO_UDP 1, TCP 2,
// TLS 3, SCTP 4, WS 5, WSS 6: sip's numbers).
func kamailioProto(p sip.Transport) int {
	if p >= sip.TransportTCP && p <= sip.TransportWSS {
		return int(p)
	}
	return 1
}

// onLooseRoute is the rr callback of use_received: the received
// parameter of our Route becomes $du.
func (m *Module) onLooseRoute(c *router.Ctx, params []byte) {
	v, ok := sip.Param(params, m.receivedName)
	if !ok || len(v) == 0 {
		return
	}
	var dst string
	if m.receivedFormat == 0 {
		u, err := url.PathUnescape(string(v))
		if err != nil {
			c.Log().Error("path: unescaping received failed", "route", c.Route)
			return
		}
		dst = u
	} else {
		parts := strings.Split(string(v), "~")
		if len(parts) != 3 {
			c.Log().Error("path: invalid received format", "route", c.Route)
			return
		}
		dst = "sip:" + parts[0] + ":" + parts[1]
		switch parts[2] {
		case "1":
		case "2":
			dst += ";transport=tcp"
		case "3":
			dst += ";transport=tls"
		default:
			c.Log().Error("path: unknown proto in received param", "route", c.Route)
			return
		}
	}
	if err := c.SetDstURI([]byte(dst)); err != nil {
		c.Log().Error("path: failed to set dst-uri: "+err.Error(), "route", c.Route)
	}
}

// Exports are KSR.path and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "add_path", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.add(c, "", false, "", false) })},
		{Name: "add_path_user", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return m.add(c, u, false, "", true) })},
		{Name: "add_path_user_params", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, u, p string) int { return m.add(c, u, false, p, true) })},
		{Name: "add_path_received", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.add(c, "", true, "", false) })},
		{Name: "add_path_received_user", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return m.add(c, u, true, "", true) })},
		{Name: "add_path_received_user_params", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, u, p string) int { return m.add(c, u, true, p, true) })},
		// Native: add_path([user[, params]]), add_path_received([user[, params]]).
		{Name: "add_path", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return m.add(c, u, false, "", true) })},
		{Name: "add_path", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, u, p string) int { return m.add(c, u, false, p, true) })},
		{Name: "add_path_received", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return m.add(c, u, true, "", true) })},
		{Name: "add_path_received", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, u, p string) int { return m.add(c, u, true, p, true) })},
	}
}
