// Package counters keeps counters a config declares, like Kamailio's
// counters module: modparam("counters", "script_counter", "name
// description") declares one, cnt_inc/cnt_add/cnt_reset change it, the
// cnt.* RPC commands read it. They are statistics of the proxy's registry
// too (group "script" unless named "group.name").
package counters

import (
	"errors"
	"sort"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "counters",
		Params: []dispatch.Param{
			{Name: "script_cnt_grp_name", Kind: dispatch.Str, Default: "script", Doc: "the group of counters declared without one"},
			{Name: "script_counter", Kind: dispatch.Str, Multi: true, Doc: `declares a counter: "[group.]name [description]"`},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// counter is one declared counter.
type counter struct {
	group, name, help string
	stat              *stats.Stat // set by RegisterStats
}

// Module is the counters module of one proxy: the counters its config
// declares, by "group.name".
type Module struct {
	group    string
	declared []*counter
	// byName finds a counter as scripts name it: "group.name", and
	// "name" alone for the default group's; read-only once it serves.
	byName map[string]*counter
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
)

// Init reads the declared counters, as Kamailio's add_script_counter:
// "name", "name description", "group.name: description".
func (m *Module) Init(p *dispatch.Params) error {
	m.group = p.Str("script_cnt_grp_name", "script")
	m.byName = map[string]*counter{}
	for _, v := range p.All("script_counter") {
		spec := v.S
		help := "custom script counter."
		if i := strings.IndexAny(spec, ": "); i >= 0 {
			if d := strings.TrimLeft(spec[i+1:], " \t"); d != "" {
				help = d
			}
			spec = spec[:i]
		}
		grp, name := m.split(spec)
		if name == "" {
			return errors.New("script_counter " + v.S + ": no counter name")
		}
		if m.byName[grp+"."+name] != nil {
			continue // Kamailio says "already registered" and goes on
		}
		c := &counter{group: grp, name: name, help: help}
		m.declared = append(m.declared, c)
		m.byName[grp+"."+name] = c
		if grp == m.group {
			m.byName[name] = c
		}
	}
	return nil
}

// split reads "group.name" or a name of the default group.
func (m *Module) split(s string) (group, name string) {
	if g, n, ok := strings.Cut(s, "."); ok {
		return g, n
	}
	return m.group, s
}

// RegisterStats makes the declared counters statistics of the proxy.
func (m *Module) RegisterStats(r *stats.Registry) {
	for _, c := range m.declared {
		c.stat = r.Var(c.group, c.name, c.help, stats.Counter)
	}
}

// Exports are KSR.counters and the native cnt_* functions.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "add", Ret: dispatch.Int, Fn: dispatch.FSI(m.add), Native: "cnt_add"},
		{Name: "inc", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int { return m.add(c, name, 1) }), Native: "cnt_inc"},
		{Name: "reset", Ret: dispatch.Int, Fn: dispatch.FS(m.reset), Native: "cnt_reset"},
	}
}

// find is a declared counter by "group.name" or name; nil (logged) when
// the config does not declare it.
func (m *Module) find(c *router.Ctx, fn, s string) *counter {
	cn := m.byName[s]
	if cn == nil || cn.stat == nil {
		g, n := m.split(s)
		c.Log().Error("counters: "+fn+": counter "+g+"."+n+" does not exist (forgot to define it?)", "route", c.Route)
		return nil
	}
	return cn
}

func (m *Module) add(c *router.Ctx, name string, n int) int {
	cn := m.find(c, "cnt_add", name)
	if cn == nil {
		return -1
	}
	cn.stat.Add(int64(n))
	return 1
}

func (m *Module) reset(c *router.Ctx, name string) int {
	cn := m.find(c, "cnt_reset", name)
	if cn == nil {
		return -1
	}
	cn.stat.Reset()
	return 1
}

// RPCs are Kamailio's cnt.* commands, over every statistic of the proxy
// (Kamailio's statistics are counters too).
func (m *Module) RPCs(env *router.Env) []dispatch.RPC {
	reg := env.Statistics()
	one := func(p []any) (*stats.Stat, error) {
		g, err := dispatch.ParamStr(p, 0, "group")
		if err != nil {
			return nil, err
		}
		n, err := dispatch.ParamStr(p, 1, "counter")
		if err != nil {
			return nil, err
		}
		s, ok := reg.Get(g + ":" + n)
		if !ok {
			return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "non-existent counter %s.%s", g, n)
		}
		return s, nil
	}
	get := func(p []any) (any, error) {
		s, err := one(p)
		if err != nil {
			return nil, err
		}
		return s.Value(), nil
	}
	groups := func([]any) (any, error) {
		seen := map[string]bool{}
		out := []string{}
		for _, s := range reg.All() {
			if !seen[s.Group] {
				seen[s.Group] = true
				out = append(out, s.Group)
			}
		}
		sort.Strings(out)
		return out, nil
	}
	inGroup := func(p []any) ([]*stats.Stat, error) {
		g, err := dispatch.ParamStr(p, 0, "group")
		if err != nil {
			return nil, err
		}
		var out []*stats.Stat
		for _, s := range reg.All() {
			if s.Group == g {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "group not found: %s", g)
		}
		return out, nil
	}
	vars := func(p []any) (any, error) {
		ss, err := inGroup(p)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out, nil
	}
	all := func(p []any) (any, error) {
		ss, err := inGroup(p)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		for _, s := range ss {
			out[s.Name] = s.Value()
		}
		return out, nil
	}
	return []dispatch.RPC{
		{Name: "cnt.get", Doc: "a counter's value: cnt.get GROUP NAME", Fn: get},
		{Name: "cnt.get_raw", Doc: "a counter's value: cnt.get_raw GROUP NAME", Fn: get},
		{Name: "cnt.reset", Doc: "reset a counter: cnt.reset GROUP NAME", Fn: func(p []any) (any, error) {
			s, err := one(p)
			if err != nil {
				return nil, err
			}
			s.Reset()
			return 0, nil
		}},
		{Name: "cnt.list_groups", Doc: "the counter groups", Fn: groups},
		{Name: "cnt.grps_list", Doc: "the counter groups", Fn: groups},
		{Name: "cnt.list_vars", Doc: "the counters of a group: cnt.list_vars GROUP", Fn: vars},
		{Name: "cnt.var_list", Doc: "the counters of a group: cnt.var_list GROUP", Fn: vars},
		{Name: "cnt.get_vars", Doc: "the counters of a group and their values: cnt.get_vars GROUP", Fn: all},
		{Name: "cnt.grp_get_all", Doc: "the counters of a group and their values: cnt.grp_get_all GROUP", Fn: all},
		{Name: "cnt.help", Doc: "a counter's description: cnt.help GROUP NAME", Fn: func(p []any) (any, error) {
			s, err := one(p)
			if err != nil {
				return nil, err
			}
			return s.Help, nil
		}},
	}
}
