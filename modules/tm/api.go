package tm

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// What tmx does with a transaction: cancel its branches, find it by
// Call-ID, reply to it or drop it from another context, suspend a
// request and continue it later, reuse a failed branch.

// IDs are $T(id_index) and $T(id_label) of c's transaction: what
// t_continue takes to find it again; ok false when c has none.
func IDs(c *router.Ctx) (index, label int64, ok bool) {
	t := current(c)
	if t == nil {
		return 0, 0, false
	}
	return int64(t.id % shards), int64(t.id), true
}

// CancelBranches cancels branches of c's transaction: "all", "others"
// than the one the reply being routed came on, or "this" one.
func (tm *Module) CancelBranches(c *router.Ctx, which string) int {
	t := current(c)
	if t == nil {
		return -1
	}
	idx := state(c).branchIdx
	switch strings.ToLower(which) {
	case "all":
		t.cancelBranches(c.Env(), -1)
	case "others":
		t.cancelBranches(c.Env(), idx)
	case "this":
		if idx < 0 || idx >= len(t.branches) {
			return -1
		}
		if b := t.branches[idx]; !b.done && b.status >= 100 {
			b.sendCancel(c.Env())
		}
	default:
		c.Log().Error("tmx: t_cancel_branches: all, others or this", "route", c.Route)
		return -1
	}
	return 1
}

// byCallID finds the transaction of the request with the Call-ID and CSeq
// number ("1" or "1 INVITE") given, locked; nil when there is none.
func (tm *Module) byCallID(callID, cseq string) *Trans {
	num, _, _ := strings.Cut(strings.TrimSpace(cseq), " ")
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return nil
	}
	for i := range tm.byID {
		s := &tm.byID[i]
		s.mu.Lock()
		var found *Trans
		for _, t := range s.m {
			if string(t.callID) == callID && t.cseq == uint32(n) && !t.uac {
				found = t
				break
			}
		}
		s.mu.Unlock()
		if found != nil {
			found.mu.Lock()
			if found.removed {
				found.mu.Unlock()
				continue
			}
			return found
		}
	}
	return nil
}

// CancelCallID cancels the branches of the transaction found by Call-ID
// and CSeq, as a CANCEL would, with flag set on its request (0: none) and
// a Reason of cause rcode on the CANCELs (0: none).
func (tm *Module) CancelCallID(c *router.Ctx, callID, cseq string, flag, rcode int) int {
	t := tm.byCallID(callID, cseq)
	if t == nil {
		return -1
	}
	defer t.mu.Unlock()
	if flag > 0 && flag < 64 {
		t.flags |= 1 << uint(flag)
	}
	if rcode >= 100 && rcode <= 699 {
		t.cancelReason = strconv.AppendInt(append(t.cancelReason[:0], "Reason: SIP;cause="...), int64(rcode), 10)
		t.cancelReason = append(t.cancelReason, "\r\n"...)
	}
	if t.final || t.removed {
		return 1
	}
	t.canceled = true
	t.cancelBranches(c.Env(), -1)
	w := tm.worker()
	if w == nil {
		return -1
	}
	defer tm.putWorker(w)
	t.branchDone(w)
	return 1
}

// ReplyCallID sends a reply made here to the transaction found by Call-ID
// and CSeq.
func (tm *Module) ReplyCallID(c *router.Ctx, callID, cseq string, code int, reason string) int {
	if code < 100 || code > 699 {
		return -1
	}
	t := tm.byCallID(callID, cseq)
	if t == nil {
		return -1
	}
	defer t.mu.Unlock()
	w := tm.worker()
	if w == nil {
		return -1
	}
	defer tm.putWorker(w)
	rc := t.replyOn(w, code, reason)
	t.maybeEnd()
	return rc
}

// replyOn sends a reply made here on a context of worker w; t is locked.
func (t *Trans) replyOn(w *router.Worker, code int, reason string) int {
	rc := t.requestCtx(w)
	if rc == nil {
		return -1
	}
	defer func() { rc.Transaction = nil }()
	if err := t.Reply(rc, code, reason, nil, nil); err != nil {
		rc.Log().Error("tm: "+err.Error(), "route", rc.Route)
		return -1
	}
	return 1
}

