package topos_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestParams: what kemi's topos cannot do stops the start, named.
func TestParams(t *testing.T) {
	url := moduletest.SQLite(t)
	for p, want := range map[string]string{
		`modparam("topos", "storage", "redis")`:                     "topos_redis",
		`modparam("topos", "storage", "mongo")`:                     "unknown storage",
		`modparam("topos", "sanity_checks", 1)`:                     "sanity_check()",
		`modparam("topos", "contact_mode", 2)`:                      "contact_mode 2",
		`modparam("topos", "xavu_cfg", "_tps_")`:                    "XAVUs",
		`modparam("topos", "context", "thirteen-chars")`:            "12 characters",
		`modparam("topos", "db_url", "sqlite:///nonexistent/x.db")`: "topos",
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+url+"\")\n"+p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", p, err, want)
		}
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+url+"\")\nmodparam(\"topos\", \"mask_callid\", 1)"); err != nil {
		t.Errorf("mask_callid (accepted, not done, as in Kamailio): %v", err)
	}
}

const invite = "INVITE sip:bob@192.0.2.20 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n" +
	"Record-Route: <sip:127.0.0.1:5060;lr>\r\n" +
	"Record-Route: <sip:192.0.2.9;lr>\r\n" +
	"From: <sip:alice@example.com>;tag=a1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: c1-topos\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@192.0.2.10>\r\n" +
	"Content-Length: 0\r\n\r\n"

// TestRoundTrip: with the kit (a real SQLite file, the transport's
// hooks): an INVITE going out is stripped and recorded; the callee's 200
// coming back gets its Vias and Record-Routes back; a REGISTER and what
// is not SIP pass untouched.
func TestRoundTrip(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+moduletest.SQLite(t)+"\")")
	callee := netip.MustParseAddrPort("192.0.2.20:5060")
	k.Transport.Send(nil, sip.TransportUDP, callee, []byte(invite))
	out := k.Sent()[0]
	text := string(out.Msg.Bytes())
	if strings.Count(text, "Via:") != 1 || strings.Contains(text, "Record-Route") || strings.Contains(text, "192.0.2.10") ||
		!strings.Contains(text, "Contact: <sip:btpsh-") {
		t.Fatalf("stripped INVITE:\n%s", text)
	}
	reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\nFrom: <sip:alice@example.com>;tag=a1\r\n" +
		"To: <sip:bob@example.com>;tag=b1\r\nCall-ID: c1-topos\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n"
	back := string(k.NetIn([]byte(reply)))
	for _, want := range []string{"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n", "Record-Route: <sip:127.0.0.1:5060;lr>\r\n",
		"Record-Route: <sip:192.0.2.9;lr>\r\n", "P-SR-XBranch: z9hG4bK-proxy\r\n"} {
		if !strings.Contains(back, want) {
			t.Errorf("the 200 received lacks %q:\n%s", want, back)
		}
	}
	// forwarded upstream (tm takes its Via off): the caller's Record-Route, the proxy's Contact
	up := strings.Replace(back, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\n", "", 1)
	k.Transport.Send(nil, sip.TransportUDP, netip.MustParseAddrPort("192.0.2.10:5060"), []byte(up))
	final := string(k.Sent()[0].Msg.Bytes())
	if strings.Contains(final, "192.0.2.20") || strings.Contains(final, "P-SR-") || !strings.Contains(final, "Contact: <sip:atpsh-") ||
		!strings.Contains(final, "Record-Route: <sip:192.0.2.9;lr>\r\n") || strings.Contains(final, "127.0.0.1:5060;lr") {
		t.Errorf("the 200 sent upstream:\n%s", final)
	}

	reg := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-r\r\nFrom: <sip:alice@example.com>;tag=r\r\n" +
		"To: <sip:alice@example.com>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.10>\r\nContent-Length: 0\r\n\r\n"
	for _, b := range []string{reg, "not SIP at all"} {
		if got := k.NetIn([]byte(b)); !bytes.Equal(got, []byte(b)) {
			t.Errorf("changed on the way in:\n%s", got)
		}
	}
	k.Transport.Send(nil, sip.TransportUDP, callee, []byte(reg))
	if got := string(k.Sent()[0].Msg.Bytes()); got != reg {
		t.Errorf("a REGISTER changed on the way out:\n%s", got)
	}
}

// FuzzNetInOut: any bytes in or out, with the database behind: no panic.
func FuzzNetInOut(f *testing.F) {
	f.Add([]byte(invite))
	f.Add([]byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\nFrom: <sip:a@b>;tag=a1\r\nTo: <sip:b@c>;tag=b1\r\n" +
		"Call-ID: c1-topos\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:x;lr>\r\nP-SR-XBranch: z9hG4bK-proxy\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("BYE sip:atpsh-tpsh-1-2-3@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-b\r\nFrom: <sip:a@b>;tag=a1\r\n" +
		"To: <sip:b@c>;tag=b1\r\nCall-ID: c1-topos\r\nCSeq: 2 BYE\r\nP-SR-XUID: btpsh-x\r\nContent-Length: 0\r\n\r\n"))
	k := moduletest.New(f, "loadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+moduletest.SQLite(f)+"\")")
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

// TestOneRewriter: topoh and topos both loaded stop the start, naming
// both (kemi runs one rewriter of the wire).
func TestOneRewriter(t *testing.T) {
	_, err := moduletest.NewErr(t, "loadmodule \"topoh.so\"\nloadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+moduletest.SQLite(t)+"\")")
	if err == nil || !strings.Contains(err.Error(), "topos: topoh already rewrites") {
		t.Errorf("topoh and topos: %v", err)
	}
}

// TestStorageFailure: with its table gone, topos logs the failure and the
// message leaves as it is (Kamailio's behaviour); nothing panics.
func TestStorageFailure(t *testing.T) {
	url := moduletest.SQLite(t)
	k := moduletest.New(t, "loadmodule \"topos.so\"\nmodparam(\"topos\", \"db_url\", \""+url+"\")")
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), "DROP TABLE topos_t"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	k.Transport.Send(nil, sip.TransportUDP, netip.MustParseAddrPort("192.0.2.20:5060"), []byte(invite))
	if got := string(k.Sent()[0].Msg.Bytes()); got != invite {
		t.Errorf("the INVITE changed though topos could not store it:\n%s", got)
	}
	if !strings.Contains(k.Logs.String(), "topos: failed to load from topos_t") {
		t.Errorf("the failure is not logged:\n%s", k.Logs.String())
	}
}
