package router

import (
	"fmt"
	"github.com/kemi-sip/kemi/core/cfg"
	"strconv"
	"strings"
	"sync"
)

// PV is a parsed pseudo-variable: "$ru", "$var(x)", "$hdr(Via)". Engines
// parse the names a script uses once and keep the *PV.
type PV struct {
	Name  string // as written: "$var(x)"
	Class string // "var"
	Arg   string // "x"
	Data  any    // what the class's Parse prepared from Arg
	// Index is n of $(name(arg)[n]), for the classes that take one
	// (Indexed); 0 when not written. All is set for [*].
	Index   int
	Indexed bool
	All     bool
	cls     *PVClass
	trans   []transform
}

// PVClass implements one kind of pseudo-variable.
type PVClass struct {
	// Arg says whether the class takes "(...)": required, or not at all.
	Arg bool
	// Parse checks Arg and may fill Data, once, when a script is loaded.
	Parse func(pv *PV) error
	Get   func(c *Ctx, pv *PV) Value
	// Set assigns; a Null value unsets. nil for read-only classes.
	Set func(c *Ctx, pv *PV, v Value) error
	// Indexed classes take an index: $(name(arg)[n]).
	Indexed bool
}

var (
	pvMu      sync.RWMutex
	pvClasses = map[string]*PVClass{}
)

// RegisterPV adds a class of pseudo-variables. A duplicate name panics:
// two modules cannot both own "$ru".
func RegisterPV(name string, cls PVClass) {
	pvMu.Lock()
	defer pvMu.Unlock()
	if _, dup := pvClasses[name]; dup {
		panic("router: pseudo-variable $" + name + " registered twice")
	}
	if cls.Get == nil {
		panic("router: pseudo-variable $" + name + " has no Get")
	}
	pvClasses[name] = &cls
}

// ParsePV parses a pseudo-variable name: $name, $name(arg), or with
// transformations $(name(arg){s.len}{...}). The $ may be left out, as
// KSR.pv.get accepts.
func ParsePV(s string) (*PV, error) {
	base, text, err := splitTransforms(s)
	if err != nil {
		return nil, fmt.Errorf("pseudo-variable %q: %w", s, err)
	}
	pv, err := parsePV(s, base)
	if err != nil {
		return nil, err
	}
	if pv.trans, err = parseTransforms(text); err != nil {
		return nil, fmt.Errorf("pseudo-variable %q: %w", s, err)
	}
	return pv, nil
}

func parsePV(s, base string) (*PV, error) {
	name := strings.TrimPrefix(base, "$")
	if strings.HasPrefix(name, "(") && strings.HasSuffix(name, ")") {
		name = name[1 : len(name)-1] // $(ru)
	}
	index, indexed, all := 0, false, false
	if strings.HasSuffix(name, "]") {
		i := strings.LastIndexByte(name, '[')
		if i < 0 || i < strings.LastIndexByte(name, ')') {
			return nil, fmt.Errorf("pseudo-variable %q: unclosed '['", s)
		}
		n, err := 0, error(nil)
		if all = name[i+1:len(name)-1] == "*"; !all {
			n, err = strconv.Atoi(name[i+1 : len(name)-1])
		}
		if err != nil {
			return nil, fmt.Errorf("pseudo-variable %q: index %q: want a number or *", s, name[i+1:len(name)-1])
		}
		name, index, indexed = name[:i], n, true
	}
	class, arg, hasArg := name, "", false
	if i := strings.IndexByte(name, '('); i >= 0 {
		if !strings.HasSuffix(name, ")") {
			return nil, fmt.Errorf("pseudo-variable %q: unclosed '('", s)
		}
		class, arg, hasArg = name[:i], name[i+1:len(name)-1], true
	}
	pvMu.RLock()
	cls := pvClasses[class]
	pvMu.RUnlock()
	if cls == nil {
		return nil, fmt.Errorf("unknown pseudo-variable %q", s)
	}
	if cls.Arg && (!hasArg || arg == "") {
		return nil, fmt.Errorf("pseudo-variable %q needs a name: $%s(name)", s, class)
	}
	if !cls.Arg && hasArg {
		return nil, fmt.Errorf("pseudo-variable %q takes no name", s)
	}
	if indexed && !cls.Indexed {
		return nil, fmt.Errorf("pseudo-variable %q: $%s takes no index", s, class)
	}
	pv := &PV{Name: s, Class: class, Arg: arg, Index: index, Indexed: indexed, All: all, cls: cls}
	if cls.Parse != nil {
		if err := cls.Parse(pv); err != nil {
			return nil, fmt.Errorf("pseudo-variable %q: %w", s, err)
		}
	}
	return pv, nil
}

