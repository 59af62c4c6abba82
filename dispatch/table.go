package dispatch

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
)

// TableSize is the number of slots of the export table, as Kamailio's
// SR_KEMI_LUA_EXPORT_SIZE.
const TableSize = 1024

// Table holds the exports of the loaded modules at fixed indexes. It is
// built once at start-up and read-only afterwards.
type Table struct {
	entries [TableSize]Export
	n       int
	byName  map[string]int
	natives map[string][]int // several for a function with optional parameters
	loaded  []loaded
	mods    map[string]Module // the loaded modules by name, for Module
	params  map[string]*Params
	started bool
	rpc     rpcs
	cfg     []CfgVar
	custom  map[string]*atomic.Value // the config's own cfg vars, by "group.name"
}

// loaded is a module the config loaded: its registration and its value.
type loaded struct {
	info *ModuleInfo
	mod  Module
}

// Load names a module to load and where the config did so.
type Load struct {
	Name  string // as written: "sl.so"
	Where string // "kamailio.cfg:12:1", for errors
}

// Setting is one modparam.
type Setting struct {
	Module string // a name or names joined by '|'
	Name   string
	Value  router.Value
	Where  string
}

func where(w string) string {
	if w == "" {
		return ""
	}
	return w + ": "
}

// FromConfig builds the table of a parsed config: its loadmodule lines
// with its modparams.
func FromConfig(c *cfg.Config) (*Table, error) {
	loads := make([]Load, len(c.Modules))
	for i, m := range c.Modules {
		loads[i] = Load{Name: m.Name, Where: m.Pos.String()}
	}
	settings := make([]Setting, len(c.Params))
	for i, p := range c.Params {
		v := router.StrValue(p.Str)
		if p.IsInt {
			v = router.IntValue(p.Int)
		}
		settings[i] = Setting{Module: p.Module, Name: p.Name, Value: v, Where: p.Pos.String()}
	}
	t, err := Build(loads, settings)
	if err != nil {
		return nil, err
	}
	t.addCustomCfg(c.Globals)
	return t, nil
}

// Build loads the core modules and the named ones, applies the module
// parameters, runs each module's Init and fills the table.
func Build(loads []Load, settings []Setting) (*Table, error) {
	t := &Table{byName: map[string]int{}, natives: map[string][]int{}, params: map[string]*Params{}, mods: map[string]Module{}}
	regMu.Lock()
	var core []*ModuleInfo
	for _, m := range modules {
		if m.Core {
			core = append(core, &m.ModuleInfo)
		}
	}
	regMu.Unlock()
	sort.Slice(core, func(i, j int) bool { return core[i].Name < core[j].Name })
	for _, m := range core {
		t.add(m)
	}
	for _, l := range loads {
		m, ok := LookupModule(l.Name)
		if !ok {
			return nil, fmt.Errorf("%sloadmodule %q: no such module; built in: %s", where(l.Where), l.Name, strings.Join(ModuleNames(), ", "))
		}
		t.add(m)
	}
	for _, s := range settings {
		if err := t.set(s); err != nil {
			return nil, err
		}
	}
	for _, l := range t.loaded {
		exports := l.mod.Exports()
		if err := checkExports(l.info, exports); err != nil {
			return nil, fmt.Errorf("dispatch: %w", err)
		}
		for _, e := range exports {
			if t.n == TableSize {
				return nil, fmt.Errorf("dispatch: more than %d exports loaded (at %s.%s)", TableSize, l.info.ksr(), e.Name)
			}
			e.Module, e.Params = l.info.ksrOf(&e), e.Fn.params
			t.entries[t.n] = e
			if !e.NativeOnly {
				t.byName[e.FullName()] = t.n
			}
			if native := e.NativeName(); native != "" {
				t.addNative(native, t.n)
			}
			t.n++
		}
	}
	for _, l := range t.loaded {
		if m, ok := l.mod.(Initializer); ok {
			if err := m.Init(t.params[l.info.Name]); err != nil {
				return nil, moduleError(l.info.Name, err)
			}
		}
	}
	return t, nil
}

