package python

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/go-python/gpython/py"
)

// Methods of str that gpython v0.2.0 lacks and routing scripts use:
// lower, upper, join, count, format ({} {0} {name}, no format specs),
// isdigit, isalpha, isalnum. Added to gpython's str type once.
func init() {
	add := func(name string, fn func(s string, args py.Tuple, kwargs py.StringDict) (py.Object, error)) {
		if _, ok := py.StringType.Dict[name]; ok {
			return // gpython has it now: keep the original
		}
		py.StringType.Dict[name] = py.MustNewMethod(name, func(self py.Object, args py.Tuple, kwargs py.StringDict) (py.Object, error) {
			return fn(string(self.(py.String)), args, kwargs)
		}, 0, "")
	}
	add("lower", func(s string, _ py.Tuple, _ py.StringDict) (py.Object, error) {
		return py.String(strings.ToLower(s)), nil
	})
	add("upper", func(s string, _ py.Tuple, _ py.StringDict) (py.Object, error) {
		return py.String(strings.ToUpper(s)), nil
	})
	add("isdigit", isAll(unicode.IsDigit))
	add("isalpha", isAll(unicode.IsLetter))
	add("isalnum", isAll(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }))
	add("join", func(s string, args py.Tuple, _ py.StringDict) (py.Object, error) {
		if len(args) != 1 {
			return nil, py.ExceptionNewf(py.TypeError, "join() takes exactly one argument (%d given)", len(args))
		}
		var parts []string
		var bad py.Object
		err := py.Iterate(args[0], func(o py.Object) bool {
			p, ok := o.(py.String)
			if !ok {
				bad = o
				return true // stop
			}
			parts = append(parts, string(p))
			return false
		})
		if err != nil {
			return nil, err
		}
		if bad != nil {
			return nil, py.ExceptionNewf(py.TypeError, "sequence item %d: expected str instance, %s found", len(parts), bad.Type().Name)
		}
		return py.String(strings.Join(parts, s)), nil
	})
	add("count", func(s string, args py.Tuple, _ py.StringDict) (py.Object, error) {
		if len(args) != 1 {
			return nil, py.ExceptionNewf(py.TypeError, "count() takes exactly one argument (%d given)", len(args))
		}
		sub, ok := args[0].(py.String)
		if !ok {
			return nil, py.ExceptionNewf(py.TypeError, "must be str, not %s", args[0].Type().Name)
		}
		return py.Int(strings.Count(s, string(sub))), nil
	})
	add("format", strFormat)
}

func isAll(f func(rune) bool) func(string, py.Tuple, py.StringDict) (py.Object, error) {
	return func(s string, _ py.Tuple, _ py.StringDict) (py.Object, error) {
		if s == "" {
			return py.False, nil
		}
		for _, r := range s {
			if !f(r) {
				return py.False, nil
			}
		}
		return py.True, nil
	}
}

// strFormat is str.format with {} (automatic), {0} (by position) and
// {name} (by keyword) fields, {{ and }}; a field with a format spec or a
// conversion ({0:>5}, {!r}) is an error, not a silent misformat.
func strFormat(s string, args py.Tuple, kwargs py.StringDict) (py.Object, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			b.WriteByte(c)
			i++
			continue
		case c == '}':
			return nil, py.ExceptionNewf(py.ValueError, "Single '}' encountered in format string")
		case c != '{':
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, py.ExceptionNewf(py.ValueError, "Single '{' encountered in format string")
		}
		field := s[i+1 : i+end]
		i += end
		if strings.ContainsAny(field, ":!.[") {
			return nil, py.ExceptionNewf(py.ValueError, "format field {%s}: specs and conversions are not supported here", field)
		}
		var v py.Object
		switch n, err := strconv.Atoi(field); {
		case field == "":
			n = auto
			auto++
			fallthrough
		case err == nil:
			if n >= len(args) {
				return nil, py.ExceptionNewf(py.IndexError, "tuple index out of range")
			}
			v = args[n]
		default:
			var ok bool
			if v, ok = kwargs[field]; !ok {
				return nil, py.ExceptionNewf(py.KeyError, "'%s'", field)
			}
		}
		o, err := py.Str(v)
		if err != nil {
			return nil, err
		}
		b.WriteString(string(o.(py.String)))
	}
	return py.String(b.String()), nil
}
