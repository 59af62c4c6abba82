// Command attack runs the reference proxy (scripts/proxy/kamailio.cfg with
// WITH_AUTH and WITH_ANTIFLOOD) as its own process and attacks it from
// other loopback addresses while sipp registers users with digest auth
// from 127.0.0.1: sipvicious's svwar and svcrack (made to send from their
// own address), a password guesser, an enumeration probe, scanner
// OPTIONS, a flood of garbage and truncated datagrams, and on the
// transport a connection hog (140 TCP streams from one address),
// non-reading TCP clients, 60 KB requests and the torture corpus. It
// fails unless every legitimate registration succeeds, each attacker is
// banned within 20 requests, garbage bans its sender, known and unknown
// users get the same answers, the hog keeps 128 streams and its UDP, the
// 60 KB requests are answered, the flood writes fewer than 100 log lines
// and the proxy is alive afterwards with its memory near where it started.
//
//	go run ./scripts/attack            (CI runs it; needs sipp and sipvicious)
//	go run ./scripts/attack -users 300 -rate 50
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// domain is the proxy's own address: the reference config serves no other domain.
// target, host:port, is what URIs name (set when the port is known).
const domain = "127.0.0.1"

var target string

var (
	users   = flag.Int("users", 1500, "legitimate users sipp registers")
	rate    = flag.Int("rate", 50, "their registrations per second")
	garbage = flag.Int("garbage", 20000, "bad datagrams in the flood")
	keep    = flag.Bool("keep", false, "keep the work directory")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "attack: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("attack: PASS")
}

// failures collects what did not hold; the run goes on to report it all.
type failures []string

func (f *failures) check(ok bool, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if ok {
		fmt.Println("  ok:", msg)
		return
	}
	fmt.Println("  FAILED:", msg)
	*f = append(*f, msg)
}

