package tm

import (
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// onReply is the proxy's ReplyHook: a reply to one of our branches is
// taken here (true), anything else goes on statelessly (false).
func (tm *Module) onReply(c *router.Ctx) bool {
	m := c.Msg
	v := m.TopVia()
	if v == nil {
		return false
	}
	t, idx := tm.byBranch(v.Branch)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || idx < 0 || idx >= len(t.branches) {
		return true // late: the transaction is gone
	}
	b := t.branches[idx]
	if m.CSeqMethod() == sip.MethodCANCEL {
		if m.StatusCode() >= 200 {
			b.cancelDone = true
		}
		return true
	}
	if b.replica {
		t.replicaReply(c, b)
		return true
	}
	t.reply(c, b)
	return true
}

// reply processes a reply received on branch b; t is locked.
func (t *Trans) reply(c *router.Ctx, b *branch) {
	if t.onReply != "" || t.tm.replyXAVPs {
		// The transaction's XAVPs are the reply's until onreply_route is
		// over: the route works on them, and so do the hooks that ask for
		// them (pv_headers keeps a reply's headers in the transaction's
		// XAVIs, as Kamailio's).
		t.swapXAVPs(c)
		defer t.unswapXAVPs(c)
	}
	for _, h := range t.tm.replyHooks {
		h(c, t.carried)
	}
	if t.onReply == "" {
		t.unswapXAVPs(c)
	}
	m := c.Msg
	code := m.StatusCode()
	e := c.Env()
	invite := t.method == sip.MethodINVITE
	if t.uac && code >= 200 && !b.done {
		// A request of tm's own: its Done gets the reply as received
		// (with its Via), not the upstream form.
		t.uacReply = append(t.uacReply[:0], m.Bytes()...)
	}
	if b.done && !b.local {
		// A retransmission of the final reply: a 2xx goes upstream again
		// (the UAS resends it until the ACK), a non-2xx gets our ACK again.
		if code >= 200 && code < 300 {
			t.forward(c, code)
		} else if code >= 300 && b.ack != nil {
			e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.ack)
		}
		return
	}
	if code < 200 {
		if b.status < code {
			b.status = code
		}
		if b.cancelWant && b.cancel == nil {
			b.sendCancel(e) // cancelled before it answered: cancel it now
			return
		}
		if b.done {
			return
		}
		if invite {
			b.retrIn = 0 // timer A stops on a provisional reply
			b.frAt = t.capLife(time.Now().Add(t.frInvTimer()))
		} else if b.retrIn > 0 {
			b.retrIn = t.t2() // timer E goes on at T2 in Proceeding
		}
		b.arm(time.Now())
		if !t.runOnReply(c, b.idx, code) {
			return
		}
		if code > 100 && !t.final {
			t.forward(c, code)
		}
		return
	}
	// A final reply.
	b.finish(code, false) // a real reply replaces a local 487
	if invite && code >= 300 {
		b.ack = buildOnBranch(nil, b.out, "ACK", m.Header(m.NextHeader(sip.HdrTo, -1)).Value, nil)
		e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.ack)
	}
	if !t.runOnReply(c, b.idx, code) && code >= 300 {
		// dropped in onreply_route: the branch ends as a local 408
		b.status, b.local = 408, true
	}
	if code < 300 {
		// 2xx: upstream at once, the other branches are cancelled.
		t.forward(c, code)
		if invite {
			t.cancelBranches(e, b.idx)
		}
		t.maybeEnd()
		return
	}
	if b.status >= 300 {
		t.replyOut(c)
		b.reply, _ = c.AppendUpstream(b.reply[:0])
	}
	if code >= 600 && invite && !t.opts.disable6xx {
		t.cancelBranches(e, b.idx)
	}
	if t.onBranchFailure != "" {
		t.runBranchFailure(c.W, b)
	}
	t.branchDone(c.W)
}

// replicaReply takes a reply on a t_replicate branch: it moves the branch
// on (and is ACKed when it is a non-2xx final reply to an INVITE), and
// goes no further; t is locked.
func (t *Trans) replicaReply(c *router.Ctx, b *branch) {
	m := c.Msg
	code := m.StatusCode()
	e := c.Env()
	if b.done {
		if code >= 300 && b.ack != nil {
			e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.ack)
		}
		return
	}
	if code < 200 {
		b.status = max(b.status, code)
		if t.method == sip.MethodINVITE {
			b.retrIn = 0
		} else if b.retrIn > 0 {
			b.retrIn = t.t2()
		}
		b.arm(time.Now())
		return
	}
	b.finish(code, false)
	if t.method == sip.MethodINVITE && code >= 300 {
		b.ack = buildOnBranch(nil, b.out, "ACK", m.Header(m.NextHeader(sip.HdrTo, -1)).Value, nil)
		e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.ack)
	}
	t.branchDone(c.W)
}

