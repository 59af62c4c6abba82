package tm

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// opts are the per-transaction switches a script sets, before the
// transaction exists (kept on the request) or after (on both).
type opts struct {
	disable6xx      bool // t_set_disable_6xx: a 6xx is a reply like the others
	noInternalReply bool // t_set_disable_internal_reply
	noE2EReason     bool // t_set_no_e2e_cancel_reason: CANCELs sent carry no Reason
	uacHeaders      bool // t_use_uac_headers
	proportional    bool // t_load_contacts(1): one contact at a time, by weight
	// lifeInv and lifeNonInv are t_set_max_lifetime's (0: max_inv_lifetime,
	// max_noninv_lifetime).
	lifeInv, lifeNonInv time.Duration
}

// moreExports are the rest of tm's KSR functions: the switches above,
// the lifetime, t_drop_replies, t_lookup_cancel_flags, t_save_lumps,
// t_load_contacts' modes.
func (tm *Module) moreExports() []dispatch.Export {
	flag := func(set func(o *opts, on bool)) dispatch.Func {
		return dispatch.FI(func(c *router.Ctx, on int) int {
			set(&state(c).opts, on != 0)
			if t := current(c); t != nil {
				set(&t.opts, on != 0)
			}
			return 1
		})
	}
	return []dispatch.Export{
		{Name: "t_set_disable_6xx", Ret: dispatch.Int, Fn: flag(func(o *opts, on bool) { o.disable6xx = on })},
		// kemi's t_relay sends no internal error reply in any case: the
		// script answers a failed relay.
		{Name: "t_set_disable_internal_reply", Ret: dispatch.Int, Fn: flag(func(o *opts, on bool) { o.noInternalReply = on })},
		{Name: "t_set_no_e2e_cancel_reason", Ret: dispatch.Int, Fn: flag(func(o *opts, on bool) { o.noE2EReason = on })},
		// CANCEL and ACK are built from the request as it was sent, with
		// the From and To the script gave it: what t_use_uac_headers asks.
		{Name: "t_use_uac_headers", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			state(c).opts.uacHeaders = true
			if t := current(c); t != nil {
				t.opts.uacHeaders = true
			}
			return 1
		})},
		{Name: "t_set_fr_inv", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, inv int) int {
			if inv < 0 {
				return -1
			}
			return setFR(c, time.Duration(inv)*time.Millisecond, state(c).fr)
		})},
		{Name: "t_set_max_lifetime", Ret: dispatch.Int, Fn: dispatch.FII(func(c *router.Ctx, inv, noninv int) int {
			if inv < 0 || noninv < 0 {
				return -1
			}
			return tm.setLifetime(c, time.Duration(inv)*time.Millisecond, time.Duration(noninv)*time.Millisecond)
		})},
		{Name: "t_reset_max_lifetime", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return tm.setLifetime(c, 0, 0) })},
		{Name: "t_is_expired", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			t := current(c)
			if t == nil {
				return -1
			}
			return dispatch.Result(time.Now().After(t.lifeEnd))
		})},
		{Name: "t_clean", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { tm.clean(time.Now()); return 1 })},
		{Name: "t_drop_replies", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, mode string) int { return dropReplies(c, mode) })},
		{Name: "t_drop_replies_all", Native: "t_drop_replies", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dropReplies(c, "a") })},
		{Name: "t_lookup_cancel_flags", Native: "t_lookup_cancel", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, flags int) int {
			if c.Msg.Method() != sip.MethodCANCEL {
				return -1
			}
			inv := tm.find(c, sip.MethodINVITE)
			if inv == nil {
				return -1
			}
			if flags&1 != 0 {
				inv.mu.Lock()
				c.Flags = inv.flags
				inv.mu.Unlock()
			}
			return 1
		})},
		{Name: "t_save_lumps", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			t := current(c)
			if t == nil || c.Kind != router.RouteRequest {
				return -1
			}
			t.edited = c.Msg.AppendTo(t.edited[:0])
			return 1
		})},
		{Name: "t_next_contact_flow", Ret: dispatch.Int, Fn: dispatch.F0(tm.nextContactFlow)},
		// kemi suspends requests only (t_suspend in a request route): no
		// reply is ever a retransmission of a suspended one.
		{Name: "t_is_retr_async_reply", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return -1 })},
		{Name: "ki_t_load_contacts_mode", Native: "t_load_contacts", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, mode int) int {
			switch mode {
			case 0:
				return tm.loadContacts(c)
			case 1:
				return tm.loadContactsProportional(c)
			}
			c.Log().Error("tm: t_load_contacts: mode 0 (standard) or 1 (proportional)", "route", c.Route)
			return -1
		})},
	}
}

