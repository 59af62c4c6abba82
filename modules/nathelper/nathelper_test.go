package nathelper_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// A client behind NAT: its Via and Contact say 10.0.0.5:5060, the request
// came from 192.0.2.10:5062 (moduletest.Client).
const natInvite = "INVITE sip:bob@127.0.0.1;alias=192.0.2.77~5070~1;transport=udp SIP/2.0\n" +
	"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport\n" +
	"Max-Forwards: 70\n" +
	"From: <sip:alice@example.com>;tag=n1\n" +
	"To: <sip:bob@127.0.0.1>\n" +
	"Call-ID: nat-1\n" +
	"CSeq: 1 INVITE\n" +
	"Contact: <sip:alice@10.0.0.5:5060;ob>;expires=60\n" +
	"Content-Type: application/sdp\n" +
	"Content-Length: 18\n\nc=IN IP4 10.0.0.5\n"

func TestNathelper(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"nathelper.so\"\nmodparam(\"nathelper\", \"received_avp\", \"$avp(RECEIVED)\")")
	k.Request(natInvite)
	var cases []moduletest.Case
	for _, c := range []struct {
		flags int
		want  string
	}{{1, "1"}, {2, "1"}, {4, "1"}, {8, "1"}, {16, "1"}, {32, "-1"}, {64, "-1"}, {128, "1"}, {19, "1"}} {
		cases = append(cases, moduletest.Case{Fn: "nathelper.nat_uac_test", Args: []any{c.flags}, Want: c.want})
	}
	cases = append(cases,
		moduletest.Case{Fn: "nathelper.is_rfc1918", Args: []any{"100.64.1.1"}, Want: "1"},
		moduletest.Case{Fn: "nathelper.is_rfc1918", Args: []any{"192.0.2.1"}, Want: "-1"},
		moduletest.Case{Fn: "nathelper.fix_nated_register", Want: "1"},
		moduletest.Case{Fn: "pv.get", Args: []any{"$avp(RECEIVED)"}, Want: "sip:192.0.2.10:5062"},
		moduletest.Case{Fn: "nathelper.set_contact_alias", Want: "1"},
	)
	k.Run(cases)
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@10.0.0.5:5060;ob;alias=192.0.2.10~5062~1>;expires=60\r\n") {
		t.Errorf("set_contact_alias: the Contact is now\n%s", out)
	}
	k.Run([]moduletest.Case{
		{"nathelper.handle_ruri_alias", nil, "1"},
		{"pv.get", []any{"$du"}, "sip:192.0.2.77:5070"},
		{"pv.get", []any{"$ru"}, "sip:bob@127.0.0.1;transport=udp"},
		{"nathelper.handle_ruri_alias", nil, "2"}, // no alias any more
	})
}

func TestFixNatedContact(t *testing.T) {
	k := moduletest.New(t, `loadmodule "nathelper.so"`)
	k.Request(natInvite)
	k.Call("nathelper.fix_nated_contact")
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@192.0.2.10:5062;ob>;expires=60\r\n") {
		t.Errorf("fix_nated_contact: the Contact is now\n%s", out)
	}
	// Without received_avp, fix_nated_register does nothing.
	k.Run([]moduletest.Case{{"nathelper.fix_nated_register", nil, "1"}})
}

