package enginetest

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/siptest"
	_ "github.com/kemi-sip/kemi/modules/all" // the modules the configs load
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files")

// A golden file is sections, each opened by a line "=== name ===":
//
//   - "config": the configs to run the steps against, one per line as
//     "file PATH" (from the repository's root), with "define NAME" lines
//     for -A; every config gives the same output. Or inline files: a
//     section "kamailio.cfg" and one per script, by file name.
//   - "in [ENDPOINT] [xN]": a SIP message (LF line ends, Content-Length
//     recomputed) that ENDPOINT (default uac) sends to the proxy, N times.
//   - "reply ENDPOINT METHOD CODE REASON": ENDPOINT answers the last METHOD
//     request it received; the section holds extra header lines.
//   - "out": what the endpoints received after the step, each message
//     opened by "--- ENDPOINT", grouped by endpoint in the order uac, uas,
//     uas2, far.
//
// Endpoints uac, uas and uas2 are on 127.0.0.1, far on 127.0.0.2 (not the
// proxy's own address). In messages $PROXY, $UAC, $UAS, $UAS2 and $FAR
// stand for their addresses; received messages are compared with the
// addresses put back as those names, tags and branches made by the proxy
// normalised.
type golden struct {
	files   map[string]string
	configs []config
	steps   []step
	order   []string // section names as they appear, for -update
}

type config struct {
	file    string
	defines map[string]string
}

type step struct {
	head string // the section line: "in uac", "reply uas INVITE 180 Ringing"
	body string
	out  string
	// hasOut: each step has its out section, even an empty one
	hasOut bool
}

var sectionRe = regexp.MustCompile(`(?m)^=== (.+) ===\n`)

func parseGolden(t *testing.T, text string) *golden {
	g := &golden{files: map[string]string{}}
	locs := sectionRe.FindAllStringSubmatchIndex(text, -1)
	for i, l := range locs {
		name := text[l[2]:l[3]]
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := text[l[1]:end]
		g.order = append(g.order, name)
		switch kind, _, _ := strings.Cut(name, " "); kind {
		case "in", "reply":
			g.steps = append(g.steps, step{head: name, body: body})
		case "out":
			if len(g.steps) == 0 || g.steps[len(g.steps)-1].hasOut {
				t.Fatalf("an out section must follow each in or reply")
			}
			g.steps[len(g.steps)-1].out = body
			g.steps[len(g.steps)-1].hasOut = true
		case "config":
			var cur *config
			for _, line := range strings.Split(body, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 0 || strings.HasPrefix(f[0], "#"):
				case f[0] == "file" && len(f) == 2:
					g.configs = append(g.configs, config{file: f[1], defines: map[string]string{}})
					cur = &g.configs[len(g.configs)-1]
				case f[0] == "define" && len(f) == 2 && cur != nil:
					n, v, _ := strings.Cut(f[1], "=")
					cur.defines[n] = v
				default:
					t.Fatalf("config: bad line %q", line)
				}
			}
		default:
			g.files[name] = body
		}
	}
	return g
}

// format is the file again with the outputs of the steps replaced.
func (g *golden) format(raw string) string {
	var b strings.Builder
	si := 0
	locs := sectionRe.FindAllStringSubmatchIndex(raw, -1)
	for i, l := range locs {
		name := raw[l[2]:l[3]]
		end := len(raw)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		fmt.Fprintf(&b, "=== %s ===\n", name)
		if name == "out" {
			b.WriteString(g.steps[si].out)
			si++
		} else {
			b.WriteString(raw[l[1]:end])
		}
	}
	return b.String()
}

// wire turns a message as written in the file into what is sent.
func wire(s string) []byte {
	s = strings.TrimLeft(s, "\n")
	head, body, _ := strings.Cut(s, "\n\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	head = clRe.ReplaceAllString(strings.TrimRight(head, "\n"), "Content-Length: "+strconv.Itoa(len(body)))
	head = strings.ReplaceAll(head, "\n", "\r\n")
	return []byte(head + "\r\n\r\n" + body)
}

var (
	clRe     = regexp.MustCompile(`(?mi)^(Content-Length|l):.*$`)
	toTagRe  = regexp.MustCompile(`;tag=[0-9a-f]{8}-[0-9a-f]{8}`)
	rportRe  = regexp.MustCompile(`;rport=\d+`)
	tmRe     = regexp.MustCompile(`branch=z9hG4bK[0-9a-f]{8}\.[0-9a-f]+\.(\d+)`)
	slRe     = regexp.MustCompile(`branch=z9hG4bK[0-9a-f]{16}\b`)
	endpoint = []string{"uac", "uas", "uas2", "far"}
	// msgStartRe opens each received message in an "out" section.
	msgStartRe = regexp.MustCompile(`(?m)^--- [a-z0-9]+$`)
)

// endpoints are the SIP peers of a golden run.
type endpoints struct {
	t     *testing.T
	conns map[string]*net.UDPConn
	names map[string]string // address -> $NAME
	mu    sync.Mutex
	got   []received
	last  map[string]map[string]*sip.Msg // endpoint -> method -> last request
}

type received struct {
	from string
	msg  []byte
}

func newEndpoints(t *testing.T, proxy netip.AddrPort) *endpoints {
	e := &endpoints{t: t, conns: map[string]*net.UDPConn{}, names: map[string]string{proxy.String(): "$PROXY"},
		last: map[string]map[string]*sip.Msg{}}
	for _, name := range endpoint {
		ip := "127.0.0.1"
		if name == "far" {
			ip = "127.0.0.2"
		}
		c := siptest.NewOn(t, name, ip).Conn // read here, by a goroutine of its own
		e.conns[name] = c
		e.names[c.LocalAddr().String()] = "$" + strings.ToUpper(name)
		e.last[name] = map[string]*sip.Msg{}
		go e.read(name, c)
	}
	return e
}

func (e *endpoints) read(name string, c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		m := new(sip.Msg)
		e.mu.Lock()
		if m.Parse(b) == nil && m.IsRequest() {
			e.last[name][string(m.MethodName())] = m
		}
		e.got = append(e.got, received{name, b})
		e.mu.Unlock()
	}
}