// forward sends the reply c holds upstream, our Via removed; t is locked.
func (t *Trans) forward(c *router.Ctx, code int) {
	w := c.W
	t.replyOut(c)
	out, err := c.AppendUpstream(w.Scratch[:0])
	if err != nil {
		return
	}
	w.Scratch = out
	if err := t.sendUpstream(c.Env(), code, out, false); err != nil {
		t.tm.sendErrors.Log(c.Log(), "tm: reply upstream failed", err)
	}
}

// replyOut runs the hooks on a reply about to be written for upstream,
// with the transaction as the context's.
func (t *Trans) replyOut(c *router.Ctx) {
	if len(t.tm.replyOutHooks) == 0 {
		return
	}
	prev := c.Transaction
	c.Transaction = t
	t.swapXAVPs(c) // pv_headers applies what it collected in the transaction's XAVIs
	for _, h := range t.tm.replyOutHooks {
		h(c)
	}
	t.unswapXAVPs(c)
	c.Transaction = prev
}

// swapXAVPs makes the transaction's XAVPs c's, until unswapXAVPs; t is
// locked.
func (t *Trans) swapXAVPs(c *router.Ctx) {
	if t.xavpsOut {
		return
	}
	c.SwapXAVPs(&t.xavps)
	t.xavpsOut = true
}

// unswapXAVPs gives the transaction its XAVPs back, with what c changed,
// and c its own, if they were swapped; t is locked.
func (t *Trans) unswapXAVPs(c *router.Ctx) {
	if t.xavpsOut {
		c.SwapXAVPs(&t.xavps)
		t.xavpsOut = false
	}
}

// runOnReply runs the onreply_route of the transaction, if one is set,
// with the reply; false when the route dropped it.
func (t *Trans) runOnReply(c *router.Ctx, idx, code int) bool {
	if t.onReply == "" {
		return true
	}
	c.Transaction, state(c).replyCode, state(c).branchIdx = t, code, idx
	// The transaction's flags, AVPs and XAVPs (loaded by reply) are the
	// route's, and what it changes stays in the transaction (for the next
	// reply, failure_route), as Kamailio's tm swaps them in.
	c.Flags, c.XFlags = t.flags, t.xflags
	c.UncarryAVPs(t.carried)
	if idx >= 0 && idx < len(t.branches) {
		// The branch's flags, as Kamailio's onreply_route has them (the
		// NAT flag lookup set on a contact: set_contact_alias there).
		c.BFlags = t.branches[idx].bflags
	}
	prevDrop := c.Drop
	c.Drop = false
	c.RunKind(router.RouteOnReply, t.onReply)
	t.flags, t.xflags = c.Flags, c.XFlags
	t.carried = c.RecarryAVPs(t.carried)
	t.unswapXAVPs(c)
	dropped := c.Drop
	c.Drop = prevDrop
	c.Transaction = nil
	if dropped && code >= 200 && code < 300 {
		c.Log().Warn("tm: a 2xx reply cannot be dropped", "route", c.Route)
		return true
	}
	return !dropped
}

// requestCtx is the worker's context on the transaction's request, for
// failure_route and branch_failure_route; t is locked.
func (t *Trans) requestCtx(w *router.Worker) *router.Ctx {
	req := t.req
	if len(t.edited) > 0 {
		req = t.edited // t_save_lumps
	}
	c, err := w.RequestCtx(req, &t.pkt)
	if err != nil {
		return nil
	}
	c.Transaction = t
	c.Flags, c.XFlags = t.flags, t.xflags
	c.Uncarry(t.carried)
	c.LoadXAVPs(&t.xavps)
	if string(c.RURIText()) != string(t.ruri) {
		c.SetRURI(t.ruri)
	}
	state(c).onReply, state(c).onBranch, state(c).onFailure, state(c).onBranchFailure = t.onReply, t.onBranch, "", ""
	state(c).contacts = append(state(c).contacts[:0], t.contacts...)
	return c
}

