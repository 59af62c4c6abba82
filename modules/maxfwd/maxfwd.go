// Package maxfwd checks and decrements Max-Forwards, like Kamailio's
// maxfwd module.
package maxfwd

import (
	"fmt"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "maxfwd",
		Params: []dispatch.Param{{Name: "max_limit", Kind: dispatch.Int}},
		New:    func() dispatch.Module { return &Module{maxLimit: 70} },
	})
}

// Module is the maxfwd module of one proxy.
type Module struct {
	maxLimit int // caps the value a forwarded request carries (max_limit)
}

var _ dispatch.Initializer = (*Module)(nil)

// Init reads max_limit.
func (mf *Module) Init(p *dispatch.Params) error {
	mf.maxLimit = p.Int("max_limit", 70)
	if mf.maxLimit < 1 || mf.maxLimit > 255 {
		return fmt.Errorf("max_limit %d: must be 1 to 255", mf.maxLimit)
	}
	return nil
}

// Exports are KSR.maxfwd.
func (mf *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "process_maxfwd", Ret: dispatch.Int, Fn: dispatch.FI(mf.Process), Native: "mf_process_maxfwd_header"},
		{Name: "is_maxfwd_lt", Ret: dispatch.Int, Fn: dispatch.FI(isLess)},
	}
}

// Process adds Max-Forwards: limit when the request has none (2), or
// decrements it (1); a value of 0 returns -1 (the script answers 483).
// A value above max_limit is lowered to it.
func (mf *Module) Process(c *router.Ctx, limit int) int {
	m := c.Msg
	if !m.IsRequest() {
		return -2
	}
	if limit < 0 || limit > 255 {
		c.Log().Error("maxfwd: invalid limit", "limit", limit, "route", c.Route)
		return -2
	}
	v := m.MaxForwards()
	switch {
	case v < 0:
		if err := m.SetMaxForwards(min(limit, mf.maxLimit)); err != nil {
			return -2
		}
		return 2
	case v == 0:
		return -1
	}
	if v > mf.maxLimit {
		v = mf.maxLimit + 1
	}
	if err := m.SetMaxForwards(v - 1); err != nil {
		return -2
	}
	return 1
}

// isLess is 1 when Max-Forwards is below n, -1 when not, -2 when absent.
func isLess(c *router.Ctx, n int) int {
	v := c.Msg.MaxForwards()
	switch {
	case v < 0:
		return -2
	case v < n:
		return 1
	}
	return -1
}
