package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/proxy"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// engineDefines are the defines that pick each engine in
// scripts/bench/kamailio.cfg.
var engineDefines = map[string][]string{
	"native": nil,
	"lua":    {"WITH_LUA"},
	"golua":  {"WITH_LUA", "WITH_GOLUA"},
	"jsdt":   {"WITH_JSDT"},
	"python": {"WITH_PYTHON"},
}

// engineOrder is the order of the table.
var engineOrder = []string{"native", "lua", "golua", "jsdt", "python"}

// ProxyStats are what a proxy measured since its last reset.
type ProxyStats struct {
	// request_route execution times: all runs, and apart the runs on
	// requests without credentials (challenged) and with (authenticated).
	Route, RouteChallenge, RouteAuth router.LatencySnapshot
	Requests, ScriptErrors           uint64
	CPU                              time.Duration // user + system
	PeakRSS                          int64         // bytes, over the process's life
}

// target is a kemi under test, in this process or a child.
type target interface {
	Addr(proto sip.Transport) netip.AddrPort
	Reset() error
	Stats() (ProxyStats, error)
	Close() error
}

// routeTimes classifies each request_route run: with credentials or not.
// One Latency per worker rank keeps each written by one goroutine.
type routeTimes struct {
	chal, auth [maxRanks]router.Latency
}

const maxRanks = 64 // workers: children per UDP socket plus TCP workers

func (t *routeTimes) record(c *router.Ctx, k router.RouteKind, d time.Duration) {
	if k != router.RouteRequest {
		return
	}
	set := &t.chal
	if c.Msg.Has(sip.HdrAuthorization) || c.Msg.Has(sip.HdrProxyAuthorization) {
		set = &t.auth
	}
	set[c.W.Rank%maxRanks].Record(d)
}

func (t *routeTimes) snapshot() (chal, auth router.LatencySnapshot) {
	for i := range maxRanks {
		chal.Merge(t.chal[i].Snapshot())
		auth.Merge(t.auth[i].Snapshot())
	}
	return chal, auth
}

func (t *routeTimes) reset() {
	for i := range maxRanks {
		t.chal[i].Reset()
		t.auth[i].Reset()
	}
}

// localProxy is a kemi running in this process.
type localProxy struct {
	p     *proxy.Proxy
	times routeTimes
	cpu0  time.Duration
}

// startLocal starts the bench config with engine's defines, listening on
// listen (proto:host:0 addresses), subscribers in dburl.
func startLocal(cfgFile, engine, dburl string, listen []string, log *slog.Logger) (*localProxy, error) {
	defs, ok := engineDefines[engine]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q (native, lua, golua, jsdt, python)", engine)
	}
	defines := map[string]string{"DBURL": `"` + dburl + `"`}
	for _, d := range defs {
		defines[d] = ""
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	p, err := proxy.Load(proxy.Options{File: cfgFile, Defines: defines, Listen: listen, Log: log})
	if err != nil {
		return nil, err
	}
	lp := &localProxy{p: p}
	p.RouteTimer = lp.times.record
	if err := p.Start(); err != nil {
		return nil, err
	}
	return lp, lp.Reset()
}

func (lp *localProxy) Addr(proto sip.Transport) netip.AddrPort { return lp.p.Addr(proto) }

func (lp *localProxy) Reset() error {
	lp.p.Env.ResetLatency()
	lp.times.reset()
	lp.p.Env.Stats.Requests.Store(0)
	lp.p.Env.Stats.ScriptErrors.Store(0)
	cpu, _ := selfUsage()
	lp.cpu0 = cpu
	return nil
}

func (lp *localProxy) Stats() (ProxyStats, error) {
	var s ProxyStats
	// A route's time is recorded after it returns, which is after its
	// reply left: wait (a little) for the runs of the requests received.
	for range 100 {
		s.Route = lp.p.Env.LatencyTotal(router.RouteRequest)
		if s.Route.Count >= lp.p.Env.Stats.Requests.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.RouteChallenge, s.RouteAuth = lp.times.snapshot()
	s.Requests = lp.p.Env.Stats.Requests.Load()
	s.ScriptErrors = lp.p.Env.Stats.ScriptErrors.Load()
	cpu, rss := selfUsage()
	s.CPU, s.PeakRSS = cpu-lp.cpu0, rss
	return s, nil
}

func (lp *localProxy) Close() error {
	lp.p.Stop()
	return nil
}

// selfUsage is this process's CPU time and peak RSS.
func selfUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024 // Linux: kilobytes
}

