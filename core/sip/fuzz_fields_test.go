package sip

import "testing"

// FuzzURI: any bytes give a URI or an error; an accepted URI's parts lie
// inside the input, and its parameters can be walked.
func FuzzURI(f *testing.F) {
	for _, s := range []string{"sip:alice@atlanta.com", "sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=x&h=y",
		"sip:+1-212-555-1212:1234@gateway.com;user=phone", "tel:+358-555-1234567;postd=pp22", "sip:%61lice@a.b;maddr=239.255.255.1;ttl=15",
		"sip:host:65536", "sip:[::1", "urn:service:sos", "sip:a@b;;;=", "SIP:A@B:0"} {
		f.Add([]byte(s))
	}
	var u URI
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := ParseURI(b, &u); err != nil {
			_ = err.Error()
			return
		}
		for _, part := range [][]byte{u.User, u.Password, u.Host, u.Params, u.Headers} {
			if len(part) > len(b) {
				t.Fatalf("a part longer than the URI: %q in %q", part, b)
			}
		}
		if u.Port < 0 || u.Port > 65535 {
			t.Fatalf("port %d from %q", u.Port, b)
		}
		for it := NewParams(u.Params); ; {
			if _, _, ok := it.Next(); !ok {
				break
			}
		}
		_, _ = u.Param("transport")
	})
}

// FuzzDigest: credentials and challenges as sent; any bytes give a digest
// or an error, never a panic.
func FuzzDigest(f *testing.F) {
	for _, s := range []string{
		`Digest username="alice", realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e", uri="sip:alice@atlanta.com", response="7587245234b3434cc3412213e5f113a5432", qop=auth, nc=00000001, cnonce="0a4f113b", algorithm=MD5, opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		`Digest realm="kemi.test", nonce="awKbTQAAAAG5yXCYkgG8BcxVc1VIQn46", qop="auth,auth-int", algorithm=SHA-256, stale=true`,
		`Digest username="a\"b", realm="x,y", nonce=""`, `Basic dXNlcjpwYXNz`, `Digest ,,, =, "`, `Digest username=`} {
		f.Add([]byte(s))
	}
	var d Digest
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := ParseDigest(b, &d); err != nil {
			_ = err.Error()
			return
		}
		if len(d.Username)+len(d.Realm)+len(d.Nonce) > 3*len(b) {
			t.Fatalf("fields longer than the header: %q", b)
		}
	})
}