// expand puts the addresses in for $PROXY, $UAC, ...
func (e *endpoints) expand(s string) string {
	keys := make([]string, 0, len(e.names))
	for addr := range e.names {
		keys = append(keys, addr)
	}
	sort.Slice(keys, func(i, j int) bool { return len(e.names[keys[i]]) > len(e.names[keys[j]]) })
	for _, addr := range keys {
		s = strings.ReplaceAll(s, e.names[addr], addr)
	}
	return s
}

func (e *endpoints) normalise(b []byte) string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	for addr, name := range e.names {
		s = strings.ReplaceAll(s, addr, name)
	}
	s = toTagRe.ReplaceAllString(s, ";tag=TOTAG")
	s = rportRe.ReplaceAllString(s, ";rport=PORT")
	s = tmRe.ReplaceAllString(s, "branch=z9hG4bK-TM.$1")
	s = slRe.ReplaceAllString(s, "branch=z9hG4bK-SL")
	return s
}

// collect waits for want messages, then for quiet, and returns them in
// the endpoints' order.
func (e *endpoints) collect(want int) string {
	deadline := time.Now().Add(3 * time.Second)
	quietFor := 200 * time.Millisecond
	n, since := 0, time.Now()
	for {
		time.Sleep(10 * time.Millisecond)
		e.mu.Lock()
		cur := len(e.got)
		e.mu.Unlock()
		if cur != n {
			n, since = cur, time.Now()
		}
		if (n >= want && time.Since(since) > quietFor) || time.Now().After(deadline) {
			break
		}
	}
	e.mu.Lock()
	got := e.got
	e.got = nil
	e.mu.Unlock()
	var b strings.Builder
	for _, name := range endpoint {
		for _, r := range got {
			if r.from != name {
				continue
			}
			b.WriteString("--- " + name + "\n")
			b.WriteString(e.normalise(r.msg))
			if !strings.HasSuffix(b.String(), "\n") {
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) { runGolden(t, f) })
	}
}

func runGolden(t *testing.T, path string) {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := parseGolden(t, string(text))
	for i, st := range g.steps {
		if !st.hasOut {
			t.Fatalf("step %d (%s) has no out section", i+1, st.head)
		}
	}
	configs := g.configs
	if len(configs) == 0 {
		dir := t.TempDir()
		for name, body := range g.files {
			os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
		}
		configs = []config{{file: filepath.Join(dir, "kamailio.cfg")}}
	} else {
		for i := range configs {
			configs[i].file = filepath.Join("..", "..", configs[i].file)
		}
	}
	changed := false
	for ci, cf := range configs {
		t.Run(filepath.Base(cf.file), func(t *testing.T) {
			p := proxytest.Start(t, cf.file, cf.defines)
			t.Logf("engine %s", p.Env.Engine.Name())
			e := newEndpoints(t, p.Addr)
			for i := range g.steps {
				st := &g.steps[i]
				if !e.run(st) {
					t.Fatalf("step %d (%s): cannot run", i+1, st.head)
				}
				got := e.collect(len(msgStartRe.FindAllString(st.out, -1)))
				if got != st.out {
					if *update && ci == 0 {
						st.out, changed = got, true
						continue
					}
					t.Errorf("step %d (%s):\n--- got\n%s--- want\n%s\nproxy log:\n%s", i+1, st.head, got, st.out, p.Logs.String())
				}
			}
		})
	}
	if changed {
		if err := os.WriteFile(path, []byte(g.format(string(text))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// run sends what a step sends; false when it cannot.
func (e *endpoints) run(st *step) bool {
	f := strings.Fields(st.head)
	switch f[0] {
	case "in":
		from, times := "uac", 1
		for _, a := range f[1:] {
			if strings.HasPrefix(a, "x") {
				times, _ = strconv.Atoi(a[1:])
			} else {
				from = a
			}
		}
		c := e.conns[from]
		if c == nil {
			return false
		}
		dst, _ := netip.ParseAddrPort(e.expand("$PROXY"))
		for range times {
			if _, err := c.WriteToUDPAddrPort(wire(e.expand(st.body)), dst); err != nil {
				return false
			}
			time.Sleep(2 * time.Millisecond)
		}
		return true
	case "reply":
		if len(f) < 5 {
			return false
		}
		name, method := f[1], f[2]
		code, err := strconv.Atoi(f[3])
		if err != nil {
			return false
		}
		e.mu.Lock()
		req := e.last[name][method]
		e.mu.Unlock()
		if req == nil {
			return false
		}
		hdrs := strings.ReplaceAll(strings.TrimSpace(e.expand(st.body)), "\n", "\r\n")
		if hdrs != "" {
			hdrs += "\r\n"
		}
		out := sip.AppendReply(nil, req, &sip.Reply{Code: code, Reason: strings.Join(f[4:], " "), ToTag: []byte(name), Headers: []byte(hdrs)})
		v := req.TopVia()
		dst := netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port))
		_, err = e.conns[name].WriteToUDPAddrPort(out, dst)
		return err == nil
	}
	return false
}
