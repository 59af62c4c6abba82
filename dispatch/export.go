// Package dispatch is the KEMI export registry: modules register the
// functions they export, the loaded ones get a fixed index in a 1024-entry
// table, and engines call them by that index with typed arguments.
package dispatch

import (
	"github.com/kemi-sip/kemi/core/router"
)

// Kind is the type of a parameter or a result, as Kamailio's KEMI types.
type Kind uint8

const (
	None Kind = iota // no result
	Int
	Str
	Bool // an int result shown to scripts as a boolean (> 0 is true)
	XVal // a string, an int or null
)

var kindNames = [...]string{"none", "int", "str", "bool", "xval"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// MaxParams is the most parameters an export takes, as in Kamailio.
const MaxParams = 6

// Args holds the arguments of one call: the engine writes parameter i to
// I[i] or S[i] by the export's declared kind. A worker reuses one Args.
type Args struct {
	I [MaxParams]int
	S [MaxParams]string
}

// Func is the uniform signature every export is called through.
type Func func(c *router.Ctx, a *Args) router.Value

// Export is one KEMI function: KSR.<Module>.<Name>.
type Export struct {
	Module string // the KSR submodule, "" for the core functions
	Name   string
	Ret    Kind
	Params []Kind
	Call   Func
	// Native is the function's name in the native config language, when it
	// has one there ("sl_send_reply" for sl.sl_send_reply).
	Native string
	// Value marks an int result that is a value (pv.geti, kx.get_msglen),
	// not a return code: a 0 from it does not stop the script.
	Value bool
	// Raw: the native language passes string parameters as written, not
	// with their pseudo-variables expanded, because the function expands
	// them itself (xlog's format strings).
	Raw bool
	// NativeOnly exports exist in the native language only (www_challenge,
	// where Kamailio's KEMI has auth_challenge): not under KSR, not in
	// api_list, reached through the native name and KSR.x.modf.
	NativeOnly bool
}

// FullName is "sl.send_reply", or "is_INVITE" for a core function.
func (e *Export) FullName() string {
	if e.Module == "" {
		return e.Name
	}
	return e.Module + "." + e.Name
}

// Fn is a typed Go function wrapped for the table by one of the adapters
// below; the adapter records the parameter kinds so that they cannot
// disagree with the Go function.
type Fn struct {
	params []Kind
	ret    retShape
	call   Func
}

type retShape uint8

const (
	retInt retShape = iota
	retValue
	retNone
)

// The adapters, named after the parameter signature: I is an int
// parameter, S a string. A module writes a plain Go function,
// func(c *router.Ctx, code int, reason string) int, and wraps it once.

func F0(f func(*router.Ctx) int) Fn {
	return Fn{nil, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c))) }}
}
func FI(f func(*router.Ctx, int) int) Fn {
	return Fn{[]Kind{Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0]))) }}
}
func FS(f func(*router.Ctx, string) int) Fn {
	return Fn{[]Kind{Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0]))) }}
}
func FII(f func(*router.Ctx, int, int) int) Fn {
	return Fn{[]Kind{Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0], a.I[1]))) }}
}
func FIS(f func(*router.Ctx, int, string) int) Fn {
	return Fn{[]Kind{Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0], a.S[1]))) }}
}
func FSI(f func(*router.Ctx, string, int) int) Fn {
	return Fn{[]Kind{Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0], a.I[1]))) }}
}
func FSS(f func(*router.Ctx, string, string) int) Fn {
	return Fn{[]Kind{Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0], a.S[1]))) }}
}
func FISI(f func(*router.Ctx, int, string, int) int) Fn {
	return Fn{[]Kind{Int, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.S[1], a.I[2])))
	}}
}
func FSSI(f func(*router.Ctx, string, string, int) int) Fn {
	return Fn{[]Kind{Str, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2])))
	}}
}
func FSSS(f func(*router.Ctx, string, string, string) int) Fn {
	return Fn{[]Kind{Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2])))
	}}
}
func FSSSS(f func(*router.Ctx, string, string, string, string) int) Fn {
	return Fn{[]Kind{Str, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.S[3])))
	}}
}
func FSSSI(f func(*router.Ctx, string, string, string, int) int) Fn {
	return Fn{[]Kind{Str, Str, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.I[3])))
	}}
}
func FSSII(f func(*router.Ctx, string, string, int, int) int) Fn {
	return Fn{[]Kind{Str, Str, Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2], a.I[3])))
	}}
}

// V0, VS, VSI, VSS wrap functions with an xval result.
func V0(f func(*router.Ctx) router.Value) Fn {
	return Fn{nil, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c) }}
}
func VS(f func(*router.Ctx, string) router.Value) Fn {
	return Fn{[]Kind{Str}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0]) }}
}
func VSI(f func(*router.Ctx, string, int) router.Value) Fn {
	return Fn{[]Kind{Str, Int}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0], a.I[1]) }}
}
func VSS(f func(*router.Ctx, string, string) router.Value) Fn {
	return Fn{[]Kind{Str, Str}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0], a.S[1]) }}
}

// N0, NS, NSS wrap functions without a result.
func N0(f func(*router.Ctx)) Fn {
	return Fn{nil, retNone, func(c *router.Ctx, a *Args) router.Value { f(c); return router.Value{} }}
}
func NS(f func(*router.Ctx, string)) Fn {
	return Fn{[]Kind{Str}, retNone, func(c *router.Ctx, a *Args) router.Value { f(c, a.S[0]); return router.Value{} }}
}
func NSS(f func(*router.Ctx, string, string)) Fn {
	return Fn{[]Kind{Str, Str}, retNone, func(c *router.Ctx, a *Args) router.Value { f(c, a.S[0], a.S[1]); return router.Value{} }}
}

// Def declares an export of a module: its name, its result kind and the
// wrapped Go function. Its parameter kinds come from the adapter.
type Def struct {
	Name   string
	Ret    Kind
	Fn     Fn
	Native string // the native-language name, if any
	Value  bool   // an int result that is a value, not a return code
	Raw    bool   // native string parameters are passed unexpanded
	// NativeOnly: a native-language function with no KSR face; its native
	// name is Native, or Name when Native is empty.
	NativeOnly bool
}

// Result is the return code for a yes/no answer: 1 for true, -1 for false
// (never 0, which would stop the script).
func Result(ok bool) int {
	if ok {
		return 1
	}
	return -1
}

// Stops reports whether a result ends the script: an int return code of 0
// (not a value such as pv.geti's), the rule every engine follows.
func (e *Export) Stops(res router.Value) bool {
	return e.Ret == Int && !e.Value && res.I == 0
}
