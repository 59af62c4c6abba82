package dispatcher

import "testing"

// TestHash: Kamailio 5.6's ds_get_hash, byte for byte (the values were
// printed by its C function, compiled on x86-64, where char is signed):
// the same Call-ID picks the same destination in both.
func TestHash(t *testing.T) {
	for _, c := range []struct {
		x, y string
		hasY bool
		want uint32
	}{
		{"abc", "", false, 7167810},
		{"a84b4c76e66710@pc33.atlanta.com", "", false, 2175018094},
		{"", "", false, 1},
		{"\xc3\xa9t\xc3\xa9-\xff\x80x", "", false, 2535283092},
		{"1234", "", false, 924651761},
		{"12345678", "", false, 1790317021},
		{"bob", "example.com:5070", true, 2337664744},
		{"", "10.0.0.1", true, 1662767775},
	} {
		var y []byte
		if c.hasY {
			y = []byte(c.y)
		}
		if got := hash([]byte(c.x), y); got != c.want {
			t.Errorf("hash(%q, %q) = %d, Kamailio %d", c.x, c.y, got, c.want)
		}
	}
}
