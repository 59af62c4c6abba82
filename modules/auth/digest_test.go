package auth

import (
	"testing"
	"time"
)

// The examples of RFC 2617 §3.5 and RFC 7616 §3.9.1.
func TestResponseVectors(t *testing.T) {
	for i, tc := range []struct {
		name                           string
		alg                            Algorithm
		user, realm, pass, method, uri string
		nonce, nc, cnonce, qop         string
		want                           string
	}{
		{"RFC 2617 3.5", MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "6629fae49393a05397450978507c4ef1"},
		{"RFC 7616 3.9.1 MD5", MD5, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 3.9.1 SHA-256", SHA256, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		var h, r [64]byte
		ha1 := tc.alg.HA1(h[:], []byte(tc.user), []byte(tc.realm), []byte(tc.pass))
		got := tc.alg.Response(r[:], ha1, []byte(tc.nonce), []byte(tc.nc), []byte(tc.cnonce), []byte(tc.qop),
			[]byte(tc.method), []byte(tc.uri), nil)
		if string(got) != tc.want {
			t.Errorf("case %d (%s): got %s, want %s", i, tc.name, got, tc.want)
		}
		if !EqualHex([]byte(tc.want), got) {
			t.Errorf("case %d (%s): EqualHex of equal digests is false", i, tc.name)
		}
	}
	// RFC 2069 form (no qop), and an upper-case response compares equal.
	var h, r [64]byte
	ha1 := MD5.HA1(h[:], []byte("alice"), []byte("kemi.test"), []byte("secret"))
	got := MD5.Response(r[:], ha1, []byte("n"), nil, nil, nil, []byte("REGISTER"), []byte("sip:kemi.test"), nil)
	upper := []byte(string(got))
	for i, c := range upper {
		if c >= 'a' && c <= 'f' {
			upper[i] = c - 32
		}
	}
	if !EqualHex(upper, got) || EqualHex(upper[:31], got) {
		t.Error("EqualHex: case folding or length check wrong")
	}
}

func TestNonces(t *testing.T) {
	n := newNonces([]byte("secret"), 30*time.Second, 1024)
	now := time.Unix(1_800_000_000, 0)
	nonce := n.make(nil, now, nil)
	if len(nonce) != nonceLen {
		t.Fatalf("nonce %q: %d characters, want %d", nonce, len(nonce), nonceLen)
	}
	if st, _ := n.check(nonce, now.Add(29*time.Second), nil); st != nonceOK {
		t.Errorf("fresh nonce: state %d, want ok", st)
	}
	if st, _ := n.check(nonce, now.Add(31*time.Second), nil); st != nonceStale {
		t.Errorf("nonce after nonce_expire: state %d, want stale", st)
	}
	bad := append([]byte(nil), nonce...)
	bad[3] ^= 1
	if st, _ := n.check(bad, now, nil); st != nonceBad {
		t.Errorf("altered nonce: state %d, want bad", st)
	}
	other := newNonces([]byte("another secret"), 30*time.Second, 0)
	if st, _ := other.check(nonce, now, nil); st != nonceBad {
		t.Errorf("nonce of another secret: state %d, want bad", st)
	}
	if st, _ := n.check([]byte("short"), now, nil); st != nonceBad {
		t.Errorf("short nonce: state %d, want bad", st)
	}

	// A bound nonce: good for its binding, stale for another one (the
	// client is challenged again), forged when its first MAC is altered.
	b1, b2 := [32]byte{1}, [32]byte{2}
	bound := n.make(nil, now, &b1)
	if st, _ := n.check(bound, now, &b1); st != nonceOK {
		t.Errorf("bound nonce, same binding: state %d, want ok", st)
	}
	if st, _ := n.check(bound, now, &b2); st != nonceStale {
		t.Errorf("bound nonce, another binding: state %d, want stale", st)
	}
	if st, _ := n.check(bound, now, nil); st != nonceStale {
		t.Errorf("bound nonce checked unbound: state %d, want stale", st)
	}
	if st, _ := n.check(nonce, now, &b1); st != nonceStale {
		t.Errorf("unbound nonce checked bound: state %d, want stale", st)
	}
	forged := append([]byte(nil), bound...)
	forged[14] ^= 1
	if st, _ := n.check(forged, now, &b1); st != nonceBad {
		t.Errorf("bound nonce with its first MAC altered: state %d, want bad", st)
	}

	// nonce-count: each count once, increasing.
	_, id := n.check(nonce, now, nil)
	for i, tc := range []struct {
		nc        string
		ok, stale bool
	}{{"00000001", true, false}, {"00000001", false, false}, {"00000003", true, false}, {"00000002", false, false}, {"0000000g", false, false}, {"", false, false}} {
		ok, stale := n.count(id, []byte(tc.nc))
		if ok != tc.ok || stale != tc.stale {
			t.Errorf("case %d (nc %q): got ok=%v stale=%v, want %v %v", i, tc.nc, ok, stale, tc.ok, tc.stale)
		}
	}
	// 1024 newer nonces reuse the slot: the old nonce is then stale.
	for range 1024 {
		n.make(nil, now, nil)
	}
	if ok, stale := n.count(id, []byte("00000009")); ok || !stale {
		t.Errorf("nonce whose slot was reused: ok=%v stale=%v, want stale", ok, stale)
	}
}

func TestDigestAllocs(t *testing.T) {
	n := newNonces([]byte("secret"), 30*time.Second, 1024)
	now := time.Now()
	nonce := n.make(nil, now, nil)
	var h, r [64]byte
	allocs := testing.AllocsPerRun(100, func() {
		n.check(nonce, now, nil)
		ha1 := MD5.HA1(h[:], []byte("alice"), []byte("kemi.test"), []byte("secret"))
		MD5.Response(r[:], ha1, nonce, []byte("00000001"), []byte("abc"), []byte("auth"), []byte("REGISTER"), []byte("sip:kemi.test"), nil)
	})
	if allocs != 0 {
		t.Errorf("nonce check + response: %.0f allocations, want 0", allocs)
	}
}

func BenchmarkResponseMD5(b *testing.B) {
	var h, r [64]byte
	b.ReportAllocs()
	for b.Loop() {
		ha1 := MD5.HA1(h[:], []byte("alice"), []byte("kemi.test"), []byte("secret"))
		MD5.Response(r[:], ha1, []byte("awKbTQAAAAG5yXCYkgG8BcxVc1VIQn46"), nil, nil, nil, []byte("REGISTER"), []byte("sip:kemi.test"), nil)
	}
}
