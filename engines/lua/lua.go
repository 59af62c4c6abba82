// Package lua runs KEMI routing scripts in Lua on github.com/yuin/gopher-lua:
// loadmodule "app_lua.so", modparam("app_lua", "load", "file.lua"),
// cfgengine "lua".
package lua

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "app_lua", New: func() dispatch.Module { return dispatch.Stateless(dispatch.AppExports("app_lua", "lua", "golua")) }, Params: []dispatch.Param{
		{Name: "load", Kind: dispatch.Str},
		{Name: "engine", Kind: dispatch.Str},
		{Name: "reload", Kind: dispatch.Int},
		{Name: "log_mode", Kind: dispatch.Int},
	}})
}

// The contracts the proxy holds the engine to.
var (
	_ router.Engine   = (*Engine)(nil)
	_ router.Reloader = (*Engine)(nil)
	_ router.Runner   = (*runner)(nil)
	_ router.Caller   = (*runner)(nil)
)

// Engine is a compiled Lua script bound to an export table.
type Engine struct {
	table                            *dispatch.Table
	file                             string
	src                              []byte // the embedded script's text; nil: read file at each (re)load
	router.Script[lua.FunctionProto]        // the compiled script: Reload, Generation, Current
}

// New compiles the script at file (or src, when not nil).
func New(t *dispatch.Table, file string, src []byte) (*Engine, error) {
	e := &Engine{table: t, file: file, src: src}
	if err := e.Load(e.compile); err != nil {
		return nil, err
	}
	return e, nil
}

// compile reads, parses and compiles the script, and runs its top level
// once in a throw-away state so that a script that fails while it loads
// is refused here instead of in every worker.
func (e *Engine) compile() (*lua.FunctionProto, error) {
	file := e.file
	src, err := dispatch.ReadScript("app_lua", e.file, e.src)
	if err != nil {
		return nil, err
	}
	chunk, err := parse.Parse(bytes.NewReader(src), file)
	if err != nil {
		return nil, fmt.Errorf("app_lua: %s", syntaxError(file, src, err))
	}
	proto, err := lua.Compile(chunk, file)
	if err != nil {
		return nil, fmt.Errorf("app_lua: %s: %v", file, err)
	}
	r, err := e.newRunner(proto, 0)
	if err != nil {
		return nil, err
	}
	defer r.L.Close()
	if !r.Has(router.RouteRequest, "") {
		return nil, fmt.Errorf("app_lua: %s defines no function ksr_request_route()", file)
	}
	return proto, nil
}

var parseErrRe = regexp.MustCompile(`line:(\d+)\(column:(\d+)\)`)

// syntaxError rewrites gopher-lua's "file line:3(column:5) near 'x':
// syntax error" as "file:3:5: near 'x': syntax error".
func syntaxError(file string, src []byte, err error) string {
	msg := err.Error()
	if strings.Contains(msg, " at EOF:") { // gopher-lua gives no line for this one
		lines := bytes.Count(src, []byte("\n"))
		if len(src) > 0 && src[len(src)-1] != '\n' {
			lines++
		}
		return fmt.Sprintf("%s:%d: unexpected end of file (an 'end' missing?)", file, max(lines, 1))
	}
	if m := parseErrRe.FindStringSubmatchIndex(msg); m != nil {
		line, col := msg[m[2]:m[3]], msg[m[4]:m[5]]
		rest := strings.TrimSpace(msg[m[1]:])
		return fmt.Sprintf("%s:%s:%s: %s", file, line, col, rest)
	}
	return file + ": " + msg
}

// Name is "lua".
func (e *Engine) Name() string { return "lua" }

// NewRunner makes the Lua state of one worker.
func (e *Engine) NewRunner(rank int) (router.Runner, error) {
	return e.newRunner(e.Current(), rank)
}

// runner is one worker's Lua state.
type runner struct {
	e       *Engine
	L       *lua.LState
	c       *router.Ctx
	args    dispatch.Args
	exit    *lua.LUserData // raised by KSR.x.exit, matched by identity
	handler *lua.LFunction
	funcs   router.Functions[*lua.LFunction]
	depth   int
}

