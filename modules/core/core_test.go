package core_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const invite = "INVITE sip:bob@127.0.0.1:5060;transport=udp SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\n" +
	"Max-Forwards: 70\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=f1\n" +
	"To: <sip:bob@127.0.0.1>\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"Content-Length: 0\n\n"

func TestCoreFunctions(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"is_INVITE", nil, "1"}, {"is_REGISTER", nil, "-1"}, {"is_method_in", []any{"RI"}, "1"}, {"is_method_in", []any{"RO"}, "-1"},
		{"is_method", []any{"INVITE"}, "1"}, {"is_UDP", nil, "1"}, {"is_TCP", nil, "-1"}, {"is_proto", []any{"tu"}, "1"},
		{"is_IPv4", nil, "1"}, {"is_src_port", []any{5062}, "1"}, {"is_dst_port", []any{5060}, "1"},
		{"is_myself_ruri", nil, "1"}, {"is_myself_furi", nil, "-1"}, {"is_myself_srcip", nil, "-1"},
		{"is_myself", []any{"sip:127.0.0.1:5060"}, "1"}, {"is_myself", []any{"sip:127.0.0.1:5099"}, "-1"},
		{"setflag", []any{4}, "1"}, {"isflagset", []any{4}, "1"}, {"resetflag", []any{4}, "1"}, {"isflagset", []any{4}, "-1"},
		{"setflag", []any{64}, "-1"}, {"setbflag", []any{1}, "1"}, {"isbflagset", []any{1}, "1"},
		{"setsflag", []any{2}, "1"}, {"issflagset", []any{2}, "1"},
		{"isdsturiset", nil, "-1"}, {"setdsturi", []any{"sip:10.0.0.1:5070"}, "1"}, {"isdsturiset", nil, "1"},
		{"setdsturi", []any{"not a uri <"}, "-1"},
		{"pv.get", []any{"$du"}, "sip:10.0.0.1:5070"}, {"resetdsturi", nil, "1"}, {"pv.get", []any{"$du"}, ""},
		{"setuser", []any{"carol"}, "1"}, {"sethost", []any{"example.net"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:carol@example.net:5060;transport=udp"},
		{"seturi", []any{"sip:dave@example.org"}, "1"}, {"pv.get", []any{"$ru"}, "sip:dave@example.org"},
		{"seturi", []any{"<bad"}, "-1"},
	})
	if out := k.Out(); !strings.HasPrefix(out, "INVITE sip:dave@example.org SIP/2.0\r\n") {
		t.Errorf("the forwarded request line:\n%s", out)
	}
}

// TestDestination: the to_* functions follow $du, then the request URI.
func TestDestination(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"to_UDP", nil, "1"}, {"to_TCP", nil, "-1"}, {"to_IPv4", nil, "1"}, {"to_IPv6", nil, "-1"}, {"to_WSX", nil, "-1"},
		{"setdsturi", []any{"sip:[2001:db8::1]:5060;transport=ws"}, "1"},
		{"to_UDP", nil, "-1"}, {"to_WS", nil, "1"}, {"to_WSX", nil, "1"}, {"to_WSS", nil, "-1"}, {"to_IPv6", nil, "1"}, {"to_IPv4", nil, "-1"},
		{"setdsturi", []any{"sips:10.0.0.1"}, "1"}, {"to_TLS", nil, "1"},
	})
}

// TestForward: forward() sends the request statelessly to its request URI
// with this proxy's Via on top.
func TestForward(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(invite, "sip:bob@127.0.0.1:5060;transport=udp", "sip:bob@198.51.100.20:5070", 1))
	if rc := k.CallInt("forward"); rc != 1 {
		t.Fatalf("forward: %d", rc)
	}
	sent := k.Sent()
	if len(sent) != 1 || !sent[0].IsRequest() || sent[0].Dst.String() != "198.51.100.20:5070" {
		t.Fatalf("sent %d messages, want the INVITE to 198.51.100.20:5070: %+v", len(sent), sent)
	}
	if v := sent[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK") {
		t.Errorf("top Via %q", v)
	}
	if mf := sent[0].Header("Max-Forwards"); mf != "70" {
		t.Errorf("Max-Forwards %q: forward() does not decrement", mf)
	}
}

// TestLog: KSR.info and friends log at their level, KSR.log by name.
func TestLog(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Call("info", "hello from the script")
	k.Call("log", "err", "an error line")
	if l := k.Logs.String(); !strings.Contains(l, "level=INFO msg=\"hello from the script\"") || !strings.Contains(l, "level=ERROR msg=\"an error line\"") {
		t.Errorf("logs:\n%s", l)
	}
}

// TestNativeLog: log("msg") and log(level, "msg") with Kamailio's numeric
// level.
func TestNativeLog(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Native("log", "quiet line")
	k.Native("log", "-1", "an error by number")
	l := k.Logs.String()
	if !strings.Contains(l, `level=DEBUG msg="quiet line"`) || !strings.Contains(l, `level=ERROR msg="an error by number"`) {
		t.Errorf("logs:\n%s", l)
	}
}

