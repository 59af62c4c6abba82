// Package core exports Kamailio's core KEMI functions: KSR.is_INVITE,
// KSR.setflag, KSR.is_myself_ruri, KSR.force_rport, KSR.info, ... They
// are always loaded.
package core

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "core", KSR: "-", Core: true, New: func() dispatch.Module { return Module{} }})
}

// Module is the core functions; they keep no state of their own.
type Module struct{}

var (
	_ dispatch.RPCProvider = Module{}
	_ dispatch.CfgProvider = Module{}
)

// Exports are the KSR core functions (KSR.is_INVITE, KSR.setflag, ...)
// and core functions of the native language.
func (Module) Exports() []dispatch.Export {
	defs := []dispatch.Export{
		{Name: "dbg", Ret: dispatch.None, Fn: dispatch.NS(logAt(slog.LevelDebug))},
		{Name: "info", Ret: dispatch.None, Fn: dispatch.NS(logAt(slog.LevelInfo))},
		{Name: "notice", Ret: dispatch.None, Fn: dispatch.NS(logAt(router.LevelNotice))},
		{Name: "warn", Ret: dispatch.None, Fn: dispatch.NS(logAt(slog.LevelWarn))},
		{Name: "err", Ret: dispatch.None, Fn: dispatch.NS(logAt(slog.LevelError))},
		{Name: "crit", Ret: dispatch.None, Fn: dispatch.NS(logAt(router.LevelCrit))},
		{Name: "log", Ret: dispatch.None, Fn: dispatch.NSS(logLevel)},
		// Native log("msg") logs at L_DBG+1 in Kamailio (shown from debug=4):
		// here at debug, the most verbose level kemi's log has.
		{Name: "log", NativeOnly: true, Ret: dispatch.None, Fn: dispatch.NS(logAt(slog.LevelDebug))},
		{Name: "ktest", Ret: dispatch.None, Fn: dispatch.NS(func(c *router.Ctx, s string) {})},
		{Name: "get_debug", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(getDebug)},

		{Name: "is_method", Ret: dispatch.Bool, Fn: dispatch.FS(isMethod)},
		{Name: "is_method_in", Ret: dispatch.Bool, Fn: dispatch.FS(isMethodIn)},
		{Name: "is_proto", Ret: dispatch.Bool, Fn: dispatch.FS(isProto)},
		{Name: "is_IPv4", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Src().Addr().Is4()) })},
		{Name: "is_IPv6", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Src().Addr().Is6()) })},
		{Name: "is_src_port", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, p int) int { return dispatch.Result(int(c.Src().Port()) == p) })},
		{Name: "is_dst_port", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, p int) int {
			return dispatch.Result(c.Pkt != nil && c.Pkt.Local != nil && int(c.Pkt.Local.Addr.Port()) == p)
		})},

		{Name: "setflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return setBit(&c.Flags, f) })},
		{Name: "resetflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return clearBit(&c.Flags, f) })},
		{Name: "isflagset", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return isBit(c.Flags, f) })},
		{Name: "setbflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return setBit(&c.BFlags, f) })},
		{Name: "resetbflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return clearBit(&c.BFlags, f) })},
		{Name: "isbflagset", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return isBit(c.BFlags, f) })},
		{Name: "setbiflag", Ret: dispatch.Bool, Fn: dispatch.FII(branchFlag(setBit))},
		{Name: "resetbiflag", Ret: dispatch.Bool, Fn: dispatch.FII(branchFlag(clearBit))},
		{Name: "isbiflagset", Ret: dispatch.Bool, Fn: dispatch.FII(func(c *router.Ctx, f, b int) int {
			if b != 0 {
				return -1 // only branch 0 exists until tm creates branches
			}
			return isBit(c.BFlags, f)
		})},
		{Name: "setsflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return setBit(&c.W.SFlags, f) })},
		{Name: "resetsflag", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return clearBit(&c.W.SFlags, f) })},
		{Name: "issflagset", Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return isBit(c.W.SFlags, f) })},

		// error(class, reason): as in Kamailio, a notice that it is not
		// implemented, and the script goes on.
		{Name: "error", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, class, reason string) int {
			c.Log().Info("error(\""+class+"\", \""+reason+"\") not implemented yet", "route", c.Route)
			return 1
		})},
		{Name: "revert_uri", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if !c.Msg.IsRequest() {
				return -1
			}
			c.RevertRURI()
			return 1
		})},
		{Name: "set_advertised_address", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, addr string) int {
			c.SetAdvertised(addr, "")
			return 1
		})},
		{Name: "set_advertised_port", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, port string) int {
			if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
				c.Log().Error("set_advertised_port: "+strconv.Quote(port)+" is not a port", "route", c.Route)
				return -1
			}
			c.SetAdvertised("", port)
			return 1
		})},
		{Name: "add_tcp_alias", Ret: dispatch.Int, Fn: dispatch.FI(tcpAlias)},
		{Name: "add_tcp_alias_via", Ret: dispatch.Int, Native: "force_tcp_alias", Fn: dispatch.F0(func(c *router.Ctx) int { return tcpAlias(c, 0) })},
		{Name: "add_tcp_alias", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return tcpAlias(c, 0) })},
		{Name: "force_tcp_alias", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(tcpAlias)},
		{Name: "is_myself", Ret: dispatch.Bool, Fn: dispatch.FS(isMyself)},
		{Name: "is_myself_ruri", Ret: dispatch.Bool, Fn: dispatch.F0(isMyselfRURI)},
		{Name: "is_myself_duri", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int {
			if !c.DstSet() {
				return -1
			}
			return myselfText(c, c.DstURI())
		})},
		{Name: "is_myself_nhuri", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.DstSet() {
				return myselfText(c, c.DstURI())
			}
			return isMyselfRURI(c)
		})},
		{Name: "is_myself_furi", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return myselfAddr(c, c.Msg.From()) })},
		{Name: "is_myself_turi", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return myselfAddr(c, c.Msg.To()) })},
		{Name: "is_myself_srcip", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Env().Myself.IsIP(c.Src().Addr())) })},
		{Name: "is_myself_suri", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(c.Env().Myself.Is(c.SrcIP(), int(c.Src().Port()), false))
		})},

		{Name: "forward", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return forward(c, "") })},
		{Name: "forward_uri", Ret: dispatch.Int, Fn: dispatch.FS(forward)},
		// append_branch() / append_branch("uri"): core in the native language;
		// scripts call KSR.corex.append_branch*.
		{Name: "append_branch", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return appendBranch(c, "") })},
		{Name: "append_branch", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(appendBranch)},
		{Name: "append_branch", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(appendBranchQ)},
		{Name: "force_rport", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.ForceRPort = true; return 1 })},
		// udp_mtu_try_proto(TCP): where this request goes when it is larger
		// than udp_mtu for UDP (1 UDP, 2 TCP, 3 TLS, 4 SCTP, as Kamailio's)
		{Name: "udp_mtu_try_proto", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, p string) int {
			t := sip.ParseTransport([]byte(p))
			if n, err := strconv.Atoi(p); err == nil && n >= 1 && n <= 4 {
				t = sip.Transport(n)
			}
			if t < sip.TransportUDP || t > sip.TransportSCTP {
				c.Log().Error("udp_mtu_try_proto: the transport is UDP, TCP, TLS or SCTP, not "+strconv.Quote(p), "route", c.Route)
				return -1
			}
			c.SetMTUProto(t)
			return 1
		})},
		{Name: "add_local_rport", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return 1 })},
		{Name: "set_drop", Ret: dispatch.None, Fn: dispatch.N0(func(c *router.Ctx) { c.Drop = true })},
		{Name: "set_forward_close", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.ForwardClose = true; return 1 })},
		{Name: "set_forward_no_connect", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.ForwardNoConn = true; return 1 })},
		{Name: "set_reply_close", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.ReplyClose = true; return 1 })},
		{Name: "set_reply_no_connect", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.ReplyNoConnect = true; return 1 })},

		{Name: "setdsturi", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return okErr(c, "setdsturi", c.SetDstURI([]byte(u))) })},
		{Name: "resetdsturi", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { c.SetDstURI(nil); return 1 })},
		{Name: "isdsturiset", Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.DstSet()) })},
		{Name: "seturi", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return okErr(c, "seturi", c.SetRURI([]byte(u))) })},
		{Name: "sethost", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, h string) int { return okErr(c, "sethost", c.RewriteRURI(nil, []byte(h))) })},
		{Name: "setuser", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return okErr(c, "setuser", c.RewriteRURI([]byte(u), nil)) })},
		{Name: "route", Ret: dispatch.Int, Fn: dispatch.FS(runRoute)},
		// force_send_socket(proto:ip:port): the requests of the message
		// leave from that socket of the proxy.
		{Name: "force_send_socket", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, socket string) int {
			l := c.Socket(socket)
			if l == nil {
				c.Log().Error("force_send_socket: "+socket+" is not a socket of this proxy", "route", c.Route)
				return -1
			}
			c.SetSendSocket(l)
			return 1
		})},
		// The native config's other names for them, and its user-part edits.
		{Name: "rewriteuri", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return okErr(c, "rewriteuri", c.SetRURI([]byte(u))) })},
		{Name: "rewritehost", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, h string) int { return okErr(c, "rewritehost", c.RewriteRURI(nil, []byte(h))) })},
		{Name: "rewriteuser", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, u string) int { return okErr(c, "rewriteuser", c.RewriteRURI([]byte(u), nil)) })},
		{Name: "rewritehostport", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(setHostPort)},
		{Name: "sethostport", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(setHostPort)},
		{Name: "rewriteport", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(setPort)},
		{Name: "setport", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(setPort)},
		// forward(host, port), forward_udp/tcp/tls(host[, port]): to that
		// address, over that transport.
		{Name: "forward", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int { return forwardTo(c, "", host, port) })},
		{Name: "forward_udp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, host string) int { return forwardTo(c, "udp", host, 0) })},
		{Name: "forward_udp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int { return forwardTo(c, "udp", host, port) })},
		{Name: "forward_tcp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, host string) int { return forwardTo(c, "tcp", host, 0) })},
		{Name: "forward_tcp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int { return forwardTo(c, "tcp", host, port) })},
		{Name: "forward_tls", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, host string) int { return forwardTo(c, "tls", host, 0) })},
		{Name: "forward_tls", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int { return forwardTo(c, "tls", host, port) })},
		{Name: "strip", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, n int) int {
			return editUser(c, "strip", func(u string) string { return u[min(max(n, 0), len(u)):] })
		})},
		{Name: "strip_tail", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FI(func(c *router.Ctx, n int) int {
			return editUser(c, "strip_tail", func(u string) string { return u[:len(u)-min(max(n, 0), len(u))] })
		})},
		{Name: "prefix", NativeOnly: true, Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, p string) int {
			return editUser(c, "prefix", func(u string) string { return p + u })
		})},
	}
	for _, m := range methods {
		m := m
		defs = append(defs, dispatch.Export{Name: "is_" + m.name, Ret: dispatch.Bool,
			Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(methodIs(c.Msg, m.m, m.name)) })})
	}
	for _, p := range protos {
		p := p
		defs = append(defs, dispatch.Export{Name: "is_" + p.name, Ret: dispatch.Bool,
			Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Proto() == p.t) })})
	}
	return append(defs, destDefs()...)
}

