package sip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchMessages are the messages of the parser benchmarks, shared with the
// sipgo comparison in benchdata/parsers.
var benchMessages = []string{"register", "register_auth", "401", "invite", "200invite"}

func loadBench(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bench", name+".sip"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// touchAll reads every structured header the parser offers, so that the
// lazy parts are measured too. It returns a value derived from all of them
// so that nothing is optimised away.
func touchAll(tb testing.TB, m *Msg) int {
	n := 0
	if m.IsRequest() {
		u, err := m.RURI()
		if err != nil {
			tb.Fatal(err)
		}
		n += len(u.Host) + u.Port
	}
	var v Via
	vi := m.Vias()
	for vi.Next(&v) {
		n += len(v.Branch) + len(v.Host) + v.Port + len(v.Received) + len(v.RPort)
	}
	n += len(m.From().Tag) + len(m.From().URI.User) + len(m.To().URI.Host) + len(m.To().Tag)
	n += len(m.CallID()) + int(m.CSeq()) + int(m.CSeqMethod()) + m.MaxForwards() + m.Expires()
	n += m.ContentLength() + len(m.ContentType()) + len(m.Body())
	var c Contact
	ci := m.Contacts()
	for ci.Next(&c) {
		n += len(c.URI.Host) + c.Expires + c.Q
	}
	var na NameAddr
	for _, t := range [...]HdrType{HdrRoute, HdrRecordRoute, HdrPath} {
		it := m.Addrs(t)
		for it.Next(&na) {
			n += len(na.URI.Host)
		}
		if it.Err() != nil {
			tb.Fatal(it.Err())
		}
	}
	for _, f := range [...]func() (*Digest, error){m.Authorization, m.WWWAuthenticate} {
		d, err := f()
		if err != nil {
			tb.Fatal(err)
		}
		if d != nil {
			n += len(d.Username) + len(d.Realm) + len(d.Nonce) + len(d.URI) + len(d.Response) +
				len(d.Algorithm) + len(d.CNonce) + len(d.Opaque) + len(d.QOP) + len(d.NC)
		}
	}
	n += len(m.UserAgent())
	pkg, _ := m.Event()
	n += len(pkg)
	for _, t := range [...]HdrType{HdrAllow, HdrSupported, HdrRequire} {
		it := m.List(t)
		for el, ok := it.Next(); ok; el, ok = it.Next() {
			n += len(el)
		}
	}
	if vi.Err() != nil || ci.Err() != nil {
		tb.Fatal(vi.Err(), ci.Err())
	}
	return n
}

var sink int

func BenchmarkParse(b *testing.B) { benchParse(b, true) }

// BenchmarkParseOnly is the eager part alone: what every message costs
// before a script asks for anything.
func BenchmarkParseOnly(b *testing.B) { benchParse(b, false) }

func benchParse(b *testing.B, touch bool) {
	for _, name := range benchMessages {
		data := loadBench(b, name)
		b.Run(name, func(b *testing.B) {
			var m Msg
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Parse(data); err != nil {
					b.Fatal(err)
				}
				if touch {
					sink += touchAll(b, &m)
				}
			}
		})
	}
}

func BenchmarkReply200ToRegister(b *testing.B) {
	var m Msg
	if err := m.Parse(loadBench(b, "register")); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2048)
	r := Reply{Code: 200, Reason: "OK", ToTag: []byte("2d2cbd3e86bd7a4c"), Source: []byte("198.51.100.7"), SourcePort: 40312,
		Headers: []byte("Contact: <sip:alice@192.0.2.10:5060;rinstance=a0b1c2d3e4f5;transport=UDP>;expires=3600\r\nServer: kemi\r\n")}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReply(buf[:0], &m, &r)
	}
	sink += len(buf)
}

func BenchmarkForwardInvite(b *testing.B) {
	var m Msg
	data := loadBench(b, "invite")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(data); err != nil {
			b.Fatal(err)
		}
		_ = m.SetViaReceived([]byte("203.0.113.2"), 5060, false)
		_ = m.PushVia([]byte("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKkemi.1"))
		_ = m.AddRecordRoute([]byte("<sip:127.0.0.1;lr>"))
		_ = m.SetMaxForwards(m.MaxForwards() - 1)
		_ = m.SetRURI([]byte("sip:bob@192.0.2.21:5060"))
		buf = m.AppendTo(buf[:0])
	}
	sink += len(buf)
}

// The hot path budget: parsing and reading every structured header, and
// building a reply, allocate nothing.
func TestZeroAllocs(t *testing.T) {
	for _, name := range benchMessages {
		data := loadBench(t, name)
		var m Msg
		if allocs := testing.AllocsPerRun(100, func() {
			if err := m.Parse(data); err != nil {
				t.Fatal(err)
			}
			sink += touchAll(t, &m)
		}); allocs != 0 {
			t.Errorf("%s: parse and touch all: %v allocs, want 0", name, allocs)
		}
	}
	var m Msg
	if err := m.Parse(loadBench(t, "register")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 2048)
	r := Reply{Code: 200, Reason: "OK", ToTag: []byte("x"), Source: []byte("198.51.100.7"), SourcePort: 1, Headers: []byte("Server: kemi\r\n")}
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendReply(buf[:0], &m, &r) }); allocs != 0 {
		t.Errorf("200 reply to REGISTER: %v allocs, want 0", allocs)
	}
	data := loadBench(t, "invite")
	if allocs := testing.AllocsPerRun(100, func() {
		_ = m.Parse(data)
		_ = m.SetViaReceived([]byte("203.0.113.9"), 5060, false)
		_ = m.PushVia([]byte("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1"))
		_ = m.AddRecordRoute([]byte("<sip:127.0.0.1;lr>"))
		_ = m.SetMaxForwards(10)
		_ = m.SetRURI([]byte("sip:bob@192.0.2.21:5060"))
		buf = m.AppendTo(buf[:0])
	}); allocs != 0 {
		t.Errorf("forwarding an INVITE: %v allocs, want 0", allocs)
	}
	// a flood of malformed datagrams does not allocate either
	bad := []byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nX Y: z\r\n\r\n")
	if allocs := testing.AllocsPerRun(100, func() { _ = m.Parse(bad) }); allocs != 0 {
		t.Errorf("malformed message: %v allocs, want 0", allocs)
	}
}

func TestBenchMessagesParse(t *testing.T) {
	for _, name := range benchMessages {
		m := mustParse(t, loadBench(t, name))
		if touchAll(t, m) == 0 {
			t.Errorf("%s: nothing read", name)
		}
		if strings.HasPrefix(name, "invite") {
			var v Via
			it := m.Vias()
			n := 0
			for it.Next(&v) {
				n++
			}
			if n != 3 || m.NextHeader(HdrRecordRoute, m.NextHeader(HdrRecordRoute, -1)) < 0 {
				t.Errorf("invite: %d vias; want 3 and 2 Record-Route", n)
			}
		}
	}
}
