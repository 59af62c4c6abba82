package enginetest

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// A test module: the cheapest exports there can be, to measure the call
// path alone, and one that panics.
func init() {
	exports := dispatch.Stateless{
		{Name: "int_int", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, n int) int { return n })},
		{Name: "str_int", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int { return len(s) })},
		{Name: "zero", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return 0 })},
		{Name: "panic", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { panic("kemibench.panic called") })},
		{Name: "sleep", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, ms int) int {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return 1
		})},
	}
	dispatch.Register(dispatch.ModuleInfo{Name: "kemibench", New: func() dispatch.Module { return exports }})
}

// Modules are the modules the engines' unit tests load.
var Modules = []string{"sl", "maxfwd", "sanity", "siputils", "corex", "kemix", "textops", "xlog", "kemibench"}

// NewEngine builds an engine of one language on a table.
type NewEngine func(t *dispatch.Table, file string, src []byte) (router.Engine, error)

// Table loads Modules and the engine's module (app_lua, app_jsdt, ...).
func Table(tb testing.TB, appModule string) *dispatch.Table {
	tb.Helper()
	var loads []dispatch.Load
	for _, m := range append(append([]string{}, Modules...), appModule) {
		if m != "" { // the native language has no app module
			loads = append(loads, dispatch.Load{Name: m + ".so"})
		}
	}
	t, err := dispatch.Build(loads, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Case is one script run once on Register: its return code, the error
// it must give (a substring, with the file:line), whether it drops.
type Case struct {
	Name   string
	Src    string
	RC     int
	ErrHas string
	Drop   bool
}

// RunCases runs each case in a new engine built by newEngine on a script
// named file.
func RunCases(t *testing.T, appModule, file string, newEngine NewEngine, cases []Case) {
	for i, c := range cases {
		e, err := newEngine(Table(t, appModule), file, []byte(c.Src))
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.Name, err)
			continue
		}
		f := NewFixture(t, e, io.Discard)
		rc, err := f.Run()
		if rc != c.RC {
			t.Errorf("case %d (%s): rc %d, want %d (err %v)", i, c.Name, rc, c.RC, err)
		}
		switch {
		case c.ErrHas == "" && err != nil:
			t.Errorf("case %d (%s): unexpected error %v", i, c.Name, err)
		case c.ErrHas != "" && (err == nil || !strings.Contains(err.Error(), c.ErrHas)):
			t.Errorf("case %d (%s): error %v, want one containing %q", i, c.Name, err, c.ErrHas)
		}
		if f.W.Ctx().Drop != (c.Drop || err != nil) { // a script error drops the message
			t.Errorf("case %d (%s): drop %v, want %v", i, c.Name, f.W.Ctx().Drop, c.Drop)
		}
		// The state is usable after whatever the case did.
		if _, err := f.Run(); (err == nil) != (c.ErrHas == "") {
			t.Errorf("case %d (%s): second run: %v", i, c.Name, err)
		}
	}
}

// CheckLatencyLimit runs src, whose request route calls
// KSR.kemibench.sleep(5), under latency_limit_action 1000 µs: the slow
// call is logged with its name, the route and the time it took, whatever
// the engine.
func CheckLatencyLimit(t *testing.T, appModule, file string, newEngine NewEngine, src string) {
	e, err := newEngine(Table(t, appModule), file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	f := NewFixture(t, e, &log)
	env := f.W.Env()
	env.LatencyCfg.SetLog(-5) // L_ALERT, Kamailio's latency_log default
	env.LatencyCfg.SetLimitAction(1000)
	if _, err := f.Run(); err != nil {
		t.Fatal(err)
	}
	l := log.String()
	if !strings.Contains(l, `msg="action KSR.kemibench.sleep took too long"`) || !strings.Contains(l, "route=request_route") || !strings.Contains(l, "limit_usec=1000") {
		t.Errorf("the slow call is not logged:\n%s", l)
	}
	env.LatencyCfg.SetLimitAction(0)
	log.Reset()
	f.Run()
	if strings.Contains(log.String(), "took too long") {
		t.Errorf("logged with latency_limit_action off:\n%s", log.String())
	}
}

// replyMsg is a reply of status code to the fixture's REGISTER.
func replyMsg(code int) string {
	return "SIP/2.0 " + strconv.Itoa(code) + " Whatever\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-524287-1---d8f8e2b1;rport\r\n" +
		"To: <sip:alice@127.0.0.1>;tag=x\r\nFrom: <sip:alice@127.0.0.1>;tag=4f1c7a3b\r\n" +
		"Call-ID: OWY0NjE1ZjZhOGE0YTc0YjZjZTY5N2U2M2QzYjg0NzI\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"
}

// CheckReplyDrop runs src, whose reply route drops the 183 replies and
// no other, on a 183 and a 180: one reply dropped.
func CheckReplyDrop(t *testing.T, appModule, file string, newEngine NewEngine, src string) {
	e, err := newEngine(Table(t, appModule), file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f := NewFixture(t, e, io.Discard)
	env := f.W.Env()
	for _, code := range []int{183, 180} {
		p := *f.Pkt
		p.Buf = []byte(replyMsg(code))
		f.W.Handle(&p)
	}
	if n := env.Stats.Replies.Load(); n != 2 {
		t.Fatalf("%d replies handled, want 2", n)
	}
	if n := env.Stats.Dropped.Load(); n != 1 {
		t.Errorf("%d replies dropped, want 1 (the 183)", n)
	}
	if n := env.Stats.ScriptErrors.Load(); n != 0 {
		t.Errorf("%d script errors", n)
	}
}

// CheckOutsideRoute: KSR functions called outside a route (a script's top
// level, at load) run, as Kamailio's, on its faked OPTIONS; src keeps
// KSR.pv.get("$rm") from its top level and its request_route logs "saw"
// with it unless it is OPTIONS.
func CheckOutsideRoute(t *testing.T, appModule, file string, newEngine NewEngine, src string) {
	e, err := newEngine(Table(t, appModule), file, []byte(src))
	if err != nil {
		t.Fatalf("a KSR call at the script's top level: %v", err)
	}
	var logs strings.Builder
	f := NewFixture(t, e, &logs)
	if _, err := f.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "saw") {
		t.Errorf("KSR.pv.get(\"$rm\") at the top level is not the faked message's OPTIONS: %s", logs.String())
	}
}