var methods = []struct {
	name string
	m    sip.Method
}{
	{"INVITE", sip.MethodINVITE}, {"ACK", sip.MethodACK}, {"BYE", sip.MethodBYE}, {"CANCEL", sip.MethodCANCEL},
	{"REGISTER", sip.MethodREGISTER}, {"OPTIONS", sip.MethodOPTIONS}, {"SUBSCRIBE", sip.MethodSUBSCRIBE},
	{"NOTIFY", sip.MethodNOTIFY}, {"PUBLISH", sip.MethodPUBLISH}, {"MESSAGE", sip.MethodMESSAGE},
	{"INFO", sip.MethodINFO}, {"PRACK", sip.MethodPRACK}, {"UPDATE", sip.MethodUPDATE}, {"REFER", sip.MethodREFER},
	{"KDMQ", sip.MethodOther}, {"GET", sip.MethodOther}, {"POST", sip.MethodOther}, {"PUT", sip.MethodOther},
	{"DELETE", sip.MethodOther},
}

var protos = []struct {
	name string
	t    sip.Transport
}{
	{"UDP", sip.TransportUDP}, {"TCP", sip.TransportTCP}, {"TLS", sip.TransportTLS}, {"SCTP", sip.TransportSCTP},
	{"WS", sip.TransportWS}, {"WSS", sip.TransportWSS}, {"WSX", 255},
}

