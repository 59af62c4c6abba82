package native

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// expr computes a value; flow is stop when a function inside it ended the
// script (a 0 return code).
type expr func(r *runner, c *router.Ctx) (router.Value, flow)

// cond computes a truth value.
type cond func(r *runner, c *router.Ctx) (bool, flow)

func constExpr(v router.Value) expr {
	return func(*runner, *router.Ctx) (router.Value, flow) { return v, next }
}

var trueV, falseV = router.IntValue(1), router.IntValue(0)

func boolValue(b bool) router.Value {
	if b {
		return trueV
	}
	return falseV
}

func (cp *compiler) expr(x cfg.Expr) expr {
	switch x := x.(type) {
	case *cfg.IntLit:
		return constExpr(router.IntValue(x.Value))
	case *cfg.StrLit:
		return constExpr(router.StrValue(x.Value))
	case *cfg.IPLit:
		return constExpr(router.StrValue(x.Text))
	case *cfg.PVar:
		pv := cp.pvar(x)
		if pv == nil {
			return constExpr(router.Value{})
		}
		return func(r *runner, c *router.Ctx) (router.Value, flow) { return pv.Get(c), next }
	case *cfg.Ident:
		return cp.keyword(x)
	case *cfg.Call:
		return cp.call(x)
	case *cfg.Unary:
		switch x.Op {
		case "!", "defined":
			cd := cp.cond(x)
			return func(r *runner, c *router.Ctx) (router.Value, flow) {
				ok, f := cd(r, c)
				return boolValue(ok), f
			}
		case "(int)", "(str)":
			v := cp.expr(x.X)
			toInt := x.Op == "(int)"
			return func(r *runner, c *router.Ctx) (router.Value, flow) {
				a, f := v(r, c)
				if toInt {
					n, _ := a.Int64()
					return router.IntValue(n), f
				}
				if a.Kind == router.Str {
					return a, f
				}
				return router.StrValue(a.String()), f
			}
		case "-", "~":
			v := cp.expr(x.X)
			neg := x.Op == "-"
			return func(r *runner, c *router.Ctx) (router.Value, flow) {
				a, f := v(r, c)
				n, _ := a.Int64()
				if neg {
					return router.IntValue(-n), f
				}
				return router.IntValue(^n), f
			}
		}
	case *cfg.Binary:
		return cp.binary(x)
	}
	cp.errorf(cfg.PosOf(x), "unsupported expression")
	return constExpr(router.Value{})
}

// keyword compiles a bare name: one of Kamailio's core names (method,
// uri, src_ip, ...), or else a function without parameters (is_first_hop).
func (cp *compiler) keyword(x *cfg.Ident) expr {
	if v := cp.valueKeyword(x); v != nil {
		return v
	}
	return cp.call(&cfg.Call{Name: x.Name, Pos: x.Pos})
}

