package python

import (
	"regexp"
	"sync"

	"github.com/go-python/gpython/py"
)

// A small re module: search, match, fullmatch, sub, split, findall and
// compile, with match objects' group, groups, start, end and span. The
// patterns are Go's RE2 syntax, which routing patterns fit (no
// backreferences, no lookaround); compiled patterns are cached.
func init() {
	fn := func(name string, f func(args py.Tuple) (py.Object, error)) *py.Method {
		return py.MustNewMethod(name, func(_ py.Object, args py.Tuple) (py.Object, error) { return f(args) }, 0, "")
	}
	py.RegisterModule(&py.ModuleImpl{
		Info: py.ModuleInfo{Name: "re", Doc: "regular expressions (RE2 syntax), a subset of Python's re"},
		Methods: []*py.Method{
			fn("search", func(a py.Tuple) (py.Object, error) { return find(a, "search", false, false) }),
			fn("match", func(a py.Tuple) (py.Object, error) { return find(a, "match", true, false) }),
			fn("fullmatch", func(a py.Tuple) (py.Object, error) { return find(a, "fullmatch", true, true) }),
			fn("sub", reSub),
			fn("split", reSplit),
			fn("findall", reFindall),
			fn("compile", func(a py.Tuple) (py.Object, error) {
				if len(a) != 1 {
					return nil, py.ExceptionNewf(py.TypeError, "compile() takes 1 argument (%d given)", len(a))
				}
				p, err := strArg(a[0], "compile")
				if err != nil {
					return nil, err
				}
				re, err := compileRe(p)
				if err != nil {
					return nil, err
				}
				return &pattern{re: re, src: p}, nil
			}),
		},
	})
}

var reCache sync.Map // pattern text -> *regexp.Regexp

func compileRe(p string) (*regexp.Regexp, error) {
	if re, ok := reCache.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, py.ExceptionNewf(py.ValueError, "re: %s", err.Error())
	}
	reCache.Store(p, re)
	return re, nil
}

// reArg reads the pattern argument: a str or a compiled pattern.
func reArg(o py.Object) (*regexp.Regexp, error) {
	switch p := o.(type) {
	case *pattern:
		return p.re, nil
	case py.String:
		return compileRe(string(p))
	}
	return nil, py.ExceptionNewf(py.TypeError, "first argument must be string or compiled pattern")
}

func strArg(o py.Object, what string) (string, error) {
	s, ok := o.(py.String)
	if !ok {
		return "", py.ExceptionNewf(py.TypeError, "%s: expected string, got %s", what, o.Type().Name)
	}
	return string(s), nil
}