func (t *Table) add(m *ModuleInfo) {
	if _, dup := t.params[m.Name]; dup {
		return // loaded twice: Kamailio warns and goes on
	}
	mod := m.New()
	t.loaded = append(t.loaded, loaded{m, mod})
	t.mods[m.Name] = mod
	t.params[m.Name] = &Params{module: m.Name, vals: map[string][]router.Value{}, table: t}
}

// addNative files export i under its native name: a declared native name
// before those taken from KEMI names, else in load order.
func (t *Table) addNative(name string, i int) {
	l := t.natives[name]
	at := len(l)
	if t.entries[i].explicitNative() {
		for at > 0 && !t.entries[l[at-1]].explicitNative() {
			at--
		}
	}
	t.natives[name] = slices.Insert(l, at, i)
}

// FindModule is Module for router.Env, which does not know dispatch.
func (t *Table) FindModule(name string) any {
	if m := t.Module(name); m != nil {
		return m
	}
	return nil
}

// Module is the value of a loaded module, nil when it is not loaded. The
// pseudo-variables of modules ($sht, $dlg, $shv, ...) find theirs so on
// every read: a map lookup, the name as loadmodule writes it taken apart
// only when it is not a plain name.
func (t *Table) Module(name string) Module {
	if m, ok := t.mods[name]; ok {
		return m
	}
	return t.mods[ModuleName(name)]
}

func (t *Table) set(s Setting) error {
	matched, declared := false, false
	for _, name := range strings.Split(s.Module, "|") {
		name = strings.TrimSpace(name)
		for _, l := range t.loaded {
			m := l.info
			if m.Name != name {
				continue
			}
			matched = true
			for _, p := range m.Params {
				if p.Name != s.Name {
					continue
				}
				declared = true
				v := s.Value
				switch {
				case p.Kind == Int && v.Kind != router.Int:
					return fmt.Errorf("%smodparam(%q, %q): wants an int, got the string %q", where(s.Where), s.Module, s.Name, v.String())
				case p.Kind == Str && v.Kind == router.Int:
					v = router.StrValue(v.String())
				}
				ps := t.params[m.Name]
				if p.Multi {
					ps.vals[p.Name] = append(ps.vals[p.Name], v)
				} else {
					ps.vals[p.Name] = []router.Value{v}
				}
			}
		}
	}
	if !matched {
		return fmt.Errorf("%smodparam(%q, %q): module not loaded", where(s.Where), s.Module, s.Name)
	}
	if !declared {
		return fmt.Errorf("%smodparam(%q, %q): no such parameter%s", where(s.Where), s.Module, s.Name, t.paramList(s.Module))
	}
	return nil
}

func (t *Table) paramList(mods string) string {
	var names []string
	for _, name := range strings.Split(mods, "|") {
		if m, ok := LookupModule(strings.TrimSpace(name)); ok {
			for _, p := range m.Params {
				names = append(names, p.Name+" ("+p.Kind.String()+")")
			}
		}
	}
	if len(names) == 0 {
		return " (the module has none)"
	}
	return "; it has: " + strings.Join(names, ", ")
}

