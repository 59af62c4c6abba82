package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// bench runs what o asks and returns the report.
func bench(ctx context.Context, o *benchOptions, log io.Writer) (*Report, error) {
	rep := newReport(o)
	if o.target != "" {
		return rep, benchTarget(ctx, o, rep, log)
	}
	dir, err := findScripts(o.scripts)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kemibench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	users := makeUsers(o.users, benchDomain)
	dburl := "sqlite:///" + filepath.Join(tmp, "subscribers.db")
	fmt.Fprintf(log, "kemibench: %d subscribers in %s\n", len(users), dburl)
	if err := writeSubscribers(ctx, dburl, users); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "kamailio.cfg")
	proxies := map[string]target{}
	defer func() {
		for _, p := range proxies {
			p.Close()
		}
	}()
	for _, e := range o.engineList() {
		var p target
		if o.inProcess {
			p, err = startLocal(cfgFile, e, dburl, []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}, nil)
		} else {
			p, err = startChild(cfgFile, e, dburl)
		}
		if err != nil {
			return nil, err
		}
		proxies[e] = p
	}
	lc := o.loadConfig(users)
	if o.max {
		e := o.engineList()[0]
		p := proxies[e]
		lc.Target = p.Addr(lc.Proto)
		return rep, searchMax(ctx, o, rep, e, lc, p, log)
	}
	engines := o.engineList()
	per := splitTotal(o.total, o.rounds)
	for round, n := range per {
		for i := range engines {
			e := engines[(i+round)%len(engines)] // each round starts with another engine
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p := proxies[e]
			fmt.Fprintf(log, "kemibench: %s, round %d/%d: %d registrations at %g/s\n", e, round+1, len(per), n, o.rate)
			lc.Target, lc.Total = p.Addr(lc.Proto), n
			if err := p.Reset(); err != nil {
				return nil, err
			}
			lr, err := RunLoad(ctx, lc)
			if err != nil {
				return nil, err
			}
			ps, err := p.Stats()
			if err != nil {
				return nil, err
			}
			rep.add(e, lr, &ps)
		}
	}
	return rep, nil
}

// splitTotal splits n registrations over rounds (none empty).
func splitTotal(n, rounds int) []int {
	rounds = max(1, min(rounds, n))
	per := make([]int, rounds)
	for i := range per {
		per[i] = n / rounds
		if i < n%rounds {
			per[i]++
		}
	}
	return per
}

func (o *benchOptions) loadConfig(users []User) LoadConfig {
	lc := LoadConfig{Total: o.total, Rate: o.rate, Limit: o.limit, Users: users, Sockets: o.sockets, Batch: o.batch,
		T1: o.t1, Deadline: o.timeout, Progress: o.progress, Proto: sip.TransportUDP}
	if o.transport == "tcp" {
		lc.Proto = sip.TransportTCP
	}
	return lc
}

// benchTarget drives an external server.
func benchTarget(ctx context.Context, o *benchOptions, rep *Report, log io.Writer) error {
	target, err := resolveTarget(o.target)
	if err != nil {
		return err
	}
	users, err := readUsers(o.usersFile)
	if err != nil {
		return err
	}
	lc := o.loadConfig(users)
	lc.Target = target
	label := "target " + o.target
	if o.label != "" {
		label = o.label
	}
	if o.max {
		return searchMax(ctx, o, rep, label, lc, nil, log)
	}
	var logStart int64
	if o.routeLog != "" {
		if logStart, err = fileSize(o.routeLog); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "kemibench: %s: %d registrations at %g/s\n", o.target, lc.Total, o.rate)
	cpu0 := treeCPU(o.targetPID)
	lr, err := RunLoad(ctx, lc)
	if err != nil {
		return err
	}
	var ps *ProxyStats
	if o.routeLog != "" {
		time.Sleep(200 * time.Millisecond) // the last lines reach the log
		s, err := readRouteLog(o.routeLog, logStart, -1)
		if err != nil {
			return err
		}
		ps = &s
	}
	if o.targetPID > 0 {
		if ps == nil {
			ps = &ProxyStats{}
		}
		ps.CPU = treeCPU(o.targetPID) - cpu0
	}
	rep.add(label, lr, ps)
	return nil
}

