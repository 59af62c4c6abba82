package lua

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/enginetest"
	_ "github.com/kemi-sip/kemi/modules/all"
	lua "github.com/yuin/gopher-lua"
)

// A test module: the cheapest exports there can be, to measure the call
// path alone.
func init() {
	dispatch.Register(dispatch.Module{Name: "kemibench", Exports: []dispatch.Def{
		{Name: "int_int", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, n int) int { return n })},
		{Name: "str_int", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int { return len(s) })},
		{Name: "zero", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return 0 })},
	}})
}

type fixture struct {
	*enginetest.Fixture
	r *runner
}

func newFixture(tb testing.TB, script string, logTo io.Writer) *fixture {
	tb.Helper()
	src, err := os.ReadFile(script)
	if err != nil {
		tb.Fatal(err)
	}
	return newFixtureSrc(tb, script, src, logTo)
}

func newFixtureSrc(tb testing.TB, name string, src []byte, logTo io.Writer) *fixture {
	tb.Helper()
	var loads []dispatch.Load
	for _, m := range []string{"sl", "maxfwd", "sanity", "siputils", "corex", "kemix", "textops", "xlog", "kemibench", "app_lua"} {
		loads = append(loads, dispatch.Load{Name: m + ".so"})
	}
	t, err := dispatch.Build(loads, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := New(t, name, src)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{Fixture: enginetest.NewFixture(tb, e, logTo)}
	r, _ := e.newRunner(e.script.Current(), 1)
	r.L.SetGlobal("plain_int", r.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(L.CheckInt(1)))
		return 1
	}))
	f.r = r
	return f
}

// loop calls a benchmark function of the script with n.
func (f *fixture) loop(tb testing.TB, name string, n int) {
	f.Msg.ResetEdits()
	c := f.W.Ctx()
	f.r.c = c
	L := f.r.L
	L.Push(L.GetGlobal(name))
	L.Push(lua.LNumber(n))
	if err := L.PCall(1, 0, f.r.handler); err != nil {
		tb.Fatal(err)
	}
}

func TestRegisterRoute(t *testing.T) {
	f := newFixture(t, "testdata/register.lua", io.Discard)
	rc, err := f.Run()
	if err != nil || rc != 0 {
		t.Fatalf("got rc %d, err %v; want 0 (exit), nil", rc, err)
	}
	c := f.W.Ctx()
	if c.Flags != 1<<2|1<<3 {
		t.Errorf("flags %b, want flags 2 and 3", c.Flags)
	}
	if v := f.W.Var("aor"); v.String() != "sip:alice@127.0.0.1" {
		t.Errorf("$var(aor) = %q", v.String())
	}
	if v := f.W.Var("challenge"); v.I != 1 {
		t.Errorf("$var(challenge) = %v", v)
	}
	out := string(f.Msg.AppendTo(nil))
	if !strings.Contains(out, "Max-Forwards: 69\r\n") {
		t.Errorf("Max-Forwards not decremented:\n%s", out)
	}
}

