package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// pair: kemi and real Kamailio side by side, on the same config and KEMI
// scripts (Kamailio's basic KEMI example by default), each server its own
// process, port, SQLite database and sipp, all at the same time, so that
// the host's noise hits every server alike (this machine is shared). Per
// server: CPU per request (from /proc, over a window after a warm-up),
// request_route times from the latency_cfg_log lines both write, sipp's
// failures and retransmissions, PSS.

const pairUsage = `Usage: kemibench pair [options]

Starts real Kamailio (one per engine) and kemi (one per engine) on the
same config and scripts, Kamailio's basic KEMI example from the kamailio
package unless --config says another, and drives every server at once
with its own sipp (REGISTER with digest authentication: REGISTER, 401,
REGISTER with credentials, 200). The edits, the same for both servers:
db_mysql becomes db_sqlite (a database per server, made by kemi db init,
which is Kamailio 5.6's schema), the scripts are read where the package
put them, the bench users' domain is an alias, latency_cfg_log=2 logs
each request_route's time; the listen address is given with -l. kemi's
golua engine is app_lua with modparam("app_lua", "engine", "golua").

Options:
`

type pairOptions struct {
	config, engines, kemi, kamailio, sipp, scenario, work string
	rate, users                                           int
	duration, warmup                                      time.Duration
	keep, noRouteLog                                      bool
	// --max: the highest rate each server holds for hold, from maxStart
	// up by a quarter each step to maxRate at most, servers in turn.
	max              bool
	maxStart, maxCap int
	hold             time.Duration
	maxRouteLog      bool // --max with the route log: route times at each rate held
}

// kamailioExamples is where the kamailio package puts the KEMI examples.
const kamailioExamples = "/usr/share/doc/kamailio/examples/kemi"

// pairEngines: the define that picks each engine in the basic KEMI
// example, and Kamailio's engine for kemi's (both Lua backends are
// app_lua).
var pairEngines = map[string]struct{ define, kamailio string }{
	"native": {"", "native"},
	"lua":    {"WITH_CFGLUA", "lua"},
	"golua":  {"WITH_CFGLUA", "lua"},
	"jsdt":   {"WITH_CFGJSDT", "jsdt"},
	"python": {"WITH_CFGPYTHON3", "python"},
}

func pairFlags(out io.Writer, o *pairOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("kemibench pair", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.config, "config", filepath.Join(kamailioExamples, "kamailio-basic-kemi.cfg"), "the config both servers run")
	fs.StringVar(&o.engines, "engines", strings.Join(engineOrder, ","), "kemi's engines; Kamailio runs native and the engines of these it has")
	fs.StringVar(&o.kemi, "kemi", "", "the kemi binary (default: kemi next to kemibench, else in PATH)")
	fs.StringVar(&o.kamailio, "kamailio", "kamailio", "the kamailio binary")
	fs.StringVar(&o.sipp, "sipp", "sipp", "the sipp binary")
	fs.StringVar(&o.scenario, "scenario", "", "sipp's scenario (default: scripts/sipp/register-auth.xml found from here up)")
	fs.IntVar(&o.rate, "r", 400, "registrations per second, per server (two requests each)")
	fs.IntVar(&o.users, "users", 1000, "subscribers")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before the measured window")
	fs.DurationVar(&o.duration, "d", 20*time.Second, "the measured window")
	fs.StringVar(&o.work, "work", "", "the folder for configs, databases and logs (default: a temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder")
	fs.BoolVar(&o.noRouteLog, "no-route-log", false, "no latency_cfg_log line per request (no route times; requests counted by sipp)")
	fs.BoolVar(&o.max, "max", false, "the highest rate each server holds (0 failures, at most 1% retransmissions, 95% of the rate achieved by sipp, in one of two tries), found to 4%, one server at a time in turn, no route log")
	fs.IntVar(&o.maxStart, "max-start", 1000, "--max: the first rate, registrations/s")
	fs.IntVar(&o.maxCap, "max-rate", 100000, "--max: the highest rate tried")
	fs.DurationVar(&o.hold, "hold", 10*time.Second, "--max: how long each rate must hold")
	fs.BoolVar(&o.maxRouteLog, "max-route-log", false, "--max: keep the route log, and report route times at the highest rate held (both servers write a line per request)")
	return fs
}

