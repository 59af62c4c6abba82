package router

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync"
)

// SlotValue is per-request state a module keeps on the request context:
// Reset clears it before the worker's next message.
type SlotValue interface {
	Reset()
}

// Forwarder is a slot value that writes into a request the proxy
// forwards (rr's Record-Route): PrepareRequest calls it, statelessly
// forwarded or sent on a tm branch.
type Forwarder interface {
	PrepareForward(c *Ctx) error
}

// Carrier is a slot value that goes with a request into its transaction
// (rr's Record-Route state): a failure_route run later on the kept request
// starts from it, and a branch_route's changes stay with that branch. The
// state is kept as bytes, so that a transaction keeps it in a buffer it
// already has: AppendCarried writes it, RestoreCarried sets the value's
// carried state from it (from nil: nothing carried).
type Carrier interface {
	AppendCarried(dst []byte) []byte
	RestoreCarried(b []byte)
}

// MaxSlots is the most slots the modules of a binary may declare.
const MaxSlots = 24

// The declared slots, written at init (registration, as modules
// register): how many, what makes each one's value, and which of them
// are Forwarders and Carriers, so that a request visits those alone.
var (
	slotMu     sync.Mutex
	slotCount  int
	slotNews   [MaxSlots]func() SlotValue
	forwarders []int
	carriers   []int
)

// Slot is a module's per-request state of type T, one value per request
// context, made at its first use and reset before each message. A module
// declares it once, in a package variable, as it registers itself:
//
//	var state = router.NewSlot[reqState]()
//	...
//	st := state.Of(c)
type Slot[T any, P interface {
	*T
	SlotValue
}] struct {
	i int
}

// NewSlot declares a slot; more than MaxSlots panics at start-up.
func NewSlot[T any, P interface {
	*T
	SlotValue
}]() Slot[T, P] {
	slotMu.Lock()
	defer slotMu.Unlock()
	i := slotCount
	if i >= MaxSlots {
		panic("router: more than " + strconv.Itoa(MaxSlots) + " request slots declared")
	}
	slotCount++
	slotNews[i] = func() SlotValue { return P(new(T)) }
	if _, ok := any(P(nil)).(Forwarder); ok {
		forwarders = append(forwarders, i)
	}
	if _, ok := any(P(nil)).(Carrier); ok {
		carriers = append(carriers, i)
	}
	return Slot[T, P]{i}
}

// Of is the slot's value on c.
func (s Slot[T, P]) Of(c *Ctx) P {
	if v := c.slots[s.i]; v != nil {
		return v.(P)
	}
	p := P(new(T))
	c.slots[s.i] = p
	return p
}

// avpsCarried is the record Carry keeps c's $avp values in, after the
// slots': AVPs live in the transaction in Kamailio, so that a failure_route
// reads what request_route set.
const avpsCarried = 0xff

// Carry appends the state of c's Carrier slot values to dst, each as
// its slot, a 16-bit length and what the value wrote, then c's $avp
// values (avpsCarried), for Uncarry.
func (c *Ctx) Carry(dst []byte) []byte {
	for _, i := range carriers {
		v := c.slots[i]
		if v == nil {
			continue
		}
		at := len(dst)
		dst = v.(Carrier).AppendCarried(append(dst, byte(i), 0, 0))
		n := len(dst) - at - 3
		if n > 0xffff {
			dst = dst[:at] // more than a 16-bit length says: not kept
			continue
		}
		dst[at+1], dst[at+2] = byte(n>>8), byte(n)
	}
	return c.carryAVPs(dst)
}

// Carried is what the slot's value wrote into b, a Carry's bytes (a
// transaction's), without making a context: nil when it wrote nothing.
func (s Slot[T, P]) Carried(b []byte) []byte {
	for len(b) >= 3 {
		i, n := int(b[0]), int(b[1])<<8|int(b[2])
		if 3+n > len(b) {
			return nil
		}
		if i == s.i {
			return b[3 : 3+n]
		}
		b = b[3+n:]
	}
	return nil
}

// carryAVPs appends c's $avp values as one record: each a name (8-bit
// length), its kind, and an int (8 bytes) or a string (16-bit length).
// Longer names and values, and a record over 16 bits, are not kept.
func (c *Ctx) carryAVPs(dst []byte) []byte {
	if len(c.avps) == 0 {
		return dst
	}
	at := len(dst)
	dst = append(dst, avpsCarried, 0, 0)
	for i := range c.avps {
		a := &c.avps[i]
		s := a.val.strLen()
		if len(a.name) > 0xff || s > 0xffff {
			continue
		}
		dst = append(append(dst, byte(len(a.name))), a.name...)
		dst = append(dst, byte(a.val.Kind))
		switch a.val.Kind {
		case Int:
			dst = binary.BigEndian.AppendUint64(dst, uint64(a.val.I))
		case Str:
			dst = binary.BigEndian.AppendUint16(dst, uint16(s))
			dst = a.val.AppendTo(dst)
		}
	}
	n := len(dst) - at - 3
	if n > 0xffff {
		return dst[:at]
	}
	dst[at+1], dst[at+2] = byte(n>>8), byte(n)
	return dst
}

