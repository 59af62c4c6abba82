package native

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// unbuilt names functions of Kamailio modules kemi does not have yet, so
// that a config using them gets a clear start-up error.
var unbuilt = map[string]string{}

func init() {
	for mod, fns := range map[string]string{
		"usrloc": "ul_add ul_rm",
		"pv":     "avp_printf",
	} {
		for _, f := range strings.Fields(fns) {
			unbuilt[f] = mod
		}
	}
}

// call compiles a function call: route(NAME), is_method("A|B"), or a
// module function by its native name (or a core KSR function by its name).
func (cp *compiler) call(x *cfg.Call) expr {
	if x.Name == "route" {
		return cp.routeCall(x)
	}
	if (x.Name == "strempty" || x.Name == "strlen") && len(x.Args) == 1 {
		return cp.strOp(x)
	}
	t := cp.e.table
	idx, ok := t.NativeArgs(x.Name, len(x.Args))
	if !ok {
		idx, ok = t.Lookup("", x.Name) // core functions: setflag, force_rport, ...
	}
	if !ok {
		if m, known := dispatch.NativeOwner(x.Name); known {
			cp.errorf(x.Pos, "function %s needs loadmodule \"%s.so\"", x.Name, m)
		} else if m, known := unbuilt[x.Name]; known {
			cp.errorf(x.Pos, "function %s (module %s) is not built yet", x.Name, m)
		} else {
			cp.errorf(x.Pos, "unknown function %s", x.Name)
		}
		return constExpr(router.Value{})
	}
	ex := t.At(idx)
	if len(x.Args) != len(ex.Params) {
		cp.errorf(x.Pos, "%s: wrong number of parameters: %d given, %d expected", x.Name, len(x.Args), len(ex.Params))
		return constExpr(router.Value{})
	}
	type arg struct {
		isInt   bool
		constI  int
		constS  string
		isConst bool
		format  *router.Format
		buf     int
		value   expr
	}
	args := make([]arg, len(ex.Params))
	for i, k := range ex.Params {
		a := arg{isInt: k == dispatch.Int}
		switch v := x.Args[i].(type) {
		case *cfg.IntLit:
			a.isConst, a.constI, a.constS = true, int(v.Value), strconv.FormatInt(v.Value, 10)
		case *cfg.StrLit:
			if ex.Raw || !strings.Contains(v.Value, "$") {
				a.isConst, a.constS = true, v.Value
				if a.isInt {
					n, ok := router.StrValue(strings.TrimSpace(v.Value)).IntParam()
					if !ok {
						cp.errorf(v.Pos, "%s: parameter %d must be an integer, got %q", x.Name, i+1, v.Value)
					}
					a.constI = int(n)
				}
				break
			}
			f, err := router.ParseFormat(v.Value)
			if err != nil {
				cp.errorf(v.Pos, "%s: parameter %d: %v", x.Name, i+1, err)
				break
			}
			a.format, a.buf = f, cp.buf()
		case *cfg.Ident:
			a.isConst, a.constS = true, v.Name // a bare name: a route or flag name
			if a.isInt {
				cp.errorf(v.Pos, "%s: parameter %d must be an integer, got %s", x.Name, i+1, v.Name)
			}
		default:
			a.value, a.buf = cp.expr(v), cp.buf()
		}
		args[i] = a
	}
	name, where := x.Name, x.Pos.String()
	return func(r *runner, c *router.Ctx) (router.Value, flow) {
		av := &r.args
		for i := range args {
			a := &args[i]
			var s string
			switch {
			case a.isConst:
				av.I[i], av.S[i] = a.constI, a.constS
				continue
			case a.format != nil:
				b := a.format.Append(r.bufs[a.buf][:0], c)
				r.bufs[a.buf] = b
				s = unsafe.String(unsafe.SliceData(b), len(b))
			default:
				v, f := a.value(r, c)
				if f == stop {
					return v, f
				}
				if a.isInt {
					n, ok := v.IntParam()
					if !ok {
						c.Log().Error(name+": parameter "+strconv.Itoa(i+1)+" is not an integer", "route", c.Route)
					}
					av.I[i] = int(n)
					continue
				}
				var b []byte
				switch v.Kind {
				case router.Str:
					if v.B == nil {
						s = v.S
						break
					}
					b = v.B
				case router.Int:
					b = strconv.AppendInt(r.bufs[a.buf][:0], v.I, 10)
					r.bufs[a.buf] = b
				}
				if b != nil {
					s = unsafe.String(unsafe.SliceData(b), len(b))
				}
			}
			if a.isInt {
				n, ok := router.StrValue(s).IntParam()
				if !ok {
					c.Log().Error(name+": parameter "+strconv.Itoa(i+1)+" is not an integer", "value", s, "route", c.Route)
				}
				av.I[i] = int(n)
			} else {
				av.S[i] = s
			}
		}
		res, err := ex.Invoke(c, av)
		if err != nil {
			r.err = &router.ScriptError{Route: c.Route, Where: where, Msg: err.Error()}
			return router.Value{}, stop
		}
		switch ex.Ret {
		case dispatch.Int, dispatch.Bool:
			c.RC = int(res.I)
			if ex.Stops(res) {
				return res, stop
			}
			return res, next
		case dispatch.None:
			c.RC = 1
			return trueV, next
		}
		return res, next
	}
}