// valueKeyword compiles a core name that stands for a value; nil when the
// name is not one.
func (cp *compiler) valueKeyword(x *cfg.Ident) expr {
	switch x.Name {
	case "method":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if c.Msg.IsRequest() {
				return router.BytesValue(c.Msg.MethodName()), next
			}
			return router.BytesValue(c.Msg.CSeqMethodName()), next
		}
	case "uri":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if !c.Msg.IsRequest() {
				return router.Value{}, next
			}
			return router.BytesValue(c.RURIText()), next
		}
	case "from_uri", "to_uri":
		from := x.Name == "from_uri"
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			na := c.Msg.To()
			if from {
				na = c.Msg.From()
			}
			if na == nil {
				return router.Value{}, next
			}
			return router.BytesValue(na.URI.Raw), next
		}
	case "src_ip":
		return func(r *runner, c *router.Ctx) (router.Value, flow) { return router.BytesValue(c.SrcIP()), next }
	case "msg:len":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			return router.IntValue(int64(len(c.Msg.Bytes()))), next
		}
	case "src_port":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			return router.IntValue(int64(c.Src().Port())), next
		}
	case "dst_ip":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if c.Pkt == nil || c.Pkt.Local == nil {
				return router.Value{}, next
			}
			return router.StrValue(c.Pkt.Local.IP), next
		}
	case "dst_port":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if c.Pkt == nil || c.Pkt.Local == nil {
				return router.Value{}, next
			}
			return router.IntValue(int64(c.Pkt.Local.Addr.Port())), next
		}
	case "proto":
		return func(r *runner, c *router.Ctx) (router.Value, flow) { return router.IntValue(int64(c.Proto())), next }
	case "snd_ip", "snd_port", "snd_af", "snd_proto", "to_ip", "to_port":
		if cp.blockKind != "onsend_route" {
			cp.errorf(x.Pos, "%s allowed only in onsend_route", x.Name)
		}
		return sendKeyword(x.Name)
	case "af":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if c.Src().Addr().Is6() {
				return router.IntValue(6), next
			}
			return router.IntValue(4), next
		}
	case "status":
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			if c.Msg.IsRequest() {
				return router.Value{}, next
			}
			return router.IntValue(int64(c.Msg.StatusCode())), next
		}
	case "UDP", "udp":
		return constExpr(router.IntValue(int64(sip.TransportUDP)))
	case "TCP", "tcp":
		return constExpr(router.IntValue(int64(sip.TransportTCP)))
	case "TLS", "tls":
		return constExpr(router.IntValue(int64(sip.TransportTLS)))
	case "SCTP", "sctp":
		return constExpr(router.IntValue(int64(sip.TransportSCTP)))
	case "WS", "ws":
		return constExpr(router.IntValue(int64(sip.TransportWS)))
	case "WSS", "wss":
		return constExpr(router.IntValue(int64(sip.TransportWSS)))
	case "INET":
		return constExpr(router.IntValue(4))
	case "INET6":
		return constExpr(router.IntValue(6))
	case "myself":
		cp.errorf(x.Pos, "myself can only be compared: uri == myself, src_ip != myself")
		return constExpr(router.Value{})
	case "true", "yes", "on":
		return constExpr(trueV)
	case "false", "no", "off":
		return constExpr(falseV)
	}
	return nil
}

// cond compiles an expression used as a condition. A function call is
// true when it returns > 0; an int when it is not 0; a string when it is
// not empty; null is false.
func (cp *compiler) cond(x cfg.Expr) cond {
	switch x := x.(type) {
	case *cfg.Unary:
		switch x.Op {
		case "!":
			in := cp.cond(x.X)
			return func(r *runner, c *router.Ctx) (bool, flow) {
				ok, f := in(r, c)
				return !ok, f
			}
		case "defined":
			v := cp.expr(x.X)
			return func(r *runner, c *router.Ctx) (bool, flow) {
				a, f := v(r, c)
				return a.Kind != router.Null, f
			}
		}
	case *cfg.Binary:
		switch x.Op {
		case "&&", "||":
			a, b := cp.cond(x.X), cp.cond(x.Y)
			and := x.Op == "&&"
			return func(r *runner, c *router.Ctx) (bool, flow) {
				ok, f := a(r, c)
				if f == stop {
					return false, stop
				}
				if ok != and { // false && ..., true || ...
					return ok, next
				}
				return b(r, c)
			}
		case "==", "!=", "<", ">", "<=", ">=", "=~", "!~":
			return cp.compare(x)
		case "eq", "ne", "ieq", "ine":
			return cp.typedCompare(x)
		}
	case *cfg.Call:
		return callCond(cp.expr(x))
	case *cfg.Ident:
		if cp.valueKeyword(x) == nil {
			return callCond(cp.keyword(x)) // a function without parameters
		}
	}
	v := cp.expr(x)
	return func(r *runner, c *router.Ctx) (bool, flow) {
		a, f := v(r, c)
		return truth(a), f
	}
}

// callCond: a function call is true when it returns > 0.
func callCond(v expr) cond {
	return func(r *runner, c *router.Ctx) (bool, flow) {
		a, f := v(r, c)
		return a.Kind == router.Int && a.I > 0, f
	}
}

