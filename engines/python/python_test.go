package python

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

var script = enginetest.BenchScript("py")

func TestScriptSemantics(t *testing.T) {
	enginetest.RunCases(t, "app_python3", "t.py", newEngine, enginetest.PythonCases)
}

func TestRegisterRoute(t *testing.T) { enginetest.CheckRegister(t, "app_python3", script, newEngine) }

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"def mod_init():\n    return kamailio(\n", "bad.py:3"},
		{"x = 1\n", "defines no function mod_init()"},
		{"def mod_init():\n    return 1\n", "has no method ksr_request_route"},
		{"def mod_init():\n    return None.x\n", "bad.py:2: AttributeError"},
	} {
		_, err := New(enginetest.Table(t, "app_python3"), "bad.py", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error with %q", c.src, err, c.want)
		}
	}
}

func BenchmarkRegisterRoute(b *testing.B) {
	enginetest.BenchRegister(b, "app_python3", script, newEngine)
}

func BenchmarkKSRCall(b *testing.B) { enginetest.BenchCalls(b, "app_python3", script, newEngine) }

func TestReplyRouteDrop(t *testing.T) {
	enginetest.CheckReplyDrop(t, "app_python3", "t.py", newEngine, "import KSR as KSR\ndef mod_init():\n    return kamailio()\nclass kamailio:\n    def ksr_request_route(self, msg):\n        return 1\n    def ksr_reply_route(self, msg):\n        if KSR.kx.get_status() == 183:\n            KSR.x.drop()\n        return 1\n")
}

func TestLatencyLimit(t *testing.T) {
	enginetest.CheckLatencyLimit(t, "app_python3", "t.py", newEngine, "import KSR as KSR\ndef mod_init():\n    return kamailio()\nclass kamailio:\n    def ksr_request_route(self, msg):\n        KSR.kemibench.sleep(5)\n        return 1\n")
}

// TestKSROutsideARoute: mod_init(), __init__ and child_init() may log
// and call what needs no request, as in Kamailio (on its faked message);
// the basic KEMI example does.
func TestKSROutsideARoute(t *testing.T) {
	src := "import KSR as KSR\ndef mod_init():\n    KSR.info('in mod_init\\n')\n    return kamailio()\n" +
		"class kamailio:\n    def __init__(self):\n        self.m = KSR.pv.get('$rm')\n" +
		"    def child_init(self, rank):\n        KSR.info('child %d\\n' % rank)\n        return 0\n" +
		"    def ksr_request_route(self, msg):\n        if self.m == 'OPTIONS':\n            return 1\n        KSR.err('__init__ saw ' + str(self.m) + '\\n')\n        return 1\n"
	e, err := New(enginetest.Table(t, "app_python3"), "t.py", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	f := enginetest.NewFixture(t, e, &logs)
	if _, err := f.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "saw") {
		t.Errorf("KSR.pv.get('$rm') in __init__ is not the faked message's OPTIONS: %s", logs.String())
	}
}

func BenchmarkExit(b *testing.B) {
	enginetest.BenchExit(b, "app_python3", "t.py", newEngine, enginetest.PyScript("self.route()\nreturn 1",
		"def auth(self):\n    KSR.x.exit()", "def route(self):\n    self.auth()"))
}

// BenchmarkNegativeLiteral: a comparison with -255 (Kamailio's example
// compares each sub-route's result with it), 100 times a route.
func BenchmarkNegativeLiteral(b *testing.B) {
	enginetest.BenchExit(b, "app_python3", "t.py", newEngine, enginetest.PyScript(
		"n = 0\nfor i in range(100):\n    if i == -255:\n        n += 1\nKSR.x.exit()"))
}
