package topoh_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/topoh"
)

const invite = "INVITE sip:bob@192.0.2.20 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n" +
	"Via: SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK-0\r\n" +
	"Max-Forwards: 70\r\n" +
	"Record-Route: <sip:192.0.2.9;lr>\r\n" +
	"From: <sip:alice@example.com>;tag=a1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: c1@192.0.2.10\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: sip:alice@192.0.2.10:5060;expires=60\r\n" +
	"Content-Length: 0\r\n\r\n"

func kit(t *testing.T, params string) (*moduletest.Kit, *topoh.Module) {
	k := moduletest.New(t, "loadmodule \"topoh.so\"\n"+params)
	return k, k.Module("topoh").(*topoh.Module)
}

// TestRequestAndReply: an INVITE received gets the cookie; forwarded
// (the proxy's Via and Record-Route on top) its Vias, Record-Route,
// Contact and Call-ID are masked and the cookie is gone; its reply comes
// back unmasked, and leaves upstream with the callee's Contact masked
// and nothing of topoh's left.
func TestRequestAndReply(t *testing.T) {
	k, m := kit(t, `modparam("topoh", "mask_callid", 1)`)
	in := string(k.NetIn([]byte(invite)))
	if !strings.Contains(in, "Via: SIP/2.0/UDP 192.0.2.10:5060;TH=div;branch=z9hG4bK-1;rport\r\n") || !strings.HasSuffix(in, "TH: dih\r\n\r\n") {
		t.Fatalf("received:\n%s", in)
	}
	proxy := moduletest.Proxy.String()
	proxyVia := "Via: SIP/2.0/UDP " + proxy + ";branch=z9hG4bK-p\r\n"
	fwd := strings.Replace(in, "Via:", proxyVia+"Via:", 1)
	fwd = strings.Replace(fwd, "Record-Route:", "Record-Route: <sip:"+proxy+";lr;ftag=a1>\r\nRecord-Route:", 1)
	callee := netip.MustParseAddrPort("192.0.2.20:5060")
	k.Transport.Send(nil, sip.TransportUDP, callee, []byte(fwd))
	out := k.Sent()[0]
	text := string(out.Msg.Bytes())
	for _, leak := range []string{"192.0.2.10", "192.0.2.9", "TH", "c1@"} {
		if strings.Contains(text, leak) {
			t.Errorf("%q went out:\n%s", leak, text)
		}
	}
	if !strings.Contains(text, "Contact: <sip:127.0.0.8;line=sr-") || !strings.Contains(text, proxyVia) || !strings.Contains(text, ";expires=60\r\n") {
		t.Errorf("forwarded:\n%s", text)
	}

	// the callee's 200, back through the proxy
	reply := "SIP/2.0 200 OK\r\n" + kamailiotest.Hdrs(text, "Via", "Record-Route") +
		"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\nCall-ID: " + out.Header("Call-ID") +
		"\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n"
	back := string(k.NetIn([]byte(reply)))
	for _, want := range []string{"Via: SIP/2.0/UDP 192.0.2.10:5060;TH=div;branch=z9hG4bK-1;rport\r\n", "Via: SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK-0\r\n",
		"Record-Route: <sip:192.0.2.9;lr>\r\n", "Call-ID: c1@192.0.2.10\r\n", "TH: uch\r\n"} {
		if !strings.Contains(back, want) {
			t.Errorf("reply received lacks %q:\n%s", want, back)
		}
	}
	// the proxy's Via (with the cookie now) goes
	up := strings.Replace(back, "Via: SIP/2.0/UDP "+proxy+";TH=ucv;branch=z9hG4bK-p\r\n", "", 1)
	if up == back {
		t.Fatalf("no cookie in the proxy's Via of the reply:\n%s", back)
	}
	k.Transport.Send(nil, sip.TransportUDP, netip.MustParseAddrPort("192.0.2.10:5060"), []byte(up))
	final := string(k.Sent()[0].Msg.Bytes())
	if strings.Contains(final, "192.0.2.20") || strings.Contains(final, "TH") || !strings.Contains(final, "Call-ID: c1@192.0.2.10\r\n") ||
		!strings.Contains(final, "Record-Route: <sip:"+proxy+";lr;ftag=a1>\r\nRecord-Route: <sip:192.0.2.9;lr>\r\n") ||
		!strings.Contains(final, "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n") {
		t.Errorf("reply sent upstream:\n%s", final)
	}
	if m.MaskIsMe() {
		t.Error("127.0.0.8 taken for the proxy's address")
	}
}

