package siputils_test

import (
	"encoding/base64"
	"github.com/kemi-sip/kemi/core/sip"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestChecks(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@example.com;transport=udp SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"siputils.has_totag", nil, "-1"}, {"siputils.is_request", nil, "1"}, {"siputils.is_reply", nil, "-1"},
		{"siputils.is_first_hop", nil, "1"},
		{"siputils.is_numeric", []any{"0123"}, "1"}, {"siputils.is_numeric", []any{"12a"}, "-1"},
		{"siputils.is_alphanum", []any{"ab12"}, "1"}, {"siputils.is_alphanumex", []any{"ab-12", "-"}, "1"},
		{"siputils.is_uri", []any{"sip:a@b"}, "1"}, {"siputils.is_uri", []any{"nope"}, "-1"},
		{"siputils.cmp_uri", []any{"sip:a@B;lr", "sip:a@b;lr"}, "1"},
		{"siputils.cmp_aor", []any{"sip:a@b", "sip:a@b:5060"}, "1"}, {"siputils.is_tel_number", []any{"+4930123"}, "1"},
		{"siputils.is_tel_number", []any{"0123"}, "-1"}, {"siputils.is_user", []any{"alice"}, "1"},
		{"siputils.uri_param", []any{"transport"}, "1"}, {"siputils.uri_param_value", []any{"transport", "udp"}, "1"},
		{"siputils.add_uri_param", []any{"x=1"}, "1"}, {"pv.get", []any{"$ru"}, "sip:bob@example.com;transport=udp;x=1"},
		{"siputils.cmp_hdr_name", []any{"v", "Via"}, "1"},
	})
}

func TestOptionsReply(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"\nmodparam(\"siputils\", \"options_support\", \"100rel\")")
	k.Request(moduletest.Options)
	if rc := k.CallInt("siputils.options_reply"); rc != 1 {
		t.Fatalf("options_reply: %d", rc)
	}
	r := k.Reply()
	if r.StatusCode() != 200 || r.Header("Accept") != "*/*" || r.Header("Accept-Language") != "en" || r.Header("Support") != "100rel" {
		t.Errorf("reply:\n%s", r.Sent.Msg)
	}
	k.Request(moduletest.Invite) // not an OPTIONS to the proxy
	if rc := k.CallInt("siputils.options_reply"); rc != -1 {
		t.Errorf("options_reply on an INVITE: %d", rc)
	}
	k.NothingSent()
}

func TestNeedsSL(t *testing.T) {
	if _, err := moduletest.NewErr(t, `loadmodule "siputils.so"`); err == nil || !strings.Contains(err.Error(), `loadmodule "sl.so"`) {
		t.Errorf("without sl: %v", err)
	}
}

