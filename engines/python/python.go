// Package python runs KEMI routing scripts in Python on
// github.com/go-python/gpython: loadmodule "app_python3.so" (or
// "app_python.so"), modparam("app_python3", "load", "file.py"),
// cfgengine "python". As in Kamailio, the script's mod_init() returns an
// object whose methods are the routes: ksr_request_route(self, msg), the
// callbacks named in KSR.tm.t_on_*(), child_init(self, rank).
package python

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-python/gpython/py"
	_ "github.com/go-python/gpython/stdlib" // the interpreter's contexts and builtins
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	for _, name := range []string{"app_python3", "app_python"} {
		dispatch.Register(dispatch.ModuleInfo{Name: name, New: func() dispatch.Module { return dispatch.Stateless(dispatch.PythonExports(name)) }, Params: []dispatch.Param{
			{Name: "load", Kind: dispatch.Str},
			{Name: "script_name", Kind: dispatch.Str},
			{Name: "mod_init_function", Kind: dispatch.Str},
			{Name: "child_init_method", Kind: dispatch.Str},
		}})
	}
}

// The contracts the proxy holds the engine to.
var (
	_ router.Engine   = (*Engine)(nil)
	_ router.Reloader = (*Engine)(nil)
	_ router.Runner   = (*runner)(nil)
	_ router.Caller   = (*runner)(nil)
)

// Engine is a compiled Python script bound to an export table.
type Engine struct {
	table                  *dispatch.Table
	file                   string
	src                    []byte // the embedded script's text; nil: read file at each (re)load
	router.Script[py.Code]        // the compiled script: Reload, Generation, Current
}

// New compiles the script at file (or src, when not nil).
func New(t *dispatch.Table, file string, src []byte) (*Engine, error) {
	e := &Engine{table: t, file: file, src: src}
	if err := e.Load(e.compile); err != nil {
		return nil, err
	}
	return e, nil
}

// Name is "python".
func (e *Engine) Name() string { return "python" }

// compile compiles the script and checks it by building one throw-away
// context: the module runs and mod_init() gives its object.
func (e *Engine) compile() (*py.Code, error) {
	src, err := dispatch.ReadScript("app_python3", e.file, e.src)
	if err != nil {
		return nil, err
	}
	code, err := py.Compile(string(src), e.file, py.ExecMode, 0, true)
	if err != nil {
		return nil, fmt.Errorf("app_python3: %s", syntaxError(e.file, err))
	}
	r, err := e.newRunner(code, 0)
	if err != nil {
		return nil, err
	}
	defer r.ctx.Close()
	if !r.Has(router.RouteRequest, "") {
		return nil, fmt.Errorf("app_python3: %s: the object of mod_init() has no method ksr_request_route(self, msg)", e.file)
	}
	return code, nil
}

func syntaxError(file string, err error) string {
	if ei, ok := err.(py.ExceptionInfo); ok {
		err = ei.Value.(error)
	}
	if ex, ok := err.(*py.Exception); ok && ex.Dict["lineno"] != nil {
		msg := ex.Base.Name
		if args, ok := ex.Args.(py.Tuple); ok && len(args) > 0 {
			msg += ": " + fmt.Sprint(args[0])
		}
		return fmt.Sprintf("%s:%v: %s", file, ex.Dict["lineno"], msg)
	}
	return file + ": " + err.Error()
}

// NewRunner makes the interpreter context of one worker.
func (e *Engine) NewRunner(rank int) (router.Runner, error) {
	return e.newRunner(e.Current(), rank)
}

// exitSignal is what KSR.x.exit() panics with: a Python exception could
// be caught by the script's try/except, a Go panic goes through the
// interpreter to Run.
type exitSignal struct{}

// runner is one worker's context.
type runner struct {
	e       *Engine
	ctx     py.Context
	obj     py.Object  // what mod_init() returned
	mod     *py.Module // the script's module, where Exec runs code
	c       *router.Ctx
	args    dispatch.Args
	methods router.Functions[py.Object] // bound route methods
	msg     py.Object
	rank    int
	broken  bool // a panic inside the interpreter: rebuild before the next run
}

