package router

import "sync"

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
const MaxSlots = 16

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
		panic("router: more than 16 request slots declared")
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

// Carry appends the state of c's Carrier slot values to dst, each as
// its slot, a 16-bit length and what the value wrote, for Uncarry.
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
	return dst
}

// Uncarry sets c's Carrier slot values to what Carry kept in b: each
// value's RestoreCarried gets what it wrote, or nil when b has nothing of
// it (the value carries nothing then).
func (c *Ctx) Uncarry(b []byte) {
	var kept [MaxSlots][]byte
	for len(b) >= 3 {
		i, n := int(b[0]), int(b[1])<<8|int(b[2])
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