// The child protocol: kemibench re-runs itself as "kemibench proxy ...";
// the child prints its addresses as one JSON line, then answers each
// command line on stdin ("reset", "stats") with one JSON line, and stops
// at EOF. A child keeps the proxy's CPU time and memory apart from the
// load generator's.

type childHello struct {
	UDP, TCP string
	Err      string
}

type childReply struct {
	Stats *ProxyStats `json:",omitempty"`
	Err   string      `json:",omitempty"`
}

// serveChild is the child's side: "kemibench proxy CFG ENGINE DBURL".
func serveChild(args []string, stdin io.Reader, stdout io.Writer, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	if len(args) != 3 {
		enc.Encode(childHello{Err: "usage: kemibench proxy CFG ENGINE DBURL"})
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lp, err := startLocal(args[0], args[1], args[2], []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}, log)
	if err != nil {
		enc.Encode(childHello{Err: err.Error()})
		return 1
	}
	defer lp.Close()
	enc.Encode(childHello{UDP: lp.Addr(sip.TransportUDP).String(), TCP: lp.Addr(sip.TransportTCP).String()})
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		var r childReply
		switch strings.TrimSpace(in.Text()) {
		case "reset":
			if err := lp.Reset(); err != nil {
				r.Err = err.Error()
			}
		case "stats":
			s, err := lp.Stats()
			if err != nil {
				r.Err = err.Error()
			}
			r.Stats = &s
		default:
			r.Err = "unknown command " + in.Text()
		}
		if err := enc.Encode(r); err != nil {
			return 1
		}
	}
	return 0
}

// childProxy is a kemi in a child process.
type childProxy struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	udp, tcp netip.AddrPort
	stderr   *tailBuffer
}

func startChild(cfgFile, engine, dburl string) (*childProxy, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &childProxy{stderr: &tailBuffer{}}
	c.cmd = exec.Command(exe, "proxy", cfgFile, engine, dburl)
	c.cmd.Stderr = io.MultiWriter(os.Stderr, c.stderr) // the proxy logs warnings and errors only
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	var h childHello
	if err := c.readLine(&h); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s proxy: %v%s", engine, err, c.stderr.note())
	}
	if h.Err != "" {
		c.Close()
		return nil, fmt.Errorf("%s proxy: %s", engine, h.Err)
	}
	c.udp, _ = netip.ParseAddrPort(h.UDP)
	c.tcp, _ = netip.ParseAddrPort(h.TCP)
	return c, nil
}

func (c *childProxy) readLine(v any) error {
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the child process ended")
		}
		return err
	}
	return json.Unmarshal(line, v)
}

func (c *childProxy) call(cmd string) (childReply, error) {
	var r childReply
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return r, fmt.Errorf("proxy child: %v%s", err, c.stderr.note())
	}
	if err := c.readLine(&r); err != nil {
		return r, fmt.Errorf("proxy child: %v%s", err, c.stderr.note())
	}
	if r.Err != "" {
		return r, errors.New("proxy child: " + r.Err)
	}
	return r, nil
}

func (c *childProxy) Addr(proto sip.Transport) netip.AddrPort {
	if proto == sip.TransportTCP {
		return c.tcp
	}
	return c.udp
}

func (c *childProxy) Reset() error {
	_, err := c.call("reset")
	return err
}

func (c *childProxy) Stats() (ProxyStats, error) {
	r, err := c.call("stats")
	if err != nil || r.Stats == nil {
		return ProxyStats{}, err
	}
	return *r.Stats, nil
}

func (c *childProxy) Close() error {
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		return <-done
	}
}

// tailBuffer keeps the last 4 KiB a child wrote on stderr.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

// note is the tail for an error message, or "".
func (t *tailBuffer) note() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return ""
	}
	return "\n" + string(t.b)
}

// findScripts finds scripts/bench from the working directory up.
func findScripts(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	p, err := findUp(filepath.Join("scripts", "bench", "kamailio.cfg"))
	if err != nil {
		return "", errors.New(err.Error() + " (run kemibench from the kemi tree, or give --scripts DIR)")
	}
	return filepath.Dir(p), nil
}
