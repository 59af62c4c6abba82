// Package rtimer is Kamailio's rtimer module: routes run on timers, on
// Kamailio's faked message — route[NAME] in the native language, in a
// KEMI script the function NAME given "rtimer".
package rtimer

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// timer is one modparam("rtimer", "timer", "name=t;interval=10;mode=1").
type timer struct {
	name     string
	interval time.Duration
	mode     int      // 0: the shared timer; N: N workers of its own, each running the routes
	routes   []string // in the order they run: the last exec parameter first, as Kamailio's
}

// Module is the rtimer module of one proxy.
type Module struct {
	timers []*timer
	mu     sync.Mutex
	index  map[*router.Worker]int // $rtimer_worker of each timer worker
	stop   chan struct{}
	wg     sync.WaitGroup
	log    *slog.Logger
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	dispatch.Register(dispatch.ModuleInfo{Name: "rtimer",
		Params: []dispatch.Param{
			dispatch.P("default_interval", i, "120", "seconds, for a timer given no interval"),
			{Name: "timer", Kind: s, Multi: true, Doc: "name=NAME;interval=SECONDS (or MICROSECONDSu);mode=WORKERS"},
			{Name: "exec", Kind: s, Multi: true, Doc: "timer=NAME;route=ROUTE: the route runs on each tick of the timer"},
		},
		New: func() dispatch.Module { return &Module{index: map[*router.Worker]int{}} },
	})
	router.RegisterPV("rtimer_worker", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		m, _ := c.Env().Module("rtimer").(*Module)
		if m == nil {
			return router.IntValue(0)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		return router.IntValue(int64(m.index[c.W]))
	}})
}

// params reads "a=1;b=2" (a trailing ';' allowed), names lower-cased.
func params(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(strings.TrimSpace(s), ";"), ";") {
		k, v, _ := strings.Cut(kv, "=")
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// Init reads the timers and what each runs.
func (m *Module) Init(p *dispatch.Params) error {
	def := p.Int("default_interval", 120)
	for _, v := range p.All("timer") {
		kv := params(v.String())
		t := &timer{name: kv["name"]}
		if t.name == "" {
			return fmt.Errorf("rtimer: timer %q: invalid timer name", v.String())
		}
		for _, o := range m.timers {
			if strings.EqualFold(o.name, t.name) {
				return fmt.Errorf("rtimer: duplicate timer with same name: %s", t.name)
			}
		}
		if ms := kv["mode"]; ms != "" {
			n, err := strconv.Atoi(ms)
			if err != nil || n < 0 {
				return fmt.Errorf("rtimer: timer %s: invalid mode: %s", t.name, ms)
			}
			t.mode = n
		}
		unit := time.Second
		iv := kv["interval"]
		if strings.HasSuffix(iv, "u") || strings.HasSuffix(iv, "U") {
			iv, unit = iv[:len(iv)-1], time.Microsecond
			if t.mode == 0 {
				t.mode = 1
			}
		}
		n := 0
		if iv != "" {
			var err error
			if n, err = strconv.Atoi(iv); err != nil || n < 0 {
				return fmt.Errorf("rtimer: timer %s: invalid interval: %s", t.name, kv["interval"])
			}
		}
		if n == 0 {
			n, unit = def, time.Second
		}
		t.interval = time.Duration(n) * unit
		if t.interval <= 0 {
			return fmt.Errorf("rtimer: timer %s: the interval must be positive", t.name)
		}
		m.timers = append(m.timers, t)
	}
	for _, v := range p.All("exec") {
		kv := params(v.String())
		var t *timer
		for _, o := range m.timers {
			if strings.EqualFold(o.name, kv["timer"]) {
				t = o
			}
		}
		if t == nil {
			return fmt.Errorf("rtimer: exec %q: timer not found - name: %s", v.String(), kv["timer"])
		}
		if kv["route"] == "" {
			return fmt.Errorf("rtimer: exec %q: invalid route", v.String())
		}
		t.routes = append([]string{kv["route"]}, t.routes...)
	}
	return nil
}

// kind is how a route of the script is reached: route[NAME] natively, the
// function NAME (given "rtimer") in a KEMI engine.
func kind(env *router.Env) router.RouteKind {
	if env.Engine != nil && env.Engine.Name() == "native" {
		return router.RouteNamed
	}
	return router.RouteEvent
}

// Start checks that the routes exist and starts the timers: mode 0 one
// worker, mode N N workers, each running every route of its timer on
// every tick.
func (m *Module) Start(env *router.Env) error {
	m.log = env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	k := kind(env)
	m.stop = make(chan struct{})
	rank := -30
	for _, t := range m.timers {
		if len(t.routes) == 0 {
			continue
		}
		for i := range max(t.mode, 1) {
			w, err := env.NewWorker(rank)
			rank--
			if err != nil {
				m.Stop()
				return fmt.Errorf("rtimer: %w", err)
			}
			if r := w.Runner(); r != nil {
				for _, name := range t.routes {
					if !r.Has(k, name) {
						m.Stop()
						return fmt.Errorf("rtimer: timer %s: invalid route: %s (%s not in the script)", t.name, name, k)
					}
				}
			}
			m.mu.Lock()
			m.index[w] = i
			m.mu.Unlock()
			m.wg.Add(1)
			go m.run(t, w, k)
		}
	}
	return nil
}

// run is one timer worker: the routes on every tick until Stop.
func (m *Module) run(t *timer, w *router.Worker, k router.RouteKind) {
	defer m.wg.Done()
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
			for _, name := range t.routes {
				w.Sync()
				c := w.EventCtx()
				c.Kind = router.RouteRequest // Kamailio runs them as REQUEST_ROUTE
				if k == router.RouteEvent {
					c.EventName = "rtimer"
				}
				if _, err := c.RunKind(k, name); err != nil {
					m.log.Error("rtimer: error running the route of timer "+t.name, "route", name, "error", err)
				}
				c.EventName = ""
				c.Finish()
			}
		}
	}
}

// Stop ends the timers, waiting for a route that runs.
func (m *Module) Stop() {
	if m.stop != nil {
		close(m.stop)
		m.wg.Wait()
		m.stop = nil
	}
}

// Exports: rtimer has no functions.
func (m *Module) Exports() []dispatch.Export { return nil }