// boxed holds pre-made LNumbers for common results: boxing an LNumber into
// an LValue allocates.
var boxed [boxMax - boxMin + 1]lua.LValue

const boxMin, boxMax = -64, 1023

func init() {
	for i := range boxed {
		boxed[i] = lua.LNumber(i + boxMin)
	}
}

func number(n int64) lua.LValue {
	if n >= boxMin && n <= boxMax {
		return boxed[n-boxMin]
	}
	return lua.LNumber(n)
}

func (e *Engine) newRunner(proto *lua.FunctionProto, rank int) (*runner, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, RegistryMaxSize: 1024 * 1024, RegistryGrowStep: 64, CallStackSize: 256})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}, {lua.OsLibName, lua.OpenOs}, {lua.LoadLibName, lua.OpenPackage},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	plainFind(L)
	r := &runner{e: e, L: L, c: router.FakedCtx(nil)}
	r.funcs.Lookup = func(name string) *lua.LFunction { f, _ := L.GetGlobal(name).(*lua.LFunction); return f }
	r.exit = L.NewUserData()
	r.handler = L.NewFunction(func(L *lua.LState) int { return 1 }) // keep the error as is: no traceback string
	r.guardPcall("pcall")
	r.guardPcall("xpcall")
	r.bindKSR()
	fn := L.NewFunctionFromProto(proto)
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		L.Close()
		return nil, fmt.Errorf("app_lua: loading %s: %s", e.file, luaErrText(err))
	}
	return r, nil
}

// luaSpecials are the characters that make a Lua pattern more than plain
// text (lstrlib.c's SPECIALS).
const luaSpecials = "^$*+?.([%-"

// plainFind makes string.find search plain text the way Lua 5.1's own
// string library does (lstrlib.c, str_find_aux): a pattern without special
// characters, or with the fourth argument true, is looked for as a
// substring from init, not compiled and run as a pattern. gopher-lua
// compiles every pattern, some 14 µs and 230 allocations a call (Kamailio's
// example scripts filter each request's User-Agent with four), and answers
// 1, 0 for an empty pattern whatever init is.
func plainFind(L *lua.LState) {
	str, ok := L.GetGlobal("string").(*lua.LTable)
	if !ok {
		return
	}
	find, ok := str.RawGetString("find").(*lua.LFunction)
	if !ok || find.GFunction == nil {
		return
	}
	g := find.GFunction
	str.RawSetString("find", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		s, ok1 := L.Get(1).(lua.LString)
		p, ok2 := L.Get(2).(lua.LString)
		if n < 2 || n > 4 || !ok1 || !ok2 {
			return g(L)
		}
		init := 1
		switch v := L.Get(3).(type) {
		case lua.LNumber:
			init = int(v)
		case *lua.LNilType:
		default:
			return g(L)
		}
		if !lua.LVAsBool(L.Get(4)) && strings.ContainsAny(string(p), luaSpecials) {
			return g(L)
		}
		if init < 0 {
			init += len(s) + 1
		}
		init = min(max(init-1, 0), len(s))
		i := strings.Index(string(s[init:]), string(p))
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(number(int64(init + i + 1)))
		L.Push(number(int64(init + i + len(p))))
		return 2
	}))
}

// guardPcall wraps pcall/xpcall so that a script cannot catch
// KSR.x.exit(): the exit is raised again past the user's handler.
func (r *runner) guardPcall(name string) {
	L := r.L
	orig, ok := L.GetGlobal(name).(*lua.LFunction)
	if !ok || orig.GFunction == nil {
		return
	}
	g := orig.GFunction
	L.SetGlobal(name, L.NewFunction(func(L *lua.LState) int {
		n := g(L)
		if n >= 2 && L.Get(-n) == lua.LFalse && L.Get(-n+1) == r.exit {
			L.Error(r.exit, 0)
		}
		return n
	}))
}

