// Package jsdt runs KEMI routing scripts in JavaScript on
// github.com/dop251/goja: loadmodule "app_jsdt.so",
// modparam("app_jsdt", "load", "file.js"), cfgengine "jsdt". The script
// is compiled once to a *goja.Program; each worker runs it in its own
// goja.Runtime.
package jsdt

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/dop251/goja"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "app_jsdt", New: func() dispatch.Module { return dispatch.Stateless(dispatch.AppExports("app_jsdt", "jsdt")) }, Params: []dispatch.Param{
		{Name: "load", Kind: dispatch.Str},
		{Name: "mode", Kind: dispatch.Int},
	}})
}

// The contracts the proxy holds the engine to.
var (
	_ router.Engine   = (*Engine)(nil)
	_ router.Reloader = (*Engine)(nil)
	_ router.Runner   = (*runner)(nil)
	_ router.Caller   = (*runner)(nil)
)

// Engine is a compiled JavaScript program bound to an export table.
type Engine struct {
	table                       *dispatch.Table
	file                        string
	src                         []byte // the embedded script's text; nil: read file at each (re)load
	router.Script[goja.Program]        // the compiled script: Reload, Generation, Current
}

// New compiles the script at file (or src, when not nil).
func New(t *dispatch.Table, file string, src []byte) (*Engine, error) {
	e := &Engine{table: t, file: file, src: src}
	if err := e.Load(e.compile); err != nil {
		return nil, err
	}
	return e, nil
}

// Name is "jsdt".
func (e *Engine) Name() string { return "jsdt" }

var lineRe = regexp.MustCompile(`Line (\d+):(\d+) (.*)`)

// compile compiles the script and checks it by running its top level in
// a throw-away runtime.
func (e *Engine) compile() (*goja.Program, error) {
	src, err := dispatch.ReadScript("app_jsdt", e.file, e.src)
	if err != nil {
		return nil, err
	}
	p, err := goja.Compile(e.file, string(src), false)
	if err != nil {
		if m := lineRe.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("app_jsdt: %s:%s:%s: %s", e.file, m[1], m[2], m[3])
		}
		return nil, fmt.Errorf("app_jsdt: %s: %v", e.file, err)
	}
	r, err := e.newRunner(p, 0)
	if err != nil {
		return nil, err
	}
	if !r.Has(router.RouteRequest, "") {
		return nil, fmt.Errorf("app_jsdt: %s defines no function ksr_request_route()", e.file)
	}
	return p, nil
}

// NewRunner makes the runtime of one worker.
func (e *Engine) NewRunner(rank int) (router.Runner, error) {
	return e.newRunner(e.Current(), rank)
}

// exitSignal is the value KSR.x.exit() interrupts the runtime with: an
// interrupt, unlike an exception, cannot be caught by try/catch.
type exitSignal struct{}

// runner is one worker's runtime.
type runner struct {
	e     *Engine
	vm    *goja.Runtime
	c     *router.Ctx
	args  dispatch.Args
	funcs router.Functions[*route]
	ints  []goja.Value // boxed results intMin..intMax
	undef goja.Value
}

// route is a route function of the script: its Callable, and the program
// "name()" that calls it by name (nil for a name that is not an
// identifier). Run as a program, a KSR.x.exit() leaves the runtime
// through two recovers, where a call through the Callable passes four (a
// Go panic each: BenchmarkExit 3.5 → 1.8 µs); a program calls the global
// of that name, as Kamailio's app_jsdt does.
type route struct {
	call goja.Callable
	prog *goja.Program
}

// Results -256..1023 are boxed once per runtime: boxing a negative
// number or one past 255 allocates.
const intMin, intMax = -256, 1023

func (e *Engine) newRunner(p *goja.Program, rank int) (*runner, error) {
	vm := goja.New()
	r := &runner{e: e, vm: vm, undef: goja.Undefined(), c: router.FakedCtx(nil)}
	r.funcs.Lookup = func(name string) *route {
		f, ok := goja.AssertFunction(vm.Get(name))
		if !ok {
			return nil
		}
		rt := &route{call: f}
		if identifier(name) {
			rt.prog, _ = goja.Compile("", name+"()", false)
		}
		return rt
	}
	r.ints = make([]goja.Value, intMax-intMin+1)
	for i := range r.ints {
		r.ints[i] = vm.ToValue(i + intMin)
	}
	if err := r.bindKSR(); err != nil {
		return nil, err
	}
	if _, err := vm.RunProgram(p); err != nil {
		vm.ClearInterrupt()
		return nil, fmt.Errorf("app_jsdt: loading %s: %s", e.file, r.errText(err))
	}
	return r, nil
}