// uncarryAVPs sets c's $avp values to those of a carryAVPs record.
func (c *Ctx) uncarryAVPs(b []byte) {
	for i := range c.avps {
		c.avps[i].val = Value{}
	}
	c.avps = c.avps[:0]
	for len(b) > 0 {
		n := int(b[0])
		if 1+n+1 > len(b) {
			return
		}
		name, kind := b[1:1+n], Kind(b[1+n])
		b = b[2+n:]
		v := Value{Kind: kind}
		switch kind {
		case Int:
			if len(b) < 8 {
				return
			}
			v.I, b = int64(binary.BigEndian.Uint64(b)), b[8:]
		case Str:
			if len(b) < 2 || 2+int(binary.BigEndian.Uint16(b)) > len(b) {
				return
			}
			s := 2 + int(binary.BigEndian.Uint16(b))
			v.B, b = b[2:s], b[s:]
		}
		c.addAVP(name, v)
	}
}

// Uncarry sets c's Carrier slot values to what Carry kept in b: each
// value's RestoreCarried gets what it wrote, or nil when b has nothing of
// it (the value carries nothing then); c's $avp values become those b
// kept, none when it kept none.
func (c *Ctx) Uncarry(b []byte) {
	var kept [MaxSlots][]byte
	avps := false
	for len(b) >= 3 {
		i, n := int(b[0]), int(b[1])<<8|int(b[2])
		if i == avpsCarried && 3+n <= len(b) {
			c.uncarryAVPs(b[3 : 3+n])
			avps, b = true, b[3+n:]
			continue
		}
		if i >= MaxSlots || slotNews[i] == nil || 3+n > len(b) {
			break
		}
		kept[i] = b[3 : 3+n]
		if c.slots[i] == nil {
			c.slots[i] = slotNews[i]()
		}
		b = b[3+n:]
	}
	for _, i := range carriers {
		if v := c.slots[i]; v != nil {
			v.(Carrier).RestoreCarried(kept[i])
		}
	}
	if !avps {
		c.uncarryAVPs(nil)
	}
}

// UncarryAVPs sets c's $avp values to those Carry kept in b (a
// transaction's), none when it kept none, and leaves the slots alone:
// onreply_route reads and writes the transaction's AVPs, as Kamailio's
// tm makes them current for it.
func (c *Ctx) UncarryAVPs(b []byte) {
	c.uncarryAVPs(carriedAVPs(b))
}

// RecarryAVPs is b, a Carry's bytes, with the $avp values it keeps
// replaced by c's (what onreply_route or failure_route left): b itself
// when they are the same, else a new slice (b is not changed).
func (c *Ctx) RecarryAVPs(b []byte) []byte {
	if w := c.W; w != nil {
		w.avpBuf = c.carryAVPs(w.avpBuf[:0])
		old := carriedAVPs(b)
		if len(w.avpBuf) == 0 && old == nil || len(w.avpBuf) >= 3 && old != nil && bytes.Equal(w.avpBuf[3:], old) {
			return b
		}
	}
	out := make([]byte, 0, len(b))
	for len(b) >= 3 {
		n := int(b[1])<<8 | int(b[2])
		if 3+n > len(b) {
			break
		}
		if b[0] != avpsCarried {
			out = append(out, b[:3+n]...)
		}
		b = b[3+n:]
	}
	return c.carryAVPs(out)
}

// carriedAVPs is the record of $avp values in a Carry's bytes, nil when
// there is none.
func carriedAVPs(b []byte) []byte {
	for len(b) >= 3 {
		n := int(b[1])<<8 | int(b[2])
		if 3+n > len(b) {
			return nil
		}
		if b[0] == avpsCarried {
			return b[3 : 3+n]
		}
		b = b[3+n:]
	}
	return nil
}

// resetSlots clears the slot values for the next message.
func (c *Ctx) resetSlots() {
	for _, v := range c.slots[:slotCount] {
		if v != nil {
			v.Reset()
		}
	}
}

// prepareForward lets the slot values write into a request leaving.
func (c *Ctx) prepareForward() error {
	for _, i := range forwarders {
		if v := c.slots[i]; v != nil {
			if err := v.(Forwarder).PrepareForward(c); err != nil {
				return err
			}
		}
	}
	return nil
}
