package all

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

const invite = "INVITE sip:bob@127.0.0.1:5060;transport=udp SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"Route: <sip:127.0.0.1;lr>\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=f1\r\n" +
	"To: <sip:bob@127.0.0.1>\r\n" +
	"Call-ID: call-1@192.0.2.10\r\n" +
	"CSeq: 7 INVITE\r\n" +
	"Contact: <sip:alice@192.0.2.10:5062>\r\n" +
	"User-Agent: friendly-scanner\r\n" +
	"X-Dup: one\r\n" +
	"X-Dup: two\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

type env struct {
	t   *testing.T
	tab *dispatch.Table
	w   *router.Worker
	c   *router.Ctx
	msg *sip.Msg
}

func setup(t *testing.T) *env {
	e := setupWith(t, []string{"sl", "maxfwd", "sanity", "siputils", "corex", "kemix", "textops", "xlog", "kex"}, nil, invite, "192.0.2.10:5062")
	e.c.Env().Defines = map[string]string{"WITH_X": "5"}
	return e
}

// call calls KSR.<mod>.<name> with args (int or string) through the table,
// as an engine does.
func (e *env) call(full string, args ...any) router.Value {
	e.t.Helper()
	mod, name, ok := strings.Cut(full, ".")
	if !ok {
		mod, name = "", full
	}
	i, ok := e.tab.Lookup(mod, name)
	if !ok {
		e.t.Fatalf("no export %s", full)
	}
	ex := e.tab.At(i)
	if len(args) != len(ex.Params) {
		e.t.Fatalf("%s: %d args for %d params", full, len(args), len(ex.Params))
	}
	var a dispatch.Args
	for j, v := range args {
		switch v := v.(type) {
		case int:
			a.I[j] = v
		case string:
			a.S[j] = v
		}
	}
	v, _ := ex.Invoke(e.c, &a)
	return v
}