// methodIs compares the method of a request, or the CSeq method of a
// reply, as Kamailio's is_METHOD functions do.
func methodIs(m *sip.Msg, want sip.Method, name string) bool {
	if !m.IsRequest() {
		if want != sip.MethodOther {
			return m.CSeqMethod() == want
		}
		return sip.EqualFold(m.CSeqMethodName(), []byte(name))
	}
	if want != sip.MethodOther {
		return m.Method() == want
	}
	return string(m.MethodName()) == name
}

// isMethod matches the method against a name or a list "INVITE|BYE", as
// the native is_method() takes it.
func isMethod(c *router.Ctx, names string) int {
	for names != "" {
		name := names
		if i := strings.IndexByte(names, '|'); i >= 0 {
			name, names = names[:i], names[i+1:]
		} else {
			names = ""
		}
		if methodIs(c.Msg, sip.ParseMethod([]byte(name)), name) {
			return 1
		}
	}
	return -1
}

// methodLetters are is_method_in's letters: I INVITE, A ACK, B BYE,
// C CANCEL, R REGISTER, M MESSAGE, O OPTIONS, S SUBSCRIBE, P PUBLISH,
// N NOTIFY, U UPDATE (either case).
var methodLetters = letterTable(map[byte]uint8{
	'I': uint8(sip.MethodINVITE), 'A': uint8(sip.MethodACK), 'B': uint8(sip.MethodBYE), 'C': uint8(sip.MethodCANCEL),
	'R': uint8(sip.MethodREGISTER), 'M': uint8(sip.MethodMESSAGE), 'O': uint8(sip.MethodOPTIONS),
	'S': uint8(sip.MethodSUBSCRIBE), 'P': uint8(sip.MethodPUBLISH), 'N': uint8(sip.MethodNOTIFY), 'U': uint8(sip.MethodUPDATE),
}, true)

