package tm

import (
	"bytes"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// current is the transaction of c, nil when none.
func current(c *router.Ctx) *Trans {
	t, _ := c.Transaction.(*Trans)
	return t
}

// release unlocks the transaction a request route made, when the worker
// is done with the message.
func release(c *router.Ctx) {
	t := current(c)
	if t == nil {
		return
	}
	c.Transaction = nil
	t.flags = c.Flags
	if len(t.branches) == 0 && !t.final && !t.suspended {
		// Nothing was relayed and no final reply sent: keep it for the
		// wait time, so that retransmissions are still absorbed.
		t.startWait()
	}
	t.mu.Unlock()
}

// newtran makes c's request stateful: 1 when a transaction was made, 0 for
// a retransmission (its last reply is sent again and the script stops), -1
// when the request cannot have one.
func (tm *Module) newtran(c *router.Ctx) int {
	if current(c) != nil {
		return 1
	}
	m := c.Msg
	if !m.IsRequest() || m.Method() == sip.MethodACK {
		return -1
	}
	if tm.refuse(c) {
		return -1
	}
	t, retr := tm.newTrans(c)
	if t == nil {
		return -1
	}
	if retr {
		t.retransmission(c)
		t.mu.Unlock()
		return 0
	}
	c.Transaction = t
	c.AtEnd(release)
	return 1
}

// refuse answers a new request 503 Service Unavailable with Retry-After,
// statelessly, when max_transactions are in memory or, for an INVITE with
// overload_retry_after set, when the socket it came from is backed up.
// A retransmission of a transaction in memory is never refused: it is
// absorbed (or dropped, see retransmission).
func (tm *Module) refuse(c *router.Ctx) bool {
	full := tm.conf.maxTrans > 0 && tm.Stats.Active.Load() >= tm.conf.maxTrans
	busy := tm.conf.retryAfter > 0 && c.Pkt != nil && c.Pkt.Overloaded && c.Msg.Method() == sip.MethodINVITE
	if !full && !busy || tm.find(c, sip.MethodOther) != nil {
		return false
	}
	tm.Stats.Refused.Add(1)
	if err := c.Reply(503, "Service Unavailable", nil, tm.conf.retryHeader, nil); err != nil {
		c.Log().Info("tm: 503 not sent: "+err.Error(), "route", c.Route)
	}
	return true
}

// retransmission answers a retransmitted request with the last reply, or
// takes an ACK to a non-2xx final reply; t is locked. While the socket is
// backed up, a retransmission is dropped unanswered: the client sends it
// again, and the worker's time goes to new work first.
func (t *Trans) retransmission(c *router.Ctx) {
	t.tm.Stats.Absorbed.Add(1)
	if c.Pkt != nil && c.Pkt.Overloaded && c.Msg.Method() != sip.MethodACK {
		t.tm.Stats.OverDrops.Add(1)
		return
	}
	if c.Msg.Method() == sip.MethodACK {
		if t.final && t.status >= 300 && t.timer != nil && t.retrG > 0 {
			t.retrG = 0 // timer G stops; timer I (wt_timer) finishes it
			t.end = time.Now().Add(t.tm.conf.wt)
		}
		return
	}
	if len(t.last) > 0 {
		t.upstream(c.Env(), t.last)
	}
}

// Reply sends a reply made here to the request of t (t_reply, and
// sl_send_reply once the request has a transaction); t is locked.
func (t *Trans) Reply(c *router.Ctx, code int, reason string, headers, body []byte) error {
	if t.final && code >= 200 {
		return errAlreadyFinal
	}
	out, err := c.BuildReply(code, reason, t.toTag[:], headers, body)
	if err != nil {
		return err
	}
	return t.sendUpstream(c.Env(), code, out, true)
}

type tmError string

func (e tmError) Error() string { return string(e) }

const errAlreadyFinal = tmError("tm: a final reply was already sent")

// sendUpstream sends a reply to the request's sender and keeps it for
// retransmissions; t is locked.
func (t *Trans) sendUpstream(e *router.Env, code int, out []byte, local bool) error {
	if code >= 200 || !t.final {
		t.last = append(t.last[:0], out...)
		t.status = code
	}
	var err error
	if !t.uac { // a request of tm's own has nobody upstream
		t.tm.Stats.Replies.Add(1)
		if local {
			t.tm.Stats.Local.Add(1)
		}
		err = t.upstream(e, out)
		if len(t.tm.sendHooks) > 0 {
			t.sent(false, t.pkt.Local, t.pkt.Proto, t.dst, out)
		}
	}
	if code >= 200 && !t.final {
		t.final = true
		t.suspended = false // answered: nothing left to continue
		t.finalHook(code, out, local)
		if d := t.done; d != nil {
			t.done = nil
			var reply []byte
			switch {
			case t.uac && !local && len(t.uacReply) > 0:
				reply = append([]byte(nil), t.uacReply...)
			case !local:
				reply = append([]byte(nil), out...)
			}
			go d(code, reply) // t is locked: the callback may use tm
		}
		if t.method == sip.MethodINVITE && code >= 300 && t.pkt.Proto == sip.TransportUDP {
			t.retrG = t.t1() // timer G: the reply again until the ACK comes
		}
		t.maybeEnd()
	}
	return err
}

// relay forwards c's request statefully (t_relay): to $du, else the
// request URI, and to every appended branch in parallel. 1 when at least
// one branch was sent, 0 for an absorbed retransmission, -1 on error.
func (tm *Module) relay(c *router.Ctx) int {
	m := c.Msg
	if !m.IsRequest() {
		return -1
	}
	switch m.Method() {
	case sip.MethodACK:
		// An ACK to a 2xx is a request of its own, relayed statelessly;
		// an ACK to a non-2xx reply of ours stops here.
		if t := tm.find(c, sip.MethodOther); t != nil {
			t.mu.Lock()
			absorbed := t.final && t.status >= 300
			if absorbed {
				t.retransmission(c)
			}
			t.mu.Unlock()
			if absorbed {
				return 0
			}
		}
		if err := c.Forward(nil); err != nil {
			c.Log().Error("tm: t_relay: "+err.Error(), "route", c.Route)
			return -1
		}
		return 1
	case sip.MethodCANCEL:
		return tm.relayCancel(c)
	}
	switch tm.newtran(c) {
	case 0:
		return 0
	case -1:
		return -1
	}
	t := current(c)
	if t.final {
		c.Log().Error("tm: t_relay: the request was already answered", "route", c.Route)
		return -1
	}
	// As Kamailio's t_relay (not t_newtran): an INVITE not answered yet
	// gets a 100 before it is forwarded.
	if t.method == sip.MethodINVITE && tm.auto100(c) && t.status < 100 {
		if len(tm.sendHooks) > 0 && c.Kind == router.RouteRequest {
			t.carried = c.Carry(nil) // the hooks see the 100 with the request's state (siptrace)
		}
		t.Reply(c, 100, tm.conf.auto100Reason, nil, nil)
	}
	if t.fork(c) == 0 {
		return -1
	}
	return 1
}

// fork sends c's request on a branch per destination: the request URI (to
// $du when set) and the appended branches. It returns how many were sent;
// t is locked.
func (t *Trans) fork(c *router.Ctx) int {
	t.prevRound, t.round = t.round, len(t.branches)
	if c.Kind == router.RouteRequest {
		for _, h := range t.tm.relayHooks {
			h(c) // before the request's state is carried: dialog's dlg_flag
		}
		// What failure_route starts from: kept in the spare room of t.req.
		spare := t.req[len(t.req):]
		t.ruri = append(spare[:0:cap(spare)], c.RURIText()...)
		spare = t.ruri[len(t.ruri):]
		t.carried = c.Carry(spare[:0:cap(spare)]) // rr's Record-Route, for branches made later
		t.flags, t.xflags = c.Flags, c.XFlags
		c.SaveXAVPs(&t.xavps)
		if len(state(c).contacts) > 0 {
			t.contacts = append(t.contacts[:0], state(c).contacts...)
		}
		if len(state(c).flows) > 0 {
			t.flows = append(t.flows[:0], state(c).flows...)
		}
	}
	n := 0
	if t.branchOut(c) {
		n++
	}
	if extra := c.Branches(); len(extra) > 0 {
		// Each appended branch becomes the request URI in turn; what the
		// script set for the first is put back after.
		saveURI := append([]byte(nil), c.RURIText()...)
		saveDst := append([]byte(nil), c.DstURI()...)
		savePath := append([]byte(nil), c.Path()...)
		saveBF := c.BFlags
		saveInst := clone(c.Instance())
		bs := make([]router.Branch, len(extra))
		for i, b := range extra {
			bs[i] = cloneBranch(b)
		}
		for i := range bs {
			if c.UseBranch(bs[i]) != nil {
				c.Log().Error("tm: branch with a bad URI", "uri", string(bs[i].URI), "route", c.Route)
				continue
			}
			if t.branchOut(c) {
				n++
			}
		}
		c.SetRURI(saveURI)
		c.SetDstURI(saveDst)
		c.SetPath(savePath)
		c.SetInstance(saveInst)
		c.BFlags = saveBF
		c.ClearBranches()
	}
	if n == 0 {
		t.maybeEnd()
	}
	return n
}

// branchOut makes and sends one branch from c's current request URI, $du
// and path, running branch_route first; t is locked.
func (t *Trans) branchOut(c *router.Ctx) bool {
	if len(t.branches) >= router.MaxBranches {
		c.Log().Error("tm: too many branches", "max", router.MaxBranches, "route", c.Route)
		return false
	}
	m := c.Msg
	var mark sip.EditMark
	m.MarkEdits(&mark)
	defer m.RestoreEdits(&mark)
	idx := len(t.branches)
	if t.onBranch != "" {
		// What the branch_route changes of the modules' request state
		// (rr's Record-Route) is this branch's alone.
		t.saved = c.Carry(t.saved[:0])
		defer c.Uncarry(t.saved)
		prevIdx, prevDrop := state(c).branchIdx, c.Drop
		state(c).branchIdx, c.Drop = idx, false
		for _, h := range t.tm.branchRouteHooks {
			h(c, idx)
		}
		rc, err := c.RunKind(router.RouteBranch, t.onBranch)
		dropped := c.Drop || rc == 0 || err != nil
		state(c).branchIdx, c.Drop = prevIdx, prevDrop
		if dropped {
			return false
		}
	}
	for _, h := range t.tm.branchOutHooks {
		h(c, idx)
	}
	hop, err := c.Resolve(c.Target(nil))
	if err != nil {
		c.Log().Error("tm: t_relay: "+err.Error(), "route", c.Route)
		return false
	}
	if err := c.PrepareRequest(hop); err != nil {
		c.Log().Error("tm: t_relay: "+err.Error(), "route", c.Route)
		return false
	}
	w := c.W
	w.Scratch = t.tm.appendBranchID(w.Scratch[:0], t, idx)
	if t.uac {
		if err := m.RemoveTopVia(); err != nil { // t_uac_send's stand-in
			c.Log().Error("tm: t_uac_send: "+err.Error(), "route", c.Route)
			return false
		}
	}
	if hop, err = c.PushViaMTU(hop, w.Scratch); err != nil { // udp_mtu may make it TCP
		c.Log().Error("tm: t_relay: "+err.Error(), "route", c.Route)
		return false
	}
	if !c.OnSend(hop) {
		return false
	}
	b := &t.first
	if idx > 0 {
		b = &branch{}
	}
	*b = branch{t: t, idx: idx, hop: hop, path: clone(c.Path()), instance: clone(c.Instance()), bflags: c.BFlags}
	b.out = m.AppendTo(make([]byte, 0, len(m.Bytes())+512))
	t.branches = append(t.branches, b)
	t.tm.Stats.Relayed.Add(1)
	if err := c.Env().Transport.Send(hop.Local, hop.Proto, hop.Addr, b.out); err != nil {
		t.tm.sendErrors.Log(c.Log(), "tm: send failed", err)
	}
	if len(t.tm.sendHooks) > 0 {
		t.sent(true, hop.Local, hop.Proto, hop.Addr, b.out)
	}
	now := time.Now()
	if hop.Proto == sip.TransportUDP {
		b.retrIn = t.t1()
		b.retrAt = now.Add(b.retrIn)
	}
	b.frAt = t.capLife(now.Add(t.frTimer()))
	b.arm(now)
	return true
}

// arm sets the branch's timer for its next retransmission or its timeout.
func (b *branch) arm(now time.Time) {
	at := b.frAt
	if b.retrIn > 0 && b.retrAt.Before(at) {
		at = b.retrAt
	}
	d := at.Sub(now)
	if d < 0 {
		d = 0
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.fire)
	} else {
		b.timer.Reset(d)
	}
}