// TestInDialog: a BYE from the callee (upstream: the first Route's ftag
// is not its From tag) has its request URI, Routes and Call-ID unmasked;
// a REFER's Refer-To is unmasked with its headers kept; a re-INVITE
// from the caller (downstream) keeps its Call-ID; REGISTER is left alone.
func TestInDialog(t *testing.T) {
	k, m := kit(t, `modparam("topoh", "mask_callid", 1)`)
	contact := m.MaskURI("sip:alice@192.0.2.10:5060")
	rr := m.MaskURI("sip:192.0.2.9;lr")
	cid := m.MaskCallID("c1@192.0.2.10")
	bye := "BYE " + contact + " SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-b\r\n" +
		"Route: <sip:192.0.2.1;lr;ftag=a1>, <" + rr + ">\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n" +
		"Call-ID: " + cid + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	got := string(k.NetIn([]byte(bye)))
	want := "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;TH=ucv;branch=z9hG4bK-b\r\n" +
		"Route: <sip:192.0.2.1;lr;ftag=a1>, <sip:192.0.2.9;lr>\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n" +
		"Call-ID: c1@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\nTH: uch\r\n\r\n"
	if got != want {
		t.Errorf("BYE received:\n%s\nwant:\n%s", got, want)
	}

	refer := strings.Replace(strings.Replace(bye, "BYE", "REFER", 2), "Content-Length", "Refer-To: <"+contact+"?Replaces=x%3Bto-tag%3D1>\r\nContent-Length", 1)
	got = string(k.NetIn([]byte(refer)))
	if !strings.Contains(got, "Refer-To: <sip:alice@192.0.2.10:5060?Replaces=x%3Bto-tag%3D1>\r\n") {
		t.Errorf("REFER received:\n%s", got)
	}

	reinvite := strings.Replace(strings.Replace(bye, "BYE", "INVITE", 2), "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1",
		"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1", 1)
	got = string(k.NetIn([]byte(reinvite)))
	if !strings.Contains(got, "Call-ID: "+cid+"\r\n") || !strings.Contains(got, "TH: dch\r\n") {
		t.Errorf("a downstream re-INVITE's Call-ID was touched:\n%s", got)
	}

	reg := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-r\r\nFrom: <sip:alice@example.com>;tag=r\r\n" +
		"To: <sip:alice@example.com>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.10>\r\nContent-Length: 0\r\n\r\n"
	if got := k.NetIn([]byte(reg)); string(got) != reg {
		t.Errorf("REGISTER changed:\n%s", got)
	}
	k.Transport.Send(nil, sip.TransportUDP, netip.MustParseAddrPort("192.0.2.30:5060"), []byte(reg))
	if got := string(k.Sent()[0].Msg.Bytes()); got != reg {
		t.Errorf("REGISTER sent changed:\n%s", got)
	}
}

// TestReplaces: an initial INVITE with Replaces going out has the
// Replaces Call-ID masked, or unmasked when it came masked.
func TestReplaces(t *testing.T) {
	k, m := kit(t, `modparam("topoh", "mask_callid", 1)`)
	dst := netip.MustParseAddrPort("192.0.2.20:5060")
	msg := func(repl string) string {
		return strings.Replace(strings.Replace(invite, "Via:", "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-p\r\nVia:", 1),
			"Content-Length", "TH: dih\r\nReplaces: "+repl+";to-tag=1;from-tag=2\r\nContent-Length", 1)
	}
	masked := m.MaskCallID("old@192.0.2.10")
	for in, want := range map[string]string{"old@192.0.2.10": masked, masked: "old@192.0.2.10"} {
		k.Transport.Send(nil, sip.TransportUDP, dst, []byte(msg(in)))
		if got := k.Sent()[0].Header("Replaces"); got != want+";to-tag=1;from-tag=2" {
			t.Errorf("Replaces %s went out as %s", in, got)
		}
	}
}

// TestParams: what Kamailio refuses or kemi cannot do stops the start.
func TestParams(t *testing.T) {
	for _, p := range []string{`modparam("topoh", "sanity_checks", 1)`, `modparam("topoh", "mask_ip", "")`,
		`modparam("topoh", "mask_ip", "1.2.3.4:5060")`, `modparam("topoh", "uparam_name", "a;b")`, `modparam("topoh", "mask_key", "")`} {
		if _, err := moduletest.NewErr(t, "loadmodule \"topoh.so\"\n"+p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
	_, m := kit(t, `modparam("topoh", "mask_ip", "127.0.0.1")`)
	if !m.MaskIsMe() {
		t.Error("mask_ip 127.0.0.1 is not the proxy's address for the kit's socket")
	}
}

// FuzzNetInOut: any bytes in or out: no panic, and a message that is not
// one topoh reads goes through unchanged.
func FuzzNetInOut(f *testing.F) {
	f.Add([]byte(invite))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-p\r\nVia: SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKsr-AB**\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: !!:x*\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:127.0.0.8;line=sr-*>\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("hello"))
	k := moduletest.New(f, "loadmodule \"topoh.so\"\nmodparam(\"topoh\", \"mask_callid\", 1)")
	dst := netip.MustParseAddrPort("192.0.2.20:5060")
	f.Fuzz(func(t *testing.T, b []byte) {
		in := k.NetIn(b)
		var msg sip.Msg
		if msg.Parse(b) != nil && !bytes.Equal(in, b) {
			t.Fatalf("an unparsable message changed:\n%q\n%q", b, in)
		}
		k.Transport.Send(nil, sip.TransportUDP, dst, b)
		k.Transport.TakeSent()
	})
}