// protoLetters are is_proto's letters: u UDP, t TCP, s TLS, c SCTP, w WS,
// W WSS.
var protoLetters = letterTable(map[byte]uint8{
	'u': uint8(sip.TransportUDP), 'U': uint8(sip.TransportUDP), 't': uint8(sip.TransportTCP), 'T': uint8(sip.TransportTCP),
	's': uint8(sip.TransportTLS), 'S': uint8(sip.TransportTLS), 'c': uint8(sip.TransportSCTP), 'C': uint8(sip.TransportSCTP),
	'w': uint8(sip.TransportWS), 'W': uint8(sip.TransportWSS),
}, false)

// letterTable turns a letter map into a lookup array (0: no meaning);
// foldCase makes lower-case letters mean what upper-case ones do.
func letterTable(m map[byte]uint8, foldCase bool) (t [256]uint8) {
	for k, v := range m {
		t[k] = v
		if foldCase {
			t[k|0x20] = v
		}
	}
	return t
}

// matchLetters reports whether any letter of s stands for want.
func matchLetters(t *[256]uint8, s string, want uint8) int {
	for i := 0; i < len(s); i++ {
		if v := t[s[i]]; v != 0 && v == want {
			return 1
		}
	}
	return -1
}

func isMethodIn(c *router.Ctx, letters string) int {
	m := c.Msg.Method()
	if !c.Msg.IsRequest() {
		m = c.Msg.CSeqMethod()
	}
	return matchLetters(&methodLetters, letters, uint8(m))
}

func isProto(c *router.Ctx, letters string) int {
	return matchLetters(&protoLetters, letters, uint8(c.Proto()))
}