// TestIsMyself: KSR.is_myself checks a sip: URI by host, and port when it
// has one, and anything else as a host on any port, as Kamailio's
// check_self with port 0.
func TestIsMyself(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"is_myself", []any{"127.0.0.1"}, "1"},
		{"is_myself", []any{"sip:127.0.0.1"}, "1"},
		{"is_myself", []any{"sip:127.0.0.1:5060"}, "1"},
		{"is_myself", []any{"sip:127.0.0.1:5099"}, "-1"},
		{"is_myself", []any{"sips:127.0.0.1"}, "1"},
		{"is_myself", []any{"192.0.2.1"}, "-1"},
		{"is_myself", []any{"sip:192.0.2.1"}, "-1"},
		{"is_myself", []any{"sip:"}, "-1"},
	})
}

// TestUserPartEdits: the native config's strip, strip_tail, prefix and the
// rewrite* names, each on the request URI as the earlier ones left it.
func TestUserPartEdits(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(invite, "sip:bob@", "sip:00441234@", 1))
	for _, c := range []struct {
		fn   string
		arg  any
		want string
	}{
		{"strip", 2, "sip:441234@127.0.0.1:5060;transport=udp"},
		{"prefix", "+", "sip:+441234@127.0.0.1:5060;transport=udp"},
		{"strip_tail", 4, "sip:+44@127.0.0.1:5060;transport=udp"},
		{"strip", 10, "sip:127.0.0.1:5060;transport=udp"}, // all of it: no user
		{"rewriteuser", "carol", "sip:carol@127.0.0.1:5060;transport=udp"},
		{"rewritehost", "example.com", "sip:carol@example.com:5060;transport=udp"},
		{"rewriteuri", "sip:dave@example.net", "sip:dave@example.net"},
	} {
		if got := k.Native(c.fn, c.arg); got.String() != "1" {
			t.Errorf("%s(%v): %s", c.fn, c.arg, got)
		}
		if got := k.Call("pv.get", "$ru").String(); got != c.want {
			t.Errorf("after %s(%v): $ru %q, want %q", c.fn, c.arg, got, c.want)
		}
	}
}

// TestAdvertised: set_advertised_address and set_advertised_port name
// this proxy in the Via of what the message sends; add_tcp_alias wants a
// stream.
func TestAdvertised(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(invite, "sip:bob@127.0.0.1:5060;transport=udp", "sip:bob@198.51.100.20:5070", 1))
	k.Run([]moduletest.Case{
		{"set_advertised_address", []any{"proxy.example.com"}, "1"},
		{"set_advertised_port", []any{"x"}, "-1"},
		{"add_tcp_alias", []any{5070}, "-1"}, {"add_tcp_alias_via", nil, "-1"},
		{"forward", nil, "1"},
	})
	if v := k.Sent()[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP proxy.example.com:5060;branch=") {
		t.Errorf("top Via %q, want the advertised address with the socket's port", v)
	}
	k.Request(strings.Replace(invite, "sip:bob@127.0.0.1:5060;transport=udp", "sip:bob@198.51.100.20:5070", 1))
	k.Run([]moduletest.Case{{"set_advertised_port", []any{"5080"}, "1"}, {"forward", nil, "1"}})
	if v := k.Sent()[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP 127.0.0.1:5080;branch=") {
		t.Errorf("top Via %q, want the socket's address with the advertised port", v)
	}
	k.Request(strings.Replace(invite, "sip:bob@127.0.0.1:5060;transport=udp", "sip:bob@198.51.100.20:5070", 1))
	k.Run([]moduletest.Case{{"forward", nil, "1"}})
	if v := k.Sent()[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP 127.0.0.1:5060;branch=") {
		t.Errorf("top Via %q: the advertised address outlived its message", v)
	}
}

// TestNativeForwardsAndRewrites: forward(host, port), forward_udp/tcp(),
// sethostport, setport, error() and revert_uri in the native language.
func TestNativeForwardsAndRewrites(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	if got := k.Native("forward_tcp", "198.51.100.7", 5070).String(); got != "1" {
		t.Fatalf("forward_tcp: %s", got)
	}
	if s := k.Sent(); len(s) != 1 || s[0].Proto.String() != "TCP" || s[0].Dst.String() != "198.51.100.7:5070" {
		t.Errorf("forward_tcp sent %+v", s)
	}
	k.Request(invite)
	k.Native("forward", "198.51.100.8", 5080)
	if s := k.Sent(); len(s) != 1 || s[0].Dst.String() != "198.51.100.8:5080" {
		t.Errorf("forward(host, port) sent %+v", s)
	}
	k.Request(invite)
	k.Native("sethostport", "example.org:5090")
	k.Run([]moduletest.Case{{"pv.get", []any{"$ru"}, "sip:bob@example.org:5090;transport=udp"}})
	k.Native("setport", "6000")
	k.Run([]moduletest.Case{{"pv.get", []any{"$ru"}, "sip:bob@example.org:6000;transport=udp"}})
	k.Native("revert_uri")
	k.Run([]moduletest.Case{{"pv.get", []any{"$ru"}, "sip:bob@127.0.0.1:5060;transport=udp"}})
	if got := k.Native("error", "500", "oops").String(); got != "1" || !strings.Contains(k.Logs.String(), `error(\"500\", \"oops\") not implemented yet`) {
		t.Errorf("error(): %s\n%s", got, k.Logs.String())
	}
}
