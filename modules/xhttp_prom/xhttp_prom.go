// Package xhttpprom is Kamailio's xhttp_prom module: metrics of the
// script's own (prom_counter, prom_gauge, prom_histogram, with up to three
// labels) and the proxy's statistics (xhttp_prom_stats) in Prometheus'
// text format, served by dispatch() in xhttp's event route for GET
// /metrics (check_uri). Names start with xhttp_prom_beginning
// ("kamailio_"); a label set not updated for xhttp_prom_timeout minutes
// is dropped.
package xhttpprom

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/xhttp"
)

// URI is the path check_uri accepts, as Kamailio's.
const URI = "/metrics"

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "xhttp_prom", New: func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "xhttp_prom_stats", Kind: dispatch.Str, Doc: `statistics to export: "all", "group:", "group:name" or "name", several separated by ';'`},
			{Name: "xhttp_prom_beginning", Kind: dispatch.Str, Default: "kamailio_"},
			{Name: "xhttp_prom_timeout", Kind: dispatch.Int, Default: "60 (minutes a label set lives without updates)"},
			{Name: "prom_counter", Kind: dispatch.Str, Multi: true, Doc: `"name=NAME;label=a:b:c" (labels optional)`},
			{Name: "prom_gauge", Kind: dispatch.Str, Multi: true, Doc: `"name=NAME;label=a:b:c"`},
			{Name: "prom_histogram", Kind: dispatch.Str, Multi: true, Doc: `"name=NAME;buckets=0.1:1:10;label=a:b:c"`},
			{Name: "xhttp_prom_buf_size", Kind: dispatch.Int, Doc: "accepted; the reply grows as needed"},
			{Name: "xhttp_prom_pref", Kind: dispatch.Str, Doc: "accepted (not a Kamailio 5.6 parameter)"},
			{Name: "xhttp_prom_tags", Kind: dispatch.Str, Doc: "accepted (not a Kamailio 5.6 parameter)"},
		},
	})
}

// metric is one metric of the script's: its labels' names and the label
// values' last update, for the timeout.
type metric struct {
	kind   string // counter, gauge, histogram
	labels []string
	vec    interface{ DeleteLabelValues(...string) bool }
	seen   map[string]time.Time // label values joined by \x00 → last update
}

// Module is the xhttp_prom module of one proxy.
type Module struct {
	stats     []string
	beginning string
	timeout   time.Duration
	reg       *prometheus.Registry
	mu        sync.Mutex
	metrics   map[string]*metric
	env       *router.Env
	xhttp     *xhttp.Module
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
)

// Init reads the parameters and makes the script's metrics.
func (m *Module) Init(p *dispatch.Params) error {
	// xhttp serves dispatch(); without it the metrics are served by
	// jsonrpcs' GET /metrics.
	m.xhttp, _ = p.Module("xhttp").(*xhttp.Module)
	m.beginning = p.Str("xhttp_prom_beginning", "kamailio_")
	m.timeout = time.Duration(p.Int("xhttp_prom_timeout", 60)) * time.Minute
	if m.timeout <= 0 {
		return fmt.Errorf("xhttp_prom: xhttp_prom_timeout %d: want minutes > 0", p.Int("xhttp_prom_timeout", 60))
	}
	if s := strings.TrimSpace(p.Str("xhttp_prom_stats", "")); s != "" {
		for _, f := range strings.Split(s, ";") {
			if f = strings.TrimSpace(f); f != "" {
				m.stats = append(m.stats, f)
			}
		}
	}
	m.reg = prometheus.NewRegistry()
	m.metrics = map[string]*metric{}
	for _, kind := range []string{"counter", "gauge", "histogram"} {
		for _, v := range p.All("prom_" + kind) {
			if err := m.define(kind, v.String()); err != nil {
				return fmt.Errorf("xhttp_prom: prom_%s %q: %w", kind, v.String(), err)
			}
		}
	}
	return nil
}

// Start keeps the environment, for the statistics.
func (m *Module) Start(env *router.Env) error { m.env = env; return nil }