func run() error {
	for _, tool := range []string{"sipp", "svwar", "svcrack", "/usr/bin/python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install sip-tester sipvicious)", tool)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kemi-attack-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "kemi")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kemi")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	port, rpcPort := freePort(), freePort()
	proxy := fmt.Sprintf("127.0.0.1:%d", port)
	target = proxy
	portStr := strconv.Itoa(port)
	dbURL := "sqlite://" + filepath.Join(dir, "kemi.db")
	csv, err := makeUsers(dbURL, filepath.Join(dir, "users.csv"), *users)
	if err != nil {
		return err
	}

	logPath := filepath.Join(dir, "kemi.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	k := exec.Command(bin, "-f", filepath.Join(root, "scripts/proxy/kamailio.cfg"), "-l", "udp:"+proxy, "-l", "tcp:"+proxy, "-n", "4",
		"-A", "WITH_AUTH", "-A", "WITH_ANTIFLOOD", "-A", "WITH_JSONRPC", "-A", "DBURL="+strconv.Quote(dbURL),
		"-A", fmt.Sprintf("RPC_LISTEN=\"127.0.0.1:%d\"", rpcPort), "-A", "RPC_FIFO=\"\"")
	k.Stdout, k.Stderr = logFile, logFile
	if err := k.Start(); err != nil {
		return err
	}
	defer func() { k.Process.Kill(); k.Wait() }()
	rpc := fmt.Sprintf("http://127.0.0.1:%d/", rpcPort)
	if err := waitReady(rpc); err != nil {
		return fmt.Errorf("kemi did not start: %w\n%s", err, tail(logPath))
	}
	fmt.Printf("kemi (pid %d) on %s; %d users register at %d/s from 127.0.0.1\n", k.Process.Pid, proxy, *users, *rate)

	// The legitimate traffic, for the whole run.
	sippDone := make(chan error, 1)
	stat := filepath.Join(dir, "sipp.csv")
	go func() {
		c := exec.Command("sipp", "-sf", filepath.Join(root, "scripts/sipp/register-auth.xml"), "-inf", csv,
			"-m", strconv.Itoa(*users), "-r", strconv.Itoa(*rate), "-l", "500", "-t", "u1", "-i", "127.0.0.1", "-p", "0",
			"-timeout", "300s", "-nostdin", "-trace_stat", "-stf", stat, "-fd", "1", proxy)
		c.Dir = dir
		out, err := c.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("sipp: %w\n%s", err, lastBytes(out, 2000))
		}
		sippDone <- err
	}()
	time.Sleep(3 * time.Second)
	rssStart := rss(k.Process.Pid)

	var f failures
	st := func(name string) int64 { return stat64(rpc, name) }
	// Each attacker sends from its own address; what kemi took from it is
	// what it sent less what the ban dropped unparsed.
	phase := func(name, ip string, minSent int, attack func() (sent int, err error)) {
		before := st("core:banned_drops")
		sent, err := attack()
		time.Sleep(300 * time.Millisecond)
		if err != nil {
			f.check(false, "%s from %s: %v", name, ip, err)
			return
		}
		dropped := st("core:banned_drops") - before
		taken := int64(sent) - dropped
		f.check(sent >= minSent && taken <= 20, "%s from %s: sent %d (at least %d), kemi took %d before the ban or its giving up (at most 20)",
			name, ip, sent, minSent, taken)
	}

	// svwar and svcrack as they are: their first request goes unanswered
	// (the scanner filter) and they give up; then disguised, scanning for
	// real until pike bans them.
	for i, ua := range []string{"", "Grandstream GXP2170"} {
		ip := fmt.Sprintf("127.0.0.%d", 2+2*i)
		// svwar stops by itself: it asks for an extension that cannot
		// exist first, and when that gets the 401 every REGISTER gets, it
		// says it "will probably not work" and gives up.
		min := 1
		fmt.Printf("svwar (extension scan, REGISTER, User-Agent %q) from %s\n", ua, ip)
		var found string
		phase("svwar", ip, min, func() (int, error) {
			out, sent, err := sipvicious(dir, ip, ua, "svwar", "--force", "-x", ip, "-e", "1000-1300", "-m", "REGISTER", "-p", portStr, "127.0.0.1")
			found = out
			return sent, err
		})
		f.check(!regexp.MustCompile(`\| *1[0-9]{3} *\|`).MatchString(found), "svwar found no extension:\n%s", indent(found))
		ip = fmt.Sprintf("127.0.0.%d", 3+2*i)
		fmt.Printf("svcrack (password guessing for 1001, User-Agent %q) from %s\n", ua, ip)
		var cracked string
		crackMin := 21 // svcrack goes on guessing until the ban
		if ua == "" {
			crackMin = 1 // unanswered, it gives up
		}
		phase("svcrack", ip, crackMin, func() (int, error) {
			out, sent, err := sipvicious(dir, ip, ua, "svcrack", "-x", ip, "-u", "1001", "-r", "1-500", "-p", portStr, "127.0.0.1")
			cracked = out
			return sent, err
		})
		f.check(!regexp.MustCompile(`(?i)\| *1001 *\|`).MatchString(cracked), "svcrack found no password:\n%s", indent(cracked))
	}

	fmt.Println("password guesser (own, a normal User-Agent) from 127.0.0.6")
	phase("guesser", "127.0.0.6", 21, func() (int, error) {
		sent, won, err := guess(proxy, "127.0.0.6", "1002", 200)
		if won {
			return sent, errors.New("a guessed password was accepted")
		}
		return sent, err
	})

	fmt.Println("enumeration probe from 127.0.0.7 (below pike's rate)")
	same, detail, err := enumerate(proxy, "127.0.0.7")
	f.check(err == nil && same, "known and unknown users get the same answers %s%v", detail, errOrEmpty(err))

	fmt.Println("scanner OPTIONS (User-Agent: friendly-scanner) from 127.0.0.8")
	phase("scanner", "127.0.0.8", 200, func() (int, error) { return flood(proxy, "127.0.0.8", 200, scannerOptions) })

	// Transport attacks, each from an address of its own.
	fmt.Println("connection hog: 140 TCP connections from 127.0.2.1")
	open, refused, err := connHog(proxy, "127.0.2.1", 140)
	f.check(err == nil && open == 128 && refused == 12, "connection hog: %d connections kept, %d refused (want 128 and 12) %v", open, refused, errOrEmpty(err))
	answered, _ := probe(proxy, "127.0.2.1", validOptions("hog-udp"))
	f.check(answered, "the connection hog's address is not banned for it: its UDP OPTIONS is answered")

	fmt.Println("non-reading TCP clients: 4 streams of 1 MB of requests each from 127.0.2.2")
	err = nonReading(proxy, "127.0.2.2", 4, 1<<20)
	f.check(err == nil, "non-reading clients: 4 streams opened, their requests sent until done or closed by the proxy %v", errOrEmpty(err))

	fmt.Println("60 KB requests over UDP and TCP from 127.0.2.3")
	udpBig, tcpBig := bigOptions(proxy, "127.0.2.3", 60<<10)
	f.check(udpBig && tcpBig, "60 KB OPTIONS answered: UDP %v, TCP %v", udpBig, tcpBig)

	corpus, _ := filepath.Glob(filepath.Join(root, "core", "sip", "testdata", "torture", "*", "*.sip"))
	fmt.Printf("the torture corpus (%d messages) over UDP from 127.0.2.4\n", len(corpus))
	if c, err := conn(proxy, "127.0.2.4"); err == nil {
		for _, file := range corpus {
			if b, err := os.ReadFile(file); err == nil && len(b) <= 65507 {
				c.Write(b)
			}
		}
		c.Close()
	}
	answered, _ = probe(proxy, "127.0.0.1", validOptions("after-transport"))
	f.check(answered, "kemi answers OPTIONS from 127.0.0.1 after the transport attacks")

	fmt.Printf("garbage: %d bad datagrams from 127.0.1.1-127.0.1.10\n", *garbage)
	linesBefore := countLines(logPath)
	badBefore, dropsBefore := st("core:bad_msg_hdr"), st("core:banned_drops")
	var wg sync.WaitGroup
	per := *garbage / 10
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func(ip string) {
			defer wg.Done()
			flood(proxy, ip, per, garbageDatagram)
		}(fmt.Sprintf("127.0.1.%d", i))
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	lines := countLines(logPath) - linesBefore
	bad, drops := st("core:bad_msg_hdr")-badBefore, st("core:banned_drops")-dropsBefore
	f.check(lines < 100, "the flood of %d bad datagrams wrote %d log lines (fewer than 100)", per*10, lines)
	// Each source is banned at its 10th bad message; a worker may have
	// read one or two more meanwhile: within 20 each, as for requests.
	f.check(bad+drops >= int64(per*10)*99/100 && bad <= 10*20,
		"garbage counted: %d parsed and counted as bad (10 sources, at most 20 each before the ban), %d dropped unparsed by the ban", bad, drops)
	answered, _ = probe(proxy, "127.0.1.1", validOptions("garbage-then-options"))
	f.check(!answered, "a valid OPTIONS from a garbage sender is dropped: garbage got it banned")

	if err := <-sippDone; err != nil {
		f.check(false, "%v", err)
	} else {
		ok, failed, retrans := sipptest.Results(stat)
		f.check(ok == *users && failed == 0, "legitimate registrations: %d of %d succeeded, %d failed (%d retransmissions)", ok, *users, failed, retrans)
	}
	answered, _ = probe(proxy, "127.0.0.1", validOptions("alive"))
	f.check(answered, "kemi answers OPTIONS from 127.0.0.1 after the attack")
	time.Sleep(2 * time.Second)
	rssEnd := rss(k.Process.Pid)
	f.check(rssEnd <= rssStart+32<<20, "resident memory %.1f MiB after the attack, %.1f MiB when it began (within 32 MiB)",
		float64(rssEnd)/(1<<20), float64(rssStart)/(1<<20))
	fmt.Printf("kemi's log: %d lines in all; bans %d, banned drops %d, bad messages %d, log lines suppressed %d\n",
		countLines(logPath), st("core:bans"), st("core:banned_drops"), st("core:bad_msg_hdr"), st("core:bad_msg_log_suppressed"))
	if len(f) > 0 {
		return fmt.Errorf("%d checks failed; kemi's log ends:\n%s", len(f), tail(logPath))
	}
	return nil
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// makeUsers makes the subscriber table: users 1000, 1001... with
// passwords that no guesser's list holds, and sipp's injection file.
func makeUsers(url, csv string, n int) (string, error) {
	d, err := db.Open(url)
	if err != nil {
		return "", err
	}
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Init(ctx); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := range n {
		user, pass := strconv.Itoa(1000+i), fmt.Sprintf("x%x-%d", md5.Sum([]byte(strconv.Itoa(i))), i)
		if err := d.AddUser(ctx, user, domain, pass); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s;%s;%s\n", user, target, pass)
	}
	return csv, os.WriteFile(csv, []byte(b.String()), 0o644)
}