func okErr(c *router.Ctx, fn string, err error) int {
	if err != nil {
		c.Log().Error(fn+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

func setBit(f *uint64, n int) int {
	if n < 0 || n > 63 {
		return -1
	}
	*f |= 1 << uint(n)
	return 1
}

func clearBit(f *uint64, n int) int {
	if n < 0 || n > 63 {
		return -1
	}
	*f &^= 1 << uint(n)
	return 1
}

func isBit(f uint64, n int) int {
	if n < 0 || n > 63 {
		return -1
	}
	return dispatch.Result(f&(1<<uint(n)) != 0)
}

func branchFlag(op func(*uint64, int) int) func(*router.Ctx, int, int) int {
	return func(c *router.Ctx, f, b int) int {
		if b != 0 {
			return -1
		}
		return op(&c.BFlags, f)
	}
}

func logAt(l slog.Level) func(*router.Ctx, string) {
	return func(c *router.Ctx, msg string) {
		lg := c.Log()
		if lg.Enabled(context.Background(), l) {
			lg.Log(context.Background(), l, trimNL(msg), "src", "script")
		}
	}
}

// logLevel is KSR.log("info", "msg"), and natively log(level, "msg") with
// Kamailio's numeric level (-5 alert ... 3 debug).
func logLevel(c *router.Ctx, level, msg string) {
	l, ok := router.ParseLevel(level)
	if n, err := strconv.Atoi(level); err == nil {
		l, ok = router.LevelFromDebug(n), true
	}
	if !ok {
		l = slog.LevelInfo
	}
	logAt(l)(c, msg)
}

// trimNL drops the trailing newline scripts put on log messages, as the
// logger adds its own.
func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func getDebug(c *router.Ctx) int {
	lg := c.Log()
	return router.DebugFromLevel(func(l slog.Level) bool { return lg.Enabled(context.Background(), l) })
}

// isMyself is KSR.is_myself, as Kamailio's: a sip: or sips: URI is
// checked by its host, and by its port when it has one; anything else is
// a host, on any port.
func isMyself(c *router.Ctx, uri string) int {
	if len(uri) > 4 && (strings.HasPrefix(uri, "sip:") || strings.HasPrefix(uri, "sips:")) {
		var u sip.URI
		if err := sip.ParseURI([]byte(uri), &u); err != nil || len(u.Host) == 0 {
			return -1
		}
		if u.Port == 0 {
			return dispatch.Result(c.Env().Myself.IsHost(u.Host))
		}
		return dispatch.Result(c.IsMyself(&u))
	}
	return dispatch.Result(c.Env().Myself.IsHost([]byte(uri)))
}

func myselfText(c *router.Ctx, b []byte) int {
	var u sip.URI
	if err := sip.ParseURI(b, &u); err != nil || len(u.Host) == 0 {
		return -1
	}
	return dispatch.Result(c.IsMyself(&u))
}

// tcpAlias has replies and requests to port of the message's source go
// over the TCP or TLS stream it came on; port 0 is the top Via's port
// (5060 when it has none) (add_tcp_alias, add_tcp_alias_via).
func tcpAlias(c *router.Ctx, port int) int {
	if c.Pkt == nil || c.Pkt.Local == nil || (c.Pkt.Local.Proto != sip.TransportTCP && c.Pkt.Local.Proto != sip.TransportTLS) {
		return -1
	}
	if port == 0 {
		port = 5060
		if v := c.Msg.TopVia(); v != nil && v.Port != 0 {
			port = v.Port
		}
	}
	tr := c.Env().Transport
	if port < 1 || port > 65535 || tr == nil {
		return -1
	}
	if err := tr.AddAlias(c.Pkt.Local.Proto, c.Pkt.Src, uint16(port)); err != nil {
		c.Log().Warn("add_tcp_alias: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

func isMyselfRURI(c *router.Ctx) int {
	u, err := c.RURI()
	if err != nil {
		return -1
	}
	return dispatch.Result(c.IsMyself(u))
}

func myselfAddr(c *router.Ctx, na *sip.NameAddr) int {
	if na == nil {
		return -1
	}
	return dispatch.Result(c.IsMyself(&na.URI))
}

func runRoute(c *router.Ctx, name string) int {
	rc, err := c.RunRoute(router.RouteNamed, name)
	if err != nil {
		c.Log().Error("route: "+err.Error(), "route", c.Route)
		return -1
	}
	return rc
}

// appendBranch adds a branch for tm to fork to (append_branch).
func appendBranch(c *router.Ctx, uri string) int { return appendBranchQ(c, uri, "") }

// appendBranchQ is append_branch("uri", "q"), q a q-value ("0.5").
func appendBranchQ(c *router.Ctx, uri, q string) int {
	qv, err := router.ParseQ(q)
	if err == nil {
		err = c.AppendBranchURI(uri, qv)
	}
	if err != nil {
		c.Log().Error("append_branch: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// forward sends the request statelessly; an error is logged and is -1.
func forward(c *router.Ctx, uri string) int {
	if err := c.Forward([]byte(uri)); err != nil {
		c.Log().Error(err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// forwardTo forwards statelessly to host[:port] over proto ("" the
// default).
func forwardTo(c *router.Ctx, proto, host string, port int) int {
	uri := "sip:" + host
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		uri = "sip:[" + host + "]"
	}
	if port > 0 {
		uri += ":" + strconv.Itoa(port)
	}
	if proto != "" {
		uri += ";transport=" + proto
	}
	return forward(c, uri)
}

// setHostPort is sethostport(host[:port]) on the request URI.
func setHostPort(c *router.Ctx, hp string) int {
	return okErr(c, "sethostport", c.RewriteRURIHostPort([]byte(hp)))
}

// setPort is setport(port) on the request URI: its host with port.
func setPort(c *router.Ctx, port string) int {
	u, err := c.RURI()
	if err != nil {
		return okErr(c, "setport", err)
	}
	return okErr(c, "setport", c.RewriteRURIHostPort(append(append(append([]byte(nil), u.Host...), ':'), port...)))
}

// editUser changes the user part of the request URI (strip, strip_tail,
// prefix): the user as it is now, $ru's changes included.
func editUser(c *router.Ctx, fn string, f func(string) string) int {
	u, err := c.RURI()
	if err != nil {
		return okErr(c, fn, err)
	}
	return okErr(c, fn, c.RewriteRURI([]byte(f(string(u.User))), nil))
}