// moduleError names the module an error of its start came from, unless
// the error does already ("usrloc: preload ...").
func moduleError(name string, err error) error {
	if strings.HasPrefix(err.Error(), name+":") {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Start runs the Start step of every loaded module, in load order. When
// one fails, those already started are stopped.
func (t *Table) Start(env *router.Env) error {
	env.RPC, env.Modules = t, t
	if err := t.addSystemRPCs(); err != nil {
		return err
	}
	for i, l := range t.loaded {
		if m, ok := l.mod.(Starter); ok {
			if err := m.Start(env); err != nil {
				t.stopFrom(i - 1)
				return moduleError(l.info.Name, err)
			}
		}
		if err := t.startRPCs(l.mod, env); err != nil {
			t.stopFrom(i)
			return moduleError(l.info.Name, err)
		}
	}
	t.started = true
	return nil
}

// Stop runs the Stop step of the started modules, last loaded first.
func (t *Table) Stop() {
	if t.started {
		t.started = false
		t.stopFrom(len(t.loaded) - 1)
	}
}

func (t *Table) stopFrom(i int) {
	for ; i >= 0; i-- {
		if m, ok := t.loaded[i].mod.(Stopper); ok {
			m.Stop()
		}
	}
}

// Len is the number of exports in the table.
func (t *Table) Len() int { return t.n }

// At returns the export at index i.
func (t *Table) At(i int) *Export { return &t.entries[i] }

// Lookup finds an export by KSR submodule and name.
func (t *Table) Lookup(module, name string) (int, bool) {
	key := name
	if module != "" {
		key = module + "." + name
	}
	i, ok := t.byName[key]
	return i, ok
}

// Native finds an export by its native-language name.
func (t *Table) Native(name string) (int, bool) {
	if l := t.natives[name]; len(l) > 0 {
		return l[0], true
	}
	return 0, false
}

// NativeArgs finds the export of a native name that takes n parameters
// (save("location") and save("location", "0x02") are two), else the
// first of that name.
func (t *Table) NativeArgs(name string, n int) (int, bool) {
	for _, i := range t.natives[name] {
		if len(t.entries[i].Params) == n {
			return i, true
		}
	}
	return t.Native(name)
}

// Submodules lists the KSR submodules that have exports ("" for the
// core functions), sorted.
func (t *Table) Submodules() []string {
	seen := map[string]bool{}
	var out []string
	for i := 0; i < t.n; i++ {
		if t.entries[i].NativeOnly {
			continue
		}
		if m := t.entries[i].Module; !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Loaded reports whether a module (by loadmodule name) is loaded.
func (t *Table) Loaded(name string) bool {
	_, ok := t.params[ModuleName(name)]
	return ok
}

// TLS is the TLS configuration of the loaded module that has one (the
// tls module), nil when none is loaded.
func (t *Table) TLS() (server, client *tls.Config, err error) {
	for _, l := range t.loaded {
		if m, ok := l.mod.(TLSProvider); ok {
			if server, client, err = m.TLS(); err != nil || server != nil || client != nil {
				return server, client, err
			}
		}
	}
	return nil, nil, nil
}

// Params returns the parameters of a loaded module, nil when it is not.
func (t *Table) Params(module string) *Params { return t.params[module] }

// APIEntry is one line of api_list.
type APIEntry struct {
	Module string   `json:"module"`
	Name   string   `json:"name"`
	Ret    string   `json:"ret"`
	Params []string `json:"params"`
}

// APIList lists the exports in table order.
func (t *Table) APIList() []APIEntry {
	out := make([]APIEntry, 0, t.n)
	for i := 0; i < t.n; i++ {
		e := &t.entries[i]
		if e.NativeOnly {
			continue
		}
		ps := make([]string, len(e.Params))
		for j, k := range e.Params {
			ps[j] = k.String()
		}
		out = append(out, APIEntry{Module: e.Module, Name: e.Name, Ret: e.Ret.String(), Params: ps})
	}
	return out
}

// APIListReply is api_list as Kamailio's app_*.api_list RPC shapes it:
// {"msize": N, "methods": [{"func": {...}}, ...]}.
type APIListReply struct {
	MSize   int         `json:"msize"`
	Methods []APIMethod `json:"methods"`
}

// APIMethod is one entry of APIListReply.
type APIMethod struct {
	Func APIEntry `json:"func"`
}

// APIListReply lists the exports for the api_list RPCs.
func (t *Table) APIListReply() APIListReply {
	list := t.APIList()
	methods := make([]APIMethod, len(list))
	for i, e := range list {
		methods[i] = APIMethod{e}
	}
	return APIListReply{len(list), methods}
}

// APIListJSON is APIListReply as indented JSON.
func (t *Table) APIListJSON() ([]byte, error) {
	return json.MarshalIndent(t.APIListReply(), "", "  ")
}
