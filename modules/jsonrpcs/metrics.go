package jsonrpcs

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
)

// metricsHandler serves the statistics, the route latency histograms and
// the Go runtime's metrics in Prometheus' text format.
func metricsHandler(env *router.Env) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{env: env}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gs := prometheus.Gatherers{reg}
	// The script's own metrics, when xhttp_prom is loaded.
	if p, ok := env.Module("xhttp_prom").(interface{ Gatherer() prometheus.Gatherer }); ok {
		gs = append(gs, p.Gatherer())
	}
	return promhttp.HandlerFor(gs, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// collector reads the registry at each scrape: a statistic registered
// after start (update_stat on a new name) shows at the next one.
type collector struct{ env *router.Env }

var routeDesc = prometheus.NewDesc("kemi_route_duration_seconds",
	"Execution time of the main routes (request_route, reply_route), measured around the route call.",
	[]string{"engine", "route"}, nil)

// routeBuckets are the histogram's upper bounds in seconds.
var routeBuckets = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// Describe sends nothing: the set of statistics grows at run time (an
// unchecked collector).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.env.Statistics().All() {
		name, typ := MetricName(s), prometheus.CounterValue
		if s.Kind == stats.Gauge {
			typ = prometheus.GaugeValue
		}
		help := s.Help
		if help == "" {
			help = s.FullName()
		}
		d := prometheus.NewDesc(name, help+" ("+s.FullName()+")", nil, nil)
		ch <- prometheus.MustNewConstMetric(d, typ, float64(s.Value()))
	}
	engine := "native"
	if c.env.Engine != nil {
		engine = c.env.Engine.Name()
	}
	for _, k := range []router.RouteKind{router.RouteRequest, router.RouteReply} {
		snap := c.env.LatencyTotal(k)
		buckets := make(map[float64]uint64, len(routeBuckets))
		for _, b := range routeBuckets {
			buckets[b.Seconds()] = snap.CountAtMost(b)
		}
		ch <- prometheus.MustNewConstHistogram(routeDesc, snap.Count, time.Duration(snap.Sum).Seconds(), buckets, engine, k.String())
	}
}

// MetricName is a statistic's Prometheus name: kemi_GROUP_NAME in snake
// case, counters ending in _total.
func MetricName(s *stats.Stat) string {
	var b strings.Builder
	b.WriteString("kemi_")
	for _, r := range strings.ToLower(s.Group + "_" + s.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if s.Kind == stats.Counter {
		b.WriteString("_total")
	}
	return b.String()
}