// bindKSR builds the KSR object: an object per submodule and a Go
// function per export that holds its table index.
func (r *runner) bindKSR() error {
	vm, t := r.vm, r.e.table
	ksr := vm.NewObject()
	subs := map[string]*goja.Object{}
	for i := 0; i < t.Len(); i++ {
		ex := t.At(i)
		if ex.NativeOnly {
			continue
		}
		idx := i
		fn := func(call goja.FunctionCall) goja.Value { return r.call(call, idx) }
		obj := ksr
		if ex.Module != "" {
			if obj = subs[ex.Module]; obj == nil {
				obj = vm.NewObject()
				subs[ex.Module] = obj
				if err := ksr.Set(ex.Module, obj); err != nil {
					return err
				}
			}
		}
		if err := obj.Set(ex.Name, fn); err != nil {
			return err
		}
	}
	x := vm.NewObject()
	for name, fn := range map[string]func(goja.FunctionCall) goja.Value{
		"exit": func(goja.FunctionCall) goja.Value { return r.exit() },
		"drop": func(goja.FunctionCall) goja.Value { r.c.Drop = true; return r.exit() },
		"modf": r.modf,
	} {
		if err := x.Set(name, fn); err != nil {
			return err
		}
	}
	if err := ksr.Set("x", x); err != nil {
		return err
	}
	if err := ksr.Set("drop", func(goja.FunctionCall) goja.Value { r.c.Drop = true; return r.undef }); err != nil {
		return err
	}
	return vm.Set("KSR", ksr)
}

// exit interrupts the runtime: the script stops at its next instruction,
// whatever try/catch/finally it is in.
func (r *runner) exit() goja.Value {
	r.vm.Interrupt(exitSignal{})
	return r.undef
}

// throw raises a JavaScript Error; its stack names the script's line.
func (r *runner) throw(msg string) {
	panic(r.vm.NewGoError(errors.New(msg)))
}

func typeName(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	return v.ExportType().Kind().String()
}

// call converts the arguments by the export's declared kinds, calls it and
// returns its result.
func (r *runner) call(call goja.FunctionCall, idx int) goja.Value {
	ex := r.e.table.At(idx)
	if n := len(call.Arguments); n != len(ex.Params) {
		r.throw(ex.ArityError(n))
	}
	a := &r.args
	for i, k := range ex.Params {
		v := call.Arguments[i]
		switch {
		case goja.IsNumber(v):
			if k == dispatch.Int {
				a.I[i] = int(v.ToInteger())
			} else {
				a.S[i] = dispatch.NumberString(v.ToFloat())
			}
		case goja.IsString(v):
			if k == dispatch.Str {
				a.S[i] = v.String()
				break
			}
			n, ok := dispatch.IntArg(v.String())
			if !ok {
				r.throw(ex.TypeError(i, strconv.Quote(v.String())))
			}
			a.I[i] = n
		default:
			r.throw(ex.TypeError(i, typeName(v)))
		}
	}
	res, err := ex.Invoke(r.c, a)
	if err != nil {
		r.throw(err.Error())
	}
	return r.result(ex, res)
}

func (r *runner) result(ex *dispatch.Export, res router.Value) goja.Value {
	switch ex.Ret {
	case dispatch.Int:
		return r.code(ex, res)
	case dispatch.Bool:
		r.c.RC = int(res.I)
		return r.vm.ToValue(res.I > 0)
	case dispatch.XVal, dispatch.Str:
		switch res.Kind {
		case router.Null:
			return goja.Null()
		case router.Int:
			return r.int(res.I)
		case router.Tree:
			v := r.tree(&r.c.Tree)
			r.c.Tree = router.Node{}
			return v
		}
		if res.B != nil {
			return r.vm.ToValue(string(res.B))
		}
		return r.vm.ToValue(res.S)
	}
	return r.undef
}

func (r *runner) int(n int64) goja.Value {
	if n >= intMin && n <= intMax {
		return r.ints[n-intMin]
	}
	return r.vm.ToValue(n)
}

// code returns an int result and keeps it as $rc; a result that stops the
// script interrupts it.
func (r *runner) code(ex *dispatch.Export, res router.Value) goja.Value {
	r.c.RC = int(res.I)
	if ex.Stops(res) {
		r.exit()
	}
	return r.int(res.I)
}

// modf is KSR.x.modf("native_name", "p1", ...).
func (r *runner) modf(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		r.throw("KSR.x.modf: the function name is missing")
	}
	params := make([]string, len(call.Arguments)-1)
	for i := range params {
		params[i] = call.Arguments[i+1].String()
	}
	ex, err := r.e.table.ModF(call.Arguments[0].String(), params, &r.args)
	if err != nil {
		r.throw(err.Error())
	}
	res, err := ex.Invoke(r.c, &r.args)
	if err != nil {
		r.throw(err.Error())
	}
	if ex.Ret == dispatch.Int || ex.Ret == dispatch.Bool {
		return r.code(ex, res)
	}
	return r.result(ex, res)
}