// TestContactForms: add_contact_alias_addr, set_contact_alias_trim,
// set_alias_to_pv, add_rcv_param and handle_ruri_alias_mode.
func TestContactForms(t *testing.T) {
	k := moduletest.New(t, `loadmodule "nathelper.so"`)
	k.Request(strings.Replace(natInvite, "Contact: <sip:alice@10.0.0.5:5060;ob>", "Contact: sip:alice@10.0.0.5:5060", 1))
	k.Run([]moduletest.Case{
		{"nathelper.add_contact_alias_addr", []any{"nope", "5060", "udp"}, "-1"},
		{"nathelper.add_contact_alias_addr", []any{"198.51.100.4", "0", "udp"}, "-1"},
		{"nathelper.add_contact_alias_addr", []any{"198.51.100.4", "5080", "carrier-pigeon"}, "-1"},
		{"nathelper.add_contact_alias_addr", []any{"198.51.100.4", "5080", "tcp"}, "1"},
	})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@10.0.0.5:5060;alias=198.51.100.4~5080~2>;expires=60\r\n") {
		t.Errorf("add_contact_alias_addr: the Contact is now\n%s", out)
	}
	k.Request(strings.Replace(natInvite, ";ob>", ";alias=10.9.9.9~1~1;ob>", 1))
	k.Run([]moduletest.Case{
		{"nathelper.set_alias_to_pv", []any{"$var(a)"}, "1"},
		{"pv.get", []any{"$var(a)"}, "sip:10.9.9.9:1;transport=udp"},
		{"nathelper.set_contact_alias_trim", nil, "1"},
	})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@10.0.0.5:5060;ob;alias=192.0.2.10~5062~1>;expires=60\r\n") {
		t.Errorf("set_contact_alias_trim: the Contact is now\n%s", out)
	}
	k.Request(strings.Replace(natInvite, "Contact: <sip:alice@10.0.0.5:5060;ob>;expires=60", "Contact: <sip:a@10.0.0.5>;expires=60, <sip:b@10.0.0.6>", 1))
	k.Run([]moduletest.Case{{"nathelper.set_alias_to_pv", []any{"$var(a)"}, "-1"}, {"nathelper.add_rcv_param", []any{0}, "1"}})
	if out := k.Out(); !strings.Contains(out, `Contact: <sip:a@10.0.0.5>;expires=60;received="sip:192.0.2.10:5062", <sip:b@10.0.0.6>;received="sip:192.0.2.10:5062"`+"\r\n") {
		t.Errorf("add_rcv_param(0): the Contact is now\n%s", out)
	}
	k.Request(natInvite)
	k.Run([]moduletest.Case{{"nathelper.add_rcv_param", []any{1}, "1"}})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@10.0.0.5:5060;ob;received=sip:192.0.2.10:5062>;expires=60\r\n") {
		t.Errorf("add_rcv_param(1): the Contact is now\n%s", out)
	}
	k.Request(strings.Replace(natInvite, ";transport=udp SIP/2.0", ";alias=198.51.100.9~5090~3;transport=udp SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"nathelper.handle_ruri_alias_mode", []any{1}, "1"},
		{"pv.get", []any{"$du"}, "sip:198.51.100.9:5090;transport=tls"},
		{"pv.get", []any{"$ru"}, "sip:bob@127.0.0.1;alias=192.0.2.77~5070~1;transport=udp"},
	})
}

// TestFixNatedSDP: the SDP addresses become the source's (or the given
// one), the old ones kept; direction and nortpproxy lines by level.
func TestFixNatedSDP(t *testing.T) {
	k := moduletest.New(t, `loadmodule "nathelper.so"`)
	sdp := "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 10.0.0.5\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n"
	req := strings.Replace(natInvite, "Content-Length: 18\n\nc=IN IP4 10.0.0.5\n", "Content-Length: "+strconv.Itoa(len(sdp))+"\n\n"+sdp, 1)
	k.Request(req)
	k.Run([]moduletest.Case{{"nathelper.fix_nated_sdp", []any{2 | 8}, "1"}})
	want := "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 192.0.2.10\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=oldmediaip:10.0.0.5\r\na=oldmediaip:10.0.0.5\r\na=oldmediaip:10.0.0.5\r\n"
	if out := k.Out(); !strings.HasSuffix(out, "\n\n"+want) || !strings.Contains(out, "Content-Length: "+strconv.Itoa(len(want))+"\n") {
		t.Errorf("fix_nated_sdp(10):\n%s", out)
	}
	k.Request(req)
	k.Run([]moduletest.Case{{"nathelper.fix_nated_sdp_ip", []any{1 | 2 | 4, "203.0.113.5"}, "1"}})
	want = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 203.0.113.5\r\na=direction:active\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=direction:active\r\na=nortpproxy:yes\r\na=oldmediaip:10.0.0.5\r\na=oldmediaip:10.0.0.5\r\n"
	if out := k.Out(); !strings.HasSuffix(out, "\n\n"+want) {
		t.Errorf("fix_nated_sdp_ip(7):\n%s", out)
	}
	same := strings.ReplaceAll(sdp, "10.0.0.5", "192.0.2.10")
	k.Request(strings.Replace(natInvite, "Content-Length: 18\n\nc=IN IP4 10.0.0.5\n", "Content-Length: "+strconv.Itoa(len(same))+"\n\n"+same, 1))
	k.Run([]moduletest.Case{{"nathelper.fix_nated_sdp", []any{2}, "2"}})
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"nathelper.fix_nated_sdp", []any{2}, "-1"}})
}
