package dispatch

import (
	"os"
	"slices"

	"github.com/kemi-sip/kemi/core/router"
)

// AppExports are the KSR functions of an engine's app_* module (app_lua,
// app_jsdt): run and run_p1..3 call a function of the script with string
// arguments, runstring, dostring and dofile run code in the script's
// state. engines are the engine names the module's language runs in. As
// Kamailio's, a function that is missing or fails gives -1 (logged with
// file:line), and one that ends with KSR.x.exit gives 1.
func AppExports(module string, engines ...string) []Export {
	run := func(c *router.Ctx, fn string, args ...string) int {
		cl := appCaller(c, module, engines)
		if cl == nil {
			return -1
		}
		_, found, err := cl.Call(c, fn, args...)
		if !found {
			c.Log().Error(module+": no function "+fn+" in the script", "route", c.Route)
			return -1
		}
		return appResult(c, module, err, 1)
	}
	exec := func(fn string) func(c *router.Ctx, code string) int {
		return func(c *router.Ctx, code string) int {
			cl := appCaller(c, module, engines)
			if cl == nil {
				return -1
			}
			name := fn
			if fn == "dofile" {
				b, err := os.ReadFile(code)
				if err != nil {
					c.Log().Error(module+": dofile: "+err.Error(), "route", c.Route)
					return -1
				}
				name, code = code, string(b)
			}
			return appResult(c, module, cl.Exec(c, name, code), 1)
		}
	}
	prefix := map[string]string{"app_lua": "lua_", "app_jsdt": "jsdt_"}[module]
	return []Export{
		{Name: "run", Native: prefix + "run", Ret: Int, Fn: FS(func(c *router.Ctx, fn string) int { return run(c, fn) })},
		{Name: "run_p1", Native: prefix + "run", Ret: Int, Fn: FSS(func(c *router.Ctx, fn, a string) int { return run(c, fn, a) })},
		{Name: "run_p2", Native: prefix + "run", Ret: Int, Fn: FSSS(func(c *router.Ctx, fn, a, b string) int { return run(c, fn, a, b) })},
		{Name: "run_p3", Native: prefix + "run", Ret: Int, Fn: FSSSS(func(c *router.Ctx, fn, a, b, d string) int { return run(c, fn, a, b, d) })},
		{Name: "runstring", Native: prefix + "runstring", Ret: Int, Fn: FS(exec("runstring"))},
		{Name: "dostring", Native: prefix + "dostring", Ret: Int, Fn: FS(exec("dostring"))},
		{Name: "dofile", Native: prefix + "dofile", Ret: Int, Fn: FS(exec("dofile"))},
	}
}

// PythonExports are app_python's and app_python3's KSR functions: exec
// (and execx) call a method of the object mod_init returned with the
// message, exec_p1 with a string too; the result is the method's.
func PythonExports(module string) []Export {
	exec := func(c *router.Ctx, fn string, args ...string) int {
		cl := appCaller(c, module, []string{"python"})
		if cl == nil {
			return -1
		}
		rc, found, err := cl.Call(c, fn, args...)
		if !found {
			c.Log().Error(module+": no method "+fn+" in the object of mod_init()", "route", c.Route)
			return -1
		}
		return appResult(c, module, err, rc)
	}
	return []Export{
		{Name: "exec", Native: "python_exec", Ret: Int, Fn: FS(func(c *router.Ctx, fn string) int { return exec(c, fn) })},
		{Name: "execx", Native: NoNative, Ret: Int, Fn: FS(func(c *router.Ctx, fn string) int { return exec(c, fn) })},
		{Name: "exec_p1", Native: "python_exec", Ret: Int, Fn: FSS(func(c *router.Ctx, fn, a string) int { return exec(c, fn, a) })},
	}
}

// appCaller is the worker's runner when it runs the module's language.
func appCaller(c *router.Ctx, module string, engines []string) router.Caller {
	e := c.Env().Engine
	if e == nil || !slices.Contains(engines, e.Name()) {
		name := "none"
		if e != nil {
			name = e.Name()
		}
		c.Log().Error(module+": the routing script's engine is "+name+": kemi runs one engine per proxy", "route", c.Route)
		return nil
	}
	if c.W == nil {
		return nil
	}
	cl, ok := c.W.Runner().(router.Caller)
	if !ok {
		c.Log().Error(module+": the "+e.Name()+" engine cannot call functions by name", "route", c.Route)
		return nil
	}
	return cl
}

// appResult logs a script error and gives -1 for it, else rc.
func appResult(c *router.Ctx, module string, err error, rc int) int {
	if err != nil {
		c.Log().Error(module+": "+err.Error(), "route", c.Route)
		return -1
	}
	return rc
}