// runBranchFailure runs branch_failure_route for a branch that failed.
func (t *Trans) runBranchFailure(w *router.Worker, b *branch) {
	c := t.requestCtx(w)
	if c == nil {
		return
	}
	state(c).branchIdx, state(c).replyCode = b.idx, b.status
	c.RunKind(branchFailureKind(t.onBranchFailure), t.onBranchFailure)
	c.Finish()
	c.Transaction = nil
}

// branchDone is called when a branch ended: once none is pending and no
// final reply went upstream, failure_route runs (it may relay again), then
// the best reply goes upstream (RFC 3261 §16.7); t is locked.
func (t *Trans) branchDone(w *router.Worker) {
	if t.removed {
		return
	}
	replicas := 0
	for _, b := range t.branches {
		if !b.done && !b.replica {
			return
		}
		if b.replica {
			replicas++
		}
	}
	if t.final {
		t.maybeEnd()
		return
	}
	best := t.best()
	if best < 0 {
		if replicas == len(t.branches) && !t.suspended {
			t.startWait() // only copies went out: the script answers, or nobody
			return
		}
		t.maybeEnd()
		return
	}
	if t.onFailure != "" && !t.inFailure {
		name := t.onFailure
		t.onFailure = "" // it must be armed again for a next failure
		c := t.requestCtx(w)
		if c != nil {
			nb := len(t.branches)
			state(c).branchIdx, state(c).replyCode = best, t.branches[best].status
			t.inFailure = true
			c.RunKind(router.RouteFailure, name)
			t.inFailure = false
			t.flags, t.xflags = c.Flags, c.XFlags
			t.carried = c.RecarryAVPs(t.carried)
			c.SaveXAVPs(&t.xavps) // ds_next_dst took a destination off
			if state(c).onFailure != "" {
				t.onFailure = state(c).onFailure
			}
			if state(c).onReply != t.onReply && state(c).onReply != "" {
				t.onReply = state(c).onReply
			}
			c.Finish()
			c.Transaction = nil
			if t.final {
				t.maybeEnd()
				return
			}
			if len(t.branches) > nb {
				if !t.applyDrop(nb) { // t_drop_replies said which replies count
					t.failureReplyMode(nb)
				}
				for _, b := range t.branches[nb:] {
					if !b.done {
						return // the new branches go on
					}
				}
				if best = t.best(); best < 0 {
					best = nb - 1
				}
			}
			t.dropMode = 0
		}
	}
	t.sendBest(w, best)
}

// failureReplyMode applies failure_reply_mode to the replies of the
// branches before nb, the failure route having added branches from nb.
func (t *Trans) failureReplyMode(nb int) {
	switch t.tm.conf.failureReplyMode {
	case 1, 3:
		t.firstLive = nb
	case 2:
		t.firstLive = nb - 1
	}
}

// best picks the reply to send upstream among the branches that count:
// a 6xx first, else the lowest class, a received reply before a local one.
func (t *Trans) best() int {
	best, bestRank := -1, 1<<30
	for i := t.firstLive; i < len(t.branches); i++ {
		b := t.branches[i]
		if !b.done || b.status < 300 || b.dropped || b.replica {
			continue
		}
		class := b.status / 100
		rank := class * 2
		if class == 6 && !t.opts.disable6xx {
			rank = 0
		}
		if b.local {
			rank++
		}
		if rank < bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// sendBest sends branch i's final reply upstream, or one made here for a
// local status; a 503 becomes 500 (RFC 3261 §16.7 step 6); t is locked.
func (t *Trans) sendBest(w *router.Worker, i int) {
	b := t.branches[i]
	code := b.status
	if !b.local && code != 503 && len(b.reply) > 0 {
		t.sendUpstream(t.tm.env, code, b.reply, false)
		return
	}
	reason := "Server Internal Error"
	switch code {
	case 408:
		reason = "Request Timeout"
	case 487:
		reason = "Request Terminated"
	case 503:
		code = 500
	}
	if t.canceled && b.local {
		code, reason = 487, "Request Terminated"
	}
	c := t.requestCtx(w)
	if c == nil {
		return
	}
	if err := t.Reply(c, code, reason, nil, nil); err != nil {
		t.tm.sendErrors.Log(c.Log(), "tm: local reply failed", err)
	}
	c.Transaction = nil
}