// fire runs on the branch's timer: a retransmission, or the end of
// fr_timer / fr_inv_timer.
func (b *branch) fire() {
	t := b.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed {
		return
	}
	e := b.t.tm.env
	now := time.Now()
	if b.done {
		// Only a CANCEL that has not been answered is still sent again.
		if b.cancel != nil && !b.cancelDone && b.retrIn > 0 && now.Before(b.frAt) {
			b.t.tm.Stats.Retrans.Add(1)
			e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.cancel)
			b.retrIn = min(2*b.retrIn, b.t.t2())
			b.retrAt = now.Add(b.retrIn)
			b.arm(now)
		}
		return
	}
	if !now.Before(b.frAt) {
		b.t.tm.Stats.Timeouts.Add(1)
		b.retrIn = 0
		if b.status >= 100 && t.method == sip.MethodINVITE && b.cancel == nil {
			b.sendCancel(e) // the UAS is still ringing: it must stop
		}
		b.finish(408, true)
		w := <-b.t.tm.pool
		w.Sync() // a reloaded script runs from the next route on
		t.branchDone(w)
		b.t.tm.pool <- w
		return
	}
	if b.retrIn > 0 && !now.Before(b.retrAt) {
		msg := b.out
		if b.cancel != nil {
			msg = b.cancel
		}
		b.t.tm.Stats.Retrans.Add(1)
		e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, msg)
		b.retrIn *= 2
		if (t.method != sip.MethodINVITE || b.cancel != nil) && b.retrIn > b.t.t2() {
			b.retrIn = b.t.t2()
		}
		b.retrAt = now.Add(b.retrIn)
	}
	b.arm(now)
}