// pairServer is one server of the pair run and what was measured of it.
type pairServer struct {
	impl, engine string // "kamailio" or "kemi"; the engine
	port         int
	cfg, log     string
	cmd          *exec.Cmd
	sipp         *exec.Cmd
	stat         string // sipp's statistics file
	sippOut      string

	cpu0, cpu1     time.Duration
	log0, log1     int64 // the server's log at the window's ends
	calls0, calls1 int   // sipp's successful calls at the window's ends
	requests       int
	route          Summary
	failed, retr   int
	pss            int64
	err            error
	maxRate        int     // --max: the highest rate held
	maxFail        int     // --max: the lowest rate not held in two tries (0: none)
	maxCPU         float64 // --max: CPU µs per request at it
	maxRoute       Summary // --max-route-log: route times at it
}

func (s *pairServer) name() string { return s.impl + " " + s.engine }

func pairCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &pairOptions{}
	fs := pairFlags(stderr, o)
	fs.Usage = func() { fmt.Fprint(stderr, pairUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := o.resolve(); err != nil {
		fmt.Fprintln(stderr, "kemibench pair: "+err.Error())
		return 2
	}
	servers, err := pairRun(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kemibench pair: "+err.Error())
		return 1
	}
	if o.max {
		pairMaxReport(stdout, o, servers)
		return 0
	}
	pairReport(stdout, o, servers)
	for _, s := range servers {
		if s.err != nil || s.failed > 0 {
			return 1
		}
	}
	return 0
}

// resolve checks the options and finds the binaries and the scenario.
func (o *pairOptions) resolve() error {
	if o.rate <= 0 || o.users <= 0 || o.duration <= 0 || o.warmup < 0 {
		return errors.New("-r, --users and -d must be positive")
	}
	if o.max && (o.maxStart <= 0 || o.maxCap < o.maxStart || o.hold <= 0) {
		return errors.New("--max-start and --hold must be positive, --max-rate at least --max-start")
	}
	if o.max && !o.maxRouteLog {
		o.noRouteLog = true // a log line per request would slow both servers down
	}
	for _, e := range strings.Split(o.engines, ",") {
		if _, ok := pairEngines[e]; !ok {
			return fmt.Errorf("--engines: unknown engine %q (native, lua, golua, jsdt, python)", e)
		}
	}
	if _, err := os.Stat(o.config); err != nil {
		return fmt.Errorf("--config: %w (the kamailio package installs the basic KEMI example)", err)
	}
	if o.kemi == "" {
		if exe, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(exe), "kemi"); isFile(p) {
				o.kemi = p
			}
		}
	}
	if o.kemi == "" {
		o.kemi = "kemi"
	}
	for _, b := range []*string{&o.kemi, &o.kamailio, &o.sipp} {
		p, err := exec.LookPath(*b)
		if err != nil {
			return fmt.Errorf("%s: %w (go build -o /tmp/kemi ./cmd/kemi, then --kemi /tmp/kemi; apt-get install kamailio sipp)", *b, err)
		}
		*b = p
	}
	if o.scenario == "" {
		dir, err := findUp(filepath.Join("scripts", "sipp", "register-auth.xml"))
		if err != nil {
			return fmt.Errorf("--scenario: %w", err)
		}
		o.scenario = dir
	}
	return nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// findUp finds rel from the working directory or a parent.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found from here up", rel)
		}
		dir = parent
	}
}

