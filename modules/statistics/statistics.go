// Package statistics is Kamailio's statistics module: counters a script
// declares (modparam("statistics", "variable", "name")) and changes with
// update_stat / reset_stat; they are in the "script" group.
package statistics

import (
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "statistics",
		Params: []dispatch.Param{{Name: "variable", Kind: dispatch.Str, Multi: true}},
		New:    func() dispatch.Module { return &Module{} },
	})
}

// Module is the statistics module of one proxy: the counters its config
// declares.
type Module struct {
	declared []string
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// Init reads the declared variables.
func (m *Module) Init(p *dispatch.Params) error {
	for _, v := range p.All("variable") {
		name, _, _ := strings.Cut(v.S, "/") // "name/no_reset"
		m.declared = append(m.declared, strings.TrimSpace(name))
	}
	return nil
}

// RegisterStats makes the declared counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	for _, n := range m.declared {
		r.Var("script", n, "declared by modparam(\"statistics\", \"variable\")", stats.Counter)
	}
}

// Exports are KSR.statistics.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "update_stat", Ret: dispatch.Int, Fn: dispatch.FSI(update)},
		{Name: "reset_stat", Ret: dispatch.Int, Fn: dispatch.FS(reset)},
	}
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