// routeCall compiles route(NAME): the route is found at load.
func (cp *compiler) routeCall(x *cfg.Call) expr {
	if len(x.Args) != 1 {
		cp.errorf(x.Pos, "route() takes one route name")
		return constExpr(router.Value{})
	}
	var name string
	switch a := x.Args[0].(type) {
	case *cfg.Ident:
		name = a.Name
	case *cfg.StrLit:
		name = a.Value
	case *cfg.IntLit:
		name = strconv.FormatInt(a.Value, 10)
	default:
		n, ok := constString(x.Args[0])
		if !ok {
			return cp.dynamicRoute(x)
		}
		name = n // a constant expression is looked up at load, as Kamailio's fixup does
	}
	rt := cp.e.routes[routeKey{"route", name}]
	if rt == nil {
		cp.errorf(x.Pos, "unknown route %s: no route[%s] block", name, name)
		return constExpr(router.Value{})
	}
	return func(r *runner, c *router.Ctx) (router.Value, flow) { return r.callRoute(c, rt) }
}

// callRoute runs route block rt as route(NAME) does: its return code, or
// 0 and stop when the script ends in it.
func (r *runner) callRoute(c *router.Ctx, rt *route) (router.Value, flow) {
	prev := c.Route
	c.Route = rt.name
	rc, f := r.call(c, rt)
	c.Route = prev
	if f == stop {
		return router.IntValue(0), stop
	}
	return router.IntValue(int64(rc)), next
}

// constString is the value of an expression of literals joined by '+'
// (strings concatenated, numbers added while both sides are numbers).
func constString(e cfg.Expr) (string, bool) {
	switch x := e.(type) {
	case *cfg.StrLit:
		return x.Value, true
	case *cfg.IntLit:
		return strconv.FormatInt(x.Value, 10), true
	case *cfg.Binary:
		if x.Op != "+" {
			return "", false
		}
		a, ok1 := constString(x.X)
		b, ok2 := constString(x.Y)
		if !ok1 || !ok2 {
			return "", false
		}
		if ix, ok := x.X.(*cfg.IntLit); ok {
			if iy, ok := x.Y.(*cfg.IntLit); ok {
				return strconv.FormatInt(ix.Value+iy.Value, 10), true
			}
		}
		return a + b, true
	}
	return "", false
}

// dynamicRoute compiles route(expr), the name computed when it runs
// (Kamailio 5.6: route($var(next))); a name with no route[] block is an
// error logged with the call's place, and the script goes on, as
// Kamailio's.
func (cp *compiler) dynamicRoute(x *cfg.Call) expr {
	v := cp.expr(x.Args[0])
	pos := x.Pos.String()
	routes := cp.e.routes
	return func(r *runner, c *router.Ctx) (router.Value, flow) {
		a, f := v(r, c)
		if f != next {
			return a, f
		}
		name := a.String()
		rt := routes[routeKey{"route", name}]
		if rt == nil {
			c.Log().Error("route "+strconv.Quote(name)+" not found", "where", pos, "route", c.Route)
			return router.IntValue(-1), next
		}
		return r.callRoute(c, rt)
	}
}

// strOp compiles the core's string operators on an expression:
// strempty(x) is true when x is an empty string (or null), strlen(x) is
// its length.
func (cp *compiler) strOp(x *cfg.Call) expr {
	v := cp.expr(x.Args[0])
	empty := x.Name == "strempty"
	return func(r *runner, c *router.Ctx) (router.Value, flow) {
		a, f := v(r, c)
		n := 0
		if !a.IsNull() {
			n = len(a.String())
		}
		if empty {
			return boolValue(n == 0), f
		}
		return router.IntValue(int64(n)), f
	}
}