func TestScriptSemantics(t *testing.T) {
	cases := []struct {
		name, src string
		rc        int
		errHas    string
		drop      bool
	}{
		{"return", "function ksr_request_route() return 5 end", 1, "", false},
		{"exit", "function ksr_request_route() KSR.x.exit() error('not reached') end", 0, "", false},
		{"drop", "function ksr_request_route() KSR.x.drop() end", 0, "", true},
		{"KSR.drop goes on", "function ksr_request_route() KSR.drop() KSR.x.exit() end", 0, "", true},
		{"pcall cannot catch exit", "function ksr_request_route() pcall(function() KSR.x.exit() end) error('not reached') end", 0, "", false},
		{"xpcall cannot catch exit", "function ksr_request_route() xpcall(function() KSR.x.exit() end, function(e) return e end) error('x') end", 0, "", false},
		{"pcall still catches errors", "function ksr_request_route() local ok = pcall(function() error('x') end) if ok then error('caught nothing') end end", 1, "", false},
		{"zero return code stops", "function ksr_request_route() KSR.kemibench.zero() error('not reached') end", 0, "", false},
		{"value int 0 does not stop", "function ksr_request_route() KSR.pv.geti('$var(none)') error('reached') end", -1, "t.lua:1: reached", false},
		{"runtime error", "function ksr_request_route()\n local t = nil\n t.x = 1\nend", -1, "t.lua:3:", false},
		{"arity", "function ksr_request_route()\n KSR.sl.send_reply(404)\nend", -1, "t.lua:2: invalid number of parameters for: KSR.sl.send_reply", false},
		{"type", "function ksr_request_route()\n KSR.setflag('x')\nend", -1, "an int is expected", false},
		{"number as string", "function ksr_request_route() if KSR.pv.sets('$var(n)', 42) then KSR.x.exit() end end", 0, "", false},
		{"xval null is nil", "function ksr_request_route() if KSR.pv.get('$hdr(X-None)') == nil then KSR.x.exit() end error('x') end", 0, "", false},
		{"modf", "function ksr_request_route() KSR.x.modf('setxflag', '3') if KSR.corex.isxflagset(3) > 0 then KSR.x.exit() end error('x') end", 0, "", false},
		{"modf arity", "function ksr_request_route() KSR.x.modf('setxflag') end", -1, "invalid number of parameters for: setxflag", false},
		{"only loaded modules", "function ksr_request_route() if KSR.tm == nil and KSR.registrar == nil then KSR.x.exit() end error('x') end", 0, "", false},
		{"route() runs a function", "function other() KSR.setflag(9) end\nfunction ksr_request_route() KSR.route('other') if KSR.isflagset(9) then KSR.x.exit() end error('x') end", 0, "", false},
		{"exit in a called route stops the caller", "function other() KSR.x.exit() end\nfunction ksr_request_route() KSR.route('other') error('not reached') end", 0, "", false},
	}
	for i, c := range cases {
		f := newFixtureSrc(t, "t.lua", []byte(c.src), io.Discard)
		rc, err := f.Run()
		if rc != c.rc {
			t.Errorf("case %d (%s): rc %d, want %d (err %v)", i, c.name, rc, c.rc, err)
		}
		switch {
		case c.errHas == "" && err != nil:
			t.Errorf("case %d (%s): unexpected error %v", i, c.name, err)
		case c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)):
			t.Errorf("case %d (%s): error %v, want one containing %q", i, c.name, err, c.errHas)
		}
		if f.W.Ctx().Drop != (c.drop || err != nil) { // a script error drops the message
			t.Errorf("case %d (%s): drop %v, want %v", i, c.name, f.W.Ctx().Drop, c.drop)
		}
	}
}

// TestCallAllocs: a KSR call allocates no more than gopher-lua needs to
// call a plain Go function.
func TestCallAllocs(t *testing.T) {
	f := newFixture(t, "testdata/register.lua", io.Discard)
	f.Run()
	// The difference between n and 2n calls leaves out what one entry into
	// Lua costs.
	const n = 1000
	per := func(name string) float64 {
		one := testing.AllocsPerRun(20, func() { f.loop(t, name, n) })
		two := testing.AllocsPerRun(20, func() { f.loop(t, name, 2*n) })
		return (two - one) / n
	}
	// The loop itself costs gopher-lua an allocation every 16 iterations
	// past 127 (its number boxes come in pages): take it out.
	loop := per("bench_empty")
	plain, ksrInt, ksrStr := per("bench_plain")-loop, per("bench_int")-loop, per("bench_str")-loop
	if ksrInt > plain || ksrStr > plain {
		t.Errorf("allocs per call: KSR int %.3f, KSR str %.3f, plain gopher-lua function %.3f", ksrInt, ksrStr, plain)
	}
	t.Logf("allocs per call: KSR int %.4f, KSR str %.4f, plain gopher-lua function %.4f (loop %.4f taken out)", ksrInt, ksrStr, plain, loop)
	if ksrInt > 0.01 || ksrStr > 0.01 {
		t.Errorf("a KSR call allocates: int %.3f, str %.3f per call", ksrInt, ksrStr)
	}
}

func BenchmarkKSRCallInt(b *testing.B) {
	f := newFixture(b, "testdata/register.lua", io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_int", b.N)
}

func BenchmarkKSRCallStr(b *testing.B) {
	f := newFixture(b, "testdata/register.lua", io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_str", b.N)
}

// BenchmarkPlainGoFunction is the baseline: gopher-lua calling a Go
// function registered the ordinary way.
func BenchmarkPlainGoFunction(b *testing.B) {
	f := newFixture(b, "testdata/register.lua", io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_plain", b.N)
}

// BenchmarkTableCallFromGo is the same export called through the table
// from Go, without an interpreter.
func BenchmarkTableCallFromGo(b *testing.B) {
	f := newFixture(b, "testdata/register.lua", io.Discard)
	idx, ok := f.r.e.table.Lookup("kemibench", "int_int")
	if !ok {
		b.Fatal("no export")
	}
	ex := f.r.e.table.At(idx)
	c := f.W.Ctx()
	var a dispatch.Args
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.I[0] = 7
		ex.Call(c, &a)
	}
}

func BenchmarkExit(b *testing.B) {
	f := newFixtureSrc(b, "t.lua", []byte("function ksr_request_route() KSR.x.exit() end"), io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Run()
	}
}

// BenchmarkRegisterRoute runs the 24-call REGISTER route on a parsed
// message (parsing not included).
func BenchmarkRegisterRoute(b *testing.B) {
	f := newFixture(b, "testdata/register.lua", io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Run()
	}
}
