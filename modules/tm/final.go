package tm

import (
	"github.com/kemi-sip/kemi/core/transport"
)

// Final is a transaction's final reply as it went upstream: what acc
// accounts. The slices are the transaction's; a hook copies what it keeps.
type Final struct {
	Request []byte // the request as received
	RURI    []byte // $ru when it was relayed, nil when it was not
	Reply   []byte // the reply sent
	Code    int
	Flags   uint64 // the request's flags (setflag in the routes)
	Local   bool   // made here (t_reply, a timeout's 408), not relayed
	Pkt     *transport.Packet
	// Carried is what the request carried into the transaction
	// (router.Slot.Carried reads a module's part).
	Carried []byte
	// Index and Label are $T(id_index) and $T(id_label) of the
	// transaction (tsilo forgets it).
	Index, Label int64
}

// SetFinalHook makes f see every final reply a transaction sends upstream
// (nil removes it). f runs with the transaction locked: it must not call
// tm and must not block.
func (tm *Module) SetFinalHook(f func(*Final)) {
	if f == nil {
		tm.finalHookFn.Store(nil)
		return
	}
	tm.finalHookFn.Store(&f)
}

// OnFinal adds a hook that sees every final reply a transaction sends
// upstream, as SetFinalHook's does; modules add theirs while they
// initialise (dialog ends a dialog whose INVITE failed).
func (tm *Module) OnFinal(f func(*Final)) { tm.finalHooks = append(tm.finalHooks, f) }

func (t *Trans) finalHook(code int, out []byte, local bool) {
	f := t.tm.finalHookFn.Load()
	if f == nil && len(t.tm.finalHooks) == 0 {
		return
	}
	fin := &Final{Request: t.req, RURI: t.ruri, Reply: out, Code: code, Flags: t.flags, Local: local, Pkt: &t.pkt, Carried: t.carried,
		Index: int64(t.id % shards), Label: int64(t.id)}
	if f != nil {
		(*f)(fin)
	}
	for _, h := range t.tm.finalHooks {
		h(fin)
	}
}
