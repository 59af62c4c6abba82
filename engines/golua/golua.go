// Package golua runs KEMI routing scripts in Lua on
// github.com/Shopify/go-lua (Lua 5.2): loadmodule "app_lua.so",
// modparam("app_lua", "engine", "golua"), cfgengine "lua". The script is
// compiled once to a binary chunk; each worker loads its own state from
// it.
package golua

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	lua "github.com/Shopify/go-lua"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// The contracts the proxy holds the engine to.
var (
	_ router.Engine   = (*Engine)(nil)
	_ router.Reloader = (*Engine)(nil)
	_ router.Runner   = (*runner)(nil)
	_ router.Caller   = (*runner)(nil)
)

// Engine is a Lua script compiled by go-lua, bound to an export table.
type Engine struct {
	table                 *dispatch.Table
	file                  string
	src                   []byte // the embedded script's text; nil: read file at each (re)load
	router.Script[[]byte]        // the compiled script: Reload, Generation, Current
}

// New compiles the script at file (or src, when not nil).
func New(t *dispatch.Table, file string, src []byte) (*Engine, error) {
	e := &Engine{table: t, file: file, src: src}
	if err := e.Load(e.compile); err != nil {
		return nil, err
	}
	return e, nil
}

// Name is "golua".
func (e *Engine) Name() string { return "golua" }

// compile parses the script into a binary chunk and checks it by running
// its top level in a throw-away state.
func (e *Engine) compile() (*[]byte, error) {
	src, err := dispatch.ReadScript("app_lua", e.file, e.src)
	if err != nil {
		return nil, err
	}
	l := lua.NewState()
	if err := l.Load(bytes.NewReader(src), "@"+e.file, "t"); err != nil {
		msg, _ := l.ToString(-1)
		return nil, fmt.Errorf("app_lua: %s", strings.TrimPrefix(msg, "syntax error: "))
	}
	var chunk bytes.Buffer
	if err := l.Dump(&chunk); err != nil {
		return nil, fmt.Errorf("app_lua: %s: %v", e.file, err)
	}
	b := chunk.Bytes()
	r, err := e.newRunner(b, 0)
	if err != nil {
		return nil, err
	}
	if !r.Has(router.RouteRequest, "") {
		return nil, fmt.Errorf("app_lua: %s defines no function ksr_request_route()", e.file)
	}
	return &b, nil
}

// NewRunner makes the Lua state of one worker.
func (e *Engine) NewRunner(rank int) (router.Runner, error) {
	return e.newRunner(*e.Current(), rank)
}

// exitMsg is the error KSR.x.exit() raises; the runner's exiting flag,
// not the text, tells it from a script error.
const exitMsg = "KSR.x.exit"

// runner is one worker's Lua state.
type runner struct {
	e       *Engine
	l       *lua.State
	c       *router.Ctx
	args    dispatch.Args
	exiting bool // KSR.x.exit() is unwinding the script
	funcs   router.Functions[bool]
}

// Numbers -64..1023 boxed once, in a table every KSR function has as its
// upvalue: pushing a float64 allocates, reading it from a table does not.
const boxMin, boxMax = -64, 1023

func (e *Engine) newRunner(chunk []byte, rank int) (*runner, error) {
	l := lua.NewState()
	for _, lib := range []struct {
		name string
		fn   lua.Function
	}{
		{"_G", lua.BaseOpen}, {"package", lua.PackageOpen}, {"table", lua.TableOpen}, {"string", lua.StringOpen},
		{"bit32", lua.Bit32Open}, {"math", lua.MathOpen}, {"os", lua.OSOpen},
	} {
		lua.Require(l, lib.name, lib.fn, true)
		l.Pop(1)
	}
	openPatterns(l)
	r := &runner{e: e, l: l, c: router.FakedCtx(nil)}
	r.funcs.Lookup = func(name string) bool {
		l.Global(name)
		defer l.Pop(1)
		return l.IsFunction(-1)
	}
	l.Register("pcall", r.pcall)
	l.Register("xpcall", r.xpcall)
	r.bindKSR()
	if err := l.Load(bytes.NewReader(chunk), "@"+e.file, "b"); err != nil {
		return nil, fmt.Errorf("app_lua: loading %s: %v", e.file, err)
	}
	if err := l.ProtectedCall(0, 0, 0); err != nil {
		msg, _ := l.ToString(-1)
		return nil, fmt.Errorf("app_lua: loading %s: %s", e.file, msg)
	}
	return r, nil
}

