// Package statistics is Kamailio's statistics module: counters a script
// declares (modparam("statistics", "variable", "name")) and changes with
// update_stat / reset_stat; they are in the "script" group.
package statistics

import (
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

var (
	mu       sync.Mutex
	declared []string
)

func init() {
	dispatch.RegisterLegacy(dispatch.Legacy{Name: "statistics",
		Params: []dispatch.Param{{Name: "variable", Kind: dispatch.Str, Multi: true}},
		Init: func(p *dispatch.Params) error {
			mu.Lock()
			defer mu.Unlock()
			declared = declared[:0]
			for _, v := range p.All("variable") {
				name, _, _ := strings.Cut(v.S, "/") // "name/no_reset"
				declared = append(declared, strings.TrimSpace(name))
			}
			return nil
		},
		Stats: func(r *stats.Registry) {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range declared {
				r.Var("script", n, "declared by modparam(\"statistics\", \"variable\")", stats.Counter)
			}
		},
		Exports: []dispatch.Export{
			{Name: "update_stat", Ret: dispatch.Int, Fn: dispatch.FSI(update), Native: "update_stat"},
			{Name: "reset_stat", Ret: dispatch.Int, Fn: dispatch.FS(reset), Native: "reset_stat"},
		},
	})
}

// find is the statistic a script names: one of any group, or a new
// script counter.
func find(c *router.Ctx, name string) *stats.Stat {
	r := c.Env().Statistics()
	if s, ok := r.Get(name); ok {
		return s
	}
	return r.Var("script", name, "made by update_stat", stats.Counter)
}

func update(c *router.Ctx, name string, n int) int {
	if !find(c, name).Add(int64(n)) {
		c.Log().Error("update_stat: a module's statistic cannot be changed", "stat", name)
		return -1
	}
	return 1
}

func reset(c *router.Ctx, name string) int {
	find(c, name).Reset()
	return 1
}