func find(a py.Tuple, name string, anchored, full bool) (py.Object, error) {
	if len(a) != 2 {
		return nil, py.ExceptionNewf(py.TypeError, "%s() takes 2 arguments (%d given)", name, len(a))
	}
	re, err := reArg(a[0])
	if err != nil {
		return nil, err
	}
	s, err := strArg(a[1], name)
	if err != nil {
		return nil, err
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil || anchored && loc[0] != 0 || full && loc[1] != len(s) {
		if anchored {
			// Go finds the leftmost match; an anchored search must try
			// from 0 only.
			whole := `^(?:` + re.String() + `)`
			if full {
				whole += `$`
			}
			are, err := compileRe(whole)
			if err != nil {
				return nil, err
			}
			if loc = are.FindStringSubmatchIndex(s); loc == nil {
				return py.None, nil
			}
			return &match{s: s, loc: loc}, nil
		}
		return py.None, nil
	}
	return &match{s: s, loc: loc}, nil
}

func reSub(a py.Tuple) (py.Object, error) {
	if len(a) < 3 || len(a) > 4 {
		return nil, py.ExceptionNewf(py.TypeError, "sub() takes 3 or 4 arguments (%d given)", len(a))
	}
	re, err := reArg(a[0])
	if err != nil {
		return nil, err
	}
	repl, err := strArg(a[1], "sub")
	if err != nil {
		return nil, err
	}
	s, err := strArg(a[2], "sub")
	if err != nil {
		return nil, err
	}
	count := -1
	if len(a) == 4 {
		n, ok := a[3].(py.Int)
		if !ok {
			return nil, py.ExceptionNewf(py.TypeError, "sub(): count must be an int")
		}
		if n > 0 {
			count = int(n)
		}
	}
	tmpl := pyTemplate(repl)
	var out []byte
	last := 0
	for _, loc := range re.FindAllStringSubmatchIndex(s, count) {
		out = append(out, s[last:loc[0]]...)
		out = re.ExpandString(out, tmpl, s, loc)
		last = loc[1]
	}
	return py.String(string(append(out, s[last:]...))), nil
}

// pyTemplate turns Python's \1 and \g<name> references into Go's ${1}
// and ${name}, and a literal $ into $$.
func pyTemplate(r string) string {
	var b []byte
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '$':
			b = append(b, "$$"...)
		case c == '\\' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9':
			b = append(b, "${"...)
			b = append(b, r[i+1])
			b = append(b, '}')
			i++
		case c == '\\' && i+2 < len(r) && r[i+1] == 'g' && r[i+2] == '<':
			end := i + 3
			for end < len(r) && r[end] != '>' {
				end++
			}
			b = append(b, "${"+r[i+3:end]+"}"...)
			i = end
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func reSplit(a py.Tuple) (py.Object, error) {
	if len(a) != 2 {
		return nil, py.ExceptionNewf(py.TypeError, "split() takes 2 arguments (%d given)", len(a))
	}
	re, err := reArg(a[0])
	if err != nil {
		return nil, err
	}
	s, err := strArg(a[1], "split")
	if err != nil {
		return nil, err
	}
	parts := re.Split(s, -1)
	l := py.NewListSized(len(parts))
	for i, p := range parts {
		l.Items[i] = py.String(p)
	}
	return l, nil
}

func reFindall(a py.Tuple) (py.Object, error) {
	if len(a) != 2 {
		return nil, py.ExceptionNewf(py.TypeError, "findall() takes 2 arguments (%d given)", len(a))
	}
	re, err := reArg(a[0])
	if err != nil {
		return nil, err
	}
	s, err := strArg(a[1], "findall")
	if err != nil {
		return nil, err
	}
	l := py.NewList()
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		switch len(m) {
		case 1:
			l.Append(py.String(m[0]))
		case 2:
			l.Append(py.String(m[1]))
		default:
			t := make(py.Tuple, len(m)-1)
			for i := range t {
				t[i] = py.String(m[i+1])
			}
			l.Append(t)
		}
	}
	return l, nil
}

var (
	patternType = py.NewType("re.Pattern", "a compiled regular expression")
	matchType   = py.NewType("re.Match", "a regular expression match")
)

// pattern is re.compile's result: search and match as methods.
type pattern struct {
	re  *regexp.Regexp
	src string
}

func (p *pattern) Type() *py.Type { return patternType }

func (p *pattern) M__getattribute__(name string) (py.Object, error) {
	bind := func(f func(py.Tuple) (py.Object, error)) (py.Object, error) {
		return py.MustNewMethod(name, func(_ py.Object, args py.Tuple) (py.Object, error) {
			return f(append(py.Tuple{p}, args...))
		}, 0, ""), nil
	}
	switch name {
	case "search":
		return bind(func(a py.Tuple) (py.Object, error) { return find(a, "search", false, false) })
	case "match":
		return bind(func(a py.Tuple) (py.Object, error) { return find(a, "match", true, false) })
	case "fullmatch":
		return bind(func(a py.Tuple) (py.Object, error) { return find(a, "fullmatch", true, true) })
	case "sub":
		return bind(reSub)
	case "split":
		return bind(reSplit)
	case "findall":
		return bind(reFindall)
	case "pattern":
		return py.String(p.src), nil
	}
	return nil, py.ExceptionNewf(py.AttributeError, "'re.Pattern' object has no attribute '%s'", name)
}

// match is a match object.
type match struct {
	s   string
	loc []int
}

func (m *match) Type() *py.Type { return matchType }

func (m *match) M__bool__() (py.Object, error) { return py.True, nil }

func (m *match) group(o py.Object) (py.Object, error) {
	n, ok := o.(py.Int)
	if !ok || int(n) < 0 || 2*int(n) >= len(m.loc) {
		return nil, py.ExceptionNewf(py.IndexError, "no such group")
	}
	if m.loc[2*n] < 0 {
		return py.None, nil
	}
	return py.String(m.s[m.loc[2*n]:m.loc[2*n+1]]), nil
}

func (m *match) M__getattribute__(name string) (py.Object, error) {
	method := func(f func(args py.Tuple) (py.Object, error)) (py.Object, error) {
		return py.MustNewMethod(name, func(_ py.Object, args py.Tuple) (py.Object, error) { return f(args) }, 0, ""), nil
	}
	groupArg := func(args py.Tuple) py.Object {
		if len(args) == 0 {
			return py.Int(0)
		}
		return args[0]
	}
	switch name {
	case "group":
		return method(func(args py.Tuple) (py.Object, error) {
			if len(args) <= 1 {
				return m.group(groupArg(args))
			}
			t := make(py.Tuple, len(args))
			for i, a := range args {
				g, err := m.group(a)
				if err != nil {
					return nil, err
				}
				t[i] = g
			}
			return t, nil
		})
	case "groups":
		return method(func(py.Tuple) (py.Object, error) {
			t := make(py.Tuple, len(m.loc)/2-1)
			for i := range t {
				t[i], _ = m.group(py.Int(i + 1))
			}
			return t, nil
		})
	case "start", "end", "span":
		return method(func(args py.Tuple) (py.Object, error) {
			n, ok := groupArg(args).(py.Int)
			if !ok || 2*int(n) >= len(m.loc) {
				return nil, py.ExceptionNewf(py.IndexError, "no such group")
			}
			s, e := py.Int(m.loc[2*n]), py.Int(m.loc[2*n+1])
			switch name {
			case "start":
				return s, nil
			case "end":
				return e, nil
			}
			return py.Tuple{s, e}, nil
		})
	case "string":
		return py.String(m.s), nil
	}
	return nil, py.ExceptionNewf(py.AttributeError, "'re.Match' object has no attribute '%s'", name)
}