// setLifetime sets the longest an INVITE and another transaction live
// (0: the module's), on the transaction too when it has one.
func (tm *Module) setLifetime(c *router.Ctx, inv, noninv time.Duration) int {
	st := state(c)
	st.opts.lifeInv, st.opts.lifeNonInv = inv, noninv
	if t := current(c); t != nil {
		t.opts.lifeInv, t.opts.lifeNonInv = inv, noninv
		t.lifeEnd = t.created.Add(t.lifetime())
	}
	return 1
}

// lifetime is how long the transaction may live.
func (t *Trans) lifetime() time.Duration {
	if t.method == sip.MethodINVITE {
		if t.opts.lifeInv > 0 {
			return t.opts.lifeInv
		}
		return t.tm.conf.lifeInv
	}
	if t.opts.lifeNonInv > 0 {
		return t.opts.lifeNonInv
	}
	return t.tm.conf.lifeNonInv
}

// capLife keeps a branch's timeout within the transaction's lifetime.
func (t *Trans) capLife(at time.Time) time.Time {
	if !t.lifeEnd.IsZero() && at.After(t.lifeEnd) {
		return t.lifeEnd
	}
	return at
}

// clean removes the transactions still in memory well past their
// lifetime (t_clean): their branches time out and the final reply goes.
func (tm *Module) clean(now time.Time) {
	var old []*Trans
	for i := range tm.byID {
		s := &tm.byID[i]
		s.mu.Lock()
		for _, t := range s.m {
			old = append(old, t)
		}
		s.mu.Unlock()
	}
	for _, t := range old {
		if !t.mu.TryLock() {
			continue // in use: not a stale one
		}
		if !t.removed && !t.ending && now.After(t.lifeEnd.Add(tm.conf.wt)) {
			t.remove()
		}
		t.mu.Unlock()
	}
}

// dropReplies is t_drop_replies in failure_route: when it adds branches,
// the replies received so far no longer count for the final one: all of
// them ("a"), those of the last branches relayed ("l"), or none ("n",
// failure_reply_mode aside).
func dropReplies(c *router.Ctx, mode string) int {
	t := current(c)
	if t == nil || c.Kind != router.RouteFailure {
		return -1
	}
	if mode == "" {
		mode = "a"
	}
	switch mode[0] {
	case 'a', 'l', 'n':
		t.dropMode = mode[0]
		return 1
	}
	c.Log().Error("tm: t_drop_replies: mode a, l or n", "route", c.Route)
	return -1
}

// applyDrop marks the replies t_drop_replies dropped once the failure
// route added branches from nb on; false when it was not called.
func (t *Trans) applyDrop(nb int) bool {
	mode := t.dropMode
	t.dropMode = 0
	switch mode {
	case 'a':
		for _, b := range t.branches[:nb] {
			b.dropped = true
		}
	case 'l':
		for _, b := range t.branches[t.round:nb] {
			b.dropped = true
		}
	case 'n':
		t.firstLive = 0
	default:
		return false
	}
	return true
}

// loadContactsProportional is t_load_contacts(1): the contacts in an
// order drawn at random with their q as weights, those with q 0 last,
// each tried alone.
func (tm *Module) loadContactsProportional(c *router.Ctx) int {
	bs := c.Branches()
	if len(bs) == 0 {
		return 1 // nothing to order
	}
	pool := make([]router.Branch, 0, len(bs)+1)
	pool = append(pool, router.Branch{URI: clone(c.RURIText()), Dst: clone(c.DstURI()), Path: clone(c.Path()), Q: -1, Flags: c.BFlags})
	for _, b := range bs {
		pool = append(pool, router.Branch{URI: clone(b.URI), Dst: clone(b.Dst), Path: clone(b.Path), Q: b.Q, Flags: b.Flags})
	}
	var order, backup []router.Branch
	for _, b := range pool {
		if qOf(b) <= 0 {
			backup = append(backup, b)
		}
	}
	pool = slices.DeleteFunc(pool, func(b router.Branch) bool { return qOf(b) <= 0 })
	for len(pool) > 0 {
		total := 0
		for _, b := range pool {
			total += qOf(b)
		}
		n := rand.IntN(total)
		for i, b := range pool {
			if n -= qOf(b); n < 0 {
				order = append(order, b)
				pool = slices.Delete(pool, i, i+1)
				break
			}
		}
	}
	state(c).contacts = append(append(state(c).contacts[:0], order...), backup...)
	state(c).opts.proportional = true
	c.ClearBranches()
	if t := current(c); t != nil {
		t.contacts = state(c).contacts
		t.opts.proportional = true
	}
	return 1
}

// cancelReason is the Reason header lines of a CANCEL, for the CANCELs
// sent on (RFC 3326, Kamailio's e2e_cancel_reason).
func cancelReason(m *sip.Msg) []byte {
	var out []byte
	for i := m.NextHeaderNamed([]byte("Reason"), -1); i >= 0; i = m.NextHeaderNamed([]byte("Reason"), i) {
		out = append(append(append(out, "Reason: "...), bytes.TrimSpace(m.Header(i).Value)...), "\r\n"...)
	}
	return out
}
