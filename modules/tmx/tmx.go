// Package tmx adds to tm what Kamailio's tmx module does: which kind of
// route is running, t_precheck_trans, and the $T_* pseudo-variables.
package tmx

import (
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
)

func init() {
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
	dispatch.RegisterLegacy(dispatch.Legacy{Name: "tmx", Stats: registerStats, Exports: []dispatch.Export{
		{Name: "t_precheck_trans", Ret: dispatch.Int, Fn: dispatch.F0(precheck), Native: "t_precheck_trans"},
		{Name: "t_is_branch_route", Ret: dispatch.Int, Fn: kind(router.RouteBranch), Native: "t_is_branch_route"},
		{Name: "t_is_failure_route", Ret: dispatch.Int, Fn: kind(router.RouteFailure), Native: "t_is_failure_route"},
		{Name: "t_is_reply_route", Ret: dispatch.Int, Fn: kind(router.RouteOnReply, router.RouteReply), Native: "t_is_reply_route"},
		{Name: "t_is_request_route", Ret: dispatch.Int, Fn: kind(router.RouteRequest), Native: "t_is_request_route"},
	}})
	router.RegisterPV("T_branch_idx", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		return router.IntValue(int64(c.TM.BranchIdx))
	}})
	router.RegisterPV("T_reply_code", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		if c.TM.ReplyCode > 0 {
			return router.IntValue(int64(c.TM.ReplyCode))
		}
		if !c.Msg.IsRequest() {
			return router.IntValue(int64(c.Msg.StatusCode()))
		}
		return router.IntValue(0)
	}})
}

// In-progress requests: t_precheck_trans marks a request while a worker
// handles it, so that a retransmission arriving before the transaction
// exists is recognised. The mark goes when the worker is done.
var inProgress = struct {
	sync.Mutex
	m map[uint64]time.Time
}{m: map[uint64]time.Time{}}

// precheck is t_precheck_trans: 1 when the request has a transaction or
// another worker is handling the same request now, else -1 (and the
// request is marked until this worker is done with it).
func precheck(c *router.Ctx) int {
	m := c.Msg
	if !m.IsRequest() || m.Method() == sip.MethodACK || m.Method() == sip.MethodCANCEL {
		return -1
	}
	if tm.Exists(c) {
		return 1
	}
	if c.TM.Precheck != 0 {
		return -1 // marked by this worker already
	}
	k, ok := tm.Key(c)
	if !ok {
		return -1
	}
	inProgress.Lock()
	defer inProgress.Unlock()
	if at, ok := inProgress.m[k]; ok && time.Since(at) < 30*time.Second {
		return 1
	}
	inProgress.m[k] = time.Now()
	c.TM.Precheck = k
	c.AtEnd(unmark)
	return -1
}

func unmark(c *router.Ctx) {
	if k := c.TM.Precheck; k != 0 {
		inProgress.Lock()
		delete(inProgress.m, k)
		inProgress.Unlock()
		c.TM.Precheck = 0
	}
}