// Drop ends c's transaction without a reply: its status becomes rcode and
// it goes when the wait time is over (tmx's t_drop). 0: the script stops.
func (tm *Module) Drop(c *router.Ctx, rcode int) int {
	t := current(c)
	if t == nil {
		return -1
	}
	t.status, t.final = rcode, true
	t.suspended = false
	for _, b := range t.branches {
		if !b.done {
			b.finish(rcode, true)
		}
	}
	t.startWait()
	return 0
}

// FlushFlags gives c's transaction the message's flags (xflags: the
// extended ones), for the routes that run on it later.
func (tm *Module) FlushFlags(c *router.Ctx, xflags bool) int {
	t := current(c)
	if t == nil {
		return -1
	}
	if xflags {
		t.xflags = c.XFlags
	} else {
		t.flags = c.Flags
	}
	return 1
}

// ReuseBranch makes the failed branch a branch_failure route runs for the
// request URI again: its URI, path, +sip.instance and branch flags
// (t_reuse_branch).
func (tm *Module) ReuseBranch(c *router.Ctx) int {
	t := current(c)
	idx := state(c).branchIdx
	if t == nil || c.Kind != branchFailureKind(t.onBranchFailure) || idx < 0 || idx >= len(t.branches) {
		c.Log().Error("tmx: t_reuse_branch: for a branch failure route", "route", c.Route)
		return -1
	}
	b := t.branches[idx]
	line, _, _ := bytes.Cut(b.out, []byte("\r\n"))
	f := bytes.Fields(line) // METHOD URI SIP/2.0
	if len(f) != 3 {
		return -1
	}
	if err := c.SetRURI(f[1]); err != nil {
		return -1
	}
	c.SetPath(b.path)
	c.SetInstance(b.instance)
	c.BFlags = b.bflags
	return 1
}

// Suspend keeps c's request in its transaction (made now if it has none)
// until Continue, or until fr_inv_timer (fr_timer) ends it with 408.
func (tm *Module) Suspend(c *router.Ctx) int {
	if c.Kind != router.RouteRequest || !c.Msg.IsRequest() {
		c.Log().Error("tmx: t_suspend: for a request, in the request route", "route", c.Route)
		return -1
	}
	if current(c) == nil {
		if rc := tm.newtran(c); rc <= 0 {
			return -1
		}
	}
	t := current(c)
	if t.final || t.suspended {
		return -1
	}
	t.suspended = true
	t.flags, t.xflags = c.Flags, c.XFlags
	// What t_continue's route starts from, as fork keeps it.
	spare := t.req[len(t.req):]
	t.ruri = append(spare[:0:cap(spare)], c.RURIText()...)
	spare = t.ruri[len(t.ruri):]
	t.carried = c.Carry(spare[:0:cap(spare)])
	c.SaveXAVPs(&t.xavps)
	fr := t.frTimer()
	if t.method == sip.MethodINVITE {
		fr = t.frInvTimer()
	}
	t.suspendTimer = time.AfterFunc(fr, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.suspended || t.removed {
			return
		}
		t.suspended = false
		w := tm.worker()
		if w == nil {
			t.startWait()
			return
		}
		defer tm.putWorker(w)
		t.replyOn(w, 408, "Request Timeout")
		t.maybeEnd()
	})
	return 1
}

