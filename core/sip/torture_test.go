package sip

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files of the torture corpus")

// dump writes every field the parser offers, structured headers included,
// so that a golden file shows what a message parses to.
func dump(m *Msg) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if m.IsRequest() {
		p("request: method=%q (%d) ruri=%q", m.MethodName(), m.Method(), m.RURIText())
		u, err := m.RURI()
		dumpURI(p, "  ruri", u, err)
	} else {
		p("response: %d %q", m.StatusCode(), m.Reason())
	}
	p("headers: %d", m.NumHeaders())
	for i := 0; i < m.NumHeaders(); i++ {
		h := m.Header(i)
		p("  %2d %-14s %q: %q", i, h.Type.String(), h.Name, h.Value)
	}
	vias := m.Vias()
	var v Via
	for n := 0; vias.Next(&v); n++ {
		p("via[%d]: %s/%s/%s transport=%d host=%q port=%d branch=%q received=%q rport=%v,%q", n, v.Protocol, v.Version, v.TransportName, v.Transport, v.Host, v.Port, v.Branch, v.Received, v.HasRPort, v.RPort)
	}
	if vias.Err() != nil {
		p("via error: %v", vias.Err())
	}
	dumpAddr(p, "from", m.From(), nil)
	dumpAddr(p, "to", m.To(), nil)
	p("call-id: %q", m.CallID())
	p("cseq: %d %q (%d)", m.CSeq(), m.CSeqMethodName(), m.CSeqMethod())
	p("max-forwards: %d", m.MaxForwards())
	p("expires: %d", m.Expires())
	p("content-length: %d body=%d discarded=%d content-type=%q", m.ContentLength(), len(m.Body()), m.Discarded(), m.ContentType())
	cs := m.Contacts()
	var c Contact
	for cs.Next(&c) {
		if c.Star {
			p("contact: *")
			continue
		}
		dumpAddr(p, "contact", &c.NameAddr, nil)
		p("  expires=%d q=%d", c.Expires, c.Q)
	}
	if cs.Err() != nil {
		p("contact error: %v", cs.Err())
	}
	for _, t := range []HdrType{HdrRoute, HdrRecordRoute, HdrPath} {
		it := m.Addrs(t)
		var na NameAddr
		for it.Next(&na) {
			dumpAddr(p, t.String(), &na, nil)
		}
		if it.Err() != nil {
			p("%s error: %v", t, it.Err())
		}
	}
	for k, f := range []func() (*Digest, error){m.Authorization, m.ProxyAuthorization, m.WWWAuthenticate, m.ProxyAuthenticate} {
		d, err := f()
		if err != nil {
			p("%s error: %v", digestHdrs[k], err)
		}
		if d != nil {
			p("%s: scheme=%q username=%q realm=%q nonce=%q uri=%q response=%q algorithm=%q cnonce=%q opaque=%q qop=%q nc=%q stale=%q", digestHdrs[k], d.Scheme, d.Username, d.Realm, d.Nonce, d.URI, d.Response, d.Algorithm, d.CNonce, d.Opaque, d.QOP, d.NC, d.Stale)
		}
	}
	if ua := m.UserAgent(); ua != nil {
		p("user-agent: %q", ua)
	}
	if pkg, params := m.Event(); pkg != nil {
		p("event: %q %q", pkg, params)
	}
	for _, t := range []HdrType{HdrAllow, HdrSupported, HdrRequire} {
		it := m.List(t)
		for el, ok := it.Next(); ok; el, ok = it.Next() {
			p("%s: %q", t, el)
		}
	}
	return b.String()
}

func dumpAddr(p func(string, ...any), what string, na *NameAddr, err error) {
	p("%s: display=%q tag=%q params=%q", what, na.Display, na.Tag, na.Params)
	dumpURI(p, "  uri", &na.URI, err)
}

func dumpURI(p func(string, ...any), what string, u *URI, err error) {
	if err != nil {
		p("%s error: %v", what, err)
		return
	}
	p("%s: scheme=%q(%d) user=%q password=%v,%q host=%q port=%d params=%q headers=%q opaque=%q transport=%q lr=%v", what, u.SchemeName, u.Scheme, u.User, u.HasPassword, u.Password, u.Host, u.Port, u.Params, u.Headers, u.Opaque, u.TransportParam(), u.LR())
}

// TestTorture runs the corpus: every valid message parses and reads as its
// golden file says; every invalid one is rejected with the error its golden
// file names.
func TestTorture(t *testing.T) {
	for _, dir := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", "torture", dir, "*.sip"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no corpus in testdata/torture/%s: %v", dir, err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".sip")
			t.Run(dir+"/"+name, func(t *testing.T) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var m Msg
				perr := m.Parse(data)
				var got string
				if dir == "valid" {
					if perr != nil {
						t.Fatalf("%s: got error %v, want it to parse", name, perr)
					}
					got = dump(&m)
				} else {
					if perr == nil {
						t.Fatalf("%s: parsed, want an error", name)
					}
					pe := perr.(*ParseError)
					got = fmt.Sprintf("%s: %v\n", pe.Kind, perr)
				}
				golden := strings.TrimSuffix(f, ".sip") + ".golden"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
				}
			})
		}
	}
}

// The corpus must keep covering what the issue asks for.
func TestTortureCorpusSize(t *testing.T) {
	v, _ := filepath.Glob("testdata/torture/valid/*.sip")
	i, _ := filepath.Glob("testdata/torture/invalid/*.sip")
	if len(v)+len(i) < 40 || len(v) < 15 || len(i) < 15 {
		t.Errorf("corpus: %d valid, %d invalid; want at least 40 with 15 of each", len(v), len(i))
	}
	if !bytes.Contains(mustRead(t, "testdata/torture/invalid/nul.sip"), []byte{0}) {
		t.Error("nul.sip lost its NUL byte")
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
