package router

import "sync/atomic"

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
// starts from it, and a branch_route's changes stay with that branch.
// CarryTo copies the value into dst, a value of the same type, reusing
// dst's buffers.
type Carrier interface {
	CarryTo(dst SlotValue)
}

// MaxSlots is the most slots the modules of a binary may declare.
const MaxSlots = 16

// slotNews makes the value of each declared slot; written at init.
var (
	slotCount atomic.Int32
	slotNews  [MaxSlots]func() SlotValue
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
	i := int(slotCount.Add(1)) - 1
	if i >= MaxSlots {
		panic("router: more than 16 request slots declared")
	}
	slotNews[i] = func() SlotValue { return P(new(T)) }
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

// Carried holds the slot values a transaction keeps for its request
// (those that are Carriers), for routes run on it later.
type Carried struct {
	vals [MaxSlots]SlotValue
}

// Carry copies c's Carrier slot values into dst.
func (c *Ctx) Carry(dst *Carried) {
	for i, v := range c.slots {
		cv, ok := v.(Carrier)
		if !ok {
			if dst.vals[i] != nil {
				dst.vals[i].Reset()
			}
			continue
		}
		if dst.vals[i] == nil {
			dst.vals[i] = slotNews[i]()
		}
		cv.CarryTo(dst.vals[i])
	}
}

// Uncarry copies the values src holds back into c.
func (c *Ctx) Uncarry(src *Carried) {
	for i, v := range src.vals {
		cv, ok := v.(Carrier)
		if !ok {
			continue
		}
		if c.slots[i] == nil {
			c.slots[i] = slotNews[i]()
		}
		cv.CarryTo(c.slots[i])
	}
}

// resetSlots clears the slot values for the next message.
func (c *Ctx) resetSlots() {
	for _, v := range c.slots {
		if v != nil {
			v.Reset()
		}
	}
}

// prepareForward lets the slot values write into a request leaving.
func (c *Ctx) prepareForward() error {
	for _, v := range c.slots {
		if f, ok := v.(Forwarder); ok {
			if err := f.PrepareForward(c); err != nil {
				return err
			}
		}
	}
	return nil
}
