// Package kex is Kamailio's kex module. Most of its script functions
// (setflag, km_append_branch, ...) are the core functions here; what it
// adds is the statistics (the stats.* RPC commands, $stat) and a
// worker's own log level (setdebug, resetdebug).
package kex

import (
	"strconv"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "kex", New: func() dispatch.Module { return Module{} }})
	router.RegisterPV("stat", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		if s, ok := c.Env().Statistics().Get(pv.Arg); ok {
			return router.IntValue(s.Value())
		}
		return router.Value{}
	}})
}

// Module is the kex module; the statistics are the proxy's.
type Module struct{}

var _ dispatch.RPCProvider = Module{}

// Exports are KSR.kex: the worker's own log level. kex's other
// functions (setflag, km_append_branch, ...) are the core's.
func (Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "setdebug", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, d int) int { c.W.SetDebug(d, false); return 1 })},
		{Name: "resetdebug", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { c.W.SetDebug(0, true); return 1 })},
	}
}

// RPCs are the stats.* commands.
func (Module) RPCs(env *router.Env) []dispatch.RPC {
	reg := env.Statistics()
	// each runs over the statistics every parameter names (none: all).
	each := func(p []any, f func(*stats.Stat)) error {
		if len(p) == 0 {
			p = []any{"all"}
		}
		for i := range p {
			arg, err := dispatch.ParamStr(p, i, "statistic")
			if err != nil {
				return err
			}
			sel, err := reg.Select(arg)
			if err != nil {
				return dispatch.RPCErrorf(dispatch.RPCBadRequest, "%v", err)
			}
			if len(sel) == 0 {
				return dispatch.RPCErrorf(dispatch.RPCNotFound, "statistic not found: %s", arg)
			}
			for _, s := range sel {
				f(s)
			}
		}
		return nil
	}
	return []dispatch.RPC{
		{Name: "stats.get_statistics", Doc: `statistics as "group:name = value": all, group:, group:name, name or a pattern`, Fn: func(p []any) (any, error) {
			out := []string{}
			err := each(p, func(s *stats.Stat) { out = append(out, s.FullName()+" = "+strconv.FormatInt(s.Value(), 10)) })
			return out, err
		}},
		{Name: "stats.fetch", Doc: `statistics as an object {"group.name": "value"}`, Fn: func(p []any) (any, error) {
			out := map[string]string{}
			err := each(p, func(s *stats.Stat) { out[s.Group+"."+s.Name] = strconv.FormatInt(s.Value(), 10) })
			return out, err
		}},
		{Name: "stats.reset_statistics", Doc: "zero counters (gauges keep their values)", Fn: func(p []any) (any, error) {
			return nil, each(p, (*stats.Stat).Reset)
		}},
		{Name: "stats.clear_statistics", Doc: "return statistics and zero them", Fn: func(p []any) (any, error) {
			out := []string{}
			err := each(p, func(s *stats.Stat) {
				out = append(out, s.FullName()+" = "+strconv.FormatInt(s.Value(), 10))
				s.Reset()
			})
			return out, err
		}},
	}
}
