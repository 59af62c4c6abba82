package router

import (
	"fmt"
	"sort"
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
	cls   *PVClass
	trans []transform
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

// PVNames lists the registered classes.
func PVNames() []string {
	pvMu.RLock()
	defer pvMu.RUnlock()
	out := make([]string, 0, len(pvClasses))
	for n := range pvClasses {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParsePV parses a pseudo-variable name: $name, $name(arg), or with
// transformations $(name(arg){s.len}{...}). The $ may be left out, as
// KSR.pv.get accepts.
func ParsePV(s string) (*PV, error) {
	base, tnames, err := splitTransforms(s)
	if err != nil {
		return nil, fmt.Errorf("pseudo-variable %q: %w", s, err)
	}
	pv, err := parsePV(s, base)
	if err != nil {
		return nil, err
	}
	for _, t := range tnames {
		fn, err := compileTransform(t)
		if err != nil {
			return nil, fmt.Errorf("pseudo-variable %q: {%s}: %w", s, t, err)
		}
		pv.trans = append(pv.trans, fn)
	}
	return pv, nil
}

func parsePV(s, base string) (*PV, error) {
	name := strings.TrimPrefix(base, "$")
	if strings.HasPrefix(name, "(") && strings.HasSuffix(name, ")") {
		name = name[1 : len(name)-1] // $(ru)
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
	pv := &PV{Name: s, Class: class, Arg: arg, cls: cls}
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
		n := pvLen(s[i:])
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

// PVLen is the length of the pseudo-variable that s starts with ("$" name
// and an optional balanced "(...)"), 0 when s does not start with one.
func PVLen(s string) int { return pvLen(s) }

func pvLen(s string) int {
	if len(s) < 2 || s[0] != '$' {
		return 0
	}
	i := 1
	if s[1] == '(' { // $(name(arg)) form
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	}
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_' || s[i] == '.') {
		i++
	}
	if i == 1 {
		return 0
	}
	if i < len(s) && s[i] == '(' {
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return 0
	}
	return i
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
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
// prints "<null>", as Kamailio's xlog does.
func (f *Format) Append(dst []byte, c *Ctx) []byte {
	for i := range f.parts {
		p := &f.parts[i]
		if p.pv == nil {
			dst = append(dst, p.lit...)
			continue
		}
		v := p.pv.Get(c)
		if v.Kind == Null {
			dst = append(dst, "<null>"...)
			continue
		}
		dst = v.AppendTo(dst)
	}
	return dst
}

type pvEntry struct {
	pv  *PV
	err error
}

// PV returns the parsed pseudo-variable for name, parsing it on first use
// in this worker (KSR.pv.get("$ru") pays the parse once).
func (w *Worker) PV(name string) (*PV, error) {
	if e, ok := w.pvs[name]; ok {
		return e.pv, e.err
	}
	pv, err := ParsePV(strings.Clone(name))
	if w.pvs == nil {
		w.pvs = map[string]pvEntry{}
	}
	if len(w.pvs) < 4096 { // names built at run time must not grow it without bound
		w.pvs[strings.Clone(name)] = pvEntry{pv, err} // the caller's string may be a view into a buffer
	}
	return pv, err
}

type fmtEntry struct {
	f   *Format
	err error
}

// Format returns the parsed format string s, parsing it on first use in
// this worker.
func (w *Worker) Format(s string) (*Format, error) {
	if e, ok := w.fmts[s]; ok {
		return e.f, e.err
	}
	f, err := ParseFormat(strings.Clone(s))
	if w.fmts == nil {
		w.fmts = map[string]fmtEntry{}
	}
	if len(w.fmts) < 4096 {
		w.fmts[strings.Clone(s)] = fmtEntry{f, err}
	}
	return f, err
}