// Continue resumes the suspended transaction $T(id_index), $T(id_label)
// by running route (a route[NAME], or a function of a KEMI script) on its
// request, as the request route would; it may relay or reply.
func (tm *Module) Continue(c *router.Ctx, index, label int, route string) int {
	s := &tm.byID[uint64(label)%shards]
	s.mu.Lock()
	t := s.m[uint64(label)]
	s.mu.Unlock()
	if t == nil || uint64(label)%shards != uint64(index) {
		c.Log().Error("tmx: t_continue: no transaction "+strconv.Itoa(index)+":"+strconv.Itoa(label), "route", c.Route)
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.suspended || t.removed {
		c.Log().Error("tmx: t_continue: the transaction is not suspended", "route", c.Route)
		return -1
	}
	t.suspended = false
	if t.suspendTimer != nil {
		t.suspendTimer.Stop()
	}
	w := tm.worker()
	if w == nil {
		t.startWait()
		return -1
	}
	defer tm.putWorker(w)
	rc := t.requestCtx(w)
	if rc == nil {
		return -1
	}
	rc.XFlags = t.xflags
	prevKind, prevRoute := rc.Kind, rc.Route
	rc.Kind, rc.Route = router.RouteRequest, "route["+route+"]"
	_, err := rc.RunRoute(router.RouteNamed, route)
	rc.Kind, rc.Route = prevKind, prevRoute
	if err != nil {
		rc.Log().Error("tmx: t_continue: "+err.Error(), "route", "route["+route+"]")
	}
	t.flags = rc.Flags
	rc.Finish()
	rc.Transaction = nil
	if len(t.branches) == 0 && !t.final {
		t.startWait() // neither relayed nor answered
	} else {
		t.maybeEnd()
	}
	if err != nil {
		return -1
	}
	return 1
}

// worker is a worker for the routes tm runs outside a request: one of
// the timers' when free, else a new one; nil (logged) when none can be
// made.
func (tm *Module) worker() *router.Worker {
	select {
	case w := <-tm.pool:
		w.Sync()
		return w
	default:
	}
	w, err := tm.env.NewWorker(-9)
	if err != nil {
		tm.env.Log.Error("tm: no worker for a route: " + err.Error())
		return nil
	}
	return w
}

func (tm *Module) putWorker(w *router.Worker) {
	if w == nil {
		return
	}
	select {
	case tm.pool <- w:
	default:
		w.Ctx().Finish()
	}
}

// callIDOf is the Call-ID and CSeq number of a request, for byCallID.
func callIDOf(req []byte, m *sip.Msg) ([]byte, uint32) {
	id := m.CallID()
	if i := m.Offset(id); i >= 0 && i+len(id) <= len(req) && bytes.Equal(req[i:i+len(id)], id) {
		id = req[i : i+len(id)]
	} else {
		id = bytes.Clone(id)
	}
	return id, uint32(m.CSeq())
}

// PickedReply is the reply of the branch a failure_route runs for (the
// winning one) and the request URI that branch was sent to, as uac_auth
// reads them; ok is false outside failure_route and for a status tm made
// itself (a timeout, a cancel: Kamailio's FAKED_REPLY).
func PickedReply(c *router.Ctx) (reply, uri []byte, ok bool) {
	t := current(c)
	idx := state(c).branchIdx
	if t == nil || c.Kind != router.RouteFailure || idx < 0 || idx >= len(t.branches) {
		return nil, nil, false
	}
	b := t.branches[idx]
	if b.local || len(b.reply) == 0 {
		return nil, nil, false
	}
	line, _, _ := bytes.Cut(b.out, []byte("\r\n"))
	f := bytes.Fields(line) // METHOD URI SIP/2.0
	if len(f) != 3 {
		return nil, nil, false
	}
	return b.reply, f[1], true
}

// A ReplyHook runs on each reply received for a transaction, before its
// onreply_route (Kamailio's TMCB_RESPONSE_IN), with what the request
// carried into the transaction (router.Slot.Carried reads a module's
// part): uac puts the From and To it replaced back.
type ReplyHook func(c *router.Ctx, carried []byte)

// OnReplyIn adds a hook; modules add theirs while they initialise.
func (tm *Module) OnReplyIn(h ReplyHook) { tm.replyHooks = append(tm.replyHooks, h) }

// OnReplyInXAVPs adds a hook that works on the transaction's XAVPs, not
// the reply's own, as Kamailio's pv_headers switches to them to keep a
// reply's headers in the transaction's XAVIs.
func (tm *Module) OnReplyInXAVPs(h ReplyHook) {
	tm.replyHooks = append(tm.replyHooks, h)
	tm.replyXAVPs = true
}

// RoundReply is the final answer of one branch of the round a
// failure_route runs for: its status and its reply (nil for tm's own
// 408 or 487).
type RoundReply struct {
	Status int
	Reply  []byte
}

// RoundReplies are the answers of the branches the last t_relay made
// (Kamailio's branches from the one flagged first, TM_UAC_FLAG_FB), for
// the modules that read them in failure_route (uac_redirect's 3xx
// contacts); ok is false outside failure_route.
func RoundReplies(c *router.Ctx) ([]RoundReply, bool) {
	t := current(c)
	if t == nil || c.Kind != router.RouteFailure {
		return nil, false
	}
	var out []RoundReply
	for _, b := range t.branches[min(t.round, len(t.branches)):] {
		r := RoundReply{Status: b.status}
		if !b.local && len(b.reply) > 0 {
			r.Reply = b.reply
		}
		out = append(out, r)
	}
	return out, true
}

// OnBranchRoute adds a hook run on each branch of a request, with its
// index, before its branch_route, when one runs (Kamailio's pre-script
// callbacks of branch routes: pv_headers copies the headers it collected
// for the branch there).
func (tm *Module) OnBranchRoute(h func(c *router.Ctx, idx int)) {
	tm.branchRouteHooks = append(tm.branchRouteHooks, h)
}

// OnBranchOut adds a hook run on each branch of a request, with its
// index, after its branch_route and before its request is built: what it
// changes in the message is that branch's (Kamailio's TMCB_REQUEST_FWDED:
// pv_headers applies the headers there).
func (tm *Module) OnBranchOut(h func(c *router.Ctx, idx int)) {
	tm.branchOutHooks = append(tm.branchOutHooks, h)
}

// OnReplyOut adds a hook run on a reply tm received before it is written
// for upstream, with the transaction's XAVPs as the context's (Kamailio's
// TMCB_RESPONSE_FWDED: pv_headers applies the headers it keeps there).
func (tm *Module) OnReplyOut(h func(c *router.Ctx)) { tm.replyOutHooks = append(tm.replyOutHooks, h) }

// OnRelay adds a hook run when t_relay sends a request of request_route
// on, before what the request carries into its transaction is taken
// (dialog makes the dialog of an INVITE with its dlg_flag there). Modules
// add theirs while they initialise.
func (tm *Module) OnRelay(h func(c *router.Ctx)) { tm.relayHooks = append(tm.relayHooks, h) }

// AppendBranches is t_append_branches for the transaction index:label
// (tsilo): fill adds branches to a context on the transaction's request
// (registrar's lookup_to_dset), and those not yet tried there (compared by
// URI; with contact, only that one) are sent on it. It returns the
// branches sent, -1 when there is no such transaction or none was sent,
// -2 when it was cancelled, -3 when it has its final reply, -4 when fill
// failed.
func (tm *Module) AppendBranches(index, label int, fill func(c *router.Ctx) int, contact string) int {
	s := &tm.byID[uint64(label)%shards]
	s.mu.Lock()
	t := s.m[uint64(label)]
	s.mu.Unlock()
	if t == nil || uint64(label)%shards != uint64(index) {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.removed:
		return -1
	case t.canceled:
		return -2
	case t.final || t.status >= 200:
		return -3
	}
	w := tm.worker()
	if w == nil {
		return -1
	}
	defer tm.putWorker(w)
	rc := t.requestCtx(w)
	if rc == nil {
		return -1
	}
	defer func() { rc.Finish(); rc.Transaction = nil }()
	rc.ClearBranches()
	if fill(rc) != 1 {
		return -4
	}
	tried := map[string]bool{}
	for _, b := range t.branches {
		line, _, _ := bytes.Cut(b.out, []byte("\r\n"))
		if f := bytes.Fields(line); len(f) == 3 {
			tried[string(f[1])] = true
		}
	}
	bs := append([]router.Branch(nil), rc.Branches()...)
	rc.ClearBranches()
	sent := 0
	for _, b := range bs {
		uri := string(b.URI)
		if tried[uri] || contact != "" && uri != contact {
			continue
		}
		if rc.UseBranch(b) != nil {
			continue
		}
		if t.branchOut(rc) {
			sent++
			tried[uri] = true
		}
	}
	if sent == 0 {
		return -1
	}
	return sent
}

// Sent is a message tm sent: a request on a branch, or a reply upstream
// (relayed or its own), with the socket it left from and where it went,
// and what the request carried into its transaction.
type Sent struct {
	Request bool
	Carried []byte
	Local   *transport.Listener
	Proto   sip.Transport
	Dst     netip.AddrPort
	Buf     []byte
}

// OnSend adds a hook told of each request tm sends on a branch and each
// reply it sends upstream (siptrace's transaction mode). Modules add theirs
// while they initialise; the hook runs with the transaction locked.
func (tm *Module) OnSend(h func(s *Sent)) { tm.sendHooks = append(tm.sendHooks, h) }

func (t *Trans) sent(request bool, local *transport.Listener, proto sip.Transport, dst netip.AddrPort, buf []byte) {
	for _, h := range t.tm.sendHooks {
		h(&Sent{Request: request, Carried: t.carried, Local: local, Proto: proto, Dst: dst, Buf: buf})
	}
}