// finish ends a branch with a final status; local for a timeout or a
// cancel without a reply.
func (b *branch) finish(status int, local bool) {
	b.done = true
	b.status, b.local = status, local
	if b.cancel == nil || b.cancelDone || b.hop.Proto != sip.TransportUDP {
		b.retrIn = 0
		if b.timer != nil {
			b.timer.Stop()
		}
	}
}

// maybeEnd starts the wait timer once the final reply went upstream and
// no branch is pending; t is locked.
func (t *Trans) maybeEnd() {
	if t.ending || !t.final {
		return
	}
	for _, b := range t.branches {
		if !b.done {
			return
		}
	}
	t.startWait()
}

// startWait keeps t after its final reply, so that retransmissions of the
// request are answered (and timer G resends a non-2xx final reply to an
// INVITE until the ACK), then removes it: after wt_timer, as Kamailio
// does for every transaction (a client stops retransmitting once the
// final reply came; RFC 3261's timer J of 64*T1 for a non-INVITE kept 6
// times Kamailio's transactions in memory), and for an INVITE over UDP
// waiting for its ACK not before 64*T1 (timer H).
func (t *Trans) startWait() {
	if t.ending {
		return
	}
	t.ending = true
	keep := t.tm.conf.wt
	if t.pkt.Proto == sip.TransportUDP && t.retrG > 0 {
		keep = max(keep, 64*t.t1())
	}
	t.end = time.Now().Add(keep)
	tick := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.removed {
			return
		}
		now := time.Now()
		end := t.end
		if !now.Before(end) {
			t.remove()
			return
		}
		d := end.Sub(now)
		if t.retrG > 0 {
			t.tm.Stats.Retrans.Add(1)
			t.upstream(t.tm.env, t.last)
			if d > t.retrG {
				d = t.retrG
			}
			t.retrG = min(2*t.retrG, t.t2())
		}
		t.timer.Reset(d)
	}
	d := t.tm.conf.wt
	if t.retrG > 0 {
		d = min(d, t.retrG)
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(d, tick)
	} else {
		t.timer.Stop()
		t.timer = time.AfterFunc(d, tick)
	}
}

