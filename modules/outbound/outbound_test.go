package outbound_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/outbound"
)

func kit(t *testing.T, params string) (*moduletest.Kit, *outbound.Module) {
	k := moduletest.New(t, "loadmodule \"outbound.so\"\nloadmodule \"rr.so\"\n"+params)
	return k, k.Module("outbound").(*outbound.Module)
}

// TestTokens: a token reads back as the flow it was made of, IPv4 and
// IPv6; one changed fails its check (-1); what is no token is -2; the
// same secret makes the same token in another process.
func TestTokens(t *testing.T) {
	_, ob := kit(t, `modparam("outbound", "flow_token_secret", "s3cret")`)
	_, other := kit(t, `modparam("outbound", "flow_token_secret", "s3cret")`)
	_, random := kit(t, "")
	for _, f := range []outbound.Flow{
		{Proto: sip.TransportTCP, Local: netip.MustParseAddrPort("127.0.0.1:5060"), Src: netip.MustParseAddrPort("10.1.2.3:40123")},
		{Proto: sip.TransportWSS, Local: netip.MustParseAddrPort("[2001:db8::1]:443"), Src: netip.MustParseAddrPort("[2001:db8::77]:50000")},
	} {
		tok := ob.Encode(f)
		if n := len(tok); n != 32 && n != 64 { // base64 of 23 or 47 bytes
			t.Errorf("token %q: length %d", tok, n)
		}
		if got, r := ob.Decode([]byte(tok)); r != 0 || got != f {
			t.Errorf("Decode(Encode(%+v)) = %+v, %d", f, got, r)
		}
		if other.Encode(f) != tok {
			t.Errorf("the same secret, another token")
		}
		if _, r := random.Decode([]byte(tok)); r != -1 {
			t.Errorf("another key's check: %d, want -1", r)
		}
		b := []byte(tok)
		b[len(b)/2] ^= 1
		if _, r := ob.Decode(b); r != -1 && r != -2 {
			t.Errorf("a changed token: %d", r)
		}
	}
	for _, s := range []string{"", "alice", "bm90IGEgdG9rZW4="} {
		if _, r := ob.Decode([]byte(s)); r != -2 {
			t.Errorf("Decode(%q) = %d, want -2", s, r)
		}
	}
}

// TestUse: Kamailio's use_outbound — a REGISTER with one Via and a
// reg-id; another request with "Supported: outbound" (or none), one Via
// and ;ob in its Contact, or our Route with ;ob on top; the flags force it
// either way.
func TestUse(t *testing.T) {
	k, ob := kit(t, `modparam("outbound", "force_outbound_flag", 3)`+"\n"+`modparam("outbound", "force_no_outbound_flag", 4)`)
	const via1 = "Via: SIP/2.0/TCP 10.0.0.9:40000;branch=z9hG4bK-1\r\n"
	const via2 = "Via: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK-2\r\n" + via1
	req := func(method, vias, extra string) string {
		return method + " sip:kemi.test SIP/2.0\r\n" + vias + "From: <sip:a@kemi.test>;tag=1\r\nTo: <sip:a@kemi.test>\r\nCall-ID: u1\r\nCSeq: 1 " + method + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
	}
	for _, tc := range []struct {
		name, msg string
		flags     uint64
		want      int
	}{
		{"register reg-id", req("REGISTER", via1, "Contact: <sip:a@10.0.0.9:40000;transport=tcp>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"\r\n"), 0, 1},
		{"register two vias", req("REGISTER", via2, "Contact: <sip:a@10.0.0.9:40000;transport=tcp>;reg-id=1\r\n"), 0, 0},
		{"register no reg-id", req("REGISTER", via1, "Contact: <sip:a@10.0.0.9:40000;transport=tcp>\r\n"), 0, 0},
		{"invite ob", req("INVITE", via1, "Supported: outbound, path\r\nContact: <sip:a@10.0.0.9:40000;transport=tcp;ob>\r\n"), 0, 1},
		{"invite ob, no Supported", req("INVITE", via1, "Contact: <sip:a@10.0.0.9:40000;transport=tcp;ob>\r\n"), 0, 1},
		{"invite ob, Supported without outbound", req("INVITE", via1, "Supported: path\r\nContact: <sip:a@10.0.0.9:40000;transport=tcp;ob>\r\n"), 0, 0},
		{"invite without ob", req("INVITE", via1, "Contact: <sip:a@10.0.0.9:40000;transport=tcp>\r\n"), 0, 0},
		{"invite two vias", req("INVITE", via2, "Contact: <sip:a@10.0.0.9;ob>\r\n"), 0, 0},
		{"forced", req("INVITE", via2, ""), 1 << 3, 1},
		{"forced off", req("REGISTER", via1, "Contact: <sip:a@10.0.0.9>;reg-id=1\r\n"), 1 << 4, 0},
	} {
		c := k.Receive(sip.TransportTCP, netip.MustParseAddrPort("10.0.0.9:40000"), tc.msg)
		c.Flags = tc.flags
		if got := ob.Use(c, nil); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// Our Route on top with ;ob: 1; with a token of another flow: 2; a
	// Route to someone else: 0.
	c := k.Receive(sip.TransportUDP, netip.MustParseAddrPort("10.0.0.5:5060"), req("INVITE", via2, ""))
	tok := ob.Encode(outbound.Flow{Proto: sip.TransportTCP, Local: moduletest.Proxy, Src: netip.MustParseAddrPort("10.0.0.9:40000")})
	for route, want := range map[string]int{
		"sip:" + moduletest.Proxy.String() + ";lr;ob":                              1,
		"sip:" + tok + "@" + moduletest.Proxy.String() + ";lr;ob":                  2,
		"sip:" + tok + "@" + moduletest.Proxy.String() + ";lr":                     0,
		"sip:" + tok + "@192.0.2.1;lr;ob":                                          0,
		"sip:" + strings.ToLower(tok) + "@" + moduletest.Proxy.String() + ";lr;ob": 1,
	} {
		var u sip.URI
		if err := sip.ParseURI([]byte(route), &u); err != nil {
			t.Fatal(err)
		}
		if got := ob.Use(c, &u); got != want {
			t.Errorf("Route %s: %d, want %d", route, got, want)
		}
	}
}
