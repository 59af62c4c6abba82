package enginetest

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
)

// BenchScript is the benchmark script of a language ("lua", "js", "py"),
// from an engine package's directory: the REGISTER route of 24 KSR calls
// as ksr_request_route, and bench_calls, a loop of CallsPerRoute calls of
// KSR.kemibench.int_int(7).
func BenchScript(ext string) string { return "../enginetest/testdata/bench/register." + ext }

// CallsPerRoute is the number of KSR calls bench_calls makes.
const CallsPerRoute = 1000

func benchFixture(tb testing.TB, appModule, script string, newEngine NewEngine) *Fixture {
	tb.Helper()
	src, err := os.ReadFile(script)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := newEngine(Table(tb, appModule), script, src)
	if err != nil {
		tb.Fatal(err)
	}
	return NewFixture(tb, e, io.Discard)
}

// CheckRegister runs the REGISTER route once and checks what it did, so
// that every language's script is known to do the same work.
func CheckRegister(t *testing.T, appModule, script string, newEngine NewEngine) {
	f := benchFixture(t, appModule, script, newEngine)
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
	if v := f.W.Var("save"); v.I != 1 {
		t.Errorf("$var(save) = %v", v)
	}
	out := string(f.Msg.AppendTo(nil))
	if !strings.Contains(out, "Max-Forwards: 69\r\n") {
		t.Errorf("Max-Forwards not decremented:\n%s", out)
	}
	if _, err := f.W.Ctx().RunRoute(router.RouteNamed, "bench_calls"); err != nil {
		t.Errorf("bench_calls: %v", err)
	}
}

// BenchRegister runs the REGISTER route b.N times.
func BenchRegister(b *testing.B, appModule, script string, newEngine NewEngine) {
	f := benchFixture(b, appModule, script, newEngine)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.Run()
	}
}

// BenchCalls runs bench_calls b.N times and reports the time of one KSR
// call (the route's entry shared out).
func BenchCalls(b *testing.B, appModule, script string, newEngine NewEngine) {
	f := benchFixture(b, appModule, script, newEngine)
	f.Run() // the context gets its message
	c := f.W.Ctx()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.RunRoute(router.RouteNamed, "bench_calls")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/CallsPerRoute, "ns/call")
}

// BenchExit runs src's request route, which ends in KSR.x.exit() called
// two functions deep, b.N times: what ending a route costs the engine.
func BenchExit(b *testing.B, appModule, file string, newEngine NewEngine, src string) {
	e, err := newEngine(Table(b, appModule), file, []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	f := NewFixture(b, e, io.Discard)
	if rc, err := f.Run(); rc != 0 || err != nil {
		b.Fatalf("rc %d, err %v: want the exit's 0", rc, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Run()
	}
}
