package enginetest

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	engines "github.com/kemi-sip/kemi/engines/all"
	_ "github.com/kemi-sip/kemi/modules/all"
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files")

// A golden file is sections, each opened by a line "=== name ===":
// "kamailio.cfg", scripts by file name, then pairs of "in" (one SIP
// message, LF line ends, Content-Length recomputed) and "out" (the replies
// it gets, each opened by a line "---", or nothing). Replies are compared
// after the To tag, rport and Content-Length of the reply are normalised.
type golden struct {
	files map[string]string
	steps []step
	order []string // section names as they appear, for -update
}

type step struct {
	in, out string
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
		switch name {
		case "in":
			g.steps = append(g.steps, step{in: body})
		case "out":
			if len(g.steps) == 0 {
				t.Fatalf("out before in")
			}
			g.steps[len(g.steps)-1].out = body
		default:
			g.files[name] = body
		}
	}
	return g
}

func (g *golden) format() string {
	var b strings.Builder
	si := 0
	for _, name := range g.order {
		fmt.Fprintf(&b, "=== %s ===\n", name)
		switch name {
		case "in":
			b.WriteString(g.steps[si].in)
		case "out":
			b.WriteString(g.steps[si].out)
			si++
		default:
			b.WriteString(g.files[name])
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
	clRe    = regexp.MustCompile(`(?mi)^(Content-Length|l):.*$`)
	toTagRe = regexp.MustCompile(`;tag=[0-9a-f]{8}-[0-9a-f]{8}`)
	rportRe = regexp.MustCompile(`;rport=\d+`)
)

func normalise(b []byte) string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = toTagRe.ReplaceAllString(s, ";tag=TOTAG")
	s = rportRe.ReplaceAllString(s, ";rport=PORT")
	return s
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), ".txt"), func(t *testing.T) {
			runGolden(t, f)
		})
	}
}

func runGolden(t *testing.T, path string) {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := parseGolden(t, string(text))
	dir := t.TempDir()
	for name, body := range g.files {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	c, err := cfg.Parse(filepath.Join(dir, "kamailio.cfg"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := engines.Table(c)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engines.Engine(c, tab, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.Listen(transport.Config{Listen: []transport.Addr{{Host: "127.0.0.1", Port: 0}}, Children: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	env := &router.Env{Engine: e, Transport: tr, Myself: transport.NewMyself(tr.Listeners, []string{"proxy.example.com"}),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Defines: c.Defines}
	tr.Serve(func(rank int) transport.Handler {
		w, err := env.NewWorker(rank)
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
	var udp string
	for _, l := range tr.Listeners {
		if l.Proto.String() == "UDP" {
			udp = l.Addr.String()
		}
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, _ := net.ResolveUDPAddr("udp", udp)
	changed := false
	for i := range g.steps {
		st := &g.steps[i]
		if _, err := conn.WriteTo(wire(st.in), dst); err != nil {
			t.Fatal(err)
		}
		want := strings.Count(st.out, "---\n")
		var got strings.Builder
		buf := make([]byte, 65536)
		for n := 0; ; n++ {
			wait := 2 * time.Second
			if n >= want {
				wait = 150 * time.Millisecond // nothing more should come
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			k, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			got.WriteString("---\n")
			got.WriteString(normalise(buf[:k]))
			if !strings.HasSuffix(got.String(), "\n") {
				got.WriteString("\n")
			}
		}
		if got.String() != st.out {
			if *update {
				st.out, changed = got.String(), true
				continue
			}
			first, _, _ := strings.Cut(strings.TrimLeft(st.in, "\n"), "\n")
			t.Errorf("step %d (%s):\n--- got\n%s--- want\n%s", i+1, first, got.String(), st.out)
		}
	}
	if changed {
		if err := os.WriteFile(path, []byte(g.format()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