// Has reports whether the script defines the route's function.
func (r *runner) Has(kind router.RouteKind, name string) bool { return r.funcs.Has(kind, name) }

// Call calls the global function fn with string arguments (app_jsdt's
// run); a KSR.x.exit in it ends it alone.
func (r *runner) Call(c *router.Ctx, fn string, args ...string) (int, bool, error) {
	f, ok := goja.AssertFunction(r.vm.Get(fn))
	if !ok {
		return -1, false, nil
	}
	vals := make([]goja.Value, len(args))
	for i, a := range args {
		vals[i] = r.vm.ToValue(a)
	}
	return 1, true, r.guard(c, fn, func() error { _, err := f(r.undef, vals...); return err })
}

// Exec runs code in the worker's runtime (app_jsdt's runstring, dostring,
// dofile).
func (r *runner) Exec(c *router.Ctx, name, code string) error {
	return r.guard(c, name, func() error { _, err := r.vm.RunScript(name, code); return err })
}

// guard runs f with c as the message; an exit ends it without an error.
func (r *runner) guard(c *router.Ctx, name string, f func() error) error {
	prev := r.c
	r.c = c
	err := f()
	r.c = prev
	if err == nil {
		return nil
	}
	if ie, ok := err.(*goja.InterruptedError); ok {
		if _, exit := ie.Value().(exitSignal); exit {
			r.vm.ClearInterrupt()
			return nil
		}
	}
	r.vm.ClearInterrupt()
	se := &router.ScriptError{Route: name}
	se.Where, se.Msg = r.where(err)
	return se
}

// Run calls the route's function. KSR.x.exit() and KSR.x.drop() end it
// with 0; an exception is returned with the script's file:line.
func (r *runner) Run(c *router.Ctx, kind router.RouteKind, name string) (int, error) {
	fp, fname := r.funcs.Get(kind, name)
	if fp == nil {
		return -1, &router.ScriptError{Route: fname, Msg: "function not defined in " + r.e.file}
	}
	prev := r.c
	r.c = c
	var err error
	switch {
	case kind == router.RouteEvent:
		_, err = fp.call(r.undef, r.vm.ToValue(c.EventArg(name)))
	case fp.prog != nil:
		_, err = r.vm.RunProgram(fp.prog)
	default:
		_, err = fp.call(r.undef)
	}
	r.c = prev
	if err == nil {
		return 1, nil
	}
	if ie, ok := err.(*goja.InterruptedError); ok {
		if _, exit := ie.Value().(exitSignal); exit {
			// In a route called by KSR.route the 0 returned stops the
			// caller as well; a branch or failure route run by tm ends
			// alone.
			r.vm.ClearInterrupt()
			return 0, nil
		}
	}
	r.vm.ClearInterrupt()
	se := &router.ScriptError{Route: fname}
	se.Where, se.Msg = r.where(err)
	return -1, se
}

// identifier reports whether s is a plain JavaScript identifier.
func identifier(s string) bool {
	for i, c := range s {
		if c != '_' && c != '$' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// where finds the script's file:line of an exception: the first frame of
// its stack that is in the script.
func (r *runner) where(err error) (string, string) {
	ex, ok := err.(*goja.Exception)
	if !ok {
		return "", err.Error()
	}
	msg := ex.Value().String()
	for _, f := range ex.Stack() {
		if p := f.Position(); p.Line > 0 && f.SrcName() == r.e.file {
			return fmt.Sprintf("%s:%d", p.Filename, p.Line), msg
		}
	}
	return "", msg
}

func (r *runner) errText(err error) string {
	where, msg := r.where(err)
	if where == "" {
		return msg
	}
	return where + ": " + msg
}

// tree makes an array or an object of a dict or an array result
// (KSR.pvx.xavp_getd), as Kamailio's app_jsdt.
func (r *runner) tree(n *router.Node) goja.Value {
	switch {
	case n.Array:
		items := make([]any, len(n.Items))
		for i := range n.Items {
			items[i] = r.tree(&n.Items[i])
		}
		return r.vm.NewArray(items...)
	case n.Dict:
		o := r.vm.NewObject()
		for i := range n.Items {
			o.Set(n.Items[i].Key, r.tree(&n.Items[i]))
		}
		return o
	case n.Val.Kind == router.Int:
		return r.int(n.Val.I)
	case n.Val.Kind == router.Str:
		return r.vm.ToValue(n.Val.String())
	}
	return goja.Null()
}
