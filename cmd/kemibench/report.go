package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/kemi-sip/kemi/core/router"
)

// Report is a kemibench run: settings, machine, and a result per engine
// (or target).
type Report struct {
	Date      time.Time
	Command   string
	Machine   string
	GoVersion string
	Settings  Settings
	Results   []*Result
	MaxSteps  []MaxStep `json:",omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	Registrations int // per engine
	Rate          float64
	Users         int
	Transport     string
	Rounds        int
	InProcess     bool
	Sockets       int
	Batch         bool
}

// Result is one engine's (or target's) figures, merged over rounds.
type Result struct {
	Engine string
	// Client side.
	Registrations, OK, Failed, Retrans, Late int
	Malformed, SendErrors                    int            `json:",omitempty"`
	Failures                                 map[string]int `json:",omitempty"`
	Elapsed                                  time.Duration
	RegsPerSec                               float64
	ClientChallenge, ClientAuth, ClientTotal Summary
	// Inside the proxy (absent for a target without --route-log).
	Route, RouteChallenge, RouteAuth *Summary `json:",omitempty"`
	ProxyRequests                    uint64   `json:",omitempty"`
	ScriptErrors                     uint64   `json:",omitempty"`
	CPUPerRegUS                      float64  `json:",omitempty"`
	PeakRSSMiB                       float64  `json:",omitempty"`
	MaxRate                          float64  `json:",omitempty"` // --max: the highest rate held

	load  LoadResult
	proxy *ProxyStats
}

// Summary is a latency distribution in microseconds, with its CDF for
// the chart.
type Summary struct {
	Count                        uint64
	Avg, Min, Max, P50, P90, P99 float64
	CDF                          [][2]float64 `json:",omitempty"` // (µs, fraction)
}

var cdfPoints = []float64{0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1}

func summarize(s router.LatencySnapshot) Summary {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	sum := Summary{Count: s.Count}
	if s.Count == 0 {
		return sum
	}
	sum.Avg, sum.Min, sum.Max = us(s.Avg()), float64(s.Min)/1e3, float64(s.Max)/1e3
	sum.P50, sum.P90, sum.P99 = us(s.Quantile(0.5)), us(s.Quantile(0.9)), us(s.Quantile(0.99))
	sum.CDF = append(sum.CDF, [2]float64{sum.Min, 0})
	for _, q := range cdfPoints {
		sum.CDF = append(sum.CDF, [2]float64{us(s.Quantile(q)), q})
	}
	return sum
}

func newReport(o *benchOptions) *Report {
	r := &Report{Date: time.Now().UTC().Truncate(time.Second), Command: "kemibench " + strings.Join(os.Args[1:], " "),
		Machine: machine(), GoVersion: runtime.Version(),
		Settings: Settings{Registrations: o.total, Rate: o.rate, Users: o.users, Transport: o.transport, Rounds: o.rounds,
			InProcess: o.inProcess, Sockets: o.sockets, Batch: o.batch}}
	if !o.compare {
		r.Settings.Rounds = 1
	}
	return r
}

// machine is "linux/amd64, 2 CPUs, <model>".
func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return s + ", " + strings.TrimSpace(v)
			}
		}
	}
	return s
}

// add merges one run of engine into the report.
func (r *Report) add(engine string, lr *LoadResult, ps *ProxyStats) {
	var res *Result
	for _, x := range r.Results {
		if x.Engine == engine {
			res = x
		}
	}
	if res == nil {
		res = &Result{Engine: engine}
		res.load.Failures = map[string]int{}
		r.Results = append(r.Results, res)
	}
	l := &res.load
	l.Registrations += lr.Registrations
	l.OK += lr.OK
	l.Failed += lr.Failed
	l.Retrans += lr.Retrans
	l.Late += lr.Late
	l.Malformed += lr.Malformed
	l.SendErrors += lr.SendErrors
	l.Elapsed += lr.Elapsed
	for k, v := range lr.Failures {
		l.Failures[k] += v
	}
	l.Challenge.Merge(lr.Challenge)
	l.Auth.Merge(lr.Auth)
	l.Total.Merge(lr.Total)
	if ps != nil {
		if res.proxy == nil {
			res.proxy = &ProxyStats{}
		}
		p := res.proxy
		p.Route.Merge(ps.Route)
		p.RouteChallenge.Merge(ps.RouteChallenge)
		p.RouteAuth.Merge(ps.RouteAuth)
		p.Requests += ps.Requests
		p.ScriptErrors += ps.ScriptErrors
		p.CPU += ps.CPU
		p.PeakRSS = max(p.PeakRSS, ps.PeakRSS)
	}
	res.fill()
}

// fill computes the exported figures from the merged counters.
func (res *Result) fill() {
	l := &res.load
	res.Registrations, res.OK, res.Failed, res.Retrans, res.Late = l.Registrations, l.OK, l.Failed, l.Retrans, l.Late
	res.Malformed, res.SendErrors = l.Malformed, l.SendErrors
	res.Failures, res.Elapsed, res.RegsPerSec = l.Failures, l.Elapsed, l.RegsPerSec()
	res.ClientChallenge, res.ClientAuth, res.ClientTotal = summarize(l.Challenge), summarize(l.Auth), summarize(l.Total)
	if p := res.proxy; p != nil {
		rt, rc, ra := summarize(p.Route), summarize(p.RouteChallenge), summarize(p.RouteAuth)
		res.Route, res.RouteChallenge, res.RouteAuth = &rt, &rc, &ra
		res.ProxyRequests, res.ScriptErrors = p.Requests, p.ScriptErrors
		if l.Registrations > 0 && p.CPU > 0 {
			res.CPUPerRegUS = float64(p.CPU) / 1e3 / float64(l.Registrations)
		}
		res.PeakRSSMiB = float64(p.PeakRSS) / (1 << 20)
	}
}

// Failed reports a run with a failed registration or a script error.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Failed > 0 || res.ScriptErrors > 0 || res.OK == 0 {
			return true
		}
	}
	return false
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// avgOrDash is a split the server could not make (a log has no request
// kinds) as "-".
func avgOrDash(s *Summary) string {
	if s == nil || s.Count == 0 {
		return "-"
	}
	return f1(s.Avg)
}

// tableRows is the table, header first, in Kamailio's published shape
// (INTERPRETER, AVERAGE, MIN, MAX) with kemibench's columns after.
func (r *Report) tableRows() [][]string {
	rows := [][]string{{"INTERPRETER", "AVERAGE", "MIN", "MAX", "P50", "P90", "P99", "401-PASS AVG", "200-PASS AVG",
		"CLIENT AVG", "CLIENT P99", "REG/S", "FAILED", "RETRANS", "CPU/REG", "PEAK RSS"}}
	for _, res := range r.Results {
		row := []string{res.Engine}
		if res.Route != nil {
			rt := res.Route
			row = append(row, f1(rt.Avg), f1(rt.Min), f1(rt.Max), f1(rt.P50), f1(rt.P90), f1(rt.P99),
				avgOrDash(res.RouteChallenge), avgOrDash(res.RouteAuth))
		} else {
			row = append(row, "-", "-", "-", "-", "-", "-", "-", "-")
		}
		row = append(row, f1(res.ClientTotal.Avg), f1(res.ClientTotal.P99), fmt.Sprintf("%.1f", res.RegsPerSec),
			fmt.Sprint(res.Failed), fmt.Sprint(res.Retrans))
		row = append(row, "-", "-")
		if res.CPUPerRegUS > 0 {
			row[len(row)-2] = f1(res.CPUPerRegUS)
		}
		if res.PeakRSSMiB > 0 {
			row[len(row)-1] = fmt.Sprintf("%.0f MiB", res.PeakRSSMiB)
		}
		if res.MaxRate > 0 {
			row[11] = fmt.Sprintf("max %.0f", res.MaxRate)
		}
		rows = append(rows, row)
	}
	return rows
}

const tableNote = "request_route times (AVERAGE..P99, 401/200-PASS AVG) in µs, measured inside the proxy around the route call; " +
	"CLIENT: registration time seen by kemibench (both transactions), µs; CPU/REG: proxy CPU µs per registration."

// WriteTable prints the table on the terminal.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range r.tableRows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, tableNote)
	for _, res := range r.Results {
		for _, k := range sortedKeys(res.Failures) {
			fmt.Fprintf(w, "%s: %d failed: %s\n", res.Engine, res.Failures[k], k)
		}
		if res.ScriptErrors > 0 {
			fmt.Fprintf(w, "%s: %d script errors (see the proxy's log)\n", res.Engine, res.ScriptErrors)
		}
		if res.SendErrors > 0 {
			fmt.Fprintf(w, "%s: %d requests the socket refused to send\n", res.Engine, res.SendErrors)
		}
		if res.Malformed > 0 {
			fmt.Fprintf(w, "%s: %d messages received that were not SIP replies\n", res.Engine, res.Malformed)
		}
	}
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// WriteFiles writes kemibench-<date>.md, .json and .svg into dir.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "kemibench-"+r.Date.Format("20060102-150405"))
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	svg, err := r.chart()
	if err != nil {
		return nil, err
	}
	files := []string{base + ".md", base + ".json", base + ".svg"}
	for i, data := range [][]byte{r.markdown(filepath.Base(base) + ".svg"), append(js, '\n'), svg} {
		if err := os.WriteFile(files[i], data, 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func (r *Report) markdown(chart string) []byte {
	var b bytes.Buffer
	s := r.Settings
	fmt.Fprintf(&b, "# kemibench — REGISTER with digest authentication\n\n")
	fmt.Fprintf(&b, "- date: %s\n- command: `%s`\n- machine: %s, %s\n", r.Date.Format(time.RFC3339), r.Command, r.Machine, r.GoVersion)
	where := "a child process per engine"
	if s.InProcess {
		where = "in kemibench's process (CPU/REG includes the load generator)"
	}
	fmt.Fprintf(&b, "- %d registrations per engine at %g/s over %s, %d users, %d round(s); proxies: %s\n\n",
		s.Registrations, s.Rate, s.Transport, s.Users, s.Rounds, where)
	rows := r.tableRows()
	for i, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|" + strings.Repeat("---|", len(row)) + "\n")
		}
	}
	b.WriteString("\n" + tableNote + "\n\n")
	for _, res := range r.Results {
		for _, k := range sortedKeys(res.Failures) {
			fmt.Fprintf(&b, "- %s: %d failed: %s\n", res.Engine, res.Failures[k], k)
		}
	}
	if len(r.MaxSteps) > 0 {
		b.WriteString("\n## Highest rate held\n\n| rate/s | ok | failed | retransmissions | held |\n|---|---|---|---|---|\n")
		for _, st := range r.MaxSteps {
			fmt.Fprintf(&b, "| %.0f | %d | %d | %d | %v |\n", st.Rate, st.OK, st.Failed, st.Retrans, st.Held)
		}
	}
	fmt.Fprintf(&b, "\n![request_route time distribution](%s)\n", chart)
	return b.Bytes()
}

// chart is the SVG of the request_route time distribution (a CDF per
// engine, log time axis); client-side times when the proxy's are unknown.
func (r *Report) chart() ([]byte, error) {
	p := plot.New()
	p.Title.Text = "request_route execution time"
	p.X.Label.Text = "µs (log scale)"
	p.Y.Label.Text = "fraction of runs"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, false
	var lines []any
	for _, res := range r.Results {
		sum, name := res.Route, res.Engine
		if sum == nil {
			sum, name = &res.ClientTotal, res.Engine+" (client)"
			p.Title.Text = "registration time"
		}
		if len(sum.CDF) == 0 {
			continue
		}
		xy := make(plotter.XYs, 0, len(sum.CDF))
		for _, pt := range sum.CDF {
			xy = append(xy, plotter.XY{X: max(pt[0], 0.1), Y: pt[1]})
		}
		lines = append(lines, name, xy)
	}
	if len(lines) > 0 {
		if err := plotutil.AddLines(p, lines...); err != nil {
			return nil, err
		}
	}
	wt, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