// bindKSR builds the KSR table: a plain nested table per submodule with a
// closure per export that captures its table index.
func (r *runner) bindKSR() {
	L, t := r.L, r.e.table
	ksr := L.NewTable()
	subs := map[string]*lua.LTable{}
	for i := 0; i < t.Len(); i++ {
		ex := t.At(i)
		if ex.NativeOnly {
			continue
		}
		idx := i
		fn := L.NewFunction(func(L *lua.LState) int { return r.call(L, idx) })
		if ex.Module == "" {
			ksr.RawSetString(ex.Name, fn)
			continue
		}
		sub := subs[ex.Module]
		if sub == nil {
			sub = L.NewTable()
			subs[ex.Module] = sub
			ksr.RawSetString(ex.Module, sub)
		}
		sub.RawSetString(ex.Name, fn)
	}
	x := L.NewTable()
	x.RawSetString("exit", L.NewFunction(func(L *lua.LState) int {
		L.Error(r.exit, 0)
		return 0
	}))
	x.RawSetString("drop", L.NewFunction(func(L *lua.LState) int {
		r.c.Drop = true
		L.Error(r.exit, 0)
		return 0
	}))
	x.RawSetString("modf", L.NewFunction(r.modf))
	ksr.RawSetString("x", x)
	ksr.RawSetString("drop", L.NewFunction(func(L *lua.LState) int { r.c.Drop = true; return 0 }))
	L.SetGlobal("KSR", ksr)
}

// call converts the Lua arguments by the export's declared kinds, calls it
// and pushes its result.
func (r *runner) call(L *lua.LState, idx int) int {
	ex := r.e.table.At(idx)
	if n := L.GetTop(); n != len(ex.Params) {
		L.RaiseError("%s", ex.ArityError(n))
	}
	a := &r.args
	for i, k := range ex.Params {
		v := L.Get(i + 1)
		if k == dispatch.Int {
			switch v := v.(type) {
			case lua.LNumber:
				a.I[i] = int(v)
			case lua.LString:
				n, ok := dispatch.IntArg(string(v))
				if !ok {
					L.RaiseError("%s", ex.TypeError(i, strconv.Quote(string(v))))
				}
				a.I[i] = n
			default:
				L.RaiseError("%s", ex.TypeError(i, v.Type().String()))
			}
			continue
		}
		switch v := v.(type) {
		case lua.LString:
			a.S[i] = string(v)
		case lua.LNumber:
			a.S[i] = v.String()
		default:
			L.RaiseError("%s", ex.TypeError(i, v.Type().String()))
		}
	}
	res, err := ex.Invoke(r.c, a)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return r.push(L, ex, res)
}

func (r *runner) push(L *lua.LState, ex *dispatch.Export, res router.Value) int {
	switch ex.Ret {
	case dispatch.Int:
		r.pushCode(L, ex, res)
	case dispatch.Bool:
		r.c.RC = int(res.I)
		L.Push(lua.LBool(res.I > 0))
	case dispatch.XVal, dispatch.Str:
		switch res.Kind {
		case router.Null:
			L.Push(lua.LNil)
		case router.Int:
			L.Push(number(res.I))
		case router.Tree:
			L.Push(luaTree(L, &r.c.Tree))
			r.c.Tree = router.Node{}
		default:
			if res.B != nil {
				L.Push(lua.LString(res.B))
			} else {
				L.Push(lua.LString(res.S))
			}
		}
	default:
		return 0
	}
	return 1
}

// modf is KSR.x.modf("native_name", "p1", ...): a module function called
// by its native-language name with string parameters.
func (r *runner) modf(L *lua.LState) int {
	name := L.CheckString(1)
	params := make([]string, L.GetTop()-1)
	for i := range params {
		params[i] = L.ToString(i + 2)
	}
	ex, err := r.e.table.ModF(name, params, &r.args)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	res, err := ex.Invoke(r.c, &r.args)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	if ex.Ret == dispatch.Int || ex.Ret == dispatch.Bool { // modf gives the native return code, a number
		r.pushCode(L, ex, res)
		return 1
	}
	return r.push(L, ex, res)
}

