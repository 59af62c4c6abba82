package nathelper_test

import (
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