func truth(v router.Value) bool {
	switch v.Kind {
	case router.Int:
		return v.I != 0
	case router.Str:
		return len(v.S)+len(v.B) > 0
	}
	return false
}

// operands evaluates the two sides of a binary operator, left first.
func operands(r *runner, c *router.Ctx, a, b expr) (router.Value, router.Value, flow) {
	va, f := a(r, c)
	if f == stop {
		return va, router.Value{}, stop
	}
	vb, f := b(r, c)
	return va, vb, f
}

// intOps are the integer operators other than + (which also
// concatenates); false is a division by zero.
var intOps = map[string]func(m, n int64) (int64, bool){
	"-": func(m, n int64) (int64, bool) { return m - n, true },
	"*": func(m, n int64) (int64, bool) { return m * n, true },
	"|": func(m, n int64) (int64, bool) { return m | n, true },
	"&": func(m, n int64) (int64, bool) { return m & n, true },
	"^": func(m, n int64) (int64, bool) { return m ^ n, true },
	// Kamailio's shifts are of ints (32 bits): the count is taken mod 64
	// here so that no count panics
	"<<": func(m, n int64) (int64, bool) { return m << (uint64(n) & 63), true },
	">>": func(m, n int64) (int64, bool) { return m >> (uint64(n) & 63), true },
	"/": func(m, n int64) (int64, bool) {
		if n == 0 {
			return 0, false
		}
		return m / n, true
	},
	"%": func(m, n int64) (int64, bool) {
		if n == 0 {
			return 0, false
		}
		return m % n, true
	},
}

func (cp *compiler) binary(x *cfg.Binary) expr {
	switch x.Op {
	case "&&", "||", "==", "!=", "<", ">", "<=", ">=", "=~", "!~", "eq", "ne", "ieq", "ine":
		cd := cp.cond(x)
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			ok, f := cd(r, c)
			return boolValue(ok), f
		}
	}
	a, b := cp.expr(x.X), cp.expr(x.Y)
	switch x.Op {
	case "+":
		buf := cp.buf()
		return func(r *runner, c *router.Ctx) (router.Value, flow) {
			va, vb, f := operands(r, c, a, b)
			if f == stop {
				return router.Value{}, stop
			}
			return plus(r, buf, va, vb), next
		}
	}
	op := intOps[x.Op]
	if op == nil {
		cp.errorf(x.Pos, "unsupported operator %s", x.Op)
		return constExpr(router.Value{})
	}
	pos := x.Pos
	return func(r *runner, c *router.Ctx) (router.Value, flow) {
		va, vb, f := operands(r, c, a, b)
		if f == stop {
			return router.Value{}, stop
		}
		m, _ := va.Int64()
		n, _ := vb.Int64()
		v, ok := op(m, n)
		if !ok {
			c.Log().Error("division by zero", "where", pos.String(), "route", c.Route)
		}
		return router.IntValue(v), next
	}
}

// plus is Kamailio's "+": the left operand's type decides (rvalue.c's
// RVE_PLUS_OP) — an int adds the right one read as an int (a string that
// is none reads 0, as Kamailio's conversion that fails), a string
// concatenates it, into the runner's buffer b (no allocation once the
// buffer has grown).
func plus(r *runner, b int, x, y router.Value) router.Value {
	if x.Kind == router.Int {
		n, _ := y.Int64()
		return router.IntValue(x.I + n)
	}
	if x.Kind == router.Null && y.Kind == router.Int {
		return y
	}
	buf := r.bufs[b][:0]
	buf = x.AppendTo(buf)
	buf = y.AppendTo(buf)
	r.bufs[b] = buf
	return router.BytesValue(buf)
}

func view(v router.Value, tmp *[24]byte) []byte { return router.View(v, tmp) }

