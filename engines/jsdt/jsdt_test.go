package jsdt

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/enginetest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

func newEngine(t *dispatch.Table, file string, src []byte) (router.Engine, error) {
	return New(t, file, src)
}

var script = enginetest.BenchScript("js")

func TestScriptSemantics(t *testing.T) {
	enginetest.RunCases(t, "app_jsdt", "t.js", newEngine, enginetest.JSCases)
}

func TestRegisterRoute(t *testing.T) { enginetest.CheckRegister(t, "app_jsdt", script, newEngine) }

func TestSyntaxError(t *testing.T) {
	_, err := New(enginetest.Table(t, "app_jsdt"), "bad.js", []byte("function ksr_request_route() {\n  if (x) {\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "bad.js:4:") {
		t.Fatalf("got %v, want an error at bad.js:4", err)
	}
	_, err = New(enginetest.Table(t, "app_jsdt"), "none.js", []byte("var x = 1;\n"))
	if err == nil || !strings.Contains(err.Error(), "defines no function ksr_request_route") {
		t.Fatalf("got %v", err)
	}
	_, err = New(enginetest.Table(t, "app_jsdt"), "top.js", []byte("function ksr_request_route() {}\nnull.x = 1;\n"))
	if err == nil || !strings.Contains(err.Error(), "top.js:2: TypeError") {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkRegisterRoute(b *testing.B) { enginetest.BenchRegister(b, "app_jsdt", script, newEngine) }

func BenchmarkKSRCall(b *testing.B) { enginetest.BenchCalls(b, "app_jsdt", script, newEngine) }

func TestReplyRouteDrop(t *testing.T) {
	enginetest.CheckReplyDrop(t, "app_jsdt", "t.js", newEngine, "function ksr_request_route() {}\nfunction ksr_reply_route() { if (KSR.kx.get_status() == 183) { KSR.x.drop(); } }\n")
}

func TestLatencyLimit(t *testing.T) {
	enginetest.CheckLatencyLimit(t, "app_jsdt", "t.js", newEngine, "function ksr_request_route() { KSR.kemibench.sleep(5); }")
}

func TestKSROutsideARoute(t *testing.T) {
	enginetest.CheckOutsideRoute(t, "app_jsdt", "t.js", newEngine, "KSR.info('loading\\n');\nvar m = KSR.pv.get('$rm');\n"+
		"function ksr_request_route() {\n  if (m != 'OPTIONS') { KSR.err('saw ' + m + '\\n'); }\n}\n")
}

func BenchmarkExit(b *testing.B) {
	enginetest.BenchExit(b, "app_jsdt", "t.js", newEngine,
		"function auth() { KSR.x.exit(); }\nfunction route() { auth(); }\nfunction ksr_request_route() { route(); }\n")
}
