package topoh

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCCITT: the table is Kamailio's (polynomial 0x8408, its first
// entries) and the CRC its crcitt_string (CRC-16/X-25 of "123456789").
func TestCCITT(t *testing.T) {
	for i, want := range map[int]uint16{1: 0x1189, 2: 0x2312, 8: 0x8C48, 255: 0x0F78} {
		if ccittTab[i] != want {
			t.Errorf("table[%d] = %#04x, want %#04x", i, ccittTab[i], want)
		}
	}
	if got := crcITT([]byte("123456789")); got != 0x906E {
		t.Errorf("crc = %#04x, want 0x906e", got)
	}
}

// TestMaskRoundTrip: whatever is masked comes back, for every length and
// byte, with keys of ASCII and of high bytes (C's signed chars); the
// shuffled alphabet is a permutation; what is not a mask is refused.
func TestMaskRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, key := range []string{defaultKey, "_static_value_", "k", "\xff\xfe\x80 clé"} {
		c := newCoder(key)
		seen := map[byte]bool{}
		for _, b := range c.enc {
			seen[b] = true
		}
		if len(seen) != 64 {
			t.Fatalf("key %q: the alphabet lost letters: %s", key, c.enc)
		}
		for n := 1; n < 70; n++ {
			in := make([]byte, n)
			for i := range in {
				in[i] = byte(r.UintN(256))
			}
			enc := c.encode(nil, "pfx-", in)
			if len(enc) != 4+(n+2)/3*4 || !bytes.HasPrefix(enc, []byte("pfx-")) {
				t.Fatalf("key %q: %d bytes encoded as %q", key, n, enc)
			}
			dec, err := c.decode(nil, "pfx-", enc)
			if err != nil || !bytes.Equal(dec, in) {
				t.Fatalf("key %q: %x came back %x (%v)", key, in, dec, err)
			}
		}
	}
	c := newCoder(defaultKey)
	for _, bad := range []string{"pfx-", "pfx-****", "pfx-ab;c", "pfx-\x80abc", "p"} {
		if _, err := c.decode(nil, "pfx-", []byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	if a, b := newCoder("one").enc, newCoder("two").enc; a == b {
		t.Error("two keys, one alphabet")
	}
}
