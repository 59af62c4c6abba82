package dispatch

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"
	_ "unsafe" // go:linkname

	"github.com/kemi-sip/kemi/core/router"
)

// What every engine does the same way around an export call: the error
// texts (so that a wrong call reads the same in Lua, JavaScript and
// Python), the conversions of script numbers and strings, panics inside a
// module, KSR.x.modf.

// Invoke calls the export. A panic inside the module comes back as an
// error for the engine to raise as a script error: the interpreter is in
// a clean state (it is in a Go call) and the proxy goes on.
func (e *Export) Invoke(c *router.Ctx, a *Args) (v router.Value, err error) {
	defer e.recoverPanic(c, &err)
	if c.W != nil {
		if lim := c.W.Env().LatencyCfg.LimitAction(); lim > 0 {
			return e.timed(c, a, lim), nil
		}
	}
	return e.Fn.call(c, a), nil
}

// recoverPanic, deferred by Invoke, turns a panic in the module into its
// error. It is counted and logged with its stack here: an interpreter
// would turn it into a script error and the stack would be lost.
func (e *Export) recoverPanic(c *router.Ctx, err *error) {
	p := recover()
	if p == nil {
		return
	}
	if c.W != nil {
		c.W.Env().LogPanic(p, "function", "KSR."+e.FullName(), "src", c.Src().String())
	}
	*err = fmt.Errorf("KSR.%s: panic in the module: %v", e.FullName(), p)
}

// nanotime is the runtime's monotonic clock: one clock read, where
// time.Now reads the wall clock as well (every KSR call is timed under
// latency_limit_action, as Kamailio times each action).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// timed is a call under latency_limit_action: one that takes lim or more
// is logged at latency_log's level.
func (e *Export) timed(c *router.Ctx, a *Args, lim time.Duration) router.Value {
	start := nanotime()
	v := e.Fn.call(c, a)
	if d := time.Duration(nanotime() - start); d >= lim {
		env := c.W.Env()
		env.Log.Log(context.Background(), router.LevelFromDebug(env.LatencyCfg.Log()), "action KSR."+e.FullName()+" took too long",
			"route", c.Route, "usec", d.Microseconds(), "limit_usec", lim.Microseconds())
	}
	return v
}

// ArityError is the error of a call with n arguments.
func (e *Export) ArityError(n int) string {
	return fmt.Sprintf("invalid number of parameters for: KSR.%s (%d given, %d expected)", e.FullName(), n, len(e.Params))
}

// TypeError is the error of argument i (0-based) that is not of the
// declared kind; got names what the script passed ("nil", "table", a
// quoted string).
func (e *Export) TypeError(i int, got string) string {
	want := "an int"
	if e.Params[i] == Str {
		want = "a string"
	}
	return fmt.Sprintf("invalid parameter %d for: KSR.%s (%s is expected, got %s)", i+1, e.FullName(), want, got)
}

// NumberString writes a script number passed for a string parameter: an
// integral value without a fraction ("42", not "42.0"), as Lua's and
// JavaScript's tostring do.
func NumberString(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// IntArg converts a script string passed for an int parameter.
func IntArg(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// ModF finds the export of KSR.x.modf("native_name", "p1", ...) and fills
// a from the string parameters: a module function called by its name in
// the native language.
func (t *Table) ModF(name string, params []string, a *Args) (*Export, error) {
	idx, ok := t.NativeArgs(name, len(params))
	if !ok {
		return nil, fmt.Errorf("KSR.x.modf: no loaded module function %q", name)
	}
	ex := t.At(idx)
	if len(params) != len(ex.Params) {
		return nil, fmt.Errorf("KSR.x.modf: invalid number of parameters for: %s (%d given, %d expected)", name, len(params), len(ex.Params))
	}
	for i, k := range ex.Params {
		if k == Int {
			n, ok := IntArg(params[i])
			if !ok {
				return nil, fmt.Errorf("KSR.x.modf: %s: parameter %d must be an integer, got %q", name, i+1, params[i])
			}
			a.I[i] = n
		} else {
			a.S[i] = params[i]
		}
	}
	return ex, nil
}

// SplitWhere takes "file.lua:12: msg" apart into "file.lua:12" and "msg".
func SplitWhere(s string) (string, string) {
	if m := whereRe.FindStringSubmatch(s); m != nil {
		return m[1], s[len(m[0]):]
	}
	return "", s
}

var whereRe = regexp.MustCompile(`^([^\s:]+:\d+):\s*`)

// ReadScript gives a script's text: embedded when the script is one of
// the binary's own (the default config's), else read from file now, so
// that a reload sees the file as it is.
func ReadScript(module, file string, embedded []byte) ([]byte, error) {
	if embedded != nil {
		return embedded, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", module, err)
	}
	return b, nil
}