func TestExports(t *testing.T) {
	e := setup(t)
	cases := []struct {
		fn   string
		args []any
		want string // the result as text ("" for null)
	}{
		{"is_INVITE", nil, "1"}, {"is_REGISTER", nil, "-1"}, {"is_method_in", []any{"RI"}, "1"}, {"is_method_in", []any{"RO"}, "-1"},
		{"is_method", []any{"INVITE"}, "1"}, {"is_UDP", nil, "1"}, {"is_TCP", nil, "-1"}, {"is_proto", []any{"tu"}, "1"},
		{"is_IPv4", nil, "1"}, {"is_src_port", []any{5062}, "1"},
		{"is_myself_ruri", nil, "1"}, {"is_myself_furi", nil, "-1"}, {"is_myself_srcip", nil, "-1"},
		{"is_myself", []any{"sip:127.0.0.1:5060"}, "1"}, {"is_myself", []any{"sip:127.0.0.1:5099"}, "-1"},
		{"setflag", []any{4}, "1"}, {"isflagset", []any{4}, "1"}, {"resetflag", []any{4}, "1"}, {"isflagset", []any{4}, "-1"},
		{"setflag", []any{64}, "-1"}, {"setbflag", []any{1}, "1"}, {"isbflagset", []any{1}, "1"},
		{"isdsturiset", nil, "-1"}, {"setdsturi", []any{"sip:10.0.0.1:5070"}, "1"}, {"isdsturiset", nil, "1"},
		{"setdsturi", []any{"not a uri <"}, "-1"},
		{"pv.get", []any{"$du"}, "sip:10.0.0.1:5070"}, {"resetdsturi", nil, "1"}, {"pv.get", []any{"$du"}, ""},
		{"pv.get", []any{"$ru"}, "sip:bob@127.0.0.1:5060;transport=udp"}, {"pv.get", []any{"$rU"}, "bob"},
		{"pv.get", []any{"$rd"}, "127.0.0.1"}, {"pv.get", []any{"$rp"}, "5060"},
		{"pv.get", []any{"$fu"}, "sip:alice@example.com"}, {"pv.get", []any{"$fU"}, "alice"}, {"pv.get", []any{"$fd"}, "example.com"},
		{"pv.get", []any{"$fn"}, "Alice"}, {"pv.get", []any{"$ft"}, "f1"}, {"pv.get", []any{"$tt"}, ""},
		{"pv.get", []any{"$tu"}, "sip:bob@127.0.0.1"}, {"pv.get", []any{"$ci"}, "call-1@192.0.2.10"}, {"pv.get", []any{"$cs"}, "7"},
		{"pv.get", []any{"$rm"}, "INVITE"}, {"pv.get", []any{"$rs"}, ""}, {"pv.get", []any{"$si"}, "192.0.2.10"},
		{"pv.get", []any{"$sp"}, "5062"}, {"pv.get", []any{"$ua"}, "friendly-scanner"}, {"pv.get", []any{"$ct"}, "<sip:alice@192.0.2.10:5062>"},
		{"pv.get", []any{"$hdr(x-dup)"}, "one"}, {"pv.get", []any{"$hdrc(X-Dup)"}, "2"}, {"pv.get", []any{"$hdr(Nope)"}, ""},
		{"pv.get", []any{"$rb"}, "v=0\n"}, {"pv.get", []any{"$cl"}, "4"}, {"pv.get", []any{"$pr"}, "udp"},
		{"pv.gete", []any{"$hdr(Nope)"}, ""}, {"pv.getw", []any{"$hdr(Nope)"}, "<<null>>"},
		{"pv.sets", []any{"$var(a)", "x"}, "1"}, {"pv.get", []any{"$var(a)"}, "x"}, {"pv.seti", []any{"$var(n)", 9}, "1"},
		{"pv.geti", []any{"$var(n)"}, "9"}, {"pv.getvs", []any{"$var(zz)", "d"}, "d"}, {"pv.is_null", []any{"$avp(q)"}, "1"},
		{"pv.sets", []any{"$avp(q)", "1"}, "1"}, {"pv.is_null", []any{"$avp(q)"}, "-1"}, {"pv.unset", []any{"$avp(q)"}, "1"},
		{"pv.is_null", []any{"$avp(q)"}, "1"}, {"pv.sets", []any{"$si", "x"}, "-1"}, {"pv.get", []any{"$nosuch"}, ""},
		{"pv.sets", []any{"$rU", "carol"}, "1"}, {"pv.get", []any{"$ru"}, "sip:carol@127.0.0.1:5060;transport=udp"},
		{"sethost", []any{"example.net"}, "1"}, {"pv.get", []any{"$ru"}, "sip:carol@example.net:5060;transport=udp"},
		{"hdr.is_present", []any{"X-Dup"}, "1"}, {"hdr.get", []any{"X-Dup"}, "one"}, {"hdr.get_idx", []any{"X-Dup", 1}, "two"},
		{"hdr.get_idx", []any{"X-Dup", -1}, "two"}, {"hdr.get_idx", []any{"X-Dup", 2}, ""}, {"hdr.gete", []any{"X-None"}, ""},
		{"hdr.remove", []any{"Route"}, "1"}, {"hdr.remove", []any{"X-None"}, "-1"}, {"hdr.append", []any{"X-New: 1\r\n"}, "1"},
		{"hdr.append", []any{"no colon"}, "-1"}, {"hdr.insert_before", []any{"X-First: 0", "Max-Forwards"}, "1"},
		{"maxfwd.process_maxfwd", []any{10}, "1"}, {"maxfwd.is_maxfwd_lt", []any{71}, "1"},
		{"siputils.has_totag", nil, "-1"}, {"siputils.is_request", nil, "1"}, {"siputils.is_first_hop", nil, "1"},
		{"siputils.is_numeric", []any{"0123"}, "1"}, {"siputils.is_numeric", []any{"12a"}, "-1"},
		{"siputils.is_uri", []any{"sip:a@b"}, "1"}, {"siputils.cmp_uri", []any{"sip:a@B;lr", "sip:a@b;lr"}, "1"},
		{"siputils.cmp_aor", []any{"sip:a@b", "sip:a@b:5060"}, "1"}, {"siputils.is_tel_number", []any{"+4930123"}, "1"},
		{"siputils.uri_param", []any{"transport"}, "1"}, {"siputils.uri_param_value", []any{"transport", "udp"}, "1"},
		{"sanity.sanity_check", []any{17895, 7}, "1"},
		{"corex.has_ruri_user", nil, "1"}, {"corex.has_user_agent", nil, "1"},
		{"corex.setxflag", []any{100}, "1"}, {"corex.isxflagset", []any{100}, "1"}, {"corex.isxflagset", []any{99}, "-1"},
		{"textops.is_present_hf", []any{"x-dup"}, "1"}, {"textops.is_present_hf_re", []any{"^X-D"}, "1"},
		{"textops.search", []any{"friendly-scanner"}, "1"}, {"textops.search_body", []any{"^v=0"}, "1"},
		{"textops.has_body", nil, "1"}, {"textops.has_body_type", []any{"application/sdp"}, "1"},
		{"textops.search_hf", []any{"X-Dup", "two", "l"}, "1"}, {"textops.search_hf", []any{"X-Dup", "two", "f"}, "-1"},
		{"textops.starts_with", []any{"abc", "ab"}, "1"}, {"textops.in_list", []any{"b", "a, b,c", ","}, "1"},
		{"textops.str_find", []any{"abc", "c"}, "3"}, {"textops.cmp_istr", []any{"ABC", "abc"}, "1"},
		{"kx.get_method", nil, "INVITE"}, {"kx.get_fuser", nil, "alice"}, {"kx.gete_fhost", nil, "example.com"},
		{"kx.get_srcip", nil, "192.0.2.10"}, {"kx.get_srcport", nil, "5062"}, {"kx.get_status", nil, "-1"},
		{"kx.gets_status", nil, ""}, {"kx.get_msgtype", nil, "1"}, {"kx.get_bodylen", nil, "4"},
		{"kx.get_def", []any{"WITH_X"}, "5"}, {"kx.get_defn", []any{"WITH_X"}, "5"}, {"kx.ifdef", []any{"WITH_X"}, "1"},
		{"kx.ifndef", []any{"WITH_X"}, "-1"}, {"kx.gete_ua", nil, "friendly-scanner"}, {"kx.getw_au", nil, "<<null>>"},
		{"xlog.xinfo", []any{"from $fu\n"}, "1"}, {"xlog.xlog", []any{"L_WARN", "x"}, "1"}, {"xlog.xlog", []any{"L_NOPE", "x"}, "-1"},
		{"xlog.xerr", []any{"$nosuch"}, "-1"},
	}
	for i, c := range cases {
		got := e.call(c.fn, c.args...).String()
		if got != c.want {
			t.Errorf("case %d (%s%v): got %q, want %q", i, c.fn, c.args, got, c.want)
		}
	}
	out := string(e.msg.AppendTo(nil))
	for _, want := range []string{"INVITE sip:carol@example.net:5060;transport=udp SIP/2.0\r\n", "X-First: 0\r\nMax-Forwards: 69\r\n", "X-New: 1\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("forwarded message lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Route:") {
		t.Errorf("Route not removed:\n%s", out)
	}
	var fwd sip.Msg
	if err := fwd.Parse([]byte(out)); err != nil {
		t.Errorf("the edited message does not parse: %v", err)
	}
}