// equal compares as Kamailio does: two ints as ints, an int and a string
// as ints when the string is one, else as strings; null equals only null.
func equal(a, b router.Value) bool {
	if a.Kind == router.Null || b.Kind == router.Null {
		return a.Kind == b.Kind
	}
	if a.Kind == router.Int || b.Kind == router.Int {
		m, ok1 := a.Int64()
		n, ok2 := b.Int64()
		if ok1 && ok2 {
			return m == n
		}
	}
	var t1, t2 [24]byte
	return bytes.Equal(view(a, &t1), view(b, &t2))
}

// less orders as ints when both are, else as strings.
func less(a, b router.Value) int {
	m, ok1 := a.Int64()
	n, ok2 := b.Int64()
	if ok1 && ok2 {
		switch {
		case m < n:
			return -1
		case m > n:
			return 1
		}
		return 0
	}
	var t1, t2 [24]byte
	return bytes.Compare(view(a, &t1), view(b, &t2))
}

func (cp *compiler) compare(x *cfg.Binary) cond {
	if id, ok := x.Y.(*cfg.Ident); ok && id.Name == "myself" {
		return cp.myself(x)
	}
	if ip, ok := x.Y.(*cfg.IPLit); ok {
		return cp.ipCompare(x, x.X, ip)
	}
	if ip, ok := x.X.(*cfg.IPLit); ok {
		return cp.ipCompare(x, x.Y, ip)
	}
	a := cp.expr(x.X)
	op := x.Op
	if op == "=~" || op == "!~" {
		return cp.match(a, x)
	}
	b := cp.expr(x.Y)
	var test func(a, b router.Value) bool
	switch op {
	case "==":
		test = equal
	case "!=":
		test = func(a, b router.Value) bool { return !equal(a, b) }
	default:
		want := map[string]func(int) bool{
			"<":  func(k int) bool { return k < 0 },
			">":  func(k int) bool { return k > 0 },
			"<=": func(k int) bool { return k <= 0 },
			">=": func(k int) bool { return k >= 0 },
		}[op]
		test = func(a, b router.Value) bool { // null orders with nothing
			return a.Kind != router.Null && b.Kind != router.Null && want(less(a, b))
		}
	}
	return func(r *runner, c *router.Ctx) (bool, flow) {
		va, vb, f := operands(r, c, a, b)
		if f == stop {
			return false, stop
		}
		return test(va, vb), next
	}
}

// typedCompare compiles Kamailio's eq and ne (the operands compared as
// strings) and ieq and ine (as integers; a string that is not one is 0).
func (cp *compiler) typedCompare(x *cfg.Binary) cond {
	a, b := cp.expr(x.X), cp.expr(x.Y)
	neg := x.Op == "ne" || x.Op == "ine"
	asInt := x.Op == "ieq" || x.Op == "ine"
	return func(r *runner, c *router.Ctx) (bool, flow) {
		va, vb, f := operands(r, c, a, b)
		if f == stop {
			return false, stop
		}
		var same bool
		if asInt {
			m, _ := va.Int64()
			n, _ := vb.Int64()
			same = m == n
		} else {
			same = va.String() == vb.String()
		}
		return same != neg, next
	}
}

// myself compiles "X == myself" and "X != myself": X is src_ip (an
// address) or a URI (uri, from_uri, to_uri, a pseudo-variable).
func (cp *compiler) myself(x *cfg.Binary) cond {
	neg := x.Op == "!="
	if x.Op != "==" && x.Op != "!=" {
		cp.errorf(x.Pos, "myself can only be compared with == or !=")
	}
	if id, ok := x.X.(*cfg.Ident); ok && id.Name == "src_ip" {
		return func(r *runner, c *router.Ctx) (bool, flow) {
			return c.Env().Myself.IsIP(c.Src().Addr()) != neg, next
		}
	}
	a := cp.expr(x.X)
	return func(r *runner, c *router.Ctx) (bool, flow) {
		v, f := a(r, c)
		if f == stop {
			return false, f
		}
		var t [24]byte
		b := view(v, &t)
		if len(b) == 0 {
			return neg, next
		}
		var u sip.URI
		if bytes.IndexByte(b, ':') >= 0 && sip.ParseURI(b, &u) == nil && len(u.Host) > 0 {
			return c.IsMyself(&u) != neg, next
		}
		return c.Env().Myself.Is(b, 0, false) != neg, next // a bare host
	}
}