// define makes a metric of "name=N;label=a:b;buckets=1:2".
func (m *Module) define(kind, spec string) error {
	var name string
	var labels []string
	var buckets []float64
	for _, f := range strings.Split(spec, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			if strings.TrimSpace(f) == "" {
				continue
			}
			return fmt.Errorf("%q: want field=value", f)
		}
		switch strings.TrimSpace(k) {
		case "name":
			name = strings.TrimSpace(v)
		case "label":
			labels = strings.Split(strings.TrimSpace(v), ":")
		case "buckets":
			if kind != "histogram" {
				return fmt.Errorf("buckets are for histograms")
			}
			for _, b := range strings.Split(v, ":") {
				f, err := strconv.ParseFloat(strings.TrimSpace(b), 64)
				if err != nil || (len(buckets) > 0 && f <= buckets[len(buckets)-1]) {
					return fmt.Errorf("buckets %q: want increasing numbers separated by ':'", v)
				}
				buckets = append(buckets, f)
			}
		default:
			return fmt.Errorf("unknown field %q", k)
		}
	}
	if name == "" {
		return fmt.Errorf("no name")
	}
	if len(labels) > 3 {
		return fmt.Errorf("%d labels: at most 3", len(labels))
	}
	if _, dup := m.metrics[name]; dup {
		return fmt.Errorf("metric %s defined twice", name)
	}
	full, help := m.beginning+name, "the script's "+kind+" "+name
	var c prometheus.Collector
	switch kind {
	case "counter":
		c = prometheus.NewCounterVec(prometheus.CounterOpts{Name: full, Help: help}, labels)
	case "gauge":
		c = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: full, Help: help}, labels)
	default:
		if buckets == nil {
			buckets = prometheus.DefBuckets
		}
		c = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: full, Help: help, Buckets: buckets}, labels)
	}
	if err := m.reg.Register(c); err != nil {
		return err
	}
	m.metrics[name] = &metric{kind: kind, labels: labels, vec: c.(interface{ DeleteLabelValues(...string) bool }), seen: map[string]time.Time{}}
	return nil
}

// Exports are KSR.xhttp_prom.
func (m *Module) Exports() []dispatch.Export {
	inc := func(name string, n int, l ...string) int {
		if n < 0 {
			return -1
		}
		return m.update(name, "counter", l, func(c prometheus.Collector, l []string) error {
			ctr, err := c.(*prometheus.CounterVec).GetMetricWithLabelValues(l...)
			if err == nil {
				ctr.Add(float64(n))
			}
			return err
		})
	}
	reset := func(kind string) func(string, ...string) int {
		return func(name string, l ...string) int {
			return m.update(name, kind, l, func(c prometheus.Collector, l []string) error {
				var err error
				switch v := c.(type) {
				case *prometheus.CounterVec:
					v.DeleteLabelValues(l...)
					_, err = v.GetMetricWithLabelValues(l...)
				case *prometheus.GaugeVec:
					var g prometheus.Gauge
					if g, err = v.GetMetricWithLabelValues(l...); err == nil {
						g.Set(0)
					}
				}
				return err
			})
		}
	}
	set := func(name, value string, l ...string) int {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return -1
		}
		return m.update(name, "gauge", l, func(c prometheus.Collector, l []string) error {
			g, err := c.(*prometheus.GaugeVec).GetMetricWithLabelValues(l...)
			if err == nil {
				g.Set(f)
			}
			return err
		})
	}
	observe := func(name, value string, l ...string) int {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(f) {
			return -1
		}
		return m.update(name, "histogram", l, func(c prometheus.Collector, l []string) error {
			h, err := c.(*prometheus.HistogramVec).GetMetricWithLabelValues(l...)
			if err == nil {
				h.Observe(f)
			}
			return err
		})
	}
	cr, gr := reset("counter"), reset("gauge")
	return []dispatch.Export{
		{Name: "check_uri", Native: "prom_check_uri", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(c.Msg.IsHTTP() && string(c.Msg.RURIText()) == URI)
		})},
		{Name: "dispatch", Native: "prom_dispatch", Ret: dispatch.Int, Fn: dispatch.F0(m.dispatch)},
		{Name: "counter_inc_l0", Native: "prom_counter_inc", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { return inc(n, v) })},
		{Name: "counter_inc_l1", Native: "prom_counter_inc", Ret: dispatch.Int, Fn: dispatch.FSIS(func(c *router.Ctx, n string, v int, a string) int { return inc(n, v, a) })},
		{Name: "counter_inc_l2", Native: "prom_counter_inc", Ret: dispatch.Int, Fn: dispatch.FSISS(func(c *router.Ctx, n string, v int, a, b string) int { return inc(n, v, a, b) })},
		{Name: "counter_inc_l3", Native: "prom_counter_inc", Ret: dispatch.Int, Fn: dispatch.FSISSS(func(c *router.Ctx, n string, v int, a, b, d string) int { return inc(n, v, a, b, d) })},
		{Name: "counter_reset_l0", Native: "prom_counter_reset", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int { return cr(n) })},
		{Name: "counter_reset_l1", Native: "prom_counter_reset", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, a string) int { return cr(n, a) })},
		{Name: "counter_reset_l2", Native: "prom_counter_reset", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, n, a, b string) int { return cr(n, a, b) })},
		{Name: "counter_reset_l3", Native: "prom_counter_reset", Ret: dispatch.Int, Fn: dispatch.FSSSS(func(c *router.Ctx, n, a, b, d string) int { return cr(n, a, b, d) })},
		{Name: "gauge_reset_l0", Native: "prom_gauge_reset", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int { return gr(n) })},
		{Name: "gauge_reset_l1", Native: "prom_gauge_reset", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, a string) int { return gr(n, a) })},
		{Name: "gauge_reset_l2", Native: "prom_gauge_reset", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, n, a, b string) int { return gr(n, a, b) })},
		{Name: "gauge_reset_l3", Native: "prom_gauge_reset", Ret: dispatch.Int, Fn: dispatch.FSSSS(func(c *router.Ctx, n, a, b, d string) int { return gr(n, a, b, d) })},
		{Name: "gauge_set_l0", Native: "prom_gauge_set", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { return set(n, v) })},
		{Name: "gauge_set_l1", Native: "prom_gauge_set", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, n, v, a string) int { return set(n, v, a) })},
		{Name: "gauge_set_l2", Native: "prom_gauge_set", Ret: dispatch.Int, Fn: dispatch.FSSSS(func(c *router.Ctx, n, v, a, b string) int { return set(n, v, a, b) })},
		{Name: "gauge_set_l3", Native: "prom_gauge_set", Ret: dispatch.Int, Fn: dispatch.FSSSSS(func(c *router.Ctx, n, v, a, b, d string) int { return set(n, v, a, b, d) })},
		{Name: "histogram_observe_l0", Native: "prom_histogram_observe", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { return observe(n, v) })},
		{Name: "histogram_observe_l1", Native: "prom_histogram_observe", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, n, v, a string) int { return observe(n, v, a) })},
		{Name: "histogram_observe_l2", Native: "prom_histogram_observe", Ret: dispatch.Int, Fn: dispatch.FSSSS(func(c *router.Ctx, n, v, a, b string) int { return observe(n, v, a, b) })},
		{Name: "histogram_observe_l3", Native: "prom_histogram_observe", Ret: dispatch.Int, Fn: dispatch.FSSSSS(func(c *router.Ctx, n, v, a, b, d string) int { return observe(n, v, a, b, d) })},
	}
}

