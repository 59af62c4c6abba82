package router

import "testing"

// carried is a test slot value that is a Carrier.
type carried struct{ b []byte }

func (v *carried) Reset()                          { v.b = v.b[:0] }
func (v *carried) AppendCarried(dst []byte) []byte { return append(dst, v.b...) }
func (v *carried) RestoreCarried(b []byte)         { v.b = append(v.b[:0], b...) }
func (v *carried) PrepareForward(c *Ctx) error     { return nil }

// plain is a test slot value that is neither.
type plain struct{ n int }

func (v *plain) Reset() { v.n = 0 }

var (
	testCarried = NewSlot[carried]()
	testPlain   = NewSlot[plain]()
)

// TestSlots: a slot's value is made once per context and reset per
// message; only the Carrier slots are kept and restored, a value too long
// for its 16-bit length is left out, and the Forwarder and Carrier slots
// are known at registration.
func TestSlots(t *testing.T) {
	var c Ctx
	testPlain.Of(&c).n = 3
	v := testCarried.Of(&c)
	v.b = append(v.b, "state"...)
	if testCarried.Of(&c) != v {
		t.Fatal("Of made a second value")
	}
	kept := c.Carry(nil)
	c.resetSlots()
	if testPlain.Of(&c).n != 0 || len(testCarried.Of(&c).b) != 0 {
		t.Fatal("reset left state")
	}
	var other Ctx
	other.Uncarry(kept)
	if got := string(testCarried.Of(&other).b); got != "state" {
		t.Errorf("restored %q, want state", got)
	}
	if testPlain.Of(&other).n != 0 {
		t.Error("a plain slot was carried")
	}
	testCarried.Of(&c).b = make([]byte, 70000)
	if b := c.Carry(nil); len(b) != 0 {
		t.Errorf("a value over 65535 bytes was kept (%d bytes)", len(b))
	}
	has := func(l []int, i int) bool {
		for _, x := range l {
			if x == i {
				return true
			}
		}
		return false
	}
	if !has(carriers, testCarried.i) || !has(forwarders, testCarried.i) || has(carriers, testPlain.i) || has(forwarders, testPlain.i) {
		t.Errorf("carriers %v, forwarders %v", carriers, forwarders)
	}
}
