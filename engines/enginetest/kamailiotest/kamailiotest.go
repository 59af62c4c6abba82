// Package kamailiotest runs the real Kamailio (Debian's kamailio package,
// 5.6) beside kemi in tests, on the files that package installs: the
// reference kemi is compared with. Nothing of Kamailio's is copied into
// the repository; its configs are read where the package put them and
// edited in a temporary copy.
package kamailiotest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
)

// Paths where the Debian package installs Kamailio's files.
const (
	DefaultConfig = "/etc/kamailio/kamailio.cfg"
	Examples      = "/usr/share/doc/kamailio/examples"
	Modules       = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
)

// Packages are the Debian packages the comparison needs: Kamailio, the
// modules of the engines kemi has (Lua, Python 3, JavaScript), MySQL,
// SQLite, TLS, the utils and extra modules, Redis, auth_ephemeral,
// websocket, outbound. .ci/run installs them.
var Packages = []string{"kamailio", "kamailio-lua-modules", "kamailio-python3-modules",
	"kamailio-extra-modules", "kamailio-mysql-modules", "kamailio-sqlite-modules",
	"kamailio-tls-modules", "kamailio-utils-modules", "kamailio-redis-modules", "kamailio-autheph-modules", "kamailio-websocket-modules",
	"kamailio-outbound-modules"}

// needModules are one module of each package: when one is missing, fewer
// configs would pass `kamailio -c` and the comparison would shrink
// without anyone noticing.
var needModules = []string{"app_lua", "app_python3", "app_jsdt", "db_mysql", "db_sqlite", "tls", "utils", "ndb_redis", "auth_ephemeral", "websocket", "outbound"}

// Need returns kamailio's path. Outside CI a missing kamailio skips the
// test; in CI (.ci/run installs it) it fails, as does a missing module
// package.
func Need(t *testing.T) string {
	t.Helper()
	k, err := exec.LookPath("kamailio")
	if err == nil {
		_, err = os.Stat(DefaultConfig)
	}
	var missing []string
	for _, m := range needModules {
		if _, err := os.Stat(filepath.Join(Modules, m+".so")); err != nil {
			missing = append(missing, m)
		}
	}
	if err == nil && len(missing) > 0 {
		err = &os.PathError{Op: "find", Path: strings.Join(missing, ", "), Err: os.ErrNotExist}
	}
	if err != nil {
		msg := "kamailio 5.6 with its module packages (apt-get install " + strings.Join(Packages, " ") + "): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; .ci/run installs them")
		}
		t.Skip(msg + "; skipped outside CI")
	}
	return k
}

// Check runs `kamailio -c` on file with the defines (-A), in file's
// folder. It reports whether Kamailio accepts the config and its output.
func Check(kamailio, file string, defines ...string) (bool, string) {
	args := []string{"-c", "-f", file}
	for _, d := range defines {
		args = append(args, "-A", d)
	}
	cmd := exec.Command(kamailio, args...)
	cmd.Dir = filepath.Dir(file)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// Copy writes a copy of the Kamailio file src into dir with each old
// string of the edits replaced by its new one (pairs: old, new, ...),
// and returns the copy's path. An edit whose old string is not in the
// file fails the test: the package's file changed under the test.
func Copy(t *testing.T, src, dir string, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("%s: no %q to edit", src, edits[i])
		}
		s = strings.ReplaceAll(s, edits[i], edits[i+1])
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// FirstError is the first line of Kamailio's output that says why it
// refused a config.
func FirstError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "CRITICAL") {
			if i := strings.Index(l, "]: "); i >= 0 {
				l = l[i+3:]
			}
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(out)
}