func TestMaxForwardsZero(t *testing.T) {
	e := setup(t)
	m := new(sip.Msg)
	if err := m.Parse([]byte(strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards: 0", 1))); err != nil {
		t.Fatal(err)
	}
	e.w.RunRequest(&transport.Packet{Src: netip.MustParseAddrPort("192.0.2.10:5062"), Proto: sip.TransportUDP}, m)
	if got := e.call("maxfwd.process_maxfwd", 10).I; got != -1 {
		t.Errorf("Max-Forwards 0: got %d, want -1", got)
	}
}

// TestDestinationAndSockets: the core's to_* functions follow $du, then
// the request URI; kx's socket getters read the receiving socket.
func TestDestinationAndSockets(t *testing.T) {
	e := setup(t)
	for _, c := range []struct {
		fn   string
		want string
	}{{"to_UDP", "1"}, {"to_TCP", "-1"}, {"to_IPv4", "1"}, {"to_IPv6", "-1"}, {"to_WSX", "-1"}} {
		e.want(c.fn, c.want)
	}
	e.call("setdsturi", "sip:[2001:db8::1]:5060;transport=ws")
	for _, c := range []struct {
		fn   string
		want string
	}{{"to_UDP", "-1"}, {"to_WS", "1"}, {"to_WSX", "1"}, {"to_WSS", "-1"}, {"to_IPv6", "1"}, {"to_IPv4", "-1"}} {
		e.want(c.fn, c.want)
	}
	e.call("setdsturi", "sips:10.0.0.1")
	e.want("to_TLS", "1")
	e.want("kx.get_srcaddr_sock", "udp:192.0.2.10:5062")
	e.want("kx.get_rcvaddr_sock", "") // the test's packet has no socket
	e.c.Pkt.Local = &transport.Listener{Proto: sip.TransportUDP, Addr: netip.MustParseAddrPort("127.0.0.1:5060"), IP: "127.0.0.1", Advertise: "203.0.113.5:5080"}
	e.want("kx.get_rcvaddr_sock", "udp:127.0.0.1:5060")
	e.want("kx.get_rcvadvip", "203.0.113.5")
	e.want("kx.get_rcvadvport", "5080")
	e.want("kx.get_rcv_sock_name", "")
}