// Results -256..1023 are boxed once: boxing a py.Int outside 0..255
// allocates.
const intMin, intMax = -256, 1023

var ints [intMax - intMin + 1]py.Object

func init() {
	for i := range ints {
		ints[i] = py.Int(i + intMin)
	}
}

func pyInt(n int64) py.Object {
	if n >= intMin && n <= intMax {
		return ints[n-intMin]
	}
	return py.Int(n)
}

func (e *Engine) newRunner(code *py.Code, rank int) (*runner, error) {
	ctx := py.NewContext(py.DefaultContextOpts())
	r := &runner{e: e, ctx: ctx, msg: py.None, rank: rank, c: router.FakedCtx(nil)}
	r.methods.Lookup = func(name string) py.Object {
		m, err := py.GetAttrString(r.obj, name)
		if _, callable := m.(py.I__call__); err != nil || !callable {
			return nil // only methods: and a tuple could not be compared
		}
		return m
	}
	ksr, err := ctx.Store().NewModule(ctx, r.ksrModule())
	if err != nil {
		ctx.Close()
		return nil, err
	}
	fail := func(what string, err error) (*runner, error) {
		ctx.Close()
		return nil, fmt.Errorf("app_python3: %s %s: %s", what, e.file, r.errText(err))
	}
	m, err := protect(func() (*py.Module, error) { return py.RunCode(ctx, code, e.file, "__main__") })
	if err != nil {
		return fail("loading", err)
	}
	r.mod = m
	bindKSR(m, ksr)
	initName := e.param("mod_init_function", "mod_init")
	init, ok := m.Globals[initName]
	if !ok {
		ctx.Close()
		return nil, fmt.Errorf("app_python3: %s defines no function %s()", e.file, initName)
	}
	if r.obj, err = protect(func() (py.Object, error) { return py.Call(init, nil, nil) }); err != nil {
		return fail("running "+initName+"() of", err)
	}
	if ci, err := py.GetAttrString(r.obj, e.param("child_init_method", "child_init")); err == nil {
		if _, err := protect(func() (py.Object, error) { return py.Call(ci, py.Tuple{py.Int(rank)}, nil) }); err != nil {
			return fail("running child_init() of", err)
		}
	}
	return r, nil
}

// param reads a parameter of app_python3 (or app_python).
func (e *Engine) param(name, def string) string {
	for _, m := range []string{"app_python3", "app_python"} {
		if p := e.table.Params(m); p != nil {
			return p.Str(name, def)
		}
	}
	return def
}

// protect runs f, turning a panic inside the interpreter (gpython panics
// on some unsupported constructs) into an error.
func protect[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			if _, exit := p.(exitSignal); exit {
				panic(p)
			}
			err = fmt.Errorf("panic in the interpreter: %v", p)
		}
	}()
	return f()
}

// Has reports whether the object has the route's method.
func (r *runner) Has(kind router.RouteKind, name string) bool { return r.methods.Has(kind, name) }

// Call calls the method fn of the object mod_init returned with the
// message and string arguments (app_python3's exec); rc is its int
// result, -1 for another.
func (r *runner) Call(c *router.Ctx, fn string, args ...string) (rc int, found bool, err error) {
	m, gerr := py.GetAttrString(r.obj, fn)
	if _, callable := m.(py.I__call__); gerr != nil || !callable {
		return -1, false, nil
	}
	t := py.Tuple{r.msg}
	for _, a := range args {
		t = append(t, py.String(a))
	}
	res, exited, err := r.guard(c, fn, func() (py.Object, error) { return py.Call(m, t, nil) })
	if err != nil {
		return -1, true, err
	}
	if exited {
		return 1, true, nil // the exit ends the method alone
	}
	if n, ok := res.(py.Int); ok {
		return int(n), true, nil
	}
	return -1, true, nil
}

