package core

import (
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// The core's RPC commands: what the proxy is and how it is doing.
// RPCs are the core.* commands.
func (Module) RPCs(env *router.Env) []dispatch.RPC {
	started := time.Now()
	return []dispatch.RPC{
		{Name: "core.version", Doc: "the version", Fn: func([]any) (any, error) { return router.Version, nil }},
		{Name: "core.uptime", Doc: "when the proxy started and how long ago", Fn: func([]any) (any, error) {
			return map[string]any{"now": time.Now().Format(time.ANSIC), "up_since": started.Format(time.ANSIC),
				"uptime": int64(time.Since(started).Seconds())}, nil
		}},
		{Name: "core.psx", Doc: "the workers", Fn: func([]any) (any, error) {
			pid := os.Getpid()
			out := []map[string]any{{"IDX": 0, "PID": pid, "DSC": "main process (" + strconv.Itoa(runtime.NumGoroutine()) + " goroutines)"}}
			for i, w := range env.Workers() {
				out = append(out, map[string]any{"IDX": i + 1, "PID": pid, "DSC": "worker " + strconv.Itoa(w.Rank)})
			}
			return out, nil
		}},
		{Name: "core.shmmem", Doc: "memory: the Go runtime's heap", Fn: func([]any) (any, error) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return map[string]any{"total": m.Sys, "free": m.Sys - m.HeapInuse - m.StackInuse, "used": m.HeapInuse + m.StackInuse,
				"real_used": m.HeapAlloc, "max_used": m.HeapSys, "fragments": m.HeapObjects, "gc_cycles": m.NumGC}, nil
		}},
	}
}

// The core's runtime parameters (cfg.get/cfg.set core NAME).
// Cfg is the core parameters cfg.set changes.
func (Module) Cfg(env *router.Env) []dispatch.CfgVar {
	intVar := func(name, doc string, get func() int, set func(int) error) dispatch.CfgVar {
		return dispatch.CfgVar{Group: "core", Name: name, Doc: doc, Int: true,
			Get: func() any { return get() },
			Set: func(v any) error { return set(int(v.(int64))) }}
	}
	l := &env.LatencyCfg
	vars := []dispatch.CfgVar{
		intVar("latency_cfg_log", "log level of each main route's execution time", func() int {
			lvl, on := l.CfgLog()
			if !on {
				return 4 // above debug: not printed (Kamailio's L_MAX)
			}
			return lvl
		}, func(n int) error { l.SetCfgLog(n); return nil }),
		intVar("latency_log", "log level of the took-too-long lines", l.Log, func(n int) error {
			l.SetLog(n)
			db.SetSlowQueryLog(db.SlowQueryLimit(), env.Log, router.LevelFromDebug(n))
			return nil
		}),
		intVar("latency_limit_action", "microseconds a KSR function may take before it is logged (0 off)",
			func() int { return int(l.LimitAction().Microseconds()) },
			func(n int) error {
				if n < 0 {
					return errors.New("want 0 or more microseconds")
				}
				l.SetLimitAction(n)
				return nil
			}),
		intVar("latency_limit_db", "microseconds a database query may take before it is logged (0 off)",
			func() int { return int(db.SlowQueryLimit().Microseconds()) },
			func(n int) error {
				if n < 0 {
					return errors.New("want 0 or more microseconds")
				}
				db.SetSlowQueryLog(time.Duration(n)*time.Microsecond, env.Log, router.LevelFromDebug(l.Log()))
				return nil
			}),
	}
	if env.Level != nil {
		vars = append(vars, intVar("debug", "the log level (-5 alert .. 3 debug)",
			func() int { return router.DebugFromLevel(func(lv slog.Level) bool { return lv >= env.Level.Level() }) },
			func(n int) error { env.Level.Set(router.LevelFromDebug(n)); return nil }))
	}
	return vars
}
