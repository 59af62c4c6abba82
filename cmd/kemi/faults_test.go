package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// TestMain lets a test run this binary as kemi itself (KEMI_TEST_MAIN=1):
// a proxy in its own process, that a test can kill -9; or as the flood of
// TestNonReadingTCPClients (KEMI_TEST_FLOOD=addr).
func TestMain(m *testing.M) {
	if os.Getenv("KEMI_TEST_MAIN") == "1" {
		main()
		return
	}
	if addr := os.Getenv("KEMI_TEST_FLOOD"); addr != "" {
		if err := flood(addr); err != nil {
			fmt.Fprintln(os.Stderr, "flood:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// faultCfg is a registrar without authentication: usrloc's db_mode and
// timer_interval from defines.
const faultCfg = `#!KAMAILIO
#!trydef TIMER 60
children=2
loadmodule "db_sqlite.so"
loadmodule "db_postgres.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_url", DBURL)
modparam("usrloc", "db_mode", DBMODE)
modparam("usrloc", "timer_interval", TIMER)
request_route {
	if (is_method("REGISTER")) {
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}
	sl_send_reply("404", "Not here");
}
`

// child is kemi in a process of its own.
type child struct {
	cmd  *exec.Cmd
	logs *syncBuf
	addr string
}

func startChild(t *testing.T, cfgPath string, defines map[string]string, port int) *child {
	t.Helper()
	args := []string{"-f", cfgPath, "-l", fmt.Sprintf("udp:127.0.0.1:%d", port)}
	for k, v := range defines {
		args = append(args, "-A", k+"="+v)
	}
	c := &child{cmd: exec.Command(os.Args[0], args...), logs: &syncBuf{}, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	c.cmd.Env = append(os.Environ(), "KEMI_TEST_MAIN=1")
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	if !eventually(5*time.Second, func() bool { return strings.Contains(c.logs.String(), "started") }) {
		t.Fatalf("kemi did not start:\n%s", c.logs.String())
	}
	return c
}

// kill9 ends the process the way a crash or the OOM killer does.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// registerN registers users first..first+n-1 (one contact each) and
// wants a 200 for every one.
func registerN(t *testing.T, ua *sipUA, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		r := registerOne(t, ua, i)
		if r == nil || r.StatusCode() != 200 {
			t.Fatalf("REGISTER of u%d: %v", i, r)
		}
	}
}

func registerOne(t *testing.T, ua *sipUA, i int) *sip.Msg {
	t.Helper()
	ua.send(fmt.Sprintf("REGISTER sip:%[2]s SIP/2.0\r\nVia: SIP/2.0/UDP %[3]s;branch=z9hG4bK-f%[1]d-%[4]d;rport\r\n"+
		"From: <sip:u%[1]d@%[2]s>;tag=f%[1]d\r\nTo: <sip:u%[1]d@%[2]s>\r\nCall-ID: fault-%[1]d-%[4]d\r\nCSeq: 1 REGISTER\r\n"+
		"Contact: <sip:u%[1]d@10.0.0.1:5060>;expires=3600\r\nContent-Length: 0\r\n\r\n", i, testDomain, ua.addr(), time.Now().UnixNano()), nil)
	m, _ := ua.recv(3 * time.Second)
	return m
}

// TestKill9Registrations: kemi killed with SIGKILL and started again. With
// db_mode 1 (write-through) every registration answered 200 is in the
// table and back in memory after the restart; with db_mode 2
// (write-back every timer_interval) at most the last interval's are lost.
func TestKill9Registrations(t *testing.T) {
	for _, mode := range []int{1, 2} {
		t.Run(fmt.Sprintf("db_mode=%d", mode), func(t *testing.T) {
			dir := t.TempDir()
			url := "sqlite://" + filepath.Join(dir, "kemi.db")
			prepareDB(t, url, 0)
			cfgPath := filepath.Join(dir, "kamailio.cfg")
			writeFile(t, cfgPath, faultCfg)
			defs := map[string]string{"DBURL": strconv.Quote(url), "DBMODE": strconv.Itoa(mode), "TIMER": "1"}
			port := freeUDPPort(t)
			k := startChild(t, cfgPath, defs, port)
			ua := newUA(t, k.addr)
			registerN(t, ua, 0, 40)
			want := 40
			if mode == 2 {
				time.Sleep(2500 * time.Millisecond) // two timer runs: the 40 are written
				registerN(t, ua, 40, 20)            // and these may be lost
			}
			k.kill9(t)
			rows := countRows(t, url, "SELECT COUNT(*) FROM location")
			if rows < want || rows > 60 {
				t.Fatalf("after kill -9: %d rows in location, want at least %d (of %d answered 200)\n%s", rows, want, want+20*(mode-1), k.logs.String())
			}
			t.Logf("db_mode %d: %d registrations answered 200, %d in the table after kill -9", mode, want+20*(mode-1), rows)
			// Started again, kemi has them: a re-REGISTER of each is an
			// update (the table does not grow).
			k2 := startChild(t, cfgPath, defs, port)
			ua2 := newUA(t, k2.addr)
			registerN(t, ua2, 0, want)
			k2.kill9(t)
			if got := countRows(t, url, "SELECT COUNT(*) FROM location"); got != rows {
				t.Errorf("re-registering after the restart: %d rows, want the %d loaded (a duplicate means the restart lost them)", got, rows)
			}
		})
	}
}

// panicky is a module whose function panics: the panic-in-module test.
func init() {
	exports := dispatch.Stateless{
		{Name: "boom", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			var m map[string]int
			//lint:ignore SA5000 a real runtime panic, not a call to panic(), is the point
			m["nil map"]++
			return 1
		}), Native: "kemitest_boom"},
	}
	dispatch.Register(dispatch.ModuleInfo{Name: "kemitest_faults", New: func() dispatch.Module { return exports }})
}

// TestPanicInModule: a module function that panics on every third request
// (native config and Lua): the panic is recovered, counted and logged with
// its stack, the request is dropped, and the worker answers the next.
func TestPanicInModule(t *testing.T) {
	for _, tc := range []struct{ name, cfg string }{
		{"native", `loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "kemitest_faults.so"
request_route {
	if (is_present_hf("X-Boom")) { kemitest_boom(); }
	sl_send_reply("200", "OK");
}
`},
		{"lua", `loadmodule "sl.so"
loadmodule "kemitest_faults.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "LUA")
cfgengine "lua"
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lua := filepath.Join(dir, "faults.lua")
			writeFile(t, lua, `function ksr_request_route()
  if KSR.hdr.is_present("X-Boom") > 0 then KSR.kemitest_faults.boom() end
  KSR.sl.sl_send_reply(200, "OK")
end
`)
			cfgPath := filepath.Join(dir, "kamailio.cfg")
			writeFile(t, cfgPath, "children=1\n"+strings.Replace(tc.cfg, "LUA", lua, 1))
			s, logs := startFile(t, cfgPath, nil)
			ua := newUA(t, s.Addr(sip.TransportUDP).String())
			answered := 0
			for i := range 9 {
				boom := ""
				if i%3 == 2 {
					boom = "X-Boom: yes\r\n"
				}
				ua.send(fmt.Sprintf("OPTIONS sip:x@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-p%[2]d\r\n"+
					"From: <sip:a@b>;tag=p\r\nTo: <sip:x@y>\r\nCall-ID: panic-%[2]d\r\nCSeq: 1 OPTIONS\r\n%[3]sContent-Length: 0\r\n\r\n",
					ua.addr(), i, boom), nil)
				m, _ := ua.recv(time.Second)
				if (m != nil) != (boom == "") {
					t.Errorf("request %d (boom %v): answered %v", i, boom != "", m != nil)
				}
				if m != nil {
					answered++
				}
			}
			if got := s.Env.Stats.Panics.Load(); got != 3 || answered != 6 {
				t.Errorf("panics counted %d, answered %d; want 3 and 6", got, answered)
			}
			l := logs.String()
			if strings.Count(l, "panic on the request path") != 3 || !strings.Contains(l, "assignment to entry in nil map") ||
				!strings.Contains(l, "faults_test.go") {
				t.Errorf("the log does not have the three panics with their stack:\n%s", l)
			}
		})
	}
}

// TestPostgresOutage: a PostgreSQL server of the test's own is stopped
// under a registrar and started again. db_mode 1: REGISTERs get 500
// (logged once) while it is down and 200 again once it is back, by
// itself; db_mode 2: REGISTERs go on getting 200 and the write-back
// writes them all once the server is back.
func TestPostgresOutage(t *testing.T) {
	pg := startOwnPostgres(t)
	for _, mode := range []int{1, 2} {
		t.Run(fmt.Sprintf("db_mode=%d", mode), func(t *testing.T) {
			url := createPGDatabase(t, pg.url)
			prepareDB(t, url, 0)
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "kamailio.cfg")
			writeFile(t, cfgPath, faultCfg)
			s, logs := startFile(t, cfgPath, map[string]string{"DBURL": strconv.Quote(url), "DBMODE": strconv.Itoa(mode), "TIMER": "1"})
			ua := newUA(t, s.Addr(sip.TransportUDP).String())
			registerN(t, ua, 0, 10)
			pg.ctl(t, "stop", "-m", "fast")
			during := 0
			for i := 10; i < 15; i++ {
				r := registerOne(t, ua, i)
				switch {
				case r == nil:
					t.Fatalf("no answer during the outage\n%s", logs.String())
				case mode == 1 && r.StatusCode() != 500:
					t.Errorf("db_mode 1, database down: %d, want 500", r.StatusCode())
				case mode == 2 && r.StatusCode() != 200:
					t.Errorf("db_mode 2, database down: %d, want 200 (memory is the store)", r.StatusCode())
				}
				if r.StatusCode() == 200 {
					during++
				}
			}
			if mode == 2 {
				time.Sleep(1500 * time.Millisecond) // a write-back fails and keeps its changes
			}
			pg.ctl(t, "start")
			// Back by itself: db_mode 1 answers 200 again.
			if !eventually(30*time.Second, func() bool { r := registerOne(t, ua, 100); return r != nil && r.StatusCode() == 200 }) {
				t.Fatalf("REGISTER still failing 30 s after the database came back\n%s", logs.String())
			}
			want := 10 + during + 1
			if !eventually(10*time.Second, func() bool { return countRows(t, url, "SELECT COUNT(*) FROM location") == want }) {
				t.Errorf("%d rows in location, want %d (10 before, %d during the outage, 1 after)\n%s",
					countRows(t, url, "SELECT COUNT(*) FROM location"), want, during, logs.String())
			}
			if mode == 1 && strings.Count(logs.String(), "registrar: save failed") != 1 {
				t.Errorf("the outage's failed saves were logged %d times, want once", strings.Count(logs.String(), "registrar: save failed"))
			}
		})
	}
}

// ownPostgres is a PostgreSQL cluster in a temporary directory, on a free
// port, that a test may stop and start without touching anyone else's.
type ownPostgres struct {
	bin, data, url string
	port           int
}

func (p *ownPostgres) ctl(t *testing.T, args ...string) {
	t.Helper()
	a := append([]string{args[0], "-D", p.data, "-w", "-l", filepath.Join(p.data, "log"), "-o", fmt.Sprintf("-p %d -k %s", p.port, p.data)}, args[1:]...)
	if out, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), a...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl %s: %v\n%s", args[0], err, out)
	}
}

// asPostgres runs a PostgreSQL program as the postgres user when the
// test runs as root (initdb and postgres refuse root).
func asPostgres(prog string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

var pgBinOnce = sync.OnceValue(func() string {
	for _, v := range []string{"17", "16", "15", "14", "13"} {
		if _, err := os.Stat("/usr/lib/postgresql/" + v + "/bin/initdb"); err == nil {
			return "/usr/lib/postgresql/" + v + "/bin"
		}
	}
	return ""
})

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	bin := pgBinOnce()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL's initdb is not installed (CI installs postgresql)")
		}
		t.Skip("PostgreSQL's server programs are not installed (apt-get install postgresql)")
	}
	data, err := os.MkdirTemp("", "kemi-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres:postgres", data).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	pw := filepath.Join(data, "..", filepath.Base(data)+".pw")
	os.WriteFile(pw, []byte("kemi\n"), 0o644)
	t.Cleanup(func() { os.Remove(pw) })
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pw, "-A", "md5").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p := &ownPostgres{bin: bin, data: data, port: freeTCPPort(t)}
	p.url = fmt.Sprintf("postgres://postgres:kemi@127.0.0.1:%d/postgres", p.port)
	p.ctl(t, "start")
	t.Cleanup(func() {
		asPostgres(filepath.Join(bin, "pg_ctl"), "stop", "-D", data, "-m", "immediate").Run()
	})
	return p
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestUnregister: unregister(table, uri) removes every binding of the AoR
// (1, the table row gone too with db_mode 1); a second call finds none (-1).
func TestUnregister(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(t, url, 0)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	writeFile(t, cfgPath, strings.Replace(faultCfg, `	sl_send_reply("404", "Not here");`,
		`	$var(rc) = unregister("location", "sip:u7@`+testDomain+`");
	append_to_reply("X-RC: $var(rc)\r\n");
	sl_send_reply("200", "Done");`, 1))
	s, logs := startFile(t, cfgPath, map[string]string{"DBURL": strconv.Quote(url), "DBMODE": "1"})
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	registerN(t, ua, 7, 1)
	if n := countRows(t, url, "SELECT COUNT(*) FROM location"); n != 1 {
		t.Fatalf("%d rows after the REGISTER", n)
	}
	for i, want := range []string{"1", "-1"} {
		ua.send(fmt.Sprintf("OPTIONS sip:x@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-unreg%[2]d\r\n"+
			"From: <sip:a@b>;tag=u\r\nTo: <sip:x@y>\r\nCall-ID: unreg-%[2]d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ua.addr(), i), nil)
		r, _ := ua.recv(3 * time.Second)
		if r == nil {
			t.Fatalf("no reply\n%s", logs.String())
		}
		if got := r.Header(r.NextHeaderNamed([]byte("X-RC"), -1)).Value; string(got) != want {
			t.Errorf("unregister call %d: %s, want %s", i+1, got, want)
		}
	}
	if n := countRows(t, url, "SELECT COUNT(*) FROM location"); n != 0 {
		t.Errorf("%d rows after unregister, want 0", n)
	}
}