// pairRun starts every server, loads them all at once, measures the
// window, and stops them.
func pairRun(ctx context.Context, o *pairOptions, log io.Writer) ([]*pairServer, error) {
	work := o.work
	if work == "" {
		d, err := os.MkdirTemp("", "kemibench-pair-")
		if err != nil {
			return nil, err
		}
		work = d
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	users := makeUsers(o.users, benchDomain)
	usersFile := filepath.Join(work, "users.csv")
	if err := writeUsersFile(usersFile, users); err != nil {
		return nil, err
	}
	var servers []*pairServer
	kamEngines := map[string]bool{"native": true}
	for _, e := range strings.Split(o.engines, ",") {
		kamEngines[pairEngines[e].kamailio] = true
	}
	for _, e := range engineOrder {
		if kamEngines[e] {
			servers = append(servers, &pairServer{impl: "kamailio", engine: e})
		}
	}
	for _, e := range strings.Split(o.engines, ",") {
		servers = append(servers, &pairServer{impl: "kemi", engine: e})
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	src, err := os.ReadFile(o.config)
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		dir := filepath.Join(work, s.impl+"-"+s.engine)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		dbPath := filepath.Join(dir, "kamailio.db")
		if err := writeSubscribers(ctx, "sqlite://"+dbPath, users); err != nil {
			return nil, err
		}
		s.cfg, s.log, s.stat = filepath.Join(dir, "kamailio.cfg"), filepath.Join(dir, "server.log"), filepath.Join(dir, "sipp.csv")
		s.sippOut = filepath.Join(dir, "sipp.out")
		if err := os.WriteFile(s.cfg, pairConfig(src, filepath.Dir(o.config), s.impl == "kemi" && s.engine == "golua", !o.noRouteLog), 0o644); err != nil {
			return nil, err
		}
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		args := []string{"-DD", "-E", "-f", s.cfg, "-Y", dir, "-w", dir, "-l", fmt.Sprintf("udp:127.0.0.1:%d", s.port),
			"-A", `DBURL="sqlite:///` + dbPath + `"`}
		if d := pairEngines[s.engine].define; d != "" {
			args = append(args, "-A", d)
		}
		bin := o.kemi
		if s.impl == "kamailio" {
			bin = o.kamailio
		}
		if err := s.start(bin, args); err != nil {
			return servers, err
		}
	}
	for _, s := range servers {
		if err := s.waitReady(15 * time.Second); err != nil {
			return servers, err
		}
	}
	if o.max {
		return servers, pairMax(ctx, o, servers, usersFile, log)
	}
	fmt.Fprintf(log, "kemibench pair: %d servers up; %d registrations/s each, %v warm-up, %v measured\n", len(servers), o.rate, o.warmup, o.duration)
	total := int(float64(o.rate) * (o.warmup + o.duration + 3*time.Second).Seconds())
	for _, s := range servers {
		if err := s.startSipp(o, usersFile, o.rate, total); err != nil {
			return servers, err
		}
	}
	if !sleepCtx(ctx, o.warmup) {
		return servers, ctx.Err()
	}
	for _, s := range servers {
		s.cpu0 = treeCPU(s.cmd.Process.Pid)
		s.log0, _ = fileSize(s.log)
		s.calls0, _, _ = sipptest.Results(s.stat)
	}
	if !sleepCtx(ctx, o.duration) {
		return servers, ctx.Err()
	}
	for _, s := range servers {
		s.cpu1 = treeCPU(s.cmd.Process.Pid)
		s.calls1, _, _ = sipptest.Results(s.stat)
		s.pss = treePSS(s.cmd.Process.Pid)
		s.log1, _ = fileSize(s.log)
	}
	for _, s := range servers {
		if !o.noRouteLog {
			st, err := readRouteLog(s.log, s.log0, s.log1)
			s.route, s.requests = summarize(st.Route), int(st.Route.Count)
			if err != nil {
				s.err = err
			}
		} else {
			s.requests = 2 * (s.calls1 - s.calls0)
		}
	}
	for _, s := range servers {
		done := make(chan error, 1)
		go func() { done <- s.sipp.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.sipp.Process.Kill()
			<-done
		case <-ctx.Done():
			return servers, ctx.Err()
		}
		s.sipp = nil
		_, s.failed, s.retr = sipptest.Results(s.stat)
	}
	return servers, nil
}

// pairConfig is the config with the edits of the pair run.
func pairConfig(src []byte, dir string, golua, routeLog bool) []byte {
	s := string(src)
	s = strings.ReplaceAll(s, `loadmodule "db_mysql.so"`, `loadmodule "db_sqlite.so"`)
	s = strings.ReplaceAll(s, "/usr/local/etc/kamailio/", dir+"/")
	if golua {
		s = strings.Replace(s, `loadmodule "app_lua.so"`, `loadmodule "app_lua.so"`+"\n"+`modparam("app_lua", "engine", "golua")`, 1)
	}
	head := "alias=\"" + benchDomain + "\"\n"
	if routeLog {
		head += "latency_cfg_log=2\n"
	}
	first, rest, _ := strings.Cut(s, "\n")
	return []byte(first + "\n" + head + rest)
}

func (s *pairServer) start(bin string, args []string) error {
	f, err := os.Create(s.log)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = filepath.Dir(s.cfg)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", s.name(), err)
	}
	f.Close()
	return nil
}

// waitReady waits for the server to answer an OPTIONS.
func (s *pairServer) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.cmd.ProcessState != nil || syscall.Kill(s.cmd.Process.Pid, 0) != nil {
			break
		}
		if kamailiotest.Ping(fmt.Sprintf("127.0.0.1:%d", s.port)) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(s.log)
	return fmt.Errorf("%s does not answer on 127.0.0.1:%d; its log ends:\n%s", s.name(), s.port, sipptest.Tail(b))
}