// pushCode pushes an int result and keeps it as $rc; a result that
// stops the script raises the exit instead.
func (r *runner) pushCode(L *lua.LState, ex *dispatch.Export, res router.Value) {
	r.c.RC = int(res.I)
	if ex.Stops(res) {
		L.Error(r.exit, 0)
	}
	L.Push(number(res.I))
}

// Has reports whether the script defines the route's function.
func (r *runner) Has(kind router.RouteKind, name string) bool { return r.funcs.Has(kind, name) }

// Run calls the route's function. KSR.x.exit() and KSR.x.drop() end it
// with 0; a Lua error is returned with the script's file:line.
func (r *runner) Run(c *router.Ctx, kind router.RouteKind, name string) (int, error) {
	f, fname := r.funcs.Get(kind, name)
	if f == nil {
		return -1, &router.ScriptError{Route: fname, Msg: "function not defined in " + r.e.file}
	}
	L := r.L
	prev := r.c
	r.c = c
	r.depth++
	L.Push(f)
	nargs := 0
	if kind == router.RouteEvent {
		L.Push(lua.LString(c.EventArg(name)))
		nargs = 1
	}
	err := L.PCall(nargs, 0, r.handler)
	r.depth--
	r.c = prev
	if err == nil {
		return 1, nil
	}
	if ae, ok := err.(*lua.ApiError); ok && ae.Object == r.exit {
		// In a route called by KSR.route the 0 returned stops the caller
		// as well; a branch or failure route run by tm ends alone.
		return 0, nil
	}
	L.SetTop(0)
	se := &router.ScriptError{Route: fname}
	se.Where, se.Msg = dispatch.SplitWhere(luaErrText(err))
	return -1, se
}

// Call calls the global function fn with string arguments (app_lua's
// run); a KSR.x.exit in it ends it alone.
func (r *runner) Call(c *router.Ctx, fn string, args ...string) (int, bool, error) {
	f, ok := r.L.GetGlobal(fn).(*lua.LFunction)
	if !ok {
		return -1, false, nil
	}
	r.L.Push(f)
	for _, a := range args {
		r.L.Push(lua.LString(a))
	}
	return 1, true, r.pcall(c, fn, len(args))
}

// Exec runs code in the worker's state (app_lua's runstring, dostring,
// dofile).
func (r *runner) Exec(c *router.Ctx, name, code string) error {
	f, err := r.L.Load(strings.NewReader(code), name)
	if err != nil {
		se := &router.ScriptError{Route: name}
		se.Where, se.Msg = dispatch.SplitWhere(err.Error())
		return se
	}
	r.L.Push(f)
	return r.pcall(c, name, 0)
}

// pcall calls the function on the stack below its n arguments with c as
// the message.
func (r *runner) pcall(c *router.Ctx, name string, n int) error {
	prev := r.c
	r.c = c
	r.depth++
	err := r.L.PCall(n, 0, r.handler)
	r.depth--
	r.c = prev
	if err == nil {
		return nil
	}
	if ae, ok := err.(*lua.ApiError); ok && ae.Object == r.exit {
		return nil
	}
	se := &router.ScriptError{Route: name}
	se.Where, se.Msg = dispatch.SplitWhere(luaErrText(err))
	return se
}

func luaErrText(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		if ae.Object != nil {
			return ae.Object.String()
		}
	}
	return err.Error()
}

// luaTree makes a table of a dict or an array result (KSR.pvx.xavp_getd),
// as Kamailio's app_lua: an array from 1.
func luaTree(L *lua.LState, n *router.Node) lua.LValue {
	switch {
	case n.Array:
		t := L.CreateTable(len(n.Items), 0)
		for i := range n.Items {
			t.RawSetInt(i+1, luaTree(L, &n.Items[i]))
		}
		return t
	case n.Dict:
		t := L.CreateTable(0, len(n.Items))
		for i := range n.Items {
			t.RawSetString(n.Items[i].Key, luaTree(L, &n.Items[i]))
		}
		return t
	}
	switch n.Val.Kind {
	case router.Int:
		return number(n.Val.I)
	case router.Str:
		return lua.LString(n.Val.String())
	}
	return lua.LNil
}