// Exec runs code in the script's module.
func (r *runner) Exec(c *router.Ctx, name, code string) error {
	_, _, err := r.guard(c, name, func() (py.Object, error) {
		code, err := py.Compile(code+"\n", name, py.ExecMode, 0, true)
		if err != nil {
			return nil, err
		}
		return r.ctx.RunCode(code, r.mod.Globals, r.mod.Globals, nil)
	})
	return err
}

// guard runs f with c as the message: exited when KSR.x.exit ended it;
// an exception comes back with the script's file:line; a panic in the
// interpreter marks the runner for a rebuild.
func (r *runner) guard(c *router.Ctx, name string, f func() (py.Object, error)) (res py.Object, exited bool, err error) {
	prev := r.c
	r.c = c
	defer func() {
		r.c = prev
		if p := recover(); p != nil {
			if _, exit := p.(exitSignal); exit {
				res, exited, err = nil, true, nil
				return
			}
			r.broken = true
			res, err = nil, &router.ScriptError{Route: name, Msg: fmt.Sprintf("panic in the interpreter: %v", p)}
		}
	}()
	res, err = f()
	if err != nil {
		se := &router.ScriptError{Route: name}
		se.Where, se.Msg = r.where(err)
		return nil, false, se
	}
	return res, false, nil
}

// Run calls the route's method with msg (and the event's name for an
// event route). KSR.x.exit() and KSR.x.drop() end it with 0; an exception
// is returned with the script's file:line.
func (r *runner) Run(c *router.Ctx, kind router.RouteKind, name string) (rc int, err error) {
	if r.broken {
		if err := r.rebuild(); err != nil {
			return -1, &router.ScriptError{Route: name, Msg: err.Error()}
		}
	}
	m, mname := r.methods.Get(kind, name)
	if m == nil {
		return -1, &router.ScriptError{Route: mname, Msg: "no method " + mname + "(self, msg) in the object of mod_init() in " + r.e.file}
	}
	args := py.Tuple{r.msg}
	if kind == router.RouteEvent {
		args = py.Tuple{r.msg, py.String(c.EventArg(name))}
	}
	_, exited, err := r.guard(c, mname, func() (py.Object, error) { return py.Call(m, args, nil) })
	switch {
	case err != nil:
		return -1, err
	case exited:
		// In a route called by KSR.route the 0 returned stops the caller
		// as well; a branch or failure route run by tm ends alone.
		return 0, nil
	}
	return 1, nil
}

// rebuild replaces a context a panic went through.
func (r *runner) rebuild() error {
	n, err := r.e.newRunner(r.e.Current(), r.rank)
	if err != nil {
		return err
	}
	r.ctx.Close()
	*r = *n
	return nil
}

// where gives the file:line of the innermost frame of the script in an
// exception's traceback, and the exception as Python prints it.
func (r *runner) where(err error) (string, string) {
	ei, ok := err.(py.ExceptionInfo)
	if !ok {
		return "", err.Error()
	}
	where := ""
	for tb := ei.Traceback; tb != nil; tb = tb.Next {
		if tb.Frame != nil && tb.Frame.Code != nil && tb.Frame.Code.Filename == r.e.file {
			where = r.e.file + ":" + strconv.Itoa(int(tb.Lineno))
		}
	}
	msg := ei.Type.Name
	if ex, ok := ei.Value.(*py.Exception); ok {
		if args, ok := ex.Args.(py.Tuple); ok && len(args) > 0 {
			parts := make([]string, len(args))
			for i, a := range args {
				parts[i] = str(a)
			}
			msg += ": " + strings.Join(parts, ", ")
		}
	}
	return where, msg
}

func (r *runner) errText(err error) string {
	where, msg := r.where(err)
	if where == "" {
		return msg
	}
	return where + ": " + msg
}

// str is Python's str() of o, for messages.
func str(o py.Object) string {
	if s, err := py.Str(o); err == nil {
		if s, ok := s.(py.String); ok {
			return string(s)
		}
	}
	return fmt.Sprint(o)
}