// Get reads the pseudo-variable, its transformations applied.
func (pv *PV) Get(c *Ctx) Value {
	v := pv.cls.Get(c, pv)
	for _, t := range pv.trans {
		v = t(c, v)
	}
	return v
}

// Writable reports whether the pseudo-variable can be assigned (not with
// transformations).
func (pv *PV) Writable() bool { return pv.cls.Set != nil && len(pv.trans) == 0 }

// Set assigns v; Null unsets.
func (pv *PV) Set(c *Ctx, v Value) error {
	if !pv.Writable() {
		return fmt.Errorf("%s is read-only", pv.Name)
	}
	return pv.cls.Set(c, pv, v)
}

// Format is a string with pseudo-variables in it, as xlog and the native
// language's string parameters take: "from $fu to $ru\n".
type Format struct {
	parts []fmtPart
}

type fmtPart struct {
	lit string
	pv  *PV
}

// ParseFormat splits s into literal text and pseudo-variables. A '$' that
// does not start a known pseudo-variable is an error, so that a typo is
// found at load time; "$$" is a literal '$'.
func ParseFormat(s string) (*Format, error) {
	f := &Format{}
	lit := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if s[i] != '$' {
			lit = append(lit, s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit = append(lit, '$')
			i += 2
			continue
		}
		n := cfg.PVLen(s[i:])
		if n <= 1 {
			lit = append(lit, '$')
			i++
			continue
		}
		pv, err := ParsePV(s[i : i+n])
		if err != nil {
			return nil, err
		}
		if len(lit) > 0 {
			f.parts = append(f.parts, fmtPart{lit: string(lit)})
			lit = lit[:0]
		}
		f.parts = append(f.parts, fmtPart{pv: pv})
		i += n
	}
	if len(lit) > 0 {
		f.parts = append(f.parts, fmtPart{lit: string(lit)})
	}
	return f, nil
}

// Constant reports whether the format has no pseudo-variables, and its text.
func (f *Format) Constant() (string, bool) {
	switch {
	case len(f.parts) == 0:
		return "", true
	case len(f.parts) == 1 && f.parts[0].pv == nil:
		return f.parts[0].lit, true
	}
	return "", false
}

// Append appends the expanded format to dst. A null pseudo-variable
// prints "<null>", as Kamailio's xlog does, one whose transformation
// failed (a transformation gives Null only then) nothing.
func (f *Format) Append(dst []byte, c *Ctx) []byte {
	for i := range f.parts {
		p := &f.parts[i]
		if p.pv == nil {
			dst = append(dst, p.lit...)
			continue
		}
		v := p.pv.Get(c)
		if v.Kind == Null && len(p.pv.trans) > 0 {
			continue // a transformation failed: Kamailio's pv_printf writes nothing
		}
		if v.Kind == Null {
			dst = append(dst, "<null>"...)
			continue
		}
		dst = v.AppendTo(dst)
	}
	return dst
}

// parseCache remembers, per worker, what parsing a string gave, so that
// KSR.pv.get("$ru") or xlog("...") pays the parse once.
type parseCache[T any] struct {
	m map[string]parsed[T]
}

type parsed[T any] struct {
	v   T
	err error
}

func (pc *parseCache[T]) get(s string, parse func(string) (T, error)) (T, error) {
	if e, ok := pc.m[s]; ok {
		return e.v, e.err
	}
	s = strings.Clone(s) // kept: the caller's string may be a view into a buffer
	v, err := parse(s)
	if pc.m == nil {
		pc.m = map[string]parsed[T]{}
	}
	if len(pc.m) < 4096 { // names built at run time must not grow it without bound
		pc.m[s] = parsed[T]{v, err}
	}
	return v, err
}

// PV returns the parsed pseudo-variable name.
func (w *Worker) PV(name string) (*PV, error) { return w.pvs.get(name, ParsePV) }

// Format returns the parsed format string s.
func (w *Worker) Format(s string) (*Format, error) { return w.fmts.get(s, ParseFormat) }
