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

// call is the uniform signature every export is called through; the
// adapters below make one from a typed Go function.
type call func(c *router.Ctx, a *Args) router.Value

// Export is one KEMI function, KSR.<Module>.<Name>, and its face in the
// native config language. A module declares its exports (Module and
// Params are filled in by the table); the table holds them at fixed
// indexes and engines call them through Invoke.
type Export struct {
	Module string // the KSR submodule, "" for the core functions; set by the table
	// KSR is the KSR submodule when it is not the module's: the pv
	// module's xavp functions are KSR.pvx, as in Kamailio.
	KSR    string
	Name   string
	Ret    Kind
	Fn     Func
	Params []Kind // the parameter kinds, from Fn; set by the table
	// Native is the function's name in the native config language when it
	// differs from Name ("mf_process_maxfwd_header" for
	// maxfwd.process_maxfwd). A native name may stand for several exports
	// of different arities, as in Kamailio's export tables: save("location")
	// and save("location", "0x02"). NoNative hides a KEMI function from
	// the native language, where Kamailio's native function of that name
	// takes other parameters.
	Native string
	// Value marks an int result that is a value (pv.geti, kx.get_msglen),
	// not a return code: a 0 from it does not stop the script.
	Value bool
	// Raw: the native language passes string parameters as written, not
	// with their pseudo-variables expanded, because the function expands
	// them itself (xlog's format strings).
	Raw bool
	// NativeOnly exports exist in the native language only (www_challenge,
	// where Kamailio's KEMI has auth_challenge; save with one parameter):
	// not under KSR, not in api_list, reached through the native name and
	// KSR.x.modf. Several may share a name with different arities.
	NativeOnly bool
}

// FullName is "sl.send_reply", or "is_INVITE" for a core function.
func (e *Export) FullName() string {
	if e.Module == "" {
		return e.Name
	}
	return e.Module + "." + e.Name
}

// NoNative, as an export's Native, says it has no native face.
const NoNative = "-"

// explicitNative reports whether the native name was declared (Native
// or NativeOnly) rather than taken from the KEMI name: a declared one
// comes first where a native name and arity stand for two exports
// (hdr.append is append_hf, before the older KSR name hdr.append_hf).
func (e *Export) explicitNative() bool {
	return (e.Native != "" && e.Native != NoNative) || e.NativeOnly
}

// NativeName is the export's name in the native config language.
// "" when it has none.
func (e *Export) NativeName() string {
	switch e.Native {
	case "":
		return e.Name
	case NoNative:
		return ""
	}
	return e.Native
}

