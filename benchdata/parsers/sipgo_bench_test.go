// Package parsers measures github.com/emiago/sipgo's parser on the messages
// of core/sip's BenchmarkParse, reading the same fields, so that benchstat
// can put the two side by side. It is a module of its own so that the kemi
// binary does not depend on sipgo.
package parsers

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

var benchMessages = []string{"register", "register_auth", "401", "invite", "200invite"}

func loadBench(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "core", "sip", "testdata", "bench", name+".sip"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// touchAll reads through sipgo's API what core/sip's touchAll reads: the
// request URI, every Via, From/To with tags, Call-ID, CSeq, Max-Forwards,
// Expires, Content-Length/Type, every Contact with expires and q, Route,
// Record-Route and Path, the digest credentials or challenge (parsed with
// github.com/icholy/digest, which sipgo's own digest client uses),
// User-Agent, Event, and the Allow/Supported/Require tokens.
func touchAll(tb testing.TB, msg sip.Message) int {
	n := 0
	if req, ok := msg.(*sip.Request); ok {
		n += len(req.Recipient.Host) + req.Recipient.Port
	}
	for _, h := range msg.GetHeaders("Via") {
		v := h.(*sip.ViaHeader)
		br, _ := v.Params.Get("branch")
		rec, _ := v.Params.Get("received")
		rp, _ := v.Params.Get("rport")
		n += len(br) + len(v.Host) + v.Port + len(rec) + len(rp)
	}
	from, to := msg.From(), msg.To()
	ft, _ := from.Params.Get("tag")
	tt, _ := to.Params.Get("tag")
	n += len(ft) + len(from.Address.User) + len(to.Address.Host) + len(tt)
	n += len(msg.CallID().Value()) + int(msg.CSeq().SeqNo) + len(msg.CSeq().MethodName)
	if mf := first(msg, "Max-Forwards"); mf != nil {
		n += int(*mf.(*sip.MaxForwardsHeader))
	}
	if e := first(msg, "Expires"); e != nil {
		x, _ := strconv.Atoi(e.Value())
		n += x
	}
	if cl := msg.ContentLength(); cl != nil {
		n += int(*cl)
	}
	if ct := first(msg, "Content-Type"); ct != nil {
		n += len(ct.Value())
	}
	n += len(msg.Body())
	for _, h := range msg.GetHeaders("Contact") {
		c := h.(*sip.ContactHeader)
		exp, _ := c.Params.Get("expires")
		q, _ := c.Params.Get("q")
		x, _ := strconv.Atoi(exp)
		n += len(c.Address.Host) + x + len(q)
	}
	for _, h := range msg.GetHeaders("Route") {
		n += len(h.(*sip.RouteHeader).Address.Host)
	}
	for _, h := range msg.GetHeaders("Record-Route") {
		n += len(h.(*sip.RecordRouteHeader).Address.Host)
	}
	for _, h := range msg.GetHeaders("Path") {
		var u sip.Uri
		var p sip.HeaderParams
		if _, err := sip.ParseAddressValue(h.Value(), &u, &p); err != nil {
			tb.Fatal(err)
		}
		n += len(u.Host)
	}
	if h := first(msg, "Authorization"); h != nil {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			tb.Fatal(err)
		}
		n += len(c.Username) + len(c.Realm) + len(c.Nonce) + len(c.URI) + len(c.Response) +
			len(c.Algorithm) + len(c.Cnonce) + len(c.Opaque) + len(c.QOP) + c.Nc
	}
	if h := first(msg, "WWW-Authenticate"); h != nil {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			tb.Fatal(err)
		}
		n += len(c.Realm) + len(c.Nonce) + len(c.Algorithm) + len(c.Opaque) + len(c.QOP)
	}
	if h := first(msg, "User-Agent"); h != nil {
		n += len(h.Value())
	}
	if h := first(msg, "Event"); h != nil {
		n += len(h.Value())
	}
	for _, name := range []string{"Allow", "Supported", "Require"} {
		for _, h := range msg.GetHeaders(name) {
			for _, tok := range strings.Split(h.Value(), ",") {
				n += len(strings.TrimSpace(tok))
			}
		}
	}
	return n
}

// first returns the first header named name, as GetHeader does on the
// concrete types.
func first(msg sip.Message, name string) sip.Header {
	if hs := msg.GetHeaders(name); len(hs) > 0 {
		return hs[0]
	}
	return nil
}

var sink int

// BenchmarkParse has the name and sub-benchmarks of core/sip's, so that
// `benchstat -ignore pkg` compares them row by row.
func BenchmarkParse(b *testing.B) {
	for _, name := range benchMessages {
		data := loadBench(b, name)
		b.Run(name, func(b *testing.B) {
			parser := sip.NewParser()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := parser.ParseSIP(data)
				if err != nil {
					b.Fatal(err)
				}
				sink += touchAll(b, msg)
			}
		})
	}
}

// TestSipgoReadsTheFields checks that the comparison reads what it claims
// on every message: a benchmark that touched nothing would flatter kemi.
func TestSipgoReadsTheFields(t *testing.T) {
	for _, name := range benchMessages {
		msg, err := sip.NewParser().ParseSIP(loadBench(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(msg.GetHeaders("Via")) == 0 || msg.CallID() == nil || msg.CSeq() == nil {
			t.Errorf("%s: sipgo lost a mandatory header", name)
		}
		if touchAll(t, msg) == 0 {
			t.Errorf("%s: nothing read", name)
		}
	}
}
