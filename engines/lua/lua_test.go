package lua

import (
	"io"
	"os"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/enginetest"
	_ "github.com/kemi-sip/kemi/modules/all"
	lua "github.com/yuin/gopher-lua"
)

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
	e, err := New(enginetest.Table(tb, "app_lua"), name, src)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{Fixture: enginetest.NewFixture(tb, e, logTo)}
	r, _ := e.newRunner(e.Current(), 1)
	r.L.SetGlobal("plain_int", r.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(L.CheckInt(1)))
		return 1
	}))
	f.r = r
	return f
}

func newEngine(t *dispatch.Table, file string, src []byte) (router.Engine, error) {
	return New(t, file, src)
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

var script = enginetest.BenchScript("lua")

func TestRegisterRoute(t *testing.T) { enginetest.CheckRegister(t, "app_lua", script, newEngine) }

func TestScriptSemantics(t *testing.T) {
	enginetest.RunCases(t, "app_lua", "t.lua", newEngine, enginetest.LuaCases)
}

// TestCallAllocs: a KSR call allocates no more than gopher-lua needs to
// call a plain Go function.
func TestCallAllocs(t *testing.T) {
	f := newFixture(t, script, io.Discard)
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
	f := newFixture(b, script, io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_int", b.N)
}

func BenchmarkKSRCallStr(b *testing.B) {
	f := newFixture(b, script, io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_str", b.N)
}

// BenchmarkPlainGoFunction is the baseline: gopher-lua calling a Go
// function registered the ordinary way.
func BenchmarkPlainGoFunction(b *testing.B) {
	f := newFixture(b, script, io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	f.loop(b, "bench_plain", b.N)
}

// BenchmarkTableCallFromGo is the same export called through the table
// from Go, without an interpreter: Export.Invoke, the call path of every
// engine (panic recovery, latency_limit_action).
func BenchmarkTableCallFromGo(b *testing.B) {
	f := newFixture(b, script, io.Discard)
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
		ex.Invoke(c, &a)
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

func BenchmarkRegisterRoute(b *testing.B) { enginetest.BenchRegister(b, "app_lua", script, newEngine) }

func BenchmarkKSRCall(b *testing.B) { enginetest.BenchCalls(b, "app_lua", script, newEngine) }

const replyDropLua = "function ksr_request_route() end\nfunction ksr_reply_route() if KSR.kx.get_status() == 183 then KSR.x.drop() end end\n"

func TestReplyRouteDrop(t *testing.T) {
	enginetest.CheckReplyDrop(t, "app_lua", "t.lua", newEngine, replyDropLua)
}

func TestLatencyLimit(t *testing.T) {
	enginetest.CheckLatencyLimit(t, "app_lua", "t.lua", newEngine, "function ksr_request_route() KSR.kemibench.sleep(5) end")
}

func TestKSROutsideARoute(t *testing.T) {
	enginetest.CheckOutsideRoute(t, "app_lua", "t.lua", newEngine, "KSR.info('loading\\n')\nlocal m = KSR.pv.get('$rm')\n"+
		"function ksr_request_route()\n  if m ~= 'OPTIONS' then KSR.err('saw ' .. tostring(m) .. '\\n') end\nend\n")
}

// BenchmarkFindPlain is the user-agent filter of Kamailio's basic KEMI
// example: string.find with patterns that have no special character.
func BenchmarkFindPlain(b *testing.B) {
	f := newFixtureSrc(b, "t.lua", []byte(`function ksr_request_route()
  local ua = "Linphone-Desktop/5.2.6 (Debian GNU/Linux 12) LinphoneCore/5.3.38"
  if string.find(ua, "friendly") or string.find(ua, "scanner")
      or string.find(ua, "sipcli") or string.find(ua, "sipvicious") then
    KSR.err("matched\n")
  end
end`), io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Run()
	}
}

// TestFindPlain: string.find answers as Lua 5.1's does whether the
// pattern is plain text (searched as such) or a pattern.
func TestFindPlain(t *testing.T) {
	f := newFixtureSrc(t, "t.lua", []byte(`
local function same(got, want, what)
  if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want)) end
end
function ksr_request_route()
  local s = "sip:alice@example.com;transport=udp"
  local a, b = string.find(s, "alice")
  same(a, 5, "start"); same(b, 9, "end")
  a, b = s:find("example", 11)
  same(a, 11, "from 11"); same(b, 17, "from 11 end")
  same(s:find("example", 12), nil, "from 12")
  same(s:find("sip", 2), nil, "past the start")
  a = s:find("udp", -3)
  same(a, 33, "negative init")
  same(s:find("nothing"), nil, "absent")
  a, b = s:find("", 3)
  same(a, 3, "empty pattern"); same(b, 2, "empty pattern end")
  a, b = s:find("a.z")
  same(a, nil, "a pattern: '.' is any character, 'a.z' is absent")
  a, b = s:find("l.c")
  same(a, 6, "a pattern: 'l.c' matches 'lic'")
  a, b = s:find("l.c", 1, true)
  same(a, nil, "plain asked: no 'l.c' text")
  local c1 = select(3, s:find("(%a+)@"))
  same(c1, "alice", "capture")
  same(select("#", s:find("alice")), 2, "two results")
  a = string.find(12345, 34)
  same(a, 3, "numbers as strings")
end`), io.Discard)
	if _, err := f.Run(); err != nil {
		t.Fatal(err)
	}
}