// Start runs Kamailio in the foreground on cfg (its listen= lines say
// where), its runtime files in dir, until the test ends; it returns once
// Kamailio answers an OPTIONS on addr (UDP), and fails the test with
// Kamailio's log when it does not within 15 s. The log is in the result.
func Start(t *testing.T, kamailio, cfg, dir string, addr string, defines ...string) *Process {
	t.Helper()
	args := []string{"-DD", "-E", "-f", cfg, "-Y", dir, "-w", dir}
	for _, d := range defines {
		args = append(args, "-A", d)
	}
	p := &Process{}
	cmd := exec.Command(kamailio, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.stop = sync.OnceFunc(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	t.Cleanup(p.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("kamailio exited:\n%s", p.Log())
		default:
		}
		if Ping(addr) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio does not answer on %s:\n%s", addr, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Process is a running Kamailio.
type Process struct {
	log  proxytest.Logs
	stop func()
}

// Stop ends Kamailio (SIGTERM: its modules' destroy functions run) and
// waits for it.
func (p *Process) Stop() { p.stop() }

// Log is what Kamailio wrote so far.
func (p *Process) Log() string { return p.log.String() }

// Ping sends one OPTIONS to addr over UDP and reports whether anything
// answers within 300 ms: a SIP server is up.
func Ping(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	l := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ping%d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:ping@%s>;tag=p\r\nTo: <sip:%s>\r\nCall-ID: ping-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		addr, l, time.Now().UnixNano(), l, addr, time.Now().UnixNano())
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b := make([]byte, 2048)
	_, err = c.Read(b)
	return err == nil
}

// FreePort is a UDP and TCP port free on 127.0.0.1 when asked.
func FreePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		if tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			tl.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// Pair is real Kamailio and kemi started on the same config, each on a
// UDP socket of its own on 127.0.0.1 (and a TCP one on the same port:
// StartPairTCP), for a differential test.
type Pair struct {
	Kamailio, Kemi       netip.AddrPort
	KamailioTCP, KemiTCP netip.AddrPort // StartPairTCP's
	kamailio             *Process
	kemi                 *proxytest.Proxy
	Logs                 *proxytest.Logs // kemi's
}

// Stop stops both servers before the test ends, each as on a shutdown.
func (p *Pair) Stop() {
	p.kamailio.Stop()
	p.kemi.Stop()
}

// StartPair writes the config config gives for each — Kamailio's with
// its listen= line, kemi's with "" (kemi's socket comes from proxytest) —
// and starts both; they stop when the test ends.
func StartPair(t *testing.T, config func(listen string) string) *Pair {
	t.Helper()
	return startPair(t, config, false)
}

// StartPairTCP is StartPair with a TCP socket beside each UDP one, on the
// same port.
func StartPairTCP(t *testing.T, config func(listen string) string) *Pair {
	t.Helper()
	return startPair(t, config, true)
}

func startPair(t *testing.T, config func(listen string) string, tcp bool) *Pair {
	t.Helper()
	kam := Need(t)
	dir := t.TempDir()
	port := FreePort(t)
	kcfg := filepath.Join(dir, "kamailio.cfg")
	listen := fmt.Sprintf("listen=udp:127.0.0.1:%d", port)
	if tcp {
		listen += fmt.Sprintf("\nlisten=tcp:127.0.0.1:%d", port)
	}
	if err := os.WriteFile(kcfg, []byte(config(listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	kp := Start(t, kam, kcfg, dir, fmt.Sprintf("127.0.0.1:%d", port))
	ecfg := filepath.Join(t.TempDir(), "kemi.cfg")
	if err := os.WriteFile(ecfg, []byte(config("")), 0o644); err != nil {
		t.Fatal(err)
	}
	var p *proxytest.Proxy
	if tcp {
		p = proxytest.StartListen(t, ecfg, nil, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	} else {
		p = proxytest.Start(t, ecfg, nil)
	}
	kamAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	pair := &Pair{Kamailio: kamAddr, Kemi: p.Addr, kamailio: kp, kemi: p, Logs: p.Logs}
	if tcp {
		pair.KamailioTCP, pair.KemiTCP = kamAddr, p.TCPAddr
	}
	return pair
}

// KamailioLog is what Kamailio wrote so far.
func (p *Pair) KamailioLog() string { return p.kamailio.Log() }

// Ask sends one request to srv from a UDP socket of its own and returns
// the first reply; msg makes the request's text from the socket's
// address and a fresh id (for the Call-ID and the branch). The test
// fails when no reply comes within timeout.
func Ask(t *testing.T, srv netip.AddrPort, timeout time.Duration, msg func(local, id string) string) *sip.Msg {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := fmt.Sprintf("ask-%d", time.Now().UnixNano())
	if _, err := c.WriteToUDPAddrPort([]byte(msg(c.LocalAddr().String(), id)), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no reply from %s: %v", srv, err)
	}
	m := new(sip.Msg)
	if err := m.Parse(buf[:n]); err != nil {
		t.Fatalf("the reply from %s does not parse: %v\n%s", srv, err, buf[:n])
	}
	return m
}

// Options is an OPTIONS to sip:test@example.com with the header lines
// given ("X-Op: a\r\n..."), for Ask.
func Options(hdrs string) func(local, id string) string {
	return func(local, id string) string {
		return "OPTIONS sip:test@example.com SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + "\r\nMax-Forwards: 70\r\n" +
			"From: <sip:a@example.com>;tag=1\r\nTo: <sip:test@example.com>\r\nCall-ID: " + id + "\r\nCSeq: 1 OPTIONS\r\n" + hdrs + "Content-Length: 0\r\n\r\n"
	}
}

// Header is the value of a message's first header named name, trimmed;
// "" when it has none.
func Header(m *sip.Msg, name string) string {
	i := m.NextHeaderNamed([]byte(name), -1)
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(string(m.Header(i).Value))
}
