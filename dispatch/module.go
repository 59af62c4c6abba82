package dispatch

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
)

// Module is a built-in module as loadmodule names it.
type Module struct {
	// Name is what loadmodule names, without ".so": "sl", "kemix".
	Name string
	// KSR is the KSR submodule its exports appear under, when it differs
	// from Name ("kx" for kemix); "-" for none.
	KSR string
	// Core modules are always loaded (the core functions, hdr, pv).
	Core    bool
	Params  []Param
	Exports []Def
	// Init runs once after the module parameters are set, before workers
	// start. It may reject the parameters.
	Init func(p *Params) error
	// Start runs when the proxy starts serving (not for a config check):
	// open databases, load tables, start timers. Stop undoes it when the
	// proxy stops, in the reverse order of the modules' loading.
	Start func(env *router.Env) error
	Stop  func()
	// RPCs are the module's RPC commands and Cfg its parameters that
	// cfg.set changes at run time; both are asked for after Start (a
	// config check never sees them).
	RPCs func(env *router.Env) []RPC
	Cfg  func(env *router.Env) []CfgVar
	// Stats registers the module's statistics (readings of the counters
	// it keeps), after Start.
	Stats func(r *stats.Registry)
	// TLS, of the tls module, is the server and client TLS configuration
	// of listen=tls: sockets and TLS destinations, asked for after Init
	// and before the sockets are bound.
	TLS func() (server, client *tls.Config)
}

// Param declares a module parameter for modparam.
type Param struct {
	Name string
	Kind Kind // Int or Str
	// Multi parameters may be set several times (each value is kept).
	Multi bool
}

var (
	regMu   sync.Mutex
	modules = map[string]*Module{}
)

// Register adds a built-in module; called from the module's init. A
// duplicate module or export, or an export whose result kind does not
// match its Go function, panics: a broken module must not start.
func Register(m Module) {
	regMu.Lock()
	defer regMu.Unlock()
	if m.Name == "" {
		panic("dispatch: module without a name")
	}
	if _, dup := modules[m.Name]; dup {
		panic("dispatch: module " + m.Name + " registered twice")
	}
	seen := map[string]bool{}
	for _, d := range m.Exports {
		full := m.ksr() + "." + d.Name
		if seen[d.Name] {
			panic("dispatch: export " + full + " registered twice")
		}
		seen[d.Name] = true
		if d.Fn.call == nil {
			panic("dispatch: export " + full + " has no function")
		}
		ok := false
		switch d.Ret {
		case Int, Bool:
			ok = d.Fn.ret == retInt
		case XVal, Str:
			ok = d.Fn.ret == retValue
		case None:
			ok = d.Fn.ret == retNone
		}
		if !ok {
			panic(fmt.Sprintf("dispatch: export %s declares a %s result but its Go function does not return one", full, d.Ret))
		}
	}
	for _, p := range m.Params {
		if p.Kind != Int && p.Kind != Str {
			panic("dispatch: parameter " + m.Name + "." + p.Name + " must be int or str")
		}
	}
	mm := m
	mm.Exports = append([]Def(nil), m.Exports...)
	for i := range mm.Exports {
		if d := &mm.Exports[i]; d.NativeOnly && d.Native == "" {
			d.Native = d.Name // a native-only function is known by its name
		}
	}
	modules[m.Name] = &mm
}

func (m *Module) ksr() string {
	if m.KSR == "-" {
		return ""
	}
	if m.KSR != "" {
		return m.KSR
	}
	return m.Name
}

// ModuleNames lists the built-in modules.
func ModuleNames() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for n, m := range modules {
		if !m.Core {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// LookupModule finds a built-in module by the name loadmodule gives:
// "sl", "sl.so", "/usr/lib/kamailio/modules/sl.so".
func LookupModule(name string) (*Module, bool) {
	name = ModuleName(name)
	regMu.Lock()
	defer regMu.Unlock()
	m, ok := modules[name]
	return m, ok
}

// ModuleName strips a path and ".so" from a loadmodule argument.
func ModuleName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, ".so")
}

// Params holds the modparam values of one module.
type Params struct {
	module string
	vals   map[string][]router.Value
}

// Int returns the last int value set for name, or def.
func (p *Params) Int(name string, def int) int {
	if v := p.vals[name]; len(v) > 0 {
		return int(v[len(v)-1].I)
	}
	return def
}

// Str returns the last string value set for name, or def.
func (p *Params) Str(name, def string) string {
	if v := p.vals[name]; len(v) > 0 {
		return v[len(v)-1].S
	}
	return def
}

// All returns every value set for a Multi parameter, in order.
func (p *Params) All(name string) []router.Value { return p.vals[name] }

// IsSet reports whether modparam set name.
func (p *Params) IsSet(name string) bool { return len(p.vals[name]) > 0 }

// NativeOwner names the registered module that declares a native function,
// loaded or not, so that an error can say which loadmodule is missing.
func NativeOwner(native string) (string, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, m := range modules {
		for _, d := range m.Exports {
			if d.Native == native {
				return m.Name, true
			}
		}
	}
	return "", false
}

// FindScript resolves a routing script named by a module parameter
// (app_lua's "load", ...): as given when it exists or is absolute, else
// next to the config file when it is there.
func FindScript(name, cfgFile string) string {
	if filepath.IsAbs(name) || cfgFile == "" {
		return name
	}
	if _, err := os.Stat(name); err == nil {
		return name
	}
	if alt := filepath.Join(filepath.Dir(cfgFile), name); fileExists(alt) {
		return alt
	}
	return name
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