// buildOnBranch writes a request derived from the branch's request: the
// same request line URI, top Via (ours), Route, From, Call-ID and CSeq
// number, with method meth; To is to when given. For CANCEL and the ACK
// of a non-2xx reply (RFC 3261 §9.1, §17.1.1.3).
func buildOnBranch(dst, req []byte, meth string, to, extra []byte) []byte {
	head, _, _ := bytes.Cut(req, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	first := lines[0]
	sp := bytes.IndexByte(first, ' ')
	dst = append(dst, meth...)
	dst = append(dst, first[sp:]...)
	dst = append(dst, "\r\n"...)
	viaDone := false
	for _, l := range lines[1:] {
		name, val, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch sip.ClassifyHeader(bytes.TrimSpace(name)) {
		case sip.HdrVia:
			if viaDone {
				continue
			}
			viaDone = true
			// Ours is the first via-parm of the first Via.
			v := bytes.TrimSpace(val)
			if i := bytes.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			dst = append(append(append(dst, "Via: "...), v...), "\r\n"...)
		case sip.HdrRoute, sip.HdrFrom, sip.HdrCallID, sip.HdrMaxForwards:
			dst = append(append(dst, l...), "\r\n"...)
		case sip.HdrTo:
			if to != nil {
				dst = append(append(append(dst, "To: "...), to...), "\r\n"...)
			} else {
				dst = append(append(dst, l...), "\r\n"...)
			}
		case sip.HdrCSeq:
			num, _, _ := bytes.Cut(bytes.TrimSpace(val), []byte(" "))
			dst = append(append(append(append(append(dst, "CSeq: "...), num...), ' '), meth...), "\r\n"...)
		}
	}
	dst = append(dst, extra...)
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}

// sendCancel cancels the branch (it has had a provisional reply).
func (b *branch) sendCancel(e *router.Env) {
	if b.cancel != nil {
		return
	}
	b.cancel = buildOnBranch(nil, b.out, "CANCEL", nil, b.t.cancelReason)
	e.Transport.Send(b.hop.Local, b.hop.Proto, b.hop.Addr, b.cancel)
	now := time.Now()
	if b.hop.Proto == sip.TransportUDP {
		b.retrIn, b.retrAt = b.t.t1(), now.Add(b.t.t1())
	}
	// The UAS has fr_timer to answer the INVITE with 487.
	b.frAt = now.Add(b.t.tm.frTimer())
	b.arm(now)
}

// cancelBranches cancels every pending branch: those that had a
// provisional reply get a CANCEL, the others stop and count as 487
// (Kamailio's default cancel_b_method); t is locked.
func (t *Trans) cancelBranches(e *router.Env, except int) {
	for _, b := range t.branches {
		if b.done || b.idx == except {
			continue
		}
		if b.status >= 100 {
			b.sendCancel(e)
		} else {
			b.cancelWant = true
			b.finish(487, true)
		}
	}
}

// relayCancel handles a CANCEL (t_relay on it): 200 to the CANCEL, a
// CANCEL on every pending branch of its INVITE; the INVITE then ends with
// the 487 of the branches, or one made here.
func (tm *Module) relayCancel(c *router.Ctx) int {
	inv := tm.find(c, sip.MethodINVITE)
	if inv == nil {
		// No transaction: the CANCEL goes on statelessly, as Kamailio does.
		if err := c.Forward(nil); err != nil {
			c.Log().Error("tm: t_relay: "+err.Error(), "route", c.Route)
			return -1
		}
		return 1
	}
	tm.Stats.Cancelled.Add(1)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	// Kamailio's tm answers a CANCEL it matched "200 canceling".
	if err := c.Reply(200, "canceling", inv.toTag[:], nil, nil); err != nil {
		tm.sendErrors.Log(c.Log(), "tm: reply to CANCEL failed", err)
	}
	if inv.final || inv.removed {
		return 1
	}
	inv.canceled = true
	if tm.conf.e2eReason && !inv.opts.noE2EReason {
		inv.cancelReason = cancelReason(c.Msg)
	}
	inv.cancelBranches(c.Env(), -1)
	inv.branchDone(c.W)
	return 1
}