func freePort() int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.LocalAddr().(*net.UDPAddr).Port})
	if err != nil {
		return freePort()
	}
	l.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func waitReady(rpc string) error {
	var err error
	for range 100 {
		if _, err = rpcCall(rpc, "core.version"); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func rpcCall(url, method string, params ...string) ([]byte, error) {
	q := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":[%s]}`, method, strings.Join(params, ","))
	resp, err := http.Post(url, "application/json", strings.NewReader(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.Bytes(), nil
}

// stat64 reads one statistic (group:name) over JSON-RPC; -1 when absent.
func stat64(rpc, name string) int64 {
	b, err := rpcCall(rpc, "stats.get_statistics", strconv.Quote(name))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(regexp.QuoteMeta(name) + ` = (\d+)`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// rss is a process's resident memory in bytes.
func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 10
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	return lastBytes(b, 3000)
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// sipvicious runs one of its tools with its socket bound to ip (its -b
// binds nothing: the wrapper binds every socket the tool makes to ip and
// counts the datagrams it sends) and returns its output and that count.
// A ua other than "" replaces its User-Agent (friendly-scanner, which the
// reference config drops unanswered: newer scanners disguise themselves).
func sipvicious(dir, ip, ua, tool string, args ...string) (string, int, error) {
	count := filepath.Join(dir, tool+".count")
	wrapper := `import atexit, runpy, socket, sys
ip, count, tool, ua = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sent = [0]
Orig = socket.socket
class S(Orig):
    def bind(self, addr):
        return Orig.bind(self, (ip, addr[1]))
    def sendto(self, *a):
        if self.getsockname()[0] != ip:
            Orig.bind(self, (ip, 0))
        sent[0] += 1
        return Orig.sendto(self, *a)
socket.socket = S
atexit.register(lambda: open(count, "w").write(str(sent[0])))
import os
path = os.path.realpath("/usr/bin/" + tool)
sys.path.insert(0, os.path.dirname(path))
if ua:
    from sipvicious.libs import svhelper
    f = svhelper.makeRequest
    f.__defaults__ = tuple(ua if d == "friendly-scanner" else d for d in f.__defaults__)
sys.argv = [tool] + sys.argv[5:]
runpy.run_path(path, run_name="__main__")
`
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{"-c", wrapper, ip, count, tool, ua}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(count)
	if rerr != nil {
		return string(out), 0, fmt.Errorf("%s did not run: %v %v\n%s", tool, err, rerr, out)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return string(out), n, nil
}

// conn is a UDP socket on ip talking to the proxy.
func conn(proxy, ip string) (*net.UDPConn, error) {
	dst, err := net.ResolveUDPAddr("udp", proxy)
	if err != nil {
		return nil, err
	}
	return net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, dst)
}

// probe sends one message from ip and reports whether anything came back
// within a second.
func probe(proxy, ip string, msg func(local string, i int) []byte) (bool, *sip.Msg) {
	c, err := conn(proxy, ip)
	if err != nil {
		return false, nil
	}
	defer c.Close()
	c.Write(msg(c.LocalAddr().String(), 0))
	return readReply(c, time.Second)
}

func readReply(c *net.UDPConn, wait time.Duration) (bool, *sip.Msg) {
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		return false, nil
	}
	m := new(sip.Msg)
	if m.Parse(buf[:n]) != nil {
		return true, nil
	}
	return true, m
}

// flood sends n messages from ip as fast as the socket takes them.
func flood(proxy, ip string, n int, msg func(local string, i int) []byte) (int, error) {
	c, err := conn(proxy, ip)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	for i := range n {
		if _, err := c.Write(msg(c.LocalAddr().String(), i)); err != nil {
			return i, err
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // keep the kernel's buffers from dropping what is counted as sent
		}
	}
	return n, nil
}

func validOptions(tag string) func(string, int) []byte {
	return func(local string, i int) []byte {
		return fmt.Appendf(nil, "OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-%[3]s-%[4]d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:probe@%[1]s>;tag=%[3]s\r\nTo: <sip:%[1]s>\r\nCall-ID: %[3]s-%[4]d\r\n"+
			"CSeq: 1 OPTIONS\r\nUser-Agent: kemi attack check\r\nContent-Length: 0\r\n\r\n", target, local, tag, i)
	}
}

func scannerOptions(local string, i int) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:100@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-scan-%[3]d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: \"sipvicious\" <sip:100@1.1.1.1>;tag=scan%[3]d\r\nTo: <sip:100@%[1]s>\r\n"+
		"Call-ID: scan-%[3]d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n", target, local, i)
}

// garbageDatagram is, in turn, random-looking bytes (with escapes and
// terminal control sequences that a log must not print raw), a request
// cut off in its headers, a request line with no headers, and a message
// whose Content-Length runs past its end.
func garbageDatagram(local string, i int) []byte {
	switch i % 4 {
	case 0:
		return fmt.Appendf(nil, "\x1b[2J\x00\xff%08x garbage \r\n\x07", i*2654435761)
	case 1:
		full := validOptions("cut")(local, i)
		return full[:40+i%40]
	case 2:
		return []byte("INVITE sip:x SIP/2.0\r\n\r\n")
	default:
		return fmt.Appendf(nil, "MESSAGE sip:1000@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-cl%[3]d\r\n"+
			"From: <sip:a@b>;tag=1\r\nTo: <sip:1000@%[1]s>\r\nCall-ID: cl-%[3]d\r\nCSeq: 1 MESSAGE\r\n"+
			"Content-Length: 500\r\n\r\nshort", target, local, i)
	}
}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// register builds a REGISTER for user from local, with credentials for
// the challenge ch and password when ch is not nil.
func register(user, local string, cseq int, ch *sip.Msg, password string) []byte {
	var auth string
	if ch != nil {
		if w, err := ch.WWWAuthenticate(); err == nil && w != nil {
			uri := "sip:" + target
			nc, cnonce := "00000001", fmt.Sprintf("%08x", cseq)
			ha1 := md5hex(user + ":" + domain + ":" + password)
			resp := md5hex(ha1 + ":" + string(w.Nonce) + ":" + nc + ":" + cnonce + ":auth:" + md5hex("REGISTER:"+uri))
			auth = fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "+
				"response=\"%s\", algorithm=MD5, qop=auth, nc=%s, cnonce=\"%s\"\r\n", user, domain, w.Nonce, uri, resp, nc, cnonce)
		}
	}
	return fmt.Appendf(nil, "REGISTER sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-g%[3]d-%[4]d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:%[5]s@%[1]s>;tag=g%[3]d\r\nTo: <sip:%[5]s@%[1]s>\r\nCall-ID: guess-%[5]s-%[3]d@%[2]s\r\n"+
		"CSeq: %[4]d REGISTER\r\nContact: <sip:%[5]s@%[2]s>\r\nUser-Agent: Zoiper 5.6\r\n%[6]sContent-Length: 0\r\n\r\n",
		target, local, os.Getpid(), cseq, user, auth)
}

// guess tries n passwords for user from ip, each a REGISTER, its 401 and
// a REGISTER with the answer; it stops when kemi stops answering.
func guess(proxy, ip, user string, n int) (sent int, won bool, err error) {
	c, err := conn(proxy, ip)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	cseq := 0
	silent := 0
	for i := range n {
		cseq++
		c.Write(register(user, local, cseq, nil, ""))
		sent++
		got, ch := readReply(c, 200*time.Millisecond)
		if !got || ch == nil {
			if silent++; silent >= 5 {
				return sent, false, nil // banned: nothing more to learn
			}
			continue
		}
		cseq++
		c.Write(register(user, local, cseq, ch, fmt.Sprintf("password%d", i)))
		sent++
		if got, r := readReply(c, 200*time.Millisecond); got && r != nil && r.StatusCode() == 200 {
			return sent, true, nil
		}
	}
	return sent, false, nil
}

// enumerate sends, slowly, credentials with a wrong password for existing
// users and for users that do not exist, and compares the answers: the
// status, the reason and the header names must be the same.
func enumerate(proxy, ip string) (bool, string, error) {
	c, err := conn(proxy, ip)
	if err != nil {
		return false, "", err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	shape := func(user string, cseq int) (string, error) {
		c.Write(register(user, local, cseq, nil, ""))
		_, ch := readReply(c, time.Second)
		if ch == nil {
			return "", fmt.Errorf("no challenge for %s", user)
		}
		c.Write(register(user, local, cseq+1, ch, "wrong"))
		_, r := readReply(c, time.Second)
		if r == nil {
			return "", fmt.Errorf("no answer to %s's credentials", user)
		}
		var names []string
		for i := range r.NumHeaders() {
			names = append(names, string(r.Header(i).Name))
		}
		return fmt.Sprintf("%d %s [%s]", r.StatusCode(), r.Reason(), strings.Join(names, " ")), nil
	}
	var known, unknown []string
	for i, u := range []string{"1003", "9003", "1004", "9004", "1005", "9005"} {
		s, err := shape(u, 10*i+1)
		if err != nil {
			return false, "", err
		}
		if u[0] == '1' {
			known = append(known, s)
		} else {
			unknown = append(unknown, s)
		}
		time.Sleep(300 * time.Millisecond) // below pike's 16 per 2 s
	}
	same := true
	for i := range known {
		same = same && known[i] == unknown[i]
	}
	return same, fmt.Sprintf("(known: %s; unknown: %s)", known[0], unknown[0]), nil
}

// tcpFrom dials the proxy over TCP from ip.
func tcpFrom(proxy, ip string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 3 * time.Second}
	return d.Dial("tcp", proxy)
}

// connHog opens n TCP connections from ip and holds them: how many the
// proxy kept open and how many it closed at once (past its
// tcp_max_connections_per_ip).
func connHog(proxy, ip string, n int) (open, refused int, err error) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := tcpFrom(proxy, ip)
		if err != nil {
			return 0, 0, err
		}
		conns = append(conns, c)
	}
	b := make([]byte, 1)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(b); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++ // still open, nothing to read
				continue
			}
		}
		refused++
	}
	return open, refused, nil
}