func (s *pairServer) startSipp(o *pairOptions, usersFile string, rate, total int) error {
	out, err := os.Create(s.sippOut)
	if err != nil {
		return err
	}
	defer out.Close()
	// -buff_size: sipp's own socket buffer (its default, the kernel's
	// 208 KB) overflowed past 13 000 registrations/s, its drops counted
	// as the server's retransmissions; 4 MB, kemi's maxbuffer.
	s.sipp = exec.Command(o.sipp, "-sf", o.scenario, "-inf", usersFile, "-i", "127.0.0.1", "-p", "0", "-buff_size", "4194304",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(total), "-nostdin", "-timeout", "120s",
		"-trace_stat", "-stf", s.stat, "-fd", "1", fmt.Sprintf("127.0.0.1:%d", s.port))
	s.sipp.Dir = filepath.Dir(s.cfg)
	s.sipp.Stdout, s.sipp.Stderr = out, out
	return s.sipp.Start()
}

func (s *pairServer) stop() {
	if s.sipp != nil && s.sipp.Process != nil {
		s.sipp.Process.Kill()
		s.sipp.Wait()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		s.cmd = nil
	}
}

// pairReport prints the table.
func pairReport(w io.Writer, o *pairOptions, servers []*pairServer) {
	var kamNative float64
	kam := map[string]float64{}
	for _, s := range servers {
		if s.impl == "kamailio" && s.requests > 0 {
			kam[s.engine] = s.cpuPerRequest()
			if s.engine == "native" {
				kamNative = kam[s.engine]
			}
		}
	}
	fmt.Fprintf(w, "\n%s, %d registrations/s per server (REGISTER with digest auth, SQLite), window %v after %v, all %d servers at once\n\n",
		filepath.Base(o.config), o.rate, o.duration, o.warmup, len(servers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tengine\tCPU µs/request\t× Kamailio native\t× Kamailio same engine\troute avg µs\tp50\tp99\trequests\tfailed\tretrans\tPSS MB\t")
	for _, s := range servers {
		cpu := s.cpuPerRequest()
		ratio := func(base float64) string {
			if base == 0 || cpu == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", cpu/base)
		}
		route := func(v float64) string {
			if s.route.Count == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.1f\t\n", s.impl, s.engine, cpu, ratio(kamNative),
			ratio(kam[pairEngines[s.engine].kamailio]), route(s.route.Avg), route(s.route.P50), route(s.route.P99),
			s.requests, s.failed, s.retr, float64(s.pss)/(1<<20))
	}
	tw.Flush()
	for _, s := range servers {
		if s.err != nil {
			fmt.Fprintf(w, "%s: %v\n", s.name(), s.err)
		}
	}
	fmt.Fprintln(w, "\nCPU: user+system of the server's processes (/proc) over the window, per request the server logged (two per registration).")
}

func (s *pairServer) cpuPerRequest() float64 {
	if s.requests == 0 {
		return 0
	}
	return float64(s.cpu1-s.cpu0) / 1e3 / float64(s.requests)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// freePort is a UDP port free on 127.0.0.1 when asked.
func freePort() (int, error) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.LocalAddr().(*net.UDPAddr).Port, nil
}

// pairMax finds the highest rate each server holds for o.hold: no failed
// registration and at most 1% of the requests retransmitted, in one of two
// tries. The rate starts at o.maxStart and grows by a quarter; at each
// rate the servers still holding take their turn one after another (in the same sitting,
// so that a slow spell of the host falls on both kinds), each driven by
// its own sipp while the others idle. Then the gap between the last rate
// each held and the first it did not is halved, servers in turn, until it
// is under maxResolution of the rate held: a quarter's steps would put a
// server holding 1.24× another at the same step.
func pairMax(ctx context.Context, o *pairOptions, servers []*pairServer, usersFile string, log io.Writer) error {
	fmt.Fprintf(log, "kemibench pair --max: %d servers; from %d registrations/s, each rate held %v\n", len(servers), o.maxStart, o.hold)
	// try drives s at rate, once more when not held: one slow spell of
	// this shared host should not end a server's climb.
	try := func(s *pairServer, rate int) (bool, error) {
		for range 2 {
			if held, err := pairMaxStep(ctx, o, s, usersFile, rate, log); held || err != nil {
				return held, err
			}
		}
		s.maxFail = rate
		return false, nil
	}
	active := slices.Clone(servers)
	for rate := o.maxStart; rate <= o.maxCap && len(active) > 0; rate = max(rate+1, rate*5/4) {
		var next []*pairServer
		for _, s := range active {
			held, err := try(s, rate)
			if err != nil {
				return err
			}
			if held {
				next = append(next, s)
			}
		}
		active = next
	}
	for {
		var narrowed bool
		for _, s := range servers {
			lo, hi := s.maxRate, s.maxFail
			if lo == 0 || hi == 0 || float64(hi-lo) <= maxResolution*float64(lo) {
				continue
			}
			narrowed = true
			mid := (lo + hi) / 2
			if _, err := try(s, mid); err != nil {
				return err
			}
		}
		if !narrowed {
			return nil
		}
	}
}

// maxResolution is how close --max brings the rate a server held to the
// lowest it did not: 4% (three halvings of a quarter's step).
const maxResolution = 0.04

// pairMaxStep drives s alone at rate for o.hold and reports whether it
// held: no failed registration and at most 1% of the requests
// retransmitted. A rate held is kept with its CPU per request (and route
// times with the route log).
func pairMaxStep(ctx context.Context, o *pairOptions, s *pairServer, usersFile string, rate int, log io.Writer) (bool, error) {
	total := int(float64(rate) * o.hold.Seconds())
	os.Remove(s.stat)
	cpu0 := treeCPU(s.cmd.Process.Pid)
	log0, _ := fileSize(s.log)
	if err := s.startSipp(o, usersFile, rate, total); err != nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- s.sipp.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		s.sipp.Process.Kill()
		<-done
		return false, ctx.Err()
	}
	s.sipp = nil
	ok, failed, retrans := sipptest.Results(s.stat)
	// The rate achieved (sipp's CallRate(C): registrations started over
	// its run): sipp starts them at -r at most, fewer when it cannot keep
	// up, and then takes longer than o.hold.
	var achieved float64
	if b, err := os.ReadFile(s.stat); err == nil {
		achieved, _ = sipptest.Rate(b, "CallRate(C)")
	}
	held := failed == 0 && ok == total && retrans*100 <= 2*total && achieved >= 0.95*float64(rate)
	fmt.Fprintf(log, "  %-16s %6d/s: %d ok, %d failed, %d retransmissions, %.0f/s achieved: %s\n", s.name(), rate, ok, failed, retrans, achieved,
		map[bool]string{true: "held", false: "not held"}[held])
	if !held {
		return false, nil
	}
	s.maxRate = rate
	if ok > 0 {
		s.maxCPU = float64(treeCPU(s.cmd.Process.Pid)-cpu0) / 1e3 / float64(2*ok)
	}
	if !o.noRouteLog {
		log1, _ := fileSize(s.log)
		st, err := readRouteLog(s.log, log0, log1)
		if err != nil {
			return false, fmt.Errorf("%s: %w", s.name(), err)
		}
		s.maxRoute = summarize(st.Route)
	}
	return true, nil
}

// pairMaxReport prints the highest rates.
func pairMaxReport(w io.Writer, o *pairOptions, servers []*pairServer) {
	kam := map[string]int{}
	for _, s := range servers {
		if s.impl == "kamailio" {
			kam[s.engine] = s.maxRate
		}
	}
	fmt.Fprintf(w, "\n%s, the highest rate held %v (0 failures, at most 1%% retransmissions), from %d/s up by a quarter, then the gap to the lowest not held halved to %.0f%%, servers in turn\n\n",
		filepath.Base(o.config), o.hold, o.maxStart, 100*maxResolution)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "server\tengine\tregistrations/s held\tlowest not held\t× Kamailio native\t× Kamailio same engine\tCPU µs/request there\t"
	if !o.noRouteLog {
		head += "route p50 µs\tp99\t"
	}
	fmt.Fprintln(tw, head)
	ratio := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	for _, s := range servers {
		held := strconv.Itoa(s.maxRate)
		if s.maxRate == 0 {
			held = "< " + strconv.Itoa(o.maxStart)
		}
		fail := "-"
		if s.maxFail > 0 {
			fail = strconv.Itoa(s.maxFail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t", s.impl, s.engine, held, fail, ratio(s.maxRate, kam["native"]),
			ratio(s.maxRate, kam[pairEngines[s.engine].kamailio]), s.maxCPU)
		if !o.noRouteLog {
			fmt.Fprintf(tw, "%.0f\t%.0f\t", s.maxRoute.P50, s.maxRoute.P99)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
