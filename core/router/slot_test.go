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

// TestCarryAVPs: $avp values go with Carry, ints and strings in their
// order; Uncarry of a record without them leaves none.
func TestCarryAVPs(t *testing.T) {
	var c Ctx
	c.AddAVP("n", IntValue(-7))
	c.AddAVP("s", StrValue("sip:vm@192.0.2.1"))
	c.AddAVP("s", BytesValue([]byte("second")))
	kept := c.Carry(nil)
	var other Ctx
	other.AddAVP("stale", IntValue(1))
	other.Uncarry(kept)
	if v := other.AVP("n"); v.Kind != Int || v.I != -7 {
		t.Errorf("$avp(n) = %+v, want -7", v)
	}
	if v := other.AVP("s"); v.String() != "second" {
		t.Errorf("$avp(s) = %q, want the last value, second", v.String())
	}
	if len(other.avps) != 3 || other.avps[1].val.String() != "sip:vm@192.0.2.1" {
		t.Errorf("restored %d AVPs, want the 3 kept in order", len(other.avps))
	}
	if !other.AVP("stale").IsNull() {
		t.Error("an AVP the record did not keep is still there")
	}
	kept[len(kept)-1] = 'X' // the kept bytes are not the AVP's
	if v := other.AVP("s"); v.String() != "second" {
		t.Errorf("$avp(s) shares the carried bytes: %q", v.String())
	}
	other.Uncarry(nil)
	if len(other.avps) != 0 {
		t.Errorf("%d AVPs left after an empty Uncarry", len(other.avps))
	}
}

// TestRecarryAVPs: onreply_route's view — UncarryAVPs loads a record's
// AVPs and leaves the slots; RecarryAVPs keeps the slots' records and
// replaces the AVPs: the same slice when they did not change.
func TestRecarryAVPs(t *testing.T) {
	var req Ctx
	testCarried.Of(&req).b = []byte("slot state")
	req.AddAVP("a", StrValue("req"))
	kept := req.Carry(nil)

	w := &Worker{}
	rpl := &w.ctx
	rpl.W = w
	rpl.UncarryAVPs(kept)
	if v := rpl.AVP("a"); v.String() != "req" {
		t.Fatalf("$avp(a) = %q in the reply's view, want req", v.String())
	}
	if rpl.slots[testCarried.i] != nil {
		t.Error("UncarryAVPs made a slot value")
	}
	if again := rpl.RecarryAVPs(kept); &again[0] != &kept[0] || len(again) != len(kept) {
		t.Error("the AVPs did not change, yet RecarryAVPs made a new record")
	}
	if n := testing.AllocsPerRun(50, func() { rpl.RecarryAVPs(kept) }); n != 0 {
		t.Errorf("RecarryAVPs of unchanged AVPs: %.0f allocations", n)
	}
	rpl.AddAVP("b", IntValue(5))
	changed := rpl.RecarryAVPs(kept)
	var back Ctx
	back.Uncarry(changed)
	if back.AVP("a").String() != "req" || back.AVP("b").I != 5 || string(testCarried.Of(&back).b) != "slot state" {
		t.Errorf("after RecarryAVPs: a=%q b=%v slot=%q", back.AVP("a").String(), back.AVP("b"), testCarried.Of(&back).b)
	}
}