// nonReading opens n TCP connections from ip that send size bytes of
// OPTIONS each and never read the replies.
func nonReading(proxy, ip string, n, size int) error {
	var wg sync.WaitGroup
	for i := range n {
		c, err := tcpFrom(proxy, ip)
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := bytes.Replace(validOptions(fmt.Sprintf("nr%d", i))(c.LocalAddr().String(), i), []byte("SIP/2.0/UDP"), []byte("SIP/2.0/TCP"), 1)
			block := bytes.Repeat(one, 64)
			for sent := 0; sent < size; sent += len(block) {
				c.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Write(block); err != nil {
					return // closed by the proxy (pike, or the stalled queue)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// bigOptions sends an OPTIONS of size bytes (a body makes it long) from
// ip over UDP and over TCP, and reports whether each was answered.
func bigOptions(proxy, ip string, size int) (udp, tcp bool) {
	msg := func(proto, local string) []byte {
		head := fmt.Sprintf("OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/%[2]s %[3]s;branch=z9hG4bK-big-%[2]s;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:probe@%[1]s>;tag=big\r\nTo: <sip:%[1]s>\r\nCall-ID: big-%[2]s\r\nCSeq: 1 OPTIONS\r\n"+
			"User-Agent: kemi attack check\r\nContent-Type: text/plain\r\n", target, proto, local)
		pad := size - len(head) - len("Content-Length: 00000\r\n\r\n")
		return []byte(head + fmt.Sprintf("Content-Length: %05d\r\n\r\n", pad) + strings.Repeat("x", pad))
	}
	if c, err := conn(proxy, ip); err == nil {
		c.Write(msg("UDP", c.LocalAddr().String()))
		udp, _ = readReply(c, 2*time.Second)
		c.Close()
	}
	if c, err := tcpFrom(proxy, ip); err == nil {
		c.Write(msg("TCP", c.LocalAddr().String()))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 4096)
		n, err := c.Read(b)
		tcp = err == nil && bytes.HasPrefix(b[:n], []byte("SIP/2.0 200"))
		c.Close()
	}
	return udp, tcp
}