func resolveTarget(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, "5060"
	}
	ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--target %s: %w", s, err)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// makeUsers makes n subscribers of domain.
func makeUsers(n int, domain string) []User {
	us := make([]User, n)
	for i := range us {
		us[i] = User{Name: fmt.Sprintf("kb%05d", i), Domain: domain, Password: fmt.Sprintf("pw%05d-kemibench", i)}
	}
	return us
}

// writeSubscribers creates the subscriber table at dburl with users.
func writeSubscribers(ctx context.Context, dburl string, users []User) error {
	d, err := db.Open(dburl)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Init(ctx); err != nil {
		return err
	}
	for _, u := range users {
		if err := d.AddUser(ctx, u.Name, u.Domain, u.Password); err != nil {
			return err
		}
	}
	return nil
}

// writeUsersFile writes users as sipp's injection file (readUsers reads
// it back): what sipp and kemibench --users-file take.
func writeUsersFile(path string, users []User) error {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, u := range users {
		b.WriteString(u.Name + ";" + u.Domain + ";" + u.Password + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// readUsers reads sipp's injection file: an optional SEQUENTIAL, RANDOM or
// USER line, then user;domain;password per line.
func readUsers(path string) ([]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var us []User
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") || (line == 1 && (s == "SEQUENTIAL" || s == "RANDOM" || s == "USER")) {
			continue
		}
		f := strings.Split(s, ";")
		if len(f) < 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("%s:%d: want user;domain;password", path, line)
		}
		us = append(us, User{Name: f[0], Domain: f[1], Password: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, errors.New(path + ": no users")
	}
	return us, nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("--route-log: %w", err)
	}
	return st.Size(), nil
}

// readRouteLog reads the route times a server logged from offset to end
// (the end of the file when end < 0): latency_cfg_log lines, "...
// request-route executed in: N usec", kemi's and Kamailio's.
func readRouteLog(path string, offset, end int64) (ProxyStats, error) {
	var s ProxyStats
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return s, err
	}
	var r io.Reader = f
	if end >= 0 {
		r = io.LimitReader(f, end-offset)
	}
	var l router.Latency
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if us, ok := routeLogLine(sc.Text()); ok {
			l.Record(time.Duration(us) * time.Microsecond)
		}
	}
	s.Route = l.Snapshot()
	if s.Route.Count == 0 {
		return s, fmt.Errorf("--route-log %s: no \"executed in N usec\" lines (set latency_cfg_log and a debug level that logs it)", path)
	}
	return s, sc.Err()
}

// routeLogLine reads the microseconds of a route time line.
func routeLogLine(s string) (int64, bool) {
	i := strings.Index(s, "executed in")
	if i < 0 || !strings.Contains(s[:i], "request") {
		return 0, false
	}
	f := strings.Fields(strings.TrimLeft(s[i+len("executed in"):], ": "))
	if len(f) < 2 || !strings.HasPrefix(f[1], "usec") {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, err == nil
}

// benchDomain is the subscribers' domain: an alias of the bench config.
const benchDomain = "kemibench.test"

// treeCPU is the CPU time (user + system) of process pid and its
// children, from /proc; 0 when pid is 0 or unknown. Clock ticks are
// taken as 100 per second (Linux's USER_HZ).
func treeCPU(pid int) time.Duration {
	var ticks int64
	for _, p := range procTree(pid) {
		ticks += p.ticks
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// treePSS is the proportional set size of process pid and its children
// in bytes (/proc/PID/smaps_rollup: shared pages counted once over all),
// 0 when unknown.
func treePSS(pid int) int64 {
	var kb int64
	for _, p := range procTree(pid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					n, _ := strconv.ParseInt(f[0], 10, 64)
					kb += n
				}
				break
			}
		}
	}
	return kb << 10
}

// procInfo is a process of a tree and its CPU clock ticks.
type procInfo struct {
	pid   int
	ticks int64
}

// procTree is process pid and its children, from /proc.
func procTree(pid int) []procInfo {
	if pid <= 0 {
		return nil
	}
	dirs, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 14 and 15.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if n != pid && ppid != pid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out = append(out, procInfo{n, ut + st})
	}
	return out
}
