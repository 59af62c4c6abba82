package python

import (
	"strconv"

	"github.com/go-python/gpython/py"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// KSR is a module of the context ("import KSR as KSR"); its submodules
// and functions are Go objects: an attribute is a map lookup and a call
// goes straight to the export, where a *py.Module of *py.Method would
// allocate bound methods and argument tuples per call.

var (
	nsType   = py.NewType("KSR.module", "a KSR submodule")
	funcType = py.NewType("KSR.function", "a KSR function, bound to its export")
)

// namespace is KSR.sl, KSR.tm, ...: attributes only.
type namespace struct {
	name  string
	attrs map[string]py.Object
}

func (n *namespace) Type() *py.Type { return nsType }

func (n *namespace) M__getattribute__(name string) (py.Object, error) {
	if o, ok := n.attrs[name]; ok {
		return o, nil
	}
	return nil, py.ExceptionNewf(py.AttributeError, "module '%s' has no attribute '%s'", n.name, name)
}

// function is one KSR function: a call converts the arguments by the
// export's parameter kinds.
type function struct {
	r   *runner
	idx int
	fn  func(r *runner, args py.Tuple) (py.Object, error) // KSR.x.*: not exports
}

func (f *function) Type() *py.Type { return funcType }

func (f *function) M__call__(args py.Tuple, kwargs py.StringDict) (py.Object, error) {
	if f.fn != nil {
		return f.fn(f.r, args)
	}
	return f.r.call(f.idx, args)
}

// bindKSR puts KSR's attributes, as a namespace, where the script's module
// bound the KSR module ("import KSR", "import KSR as K"): an attribute of
// a module is looked up through its type's __getattribute__ first, a
// string boxed and two maps read per KSR.sub of the script.
func bindKSR(m *py.Module, ksr *py.Module) {
	ns := &namespace{name: "KSR", attrs: ksr.Globals}
	for name, v := range m.Globals {
		if v == ksr {
			m.Globals[name] = ns
		}
	}
}

func (r *runner) ksrModule() *py.ModuleImpl {
	t := r.e.table
	globals := py.StringDict{}
	subs := map[string]*namespace{}
	for i := 0; i < t.Len(); i++ {
		ex := t.At(i)
		if ex.NativeOnly {
			continue
		}
		fn := &function{r: r, idx: i}
		if ex.Module == "" {
			globals[ex.Name] = fn
			continue
		}
		ns := subs[ex.Module]
		if ns == nil {
			ns = &namespace{name: "KSR." + ex.Module, attrs: map[string]py.Object{}}
			subs[ex.Module] = ns
			globals[ex.Module] = ns
		}
		ns.attrs[ex.Name] = fn
	}
	globals["x"] = &namespace{name: "KSR.x", attrs: map[string]py.Object{
		"exit": &function{r: r, fn: func(r *runner, _ py.Tuple) (py.Object, error) { panic(exitSignal{}) }},
		"drop": &function{r: r, fn: func(r *runner, _ py.Tuple) (py.Object, error) { r.c.Drop = true; panic(exitSignal{}) }},
		"modf": &function{r: r, fn: (*runner).modf},
	}}
	globals["drop"] = &function{r: r, fn: func(r *runner, _ py.Tuple) (py.Object, error) { r.c.Drop = true; return py.None, nil }}
	return &py.ModuleImpl{Info: py.ModuleInfo{Name: "KSR", Doc: "the KEMI functions of the loaded modules"}, Globals: globals}
}

func typeError(msg string) error { return py.ExceptionNewf(py.TypeError, "%s", msg) }

// call converts the arguments, calls the export and returns its result.
func (r *runner) call(idx int, args py.Tuple) (py.Object, error) {
	ex := r.e.table.At(idx)
	if len(args) != len(ex.Params) {
		return nil, typeError(ex.ArityError(len(args)))
	}
	a := &r.args
	for i, k := range ex.Params {
		switch v := args[i].(type) {
		case py.Int:
			if k == dispatch.Int {
				a.I[i] = int(v)
			} else {
				a.S[i] = strconv.FormatInt(int64(v), 10)
			}
		case py.Bool:
			if k != dispatch.Int {
				return nil, typeError(ex.TypeError(i, "bool"))
			}
			a.I[i] = 0
			if v {
				a.I[i] = 1
			}
		case py.String:
			if k == dispatch.Str {
				a.S[i] = string(v)
				break
			}
			n, ok := dispatch.IntArg(string(v))
			if !ok {
				return nil, typeError(ex.TypeError(i, strconv.Quote(string(v))))
			}
			a.I[i] = n
		case py.Float:
			if k == dispatch.Int {
				a.I[i] = int(v)
			} else {
				a.S[i] = dispatch.NumberString(float64(v))
			}
		default:
			return nil, typeError(ex.TypeError(i, args[i].Type().Name))
		}
	}
	res, err := ex.Invoke(r.c, a)
	if err != nil {
		return nil, py.ExceptionNewf(py.RuntimeError, "%s", err.Error())
	}
	return r.result(ex, res), nil
}

func (r *runner) result(ex *dispatch.Export, res router.Value) py.Object {
	switch ex.Ret {
	case dispatch.Int:
		return r.code(ex, res)
	case dispatch.Bool:
		r.c.RC = int(res.I)
		return py.NewBool(res.I > 0)
	case dispatch.XVal, dispatch.Str:
		switch res.Kind {
		case router.Null:
			return py.None
		case router.Int:
			return pyInt(res.I)
		case router.Tree:
			v := pyTree(&r.c.Tree)
			r.c.Tree = router.Node{}
			return v
		}
		if res.B != nil {
			return py.String(res.B)
		}
		return py.String(res.S)
	}
	return py.None
}

// code returns an int result and keeps it as $rc; a result that stops the
// script stops it.
func (r *runner) code(ex *dispatch.Export, res router.Value) py.Object {
	r.c.RC = int(res.I)
	if ex.Stops(res) {
		panic(exitSignal{})
	}
	return pyInt(res.I)
}

// modf is KSR.x.modf("native_name", "p1", ...).
func (r *runner) modf(args py.Tuple) (py.Object, error) {
	if len(args) == 0 {
		return nil, typeError("KSR.x.modf: the function name is missing")
	}
	params := make([]string, len(args)-1)
	for i := range params {
		params[i] = str(args[i+1])
	}
	ex, err := r.e.table.ModF(str(args[0]), params, &r.args)
	if err != nil {
		return nil, typeError(err.Error())
	}
	res, err := ex.Invoke(r.c, &r.args)
	if err != nil {
		return nil, py.ExceptionNewf(py.RuntimeError, "%s", err.Error())
	}
	if ex.Ret == dispatch.Int || ex.Ret == dispatch.Bool {
		return r.code(ex, res), nil
	}
	return r.result(ex, res), nil
}

// pyTree makes a list or a dict of a dict or an array result
// (KSR.pvx.xavp_getd), as Kamailio's app_python3.
func pyTree(n *router.Node) py.Object {
	switch {
	case n.Array:
		l := py.NewListSized(len(n.Items))
		for i := range n.Items {
			l.Items[i] = pyTree(&n.Items[i])
		}
		return l
	case n.Dict:
		d := py.NewStringDict()
		for i := range n.Items {
			d[n.Items[i].Key] = pyTree(&n.Items[i])
		}
		return d
	case n.Val.Kind == router.Int:
		return pyInt(n.Val.I)
	case n.Val.Kind == router.Str:
		return py.String(n.Val.String())
	}
	return py.None
}