// bindKSR builds the KSR table: a table per submodule, and a Go closure per
// export holding its table index.
func (r *runner) bindKSR() {
	l, t := r.l, r.e.table
	l.CreateTable(boxMax-boxMin+1, 0)
	for i := boxMin; i <= boxMax; i++ {
		l.PushInteger(i)
		l.RawSetInt(-2, i-boxMin+1)
	}
	boxes := l.Top()
	l.NewTable() // KSR
	ksr := l.Top()
	for _, sub := range t.Submodules() {
		if sub != "" {
			l.NewTable()
		}
		for i := 0; i < t.Len(); i++ {
			ex := t.At(i)
			if ex.NativeOnly || ex.Module != sub {
				continue
			}
			idx := i
			l.PushValue(boxes)
			l.PushGoClosure(func(l *lua.State) int { return r.call(l, idx) }, 1)
			l.SetField(-2, ex.Name)
		}
		if sub != "" {
			l.SetField(ksr, sub)
		}
	}
	l.NewTable()
	for name, fn := range map[string]lua.Function{
		"exit": func(l *lua.State) int { return r.exit(l) },
		"drop": func(l *lua.State) int { r.c.Drop = true; return r.exit(l) },
		"modf": r.modf,
	} {
		l.PushValue(boxes)
		l.PushGoClosure(fn, 1)
		l.SetField(-2, name)
	}
	l.SetField(ksr, "x")
	l.PushGoFunction(func(l *lua.State) int { r.c.Drop = true; return 0 })
	l.SetField(ksr, "drop")
	l.SetGlobal("KSR")
	l.Pop(1) // the boxes
}

func (r *runner) exit(l *lua.State) int {
	r.exiting = true
	l.PushString(exitMsg)
	l.Error()
	return 0
}

// raise raises msg as a Lua error at the script's line that made the call.
func raise(l *lua.State, msg string) {
	lua.Where(l, 1)
	l.PushString(msg)
	l.Concat(2)
	l.Error()
}

// pcall and xpcall replace the base library's so that a script cannot
// catch KSR.x.exit(): the exit goes on past the user's handler.
func (r *runner) pcall(l *lua.State) int {
	lua.CheckAny(l, 1)
	err := l.ProtectedCall(l.Top()-1, lua.MultipleReturns, 0)
	if r.exiting {
		return r.exit(l)
	}
	l.PushBoolean(err == nil)
	l.Insert(1)
	return l.Top()
}

// xpcall calls the handler after the error has unwound the stack: go-lua's
// own xpcall takes the handler's stack slot as absolute and calls the
// wrong function when xpcall is not at the bottom of the stack.
func (r *runner) xpcall(l *lua.State) int {
	n := l.Top()
	lua.ArgumentCheck(l, n >= 2, 2, "value expected")
	l.PushValue(1) // f, h, args... -> h, f, args...
	l.PushValue(2)
	l.Replace(1)
	l.Replace(2)
	err := l.ProtectedCall(n-2, lua.MultipleReturns, 0)
	if r.exiting {
		return r.exit(l)
	}
	if err == nil {
		l.PushBoolean(true)
		l.Replace(1)
		return l.Top()
	}
	l.PushValue(1) // h, err -> h, err, h, err
	l.PushValue(2)
	if l.ProtectedCall(1, 1, 0) != nil {
		if r.exiting {
			return r.exit(l)
		}
		l.Pop(1)
		l.PushString("error in error handling")
	}
	l.PushBoolean(false)
	l.Insert(-2)
	return 2
}

// call converts the Lua arguments by the export's declared kinds, calls it
// and pushes its result.
func (r *runner) call(l *lua.State, idx int) int {
	ex := r.e.table.At(idx)
	if n := l.Top(); n != len(ex.Params) {
		raise(l, ex.ArityError(n))
	}
	a := &r.args
	for i, k := range ex.Params {
		v := l.ToValue(i + 1) // the stored value: the To* helpers would box again
		if k == dispatch.Int {
			switch v := v.(type) {
			case float64:
				a.I[i] = int(v)
			case string:
				n, ok := dispatch.IntArg(v)
				if !ok {
					raise(l, ex.TypeError(i, strconv.Quote(v)))
				}
				a.I[i] = n
			default:
				raise(l, ex.TypeError(i, lua.TypeNameOf(l, i+1)))
			}
			continue
		}
		switch v := v.(type) {
		case string:
			a.S[i] = v
		case float64:
			a.S[i] = dispatch.NumberString(v)
		default:
			raise(l, ex.TypeError(i, lua.TypeNameOf(l, i+1)))
		}
	}
	res, err := ex.Invoke(r.c, a)
	if err != nil {
		raise(l, err.Error())
	}
	return r.push(l, ex, res)
}

func (r *runner) push(l *lua.State, ex *dispatch.Export, res router.Value) int {
	switch ex.Ret {
	case dispatch.Int:
		r.pushCode(l, ex, res)
	case dispatch.Bool:
		r.c.RC = int(res.I)
		l.PushBoolean(res.I > 0)
	case dispatch.XVal, dispatch.Str:
		switch res.Kind {
		case router.Null:
			l.PushNil()
		case router.Int:
			pushInt(l, res.I)
		case router.Tree:
			pushTree(l, &r.c.Tree)
			r.c.Tree = router.Node{}
		default:
			if res.B != nil {
				l.PushString(string(res.B))
			} else {
				l.PushString(res.S)
			}
		}
	default:
		return 0
	}
	return 1
}