// ipCompare compiles "X == 10.0.0.1" and "X != 10.0.0.0/8": X (src_ip,
// or any value holding an address) is in the network or is the address.
func (cp *compiler) ipCompare(x *cfg.Binary, other cfg.Expr, ip *cfg.IPLit) cond {
	neg := x.Op == "!="
	if x.Op != "==" && x.Op != "!=" {
		cp.errorf(x.Pos, "an address can only be compared with == or !=")
	}
	pfx := ip.Prefix
	if id, ok := other.(*cfg.Ident); ok && id.Name == "src_ip" {
		return func(r *runner, c *router.Ctx) (bool, flow) {
			return pfx.Contains(c.Src().Addr().Unmap()) != neg, next
		}
	}
	a := cp.expr(other)
	return func(r *runner, c *router.Ctx) (bool, flow) {
		v, f := a(r, c)
		if f == stop {
			return false, f
		}
		addr, err := netip.ParseAddr(strings.Trim(v.String(), "[]"))
		return (err == nil && pfx.Contains(addr.Unmap())) != neg, next
	}
}

func (cp *compiler) match(a expr, x *cfg.Binary) cond {
	neg := x.Op == "!~"
	var re *regexp.Regexp
	var dyn expr
	if s, ok := x.Y.(*cfg.StrLit); ok {
		var err error
		if re, err = router.Regexp(s.Value); err != nil {
			cp.errorf(s.Pos, "bad regular expression %q: %v", s.Value, err)
		}
	} else {
		dyn = cp.expr(x.Y)
	}
	pos := x.Pos
	return func(r *runner, c *router.Ctx) (bool, flow) {
		v, f := a(r, c)
		if f == stop {
			return false, f
		}
		rx := re
		if dyn != nil {
			p, f := dyn(r, c)
			if f == stop {
				return false, f
			}
			var err error
			if rx, err = router.Regexp(p.String()); err != nil {
				c.Log().Error("bad regular expression: "+err.Error(), "where", pos.String(), "route", c.Route)
				return false, next
			}
		}
		var ok bool
		switch { // not through view(): a stack buffer handed to regexp escapes
		case rx == nil || v.Kind == router.Null:
			return neg, next
		case v.Kind == router.Int:
			ok = rx.MatchString(strconv.FormatInt(v.I, 10))
		case v.B != nil:
			ok = rx.Match(v.B)
		default:
			ok = rx.MatchString(v.S)
		}
		return ok != neg, next
	}
}

// pvar parses a pseudo-variable at load; nil after an error.
func (cp *compiler) pvar(x *cfg.PVar) *router.PV {
	pv, err := router.ParsePV(x.Name)
	if err != nil {
		cp.errorf(x.Pos, "%v", err)
		return nil
	}
	return pv
}

// sendKeyword reads, in onsend_route, where the message goes: the
// socket it leaves from (snd_ip, snd_port, snd_af, snd_proto) and its
// destination (to_ip, to_port); null elsewhere.
func sendKeyword(name string) expr {
	return func(r *runner, c *router.Ctx) (router.Value, flow) {
		hop, ok := c.SendHop()
		if !ok || hop.Local == nil {
			return router.Value{}, next
		}
		switch name {
		case "snd_ip":
			return router.StrValue(hop.Local.IP), next
		case "snd_port":
			return router.IntValue(int64(hop.Local.Addr.Port())), next
		case "snd_af":
			if hop.Local.Addr.Addr().Is4() {
				return router.IntValue(4), next
			}
			return router.IntValue(6), next
		case "snd_proto":
			return router.IntValue(int64(hop.Proto)), next
		case "to_ip":
			return router.StrValue(hop.Addr.Addr().Unmap().String()), next
		}
		return router.IntValue(int64(hop.Addr.Port())), next
	}
}
