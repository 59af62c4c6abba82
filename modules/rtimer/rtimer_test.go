package rtimer_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestParams: the timer and exec parameters Kamailio refuses are refused
// at start-up with its reason; good ones (seconds, microseconds, a mode,
// the default interval, a trailing ';') load.
func TestParams(t *testing.T) {
	const load = "loadmodule \"rtimer.so\"\n"
	for params, want := range map[string]string{
		`modparam("rtimer", "timer", "interval=10")`:                                                         "invalid timer name",
		`modparam("rtimer", "timer", "name=a;interval=10") modparam("rtimer", "timer", "name=A;interval=5")`: "duplicate timer with same name: A",
		`modparam("rtimer", "timer", "name=a;interval=x")`:                                                   "timer a: invalid interval: x",
		`modparam("rtimer", "timer", "name=a;interval=-3")`:                                                  "timer a: invalid interval: -3",
		`modparam("rtimer", "timer", "name=a;mode=many")`:                                                    "timer a: invalid mode: many",
		`modparam("rtimer", "exec", "timer=b;route=r")`:                                                      "timer not found - name: b",
		`modparam("rtimer", "timer", "name=a;interval=1") modparam("rtimer", "exec", "timer=a")`:             "invalid route",
	} {
		_, err := moduletest.NewErr(t, load+strings.ReplaceAll(params, ") m", ")\nm")+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", params, err, want)
		}
	}
	for _, params := range []string{
		`modparam("rtimer", "timer", "name=a;interval=10;")`,
		`modparam("rtimer", "timer", "name=a;interval=500u;mode=2")`,
		`modparam("rtimer", "default_interval", 5)` + "\n" + `modparam("rtimer", "timer", "name=a")`,
	} {
		if _, err := moduletest.NewErr(t, load+params+"\n"); err != nil {
			t.Errorf("%s: %v", params, err)
		}
	}
}

// TestWorkerPV: $rtimer_worker is 0 outside a timer's workers, and 0
// without the module.
func TestWorkerPV(t *testing.T) {
	for _, cfg := range []string{"loadmodule \"rtimer.so\"\nloadmodule \"pv.so\"\n", "loadmodule \"pv.so\"\n"} {
		k := moduletest.New(t, cfg)
		k.Request(moduletest.Options)
		k.Run([]moduletest.Case{{"pv.get", []any{"$rtimer_worker"}, "0"}})
	}
}