// Func is a typed Go function wrapped for the table by one of the
// adapters below; the adapter records the parameter kinds so that they
// cannot disagree with the Go function.
type Func struct {
	params []Kind
	ret    retShape
	call   call
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

func F0(f func(*router.Ctx) int) Func {
	return Func{nil, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c))) }}
}
func FI(f func(*router.Ctx, int) int) Func {
	return Func{[]Kind{Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0]))) }}
}
func FS(f func(*router.Ctx, string) int) Func {
	return Func{[]Kind{Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0]))) }}
}
func FII(f func(*router.Ctx, int, int) int) Func {
	return Func{[]Kind{Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0], a.I[1]))) }}
}
func FIS(f func(*router.Ctx, int, string) int) Func {
	return Func{[]Kind{Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.I[0], a.S[1]))) }}
}
func FSI(f func(*router.Ctx, string, int) int) Func {
	return Func{[]Kind{Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0], a.I[1]))) }}
}
func FSS(f func(*router.Ctx, string, string) int) Func {
	return Func{[]Kind{Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value { return router.IntValue(int64(f(c, a.S[0], a.S[1]))) }}
}
func FISI(f func(*router.Ctx, int, string, int) int) Func {
	return Func{[]Kind{Int, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.S[1], a.I[2])))
	}}
}
func FSSI(f func(*router.Ctx, string, string, int) int) Func {
	return Func{[]Kind{Str, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2])))
	}}
}
func FSIS(f func(*router.Ctx, string, int, string) int) Func {
	return Func{[]Kind{Str, Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.I[1], a.S[2])))
	}}
}
func FSISI(f func(*router.Ctx, string, int, string, int) int) Func {
	return Func{[]Kind{Str, Int, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.I[1], a.S[2], a.I[3])))
	}}
}
func FSISS(f func(*router.Ctx, string, int, string, string) int) Func {
	return Func{[]Kind{Str, Int, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.I[1], a.S[2], a.S[3])))
	}}
}
func FSISSS(f func(*router.Ctx, string, int, string, string, string) int) Func {
	return Func{[]Kind{Str, Int, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.I[1], a.S[2], a.S[3], a.S[4])))
	}}
}
func FSSSSS(f func(*router.Ctx, string, string, string, string, string) int) Func {
	return Func{[]Kind{Str, Str, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.S[3], a.S[4])))
	}}
}
func FSSSSSS(f func(*router.Ctx, string, string, string, string, string, string) int) Func {
	return Func{[]Kind{Str, Str, Str, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.S[3], a.S[4], a.S[5])))
	}}
}
func FSSIS(f func(*router.Ctx, string, string, int, string) int) Func {
	return Func{[]Kind{Str, Str, Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2], a.S[3])))
	}}
}
func FIIS(f func(*router.Ctx, int, int, string) int) Func {
	return Func{[]Kind{Int, Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.I[1], a.S[2])))
	}}
}
func FSSS(f func(*router.Ctx, string, string, string) int) Func {
	return Func{[]Kind{Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2])))
	}}
}
func FSSSS(f func(*router.Ctx, string, string, string, string) int) Func {
	return Func{[]Kind{Str, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.S[3])))
	}}
}
func FSSSI(f func(*router.Ctx, string, string, string, int) int) Func {
	return Func{[]Kind{Str, Str, Str, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.S[2], a.I[3])))
	}}
}
func FISSS(f func(*router.Ctx, int, string, string, string) int) Func {
	return Func{[]Kind{Int, Str, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.S[1], a.S[2], a.S[3])))
	}}
}
func FSSIIS(f func(*router.Ctx, string, string, int, int, string) int) Func {
	return Func{[]Kind{Str, Str, Int, Int, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2], a.I[3], a.S[4])))
	}}
}
func FIISS(f func(*router.Ctx, int, int, string, string) int) Func {
	return Func{[]Kind{Int, Int, Str, Str}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.I[1], a.S[2], a.S[3])))
	}}
}
func FIII(f func(*router.Ctx, int, int, int) int) Func {
	return Func{[]Kind{Int, Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.I[0], a.I[1], a.I[2])))
	}}
}
func FSII(f func(*router.Ctx, string, int, int) int) Func {
	return Func{[]Kind{Str, Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.I[1], a.I[2])))
	}}
}
func FSSII(f func(*router.Ctx, string, string, int, int) int) Func {
	return Func{[]Kind{Str, Str, Int, Int}, retInt, func(c *router.Ctx, a *Args) router.Value {
		return router.IntValue(int64(f(c, a.S[0], a.S[1], a.I[2], a.I[3])))
	}}
}

// V0, VS, VSI, VSS, VSII wrap functions with an xval result.
func V0(f func(*router.Ctx) router.Value) Func {
	return Func{nil, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c) }}
}
func VS(f func(*router.Ctx, string) router.Value) Func {
	return Func{[]Kind{Str}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0]) }}
}
func VSI(f func(*router.Ctx, string, int) router.Value) Func {
	return Func{[]Kind{Str, Int}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0], a.I[1]) }}
}
func VSS(f func(*router.Ctx, string, string) router.Value) Func {
	return Func{[]Kind{Str, Str}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0], a.S[1]) }}
}
func VSII(f func(*router.Ctx, string, int, int) router.Value) Func {
	return Func{[]Kind{Str, Int, Int}, retValue, func(c *router.Ctx, a *Args) router.Value { return f(c, a.S[0], a.I[1], a.I[2]) }}
}

// N0, NS, NSS wrap functions without a result.
func N0(f func(*router.Ctx)) Func {
	return Func{nil, retNone, func(c *router.Ctx, a *Args) router.Value { f(c); return router.Value{} }}
}
func NS(f func(*router.Ctx, string)) Func {
	return Func{[]Kind{Str}, retNone, func(c *router.Ctx, a *Args) router.Value { f(c, a.S[0]); return router.Value{} }}
}
func NSS(f func(*router.Ctx, string, string)) Func {
	return Func{[]Kind{Str, Str}, retNone, func(c *router.Ctx, a *Args) router.Value { f(c, a.S[0], a.S[1]); return router.Value{} }}
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
