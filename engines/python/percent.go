package python

import (
	"fmt"
	"strconv"
	"strings"
	_ "unsafe" // go:linkname

	"github.com/go-python/gpython/py"
	"github.com/go-python/gpython/vm"
)

// gpython's str % args is a shim over fmt.Sprintf: "%s" % None gives
// "{}", True gives "true", %i is unknown. Routing scripts format log lines
// that way all the time, so the VM's BINARY_MODULO and INPLACE_MODULO
// are pointed at percentFormat when the left operand is a str. The
// opcode table is gpython's unexported vm.jumpTable, reached by linkname:
// a test checks the hook is in place, so a gpython upgrade that moves it
// fails loudly instead of formatting wrong.

//go:linkname jumpTable github.com/go-python/gpython/vm.jumpTable
var jumpTable [256]func(*vm.Vm, int32) error

func init() {
	jumpTable[vm.BINARY_MODULO] = doModulo
	jumpTable[vm.INPLACE_MODULO] = doModulo
	jumpTable[vm.UNARY_NEGATIVE] = doNegative
}

// doNegative is UNARY_NEGATIVE answering small ints from the boxed ones
// (pyInt): gpython does not fold -255 into a constant, so each run of a
// line like Kamailio's example `if self.ksr_route_sipout(msg)==-255`
// negated 255 and allocated the result.
func doNegative(v *vm.Vm, _ int32) error {
	if n, ok := v.TOP().(py.Int); ok && n >= -intMax && n <= -intMin {
		v.SET_TOP(pyInt(int64(-n)))
		return nil
	}
	res, err := py.Neg(v.TOP())
	if err == nil {
		v.SET_TOP(res)
	}
	return err
}

func doModulo(v *vm.Vm, _ int32) error {
	b := v.POP()
	a := v.TOP()
	var res py.Object
	var err error
	if s, ok := a.(py.String); ok {
		res, err = percentFormat(string(s), b)
	} else {
		res, err = py.Mod(a, b)
	}
	if err == nil {
		v.SET_TOP(res)
	}
	return err
}

// percentFormat is Python's printf-style formatting: %s %r %d %i %u %x
// %X %o %f %F %e %E %g %G %c %% with flags -, 0, +, space, a width, a
// precision and %(name)s keys with a dict.
func percentFormat(format string, args py.Object) (py.Object, error) {
	var values py.Tuple
	dict, isDict := args.(py.StringDict)
	switch a := args.(type) {
	case py.Tuple:
		values = a
	case py.StringDict:
	default:
		values = py.Tuple{args}
	}
	next := 0
	arg := func() (py.Object, error) {
		if next >= len(values) {
			return nil, py.ExceptionNewf(py.TypeError, "not enough arguments for format string")
		}
		next++
		return values[next-1], nil
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(format) {
			return nil, py.ExceptionNewf(py.ValueError, "incomplete format")
		}
		var v py.Object
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 || !isDict {
				return nil, py.ExceptionNewf(py.TypeError, "format requires a mapping")
			}
			key := format[i+1 : i+end]
			var ok bool
			if v, ok = dict[key]; !ok {
				return nil, py.ExceptionNewf(py.KeyError, "%s", key)
			}
			i += end + 1
		}
		start := i
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '.') {
			i++
		}
		if i == len(format) {
			return nil, py.ExceptionNewf(py.ValueError, "incomplete format")
		}
		spec, verb := format[start:i], format[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if v == nil {
			var err error
			if v, err = arg(); err != nil {
				return nil, err
			}
		}
		s, err := formatOne(spec, verb, v)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	if !isDict && next < len(values) {
		return nil, py.ExceptionNewf(py.TypeError, "not all arguments converted during string formatting")
	}
	return py.String(b.String()), nil
}

func formatOne(spec string, verb byte, v py.Object) (string, error) {
	switch verb {
	case 's', 'r', 'a':
		var o py.Object
		var err error
		if verb == 's' {
			o, err = py.Str(v)
		} else {
			o, err = py.Repr(v)
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%"+spec+"s", string(o.(py.String))), nil
	case 'd', 'i', 'u', 'x', 'X', 'o', 'c':
		var n int64
		switch x := v.(type) {
		case py.Int:
			n = int64(x)
		case py.Bool:
			if x {
				n = 1
			}
		case py.Float:
			if verb == 'c' {
				return "", py.ExceptionNewf(py.TypeError, "%%c requires int or char")
			}
			n = int64(x)
		case py.String:
			if verb == 'c' && len([]rune(string(x))) == 1 {
				return string(x), nil
			}
			return "", py.ExceptionNewf(py.TypeError, "%%%c format: a number is required, not str", verb)
		default:
			return "", py.ExceptionNewf(py.TypeError, "%%%c format: a number is required, not %s", verb, v.Type().Name)
		}
		switch verb {
		case 'i', 'u':
			verb = 'd'
		case 'c':
			return string(rune(n)), nil
		}
		return fmt.Sprintf("%"+spec+string(verb), n), nil
	case 'f', 'F', 'e', 'E', 'g', 'G':
		var f float64
		switch x := v.(type) {
		case py.Float:
			f = float64(x)
		case py.Int:
			f = float64(x)
		case py.Bool:
			if x {
				f = 1
			}
		default:
			return "", py.ExceptionNewf(py.TypeError, "a float is required, not %s", v.Type().Name)
		}
		if !strings.Contains(spec, ".") && (verb == 'f' || verb == 'F' || verb == 'e' || verb == 'E') {
			spec += ".6"
		}
		if verb == 'F' {
			verb = 'f'
		}
		return fmt.Sprintf("%"+spec+string(verb), f), nil
	}
	return "", py.ExceptionNewf(py.ValueError, "unsupported format character '%c' (0x%s)", verb, strconv.FormatInt(int64(verb), 16))
}