func pushInt(l *lua.State, n int64) {
	if n >= boxMin && n <= boxMax {
		l.RawGetInt(lua.UpValueIndex(1), int(n)-boxMin+1)
		return
	}
	l.PushInteger(int(n))
}

// pushCode pushes an int result and keeps it as $rc; a result that stops
// the script raises the exit instead.
func (r *runner) pushCode(l *lua.State, ex *dispatch.Export, res router.Value) {
	r.c.RC = int(res.I)
	if ex.Stops(res) || r.exiting {
		r.exit(l)
	}
	pushInt(l, res.I)
}

// modf is KSR.x.modf("native_name", "p1", ...).
func (r *runner) modf(l *lua.State) int {
	name := lua.CheckString(l, 1)
	params := make([]string, l.Top()-1)
	for i := range params {
		params[i], _ = l.ToString(i + 2)
	}
	ex, err := r.e.table.ModF(name, params, &r.args)
	if err != nil {
		raise(l, err.Error())
	}
	res, err := ex.Invoke(r.c, &r.args)
	if err != nil {
		raise(l, err.Error())
	}
	if ex.Ret == dispatch.Int || ex.Ret == dispatch.Bool {
		r.pushCode(l, ex, res)
		return 1
	}
	return r.push(l, ex, res)
}

// Has reports whether the script defines the route's function.
func (r *runner) Has(kind router.RouteKind, name string) bool { return r.funcs.Has(kind, name) }

// Call calls the global function fn with string arguments (app_lua's
// run); a KSR.x.exit in it ends it alone.
func (r *runner) Call(c *router.Ctx, fn string, args ...string) (int, bool, error) {
	l := r.l
	top := l.Top()
	l.Global(fn)
	if !l.IsFunction(-1) {
		l.SetTop(top)
		return -1, false, nil
	}
	for _, a := range args {
		l.PushString(a)
	}
	return 1, true, r.protected(c, fn, top, len(args))
}

// Exec runs code in the worker's state (app_lua's runstring, dostring,
// dofile).
func (r *runner) Exec(c *router.Ctx, name, code string) error {
	l := r.l
	top := l.Top()
	if err := l.Load(strings.NewReader(code), "@"+name, "t"); err != nil {
		msg, _ := l.ToString(-1)
		l.SetTop(top)
		se := &router.ScriptError{Route: name}
		se.Where, se.Msg = dispatch.SplitWhere(strings.TrimPrefix(msg, "syntax error: "))
		return se
	}
	return r.protected(c, name, top, 0)
}

// protected calls the function on the stack below its n arguments with c as
// the message, and leaves the stack at top.
func (r *runner) protected(c *router.Ctx, name string, top, n int) error {
	l := r.l
	prev := r.c
	r.c = c
	err := l.ProtectedCall(n, 0, 0)
	r.c = prev
	if err == nil {
		return nil
	}
	msg, _ := l.ToString(-1)
	l.SetTop(top)
	if r.exiting {
		r.exiting = false
		return nil
	}
	se := &router.ScriptError{Route: name}
	se.Where, se.Msg = dispatch.SplitWhere(msg)
	return se
}

// Run calls the route's function. KSR.x.exit() and KSR.x.drop() end it
// with 0; a Lua error is returned with the script's file:line.
func (r *runner) Run(c *router.Ctx, kind router.RouteKind, name string) (int, error) {
	has, fname := r.funcs.Get(kind, name)
	if !has {
		return -1, &router.ScriptError{Route: fname, Msg: "function not defined in " + r.e.file}
	}
	l := r.l
	prev := r.c
	r.c = c
	top := l.Top()
	l.Global(fname)
	nargs := 0
	if kind == router.RouteEvent {
		l.PushString(c.EventArg(name))
		nargs = 1
	}
	err := l.ProtectedCall(nargs, 0, 0)
	r.c = prev
	if err == nil {
		return 1, nil
	}
	msg, _ := l.ToString(-1)
	l.SetTop(top)
	if r.exiting {
		// In a route called by KSR.route the 0 returned stops the caller
		// as well; a branch or failure route run by tm ends alone.
		r.exiting = false
		return 0, nil
	}
	se := &router.ScriptError{Route: fname}
	se.Where, se.Msg = dispatch.SplitWhere(msg)
	return -1, se
}

// pushTree pushes a table of a dict or an array result
// (KSR.pvx.xavp_getd), as Kamailio's app_lua: an array from 1.
func pushTree(l *lua.State, n *router.Node) {
	switch {
	case n.Array:
		l.CreateTable(len(n.Items), 0)
		for i := range n.Items {
			pushTree(l, &n.Items[i])
			l.RawSetInt(-2, i+1)
		}
	case n.Dict:
		l.CreateTable(0, len(n.Items))
		for i := range n.Items {
			pushTree(l, &n.Items[i])
			l.SetField(-2, n.Items[i].Key)
		}
	case n.Val.Kind == router.Int:
		pushInt(l, n.Val.I)
	case n.Val.Kind == router.Str:
		l.PushString(n.Val.String())
	default:
		l.PushNil()
	}
}