// update runs f on the metric name of kind with label values l, which
// must be as many as its labels, and notes the update for the timeout.
func (m *Module) update(name, kind string, l []string, f func(prometheus.Collector, []string) error) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	mt := m.metrics[name]
	if mt == nil || mt.kind != kind || len(l) != len(mt.labels) {
		return -1
	}
	if err := f(mt.vec.(prometheus.Collector), l); err != nil {
		return -1
	}
	mt.seen[strings.Join(l, "\x00")] = time.Now()
	return 1
}

// expire drops the label sets not updated within the timeout.
func (m *Module) expire(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mt := range m.metrics {
		for k, t := range mt.seen {
			if now.Sub(t) > m.timeout {
				mt.vec.DeleteLabelValues(strings.Split(k, "\x00")...)
				delete(mt.seen, k)
			}
		}
	}
}

// Gatherer is the script's metrics, for jsonrpcs' /metrics.
func (m *Module) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		m.expire(time.Now())
		return m.reg.Gather()
	})
}

// Text is the metrics in Prometheus' text format: the selected statistics,
// then the script's metrics.
func (m *Module) Text() (string, error) {
	m.expire(time.Now())
	var b bytes.Buffer
	if m.env != nil {
		for _, s := range m.selected() {
			typ := "counter"
			if s.Kind == stats.Gauge {
				typ = "gauge"
			}
			name := m.beginning + promName(s.Group+"_"+s.Name)
			fmt.Fprintf(&b, "# TYPE %s %s\n%s %d\n", name, typ, name, s.Value())
		}
	}
	mfs, err := m.reg.Gather()
	if err != nil {
		return "", err
	}
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// selected are the statistics xhttp_prom_stats names, each once.
func (m *Module) selected() []*stats.Stat {
	var out []*stats.Stat
	seen := map[*stats.Stat]bool{}
	for _, sel := range m.stats {
		ss, err := m.env.Statistics().Select(sel)
		if err != nil {
			continue
		}
		for _, s := range ss {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// promName makes a statistic's name a Prometheus name.
func promName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// dispatch answers the HTTP request with the metrics.
func (m *Module) dispatch(c *router.Ctx) int {
	if !c.Msg.IsHTTP() {
		return -1
	}
	if m.xhttp == nil {
		c.Log().Error("xhttp_prom: dispatch: the xhttp module is not loaded", "route", c.Route)
		return -1
	}
	text, err := m.Text()
	if err != nil {
		c.Log().Error("xhttp_prom: "+err.Error(), "route", c.Route)
		return m.xhttp.Reply(c, 500, "Internal Server Error", "text/plain", err.Error()+"\n")
	}
	return m.xhttp.Reply(c, 200, "OK", "text/plain; version=0.0.4", text)
}
