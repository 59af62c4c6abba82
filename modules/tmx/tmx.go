// Package tmx adds to tm what Kamailio's tmx module does: which kind of
// route is running, t_precheck_trans, and the $T_* pseudo-variables.
package tmx

import (
	"errors"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "tmx", New: func() dispatch.Module { return &Module{inProgress: map[uint64]time.Time{}} }})
	router.RegisterPV("T_branch_idx", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		return router.IntValue(int64(tm.BranchIndex(c)))
	}})
	// $T(name): the transaction's ids (for t_continue), reply code and
	// branch index.
	router.RegisterPV("T", router.PVClass{Arg: true, Parse: func(pv *router.PV) error {
		switch pv.Arg {
		case "id_index", "id_label", "reply_code", "branch_index":
			return nil
		}
		return errUnknownT
	}, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		switch pv.Arg {
		case "reply_code":
			return router.IntValue(int64(tm.ReplyCode(c)))
		case "branch_index":
			return router.IntValue(int64(tm.BranchIndex(c)))
		}
		index, label, ok := tm.IDs(c)
		if !ok {
			return router.Value{}
		}
		if pv.Arg == "id_index" {
			return router.IntValue(index)
		}
		return router.IntValue(label)
	}})
	router.RegisterPV("T_reply_code", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		if code := tm.ReplyCode(c); code > 0 {
			return router.IntValue(int64(code))
		}
		if !c.Msg.IsRequest() {
			return router.IntValue(int64(c.Msg.StatusCode()))
		}
		return router.IntValue(0)
	}})
}

var errUnknownT = errors.New("$T(name): id_index, id_label, reply_code or branch_index")

// precheck is the key t_precheck_trans marked as in progress on a
// request, 0 if none.
type precheckKey struct{ key uint64 }

func (p *precheckKey) Reset() { p.key = 0 }

var marked = router.NewSlot[precheckKey]()

// Module is the tmx module of one proxy: the requests t_precheck_trans
// marked, and the tm it works with.
type Module struct {
	tm *tm.Module
	// In-progress requests: t_precheck_trans marks a request while a
	// worker handles it, so that a retransmission arriving before the
	// transaction exists is recognised. The mark goes when the worker is
	// done.
	mu         sync.Mutex
	inProgress map[uint64]time.Time
	unmark     func(*router.Ctx) // made once: AtEnd takes it per request
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// Init binds tm.
func (m *Module) Init(p *dispatch.Params) error {
	var err error
	m.tm, err = dispatch.Need[*tm.Module](p, "tm")
	m.unmark = m.unmarkRequest
	return err
}

// Exports are KSR.tmx. They reach tm through m.tm, bound by Init (after
// Exports is called): closures, not method values.
func (m *Module) Exports() []dispatch.Export {
	kind := func(kinds ...router.RouteKind) dispatch.Func {
		return dispatch.F0(func(c *router.Ctx) int {
			for _, k := range kinds {
				if c.Kind == k {
					return 1
				}
			}
			return -1
		})
	}
	return []dispatch.Export{
		{Name: "t_precheck_trans", Ret: dispatch.Int, Fn: dispatch.F0(m.precheck)},
		{Name: "t_is_branch_route", Ret: dispatch.Int, Fn: kind(router.RouteBranch)},
		{Name: "t_is_failure_route", Ret: dispatch.Int, Fn: kind(router.RouteFailure)},
		{Name: "t_is_reply_route", Ret: dispatch.Int, Fn: kind(router.RouteOnReply, router.RouteReply)},
		{Name: "t_is_request_route", Ret: dispatch.Int, Fn: kind(router.RouteRequest)},
		{Name: "t_cancel_branches", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, which string) int { return m.tm.CancelBranches(c, which) })},
		{Name: "t_cancel_callid", Ret: dispatch.Int, Fn: dispatch.FSSI(func(c *router.Ctx, callID, cseq string, flag int) int {
			return m.tm.CancelCallID(c, callID, cseq, flag, 0)
		})},
		{Name: "t_cancel_callid_reason", Native: "t_cancel_callid", Ret: dispatch.Int, Fn: dispatch.FSSII(func(c *router.Ctx, id, cseq string, flag, rcode int) int {
			return m.tm.CancelCallID(c, id, cseq, flag, rcode)
		})},
		{Name: "t_reply_callid", Ret: dispatch.Int, Fn: dispatch.FSSIS(func(c *router.Ctx, id, cseq string, code int, reason string) int {
			return m.tm.ReplyCallID(c, id, cseq, code, reason)
		})},
		{Name: "t_drop", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.tm.Drop(c, 500) })},
		{Name: "t_drop_rcode", Native: "t_drop", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, rcode int) int { return m.tm.Drop(c, rcode) })},
		{Name: "t_flush_flags", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.tm.FlushFlags(c, false) })},
		{Name: "t_flush_xflags", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.tm.FlushFlags(c, true) })},
		{Name: "t_reuse_branch", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.tm.ReuseBranch(c) })},
		{Name: "t_suspend", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.tm.Suspend(c) })},
		{Name: "t_continue", Ret: dispatch.Int, Fn: dispatch.FIIS(func(c *router.Ctx, index, label int, route string) int { return m.tm.Continue(c, index, label, route) })},
	}
}

// precheck is t_precheck_trans: 1 when the request has a transaction or
// another worker is handling the same request now, else -1 (and the
// request is marked until this worker is done with it).
func (mod *Module) precheck(c *router.Ctx) int {
	m := c.Msg
	if !m.IsRequest() || m.Method() == sip.MethodACK || m.Method() == sip.MethodCANCEL {
		return -1
	}
	if mod.tm.Exists(c) {
		return 1
	}
	if marked.Of(c).key != 0 {
		return -1 // marked by this worker already
	}
	k, ok := tm.Key(c)
	if !ok {
		return -1
	}
	mod.mu.Lock()
	defer mod.mu.Unlock()
	if at, ok := mod.inProgress[k]; ok && time.Since(at) < 30*time.Second {
		return 1
	}
	mod.inProgress[k] = time.Now()
	marked.Of(c).key = k
	c.AtEnd(mod.unmark)
	return -1
}

func (mod *Module) unmarkRequest(c *router.Ctx) {
	if p := marked.Of(c); p.key != 0 {
		mod.mu.Lock()
		delete(mod.inProgress, p.key)
		mod.mu.Unlock()
		p.key = 0
	}
}
