package dispatch

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
)

// ModuleInfo registers a built-in module as loadmodule names it. Loading
// it makes a fresh value with New: the value owns the module's
// parameters and state, and the proxy that loaded it starts and stops it,
// so that two proxies in one process share nothing.
type ModuleInfo struct {
	// Name is what loadmodule names, without ".so": "sl", "kemix".
	Name string
	// KSR is the KSR submodule its exports appear under, when it differs
	// from Name ("kx" for kemix); "-" for none (the core functions).
	KSR string
	// Core modules are always loaded (the core functions, hdr, pv).
	Core   bool
	Params []Param
	// New makes an unconfigured module: cheap and without side effects
	// (no files, sockets or goroutines before Start), since listing the
	// registered functions makes one too.
	New func() Module
}

// Module is a loaded module. Exports lists its KEMI functions, bound to
// the value. The life-cycle steps are optional interfaces: Initializer,
// Starter, Stopper, RPCProvider, CfgProvider, StatsProvider,
// TLSProvider.
type Module interface {
	Exports() []Export
}

// Initializer takes the module parameters once they are set, before
// workers start (a config check runs it too). It may reject them.
type Initializer interface {
	Init(p *Params) error
}

// Starter runs when the proxy starts serving (not for a config check):
// open databases, load tables, start timers.
type Starter interface {
	Start(env *router.Env) error
}

// Stopper undoes Start when the proxy stops, last loaded module first.
type Stopper interface {
	Stop()
}

// RPCProvider gives the module's RPC commands, asked for after Start.
type RPCProvider interface {
	RPCs(env *router.Env) []RPC
}

// CfgProvider gives the parameters cfg.set changes at run time, asked for
// after Start.
type CfgProvider interface {
	Cfg(env *router.Env) []CfgVar
}

// StatsProvider registers the module's statistics (readings of the
// counters it keeps), after Start.
type StatsProvider interface {
	RegisterStats(r *stats.Registry)
}

// TLSProvider, the tls module, gives the server and client TLS
// configuration of listen=tls: sockets and TLS destinations; asked for
// when the proxy starts, before the sockets are bound (not by kemi -c).
type TLSProvider interface {
	TLS() (server, client *tls.Config, err error)
}

// ParamsOnly is the value of a module that has parameters and nothing
// else (db_sqlite, app_lua): what reads them asks Table.Params.
type ParamsOnly struct{}

// Exports: none.
func (ParamsOnly) Exports() []Export { return nil }

// NewParamsOnly is ModuleInfo.New of such a module.
func NewParamsOnly() Module { return ParamsOnly{} }

// Stateless is the value of a module whose functions keep no state: the
// test modules of the engines, say.
type Stateless []Export

// Exports are the functions.
func (s Stateless) Exports() []Export { return s }

// Param declares a module parameter for modparam.
type Param struct {
	Name string
	Kind Kind // Int or Str
	// Multi parameters may be set several times (each value is kept).
	Multi bool
	// Default and Doc are the default value as text and what the
	// parameter does, for the module's README.
	Default, Doc string
}

// P is a parameter of a registration, written short: name, kind,
// default and what it does.
func P(name string, kind Kind, def, doc string) Param {
	return Param{Name: name, Kind: kind, Default: def, Doc: doc}
}

// registered is a module in the registry, with the exports a value of
// it declares (for the names: native-name lookups, READMEs).
type registered struct {
	ModuleInfo
	exports []Export
}

var (
	regMu   sync.Mutex
	modules = map[string]*registered{}
)

// Register adds a built-in module; called from the module's init. A
// duplicate module or export, or an export whose result kind does not
// match its Go function, panics: a broken module must not start.
func Register(info ModuleInfo) {
	regMu.Lock()
	defer regMu.Unlock()
	if info.Name == "" {
		panic("dispatch: module without a name")
	}
	if _, dup := modules[info.Name]; dup {
		panic("dispatch: module " + info.Name + " registered twice")
	}
	if info.New == nil {
		panic("dispatch: module " + info.Name + " has no New")
	}
	for _, p := range info.Params {
		if p.Kind != Int && p.Kind != Str {
			panic("dispatch: parameter " + info.Name + "." + p.Name + " must be int or str")
		}
	}
	r := &registered{ModuleInfo: info, exports: info.New().Exports()}
	if err := checkExports(&r.ModuleInfo, r.exports); err != nil {
		panic("dispatch: " + err.Error())
	}
	modules[info.Name] = r
}

// checkExports rejects a module's exports that cannot be called: a KSR
// name or a native name and arity given twice, a missing function, a
// result kind the Go function does not return.
func checkExports(m *ModuleInfo, exports []Export) error {
	seen := map[string]bool{}
	natives := map[string]bool{}
	for _, d := range exports {
		full := m.ksrOf(&d) + "." + d.Name
		if d.Fn.call == nil {
			return fmt.Errorf("export %s has no function", full)
		}
		if !d.NativeOnly && seen[full] {
			return fmt.Errorf("export %s registered twice", full)
		}
		if !d.NativeOnly {
			seen[full] = true
		}
		if d.explicitNative() {
			native := d.NativeName() + "/" + strconv.Itoa(len(d.Fn.params))
			if natives[native] {
				return fmt.Errorf("export %s: native function %s registered twice", full, native)
			}
			natives[native] = true
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
			return fmt.Errorf("export %s declares a %s result but its Go function does not return one", full, d.Ret)
		}
	}
	return nil
}

// ksrOf is the KSR submodule of one of the module's exports.
func (m *ModuleInfo) ksrOf(e *Export) string {
	if e.KSR != "" {
		return e.KSR
	}
	return m.ksr()
}

func (m *ModuleInfo) ksr() string {
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
func LookupModule(name string) (*ModuleInfo, bool) {
	name = ModuleName(name)
	regMu.Lock()
	defer regMu.Unlock()
	m, ok := modules[name]
	if !ok {
		return nil, false
	}
	return &m.ModuleInfo, true
}

// Declared lists the exports a module declares, as a fresh value of it
// has them (bound to no proxy: for names and kinds, not to be called).
func Declared(name string) []Export {
	regMu.Lock()
	defer regMu.Unlock()
	if m, ok := modules[ModuleName(name)]; ok {
		out := append([]Export(nil), m.exports...)
		for i := range out {
			out[i].Module, out[i].Params = m.ksrOf(&out[i]), out[i].Fn.params
		}
		return out
	}
	return nil
}

// ModuleName strips a path and ".so" from a loadmodule argument.
func ModuleName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, ".so")
}

// Params holds the modparam values of one module, and finds the other
// modules the same proxy loaded (registrar its usrloc).
type Params struct {
	module string
	vals   map[string][]router.Value
	table  *Table
}

// Module is the value of another loaded module, nil when the config does
// not load it.
func (p *Params) Module(name string) Module {
	if p.table == nil {
		return nil
	}
	return p.table.Module(name)
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
		for _, d := range m.exports {
			if d.NativeName() == native {
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

// Need finds a module another one depends on in the same proxy, as
// Kamailio's modules bind each other's API in mod_init (sanity and
// registrar reply through sl): an error names the loadmodule missing.
func Need[T Module](p *Params, name string) (T, error) {
	m, ok := p.Module(name).(T)
	if !ok {
		return m, fmt.Errorf("needs the %s module: loadmodule %q", name, name+".so")
	}
	return m, nil
}