func TestURIParamsGRUUAndDate(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	msg := strings.Replace(moduletest.Invite, "INVITE sip:bob@example.com SIP/2.0", "INVITE sip:bob@example.com;gr=urn:uuid:1;transport=udp;x SIP/2.0", 1)
	msg = strings.Replace(msg, "Content-Length: 0", "Date: "+time.Now().UTC().Add(-30*time.Second).Format(http.TimeFormat)+"\nContent-Length: 0", 1)
	k.Request(msg)
	k.Run([]moduletest.Case{
		{"siputils.uri_param_any", []any{"x"}, "1"},
		{"siputils.uri_param_any", []any{"nope"}, "-1"},
		{"siputils.is_gruu", nil, "1"},
		{"siputils.hdr_date_check", []any{60}, "1"},
		{"siputils.hdr_date_check", []any{10}, "-1"},
		{"siputils.uri_param_rm", []any{"transport"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:bob@example.com;gr=urn:uuid:1;x"},
		{"siputils.uri_param_rm", []any{"transport"}, "-1"},
	})
	if got := k.Native("is_gruu", "sip:a@b;gr").String(); got != "2" {
		t.Errorf("is_gruu of a public GRUU: %s", got)
	}
}

// TestContactEncoding: encode_contact and decode_contact(_header) round
// trip a Contact through the public address; contact_param_encode and
// its decoders carry it in a parameter; contact_param_rm drops one.
func TestContactEncoding(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	k.Request(strings.Replace(moduletest.Invite, "Contact: <sip:alice@192.0.2.10:5062>",
		"Contact: <sip:alice@192.0.2.10:5062;transport=tcp;x=1>;expires=60, sip:bob:pw@10.0.0.2", 1))
	k.Run([]moduletest.Case{{"siputils.encode_contact", []any{"enc", "203.0.113.1"}, "1"}})
	out := k.Out()
	if !strings.Contains(out, "Contact: <sip:enc*alice**192.0.2.10*5062*tcp@203.0.113.1>;expires=60, sip:enc*bob*pw*10.0.0.2**@203.0.113.1\r\n") {
		t.Fatalf("encoded:\n%s", out)
	}
	// The encoded Contact comes back as a request URI, and in a Contact.
	k.Request(strings.NewReplacer("INVITE sip:bob@example.com", "INVITE sip:enc*alice**192.0.2.10*5062*tcp@203.0.113.1;lr",
		"Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:enc*bob*pw*10.0.0.2**@203.0.113.1>;expires=5").Replace(moduletest.Invite))
	k.Run([]moduletest.Case{
		{"siputils.decode_contact", nil, "1"},
		{"pv.get", []any{"$ru"}, "sip:alice@192.0.2.10:5062;transport=tcp;lr"},
		{"siputils.decode_contact_header", nil, "1"},
	})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:bob:pw@10.0.0.2>;expires=5\r\n") {
		t.Errorf("decoded Contact:\n%s", out)
	}
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"siputils.decode_contact", nil, "-1"}}) // not encoded

	k.Request(strings.Replace(moduletest.Invite, "Contact: <sip:alice@192.0.2.10:5062>", "Contact: sip:alice@192.0.2.10:5062, <sip:alice@192.0.2.10:5062;transport=tcp>", 1))
	k.Run([]moduletest.Case{{"siputils.contact_param_encode", []any{"ct", "sip:proxy.example.com"}, "1"}})
	out = k.Out()
	enc := base64.RawURLEncoding.EncodeToString([]byte("sip:alice@192.0.2.10:5062;transport=tcp"))
	bare := base64.RawURLEncoding.EncodeToString([]byte("sip:alice@192.0.2.10:5062"))
	if !strings.Contains(out, "Contact: <sip:proxy.example.com;ct="+bare+">, <sip:proxy.example.com;ct="+enc+">\r\n") {
		t.Fatalf("contact_param_encode:\n%s", out)
	}
	k.Request(strings.NewReplacer("INVITE sip:bob@example.com", "INVITE sip:proxy.example.com;ct="+enc,
		"Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:proxy.example.com;ct="+enc+";y=2>").Replace(moduletest.Invite))
	k.Run([]moduletest.Case{
		{"siputils.contact_param_decode_ruri", []any{"ct"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:alice@192.0.2.10:5062;transport=tcp"},
		{"siputils.contact_param_decode", []any{"ct"}, "1"},
	})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@192.0.2.10:5062;transport=tcp>\r\n") {
		t.Errorf("contact_param_decode:\n%s", out)
	}
	k.Request(strings.Replace(moduletest.Invite, "Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:alice@192.0.2.10:5062;ob;x=1;lr>", 1))
	k.Run([]moduletest.Case{{"siputils.contact_param_rm", []any{"x"}, "1"}, {"siputils.contact_param_rm", []any{"ob"}, "1"}})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@192.0.2.10:5062;lr>\r\n") {
		t.Errorf("contact_param_rm:\n%s", out)
	}
}

// TestFirstHopMode: a reply is at its first hop when its top
// Record-Route is this proxy's, and it does not come from this proxy.
func TestFirstHopMode(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	reply := "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-2\n" +
		"Record-Route: <sip:127.0.0.1;lr>\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
	k.Request(reply)
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "1"}, {"siputils.is_first_hop", nil, "1"}})
	k.Request(strings.Replace(reply, "<sip:127.0.0.1;lr>", "<sip:198.51.100.1;lr>", 1))
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "-1"}})
	k.Request(strings.Replace(reply, "<sip:127.0.0.1;lr>", "<sip:localhost;lr>", 1))
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "-1"}}) // mode 0 wants an address
	k.Receive(sip.TransportUDP, netip.MustParseAddrPort("127.0.0.1:5060"), reply)
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "-1"}, {"siputils.is_first_hop_mode", []any{1}, "1"}})
	k.Request(strings.Replace(reply, "Record-Route: <sip:127.0.0.1;lr>\n", "", 1))
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "1"}})
	k.Request(strings.Replace(moduletest.Invite, "Max-Forwards", "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-3\nMax-Forwards", 1))
	k.Run([]moduletest.Case{{"siputils.is_first_hop_mode", []any{0}, "-1"}})
}
