package sip

import (
	"strings"
	"testing"
)

const registerMsg = `REGISTER sip:example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKnashds7
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKolder
Max-Forwards: 70
To: Alice <sip:alice@example.org>
From: Alice <sip:alice@example.org>;tag=456248
Call-ID: 843817637684230@998sdasdh09
CSeq: 1826 REGISTER
Contact: <sip:alice@192.0.2.10:5060>
Expires: 7200
Content-Length: 0

`

func TestAppendReplyRoundTrip(t *testing.T) {
	req := mustParse(t, wire(registerMsg))
	r := Reply{Code: 200, Reason: "OK", ToTag: []byte("as1f2"), Headers: []byte("Contact: <sip:alice@192.0.2.10:5060>;expires=3600\r\n"),
		Source: []byte("198.51.100.7"), SourcePort: 40312}
	out := AppendReply(nil, req, &r)
	var m Msg
	if err := m.Parse(out); err != nil {
		t.Fatalf("reply does not parse: %v\n%s", err, out)
	}
	checks := []struct {
		what, got, want string
	}{
		{"status", string(m.Bytes()[:15]), "SIP/2.0 200 OK\r"},
		{"to tag", string(m.To().Tag), "as1f2"},
		{"to uri", string(m.To().URI.Raw), "sip:alice@example.org"},
		{"from tag", string(m.From().Tag), "456248"},
		{"call-id", string(m.CallID()), "843817637684230@998sdasdh09"},
		{"cseq", string(m.CSeqMethodName()), "REGISTER"},
		{"top via branch", string(m.TopVia().Branch), "z9hG4bKnashds7"},
		{"rport", string(m.TopVia().RPort), "40312"},
		{"received", string(m.TopVia().Received), "198.51.100.7"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if m.CSeq() != 1826 || m.ContentLength() != 0 {
		t.Errorf("cseq %d content-length %d", m.CSeq(), m.ContentLength())
	}
	var v Via
	it := m.Vias()
	var branches []string
	for it.Next(&v) {
		branches = append(branches, string(v.Branch))
	}
	if strings.Join(branches, ",") != "z9hG4bKnashds7,z9hG4bKold,z9hG4bKolder" {
		t.Errorf("vias: %v", branches)
	}
	c, err := m.Contact()
	if err != nil || c.Expires != 3600 {
		t.Errorf("contact: %+v %v", c, err)
	}
}

func TestAppendReplyKeepsExistingTag(t *testing.T) {
	req := mustParse(t, wire(strings.Replace(registerMsg, "To: Alice <sip:alice@example.org>", "To: <sip:alice@example.org>;tag=exists", 1)))
	out := AppendReply(nil, req, &Reply{Code: 481, Reason: "Call/Transaction Does Not Exist", ToTag: []byte("new"), Body: []byte("x")})
	m := mustParse(t, out)
	if string(m.To().Tag) != "exists" || string(m.Body()) != "x" {
		t.Errorf("to tag %q body %q", m.To().Tag, m.Body())
	}
	if v := m.TopVia(); v.HasRPort != true || len(v.RPort) != 0 || len(v.Received) != 0 {
		t.Errorf("no source given: via must be as received, got rport %q received %q", v.RPort, v.Received)
	}
	// a 100 Trying gets no To tag
	out = AppendReply(nil, mustParse(t, wire(registerMsg)), &Reply{Code: 100, Reason: "Trying", ToTag: []byte("t")})
	if m := mustParse(t, out); len(m.To().Tag) != 0 {
		t.Errorf("100 got a to-tag %q", m.To().Tag)
	}
}

func TestAppendReplyReasonCannotAddLines(t *testing.T) {
	req := mustParse(t, wire(registerMsg))
	m := mustParse(t, AppendReply(nil, req, &Reply{Code: 403, Reason: "Forbidden\r\nX-Injected: 1"}))
	if m.NextHeaderNamed([]byte("X-Injected"), -1) >= 0 || string(m.Reason()) != "Forbidden  X-Injected: 1" {
		t.Errorf("reason %q", m.Reason())
	}
}

func TestAppendReplyRecordRoute(t *testing.T) {
	inv := strings.Replace(registerMsg, "REGISTER", "INVITE", -1)
	inv = strings.Replace(inv, "Max-Forwards: 70", "Record-Route: <sip:p1.example.net;lr>\nMax-Forwards: 70", 1)
	req := mustParse(t, wire(inv))
	for _, c := range []struct {
		code int
		rr   bool
	}{{180, true}, {200, true}, {100, false}, {486, false}} {
		m := mustParse(t, AppendReply(nil, req, &Reply{Code: c.code, Reason: "X", ToTag: []byte("t")}))
		if m.Has(HdrRecordRoute) != c.rr {
			t.Errorf("%d: Record-Route copied %v, want %v", c.code, m.Has(HdrRecordRoute), c.rr)
		}
	}
}

func TestViaReceivedIPv6(t *testing.T) {
	req := mustParse(t, wire(strings.Replace(registerMsg, "192.0.2.10:5060;rport;", "[2001:db8::10]:5060;", 1)))
	m := mustParse(t, AppendReply(nil, req, &Reply{Code: 200, Reason: "OK", Source: []byte("2001:db8::10"), SourcePort: 5060}))
	if len(m.TopVia().Received) != 0 {
		t.Errorf("same host: no received wanted, got %q", m.TopVia().Received)
	}
	m = mustParse(t, AppendReply(nil, req, &Reply{Code: 200, Reason: "OK", Source: []byte("2001:db8::11"), SourcePort: 5060}))
	if string(m.TopVia().Received) != "2001:db8::11" {
		t.Errorf("received %q", m.TopVia().Received)
	}
}

func TestEditsRoundTrip(t *testing.T) {
	m := mustParse(t, wire(registerMsg))
	steps := []error{
		m.SetViaReceived([]byte("198.51.100.7"), 40312, false),
		m.PushVia([]byte("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy")),
		m.AddRecordRoute([]byte("<sip:127.0.0.1;lr>")),
		m.SetRURI([]byte("sip:wrong@nowhere")),
		m.SetRURI([]byte("sip:alice@192.0.2.10:5060")),
		m.SetMaxForwards(69),
		m.AppendHeader([]byte("X-Added: yes")),
		m.InsertHeader([]byte("X-First: 1\r\n")),
		m.RemoveHeader(m.NextHeader(HdrExpires, -1)),
		m.SetBody([]byte("v=0\r\n")),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	out := m.AppendTo(nil)
	f := mustParse(t, out)
	if got := string(f.RURIText()); got != "sip:alice@192.0.2.10:5060" {
		t.Errorf("ruri %q", got)
	}
	if f.MaxForwards() != 69 || f.Has(HdrExpires) || string(f.Body()) != "v=0\r\n" || f.ContentLength() != 5 {
		t.Errorf("max-forwards %d expires %v body %q cl %d", f.MaxForwards(), f.Has(HdrExpires), f.Body(), f.ContentLength())
	}
	if v, _ := f.Get(HdrOther); v != nil {
		t.Error("HdrOther must not be looked up")
	}
	if i := f.NextHeaderNamed([]byte("x-added"), -1); i < 0 || string(f.Header(i).Value) != "yes" || i != f.NumHeaders()-1 {
		t.Errorf("X-Added at %d of %d", i, f.NumHeaders())
	}
	// Record-Route on top, above the pushed Via, as Kamailio's rr.
	if string(f.Header(0).Name) != "Record-Route" || f.Header(1).Type != HdrVia || string(f.TopVia().Branch) != "z9hG4bKproxy" {
		t.Errorf("first headers %q %q, top branch %q", f.Header(0).Name, f.Header(1).Name, f.TopVia().Branch)
	}
	if string(f.Header(2).Name) != "X-First" {
		t.Errorf("order: %q", f.Header(2).Name)
	}
	var v Via
	it := f.Vias()
	it.Next(&v)
	it.Next(&v)
	if string(v.Received) != "198.51.100.7" || string(v.RPort) != "40312" || string(v.Branch) != "z9hG4bKnashds7" {
		t.Errorf("second via: received %q rport %q branch %q", v.Received, v.RPort, v.Branch)
	}
	// untouched parts are copied as they are
	if !strings.Contains(string(out), "From: Alice <sip:alice@example.org>;tag=456248\r\n") {
		t.Errorf("From changed:\n%s", out)
	}
}

func TestRemoveTopVia(t *testing.T) {
	cases := []struct {
		via  string
		want string // branches left
	}{
		{"Via: SIP/2.0/UDP a;branch=z9hG4bK1\nVia: SIP/2.0/UDP b;branch=z9hG4bK2", "z9hG4bK2"},
		{"Via: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2", "z9hG4bK2"},
		{"Via: SIP/2.0/UDP a;branch=z9hG4bK1,SIP/2.0/UDP b;branch=z9hG4bK2,SIP/2.0/UDP c;branch=z9hG4bK3", "z9hG4bK2,z9hG4bK3"},
		{"Via: SIP/2.0/UDP a;branch=z9hG4bK1\n ;rport, SIP/2.0/UDP b;branch=z9hG4bK2", "z9hG4bK2"},
	}
	for i, c := range cases {
		m := mustParse(t, wire("SIP/2.0 200 OK\n"+c.via+"\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n"))
		if err := m.RemoveTopVia(); err != nil {
			t.Fatal(err)
		}
		if err := m.SetRURI([]byte("sip:x@y")); err == nil {
			t.Error("SetRURI on a response: want an error")
		}
		out := m.AppendTo(nil)
		f := mustParse(t, out)
		var v Via
		it := f.Vias()
		var got []string
		for it.Next(&v) {
			got = append(got, string(v.Branch))
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("case %d: got %v, want %s\n%s", i, got, c.want, out)
		}
	}
}

func TestRemoveFirstHeaderAndInsert(t *testing.T) {
	m := mustParse(t, wire(registerMsg))
	if err := m.InsertHeader([]byte("X-Top: 1")); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveHeader(1); err != nil { // the second Via line
		t.Fatal(err)
	}
	if err := m.RemoveHeader(0); err != nil {
		t.Fatal(err)
	}
	_ = m.PushVia([]byte("SIP/2.0/UDP p;branch=z9hG4bKp"))
	f := mustParse(t, m.AppendTo(nil))
	if string(f.Header(0).Name) != "Via" || string(f.TopVia().Branch) != "z9hG4bKp" || string(f.Header(1).Name) != "X-Top" {
		t.Errorf("got %q %q %q", f.Header(0).Name, f.TopVia().Branch, f.Header(1).Name)
	}
	if n := f.NextHeader(HdrVia, 0); n >= 0 {
		t.Errorf("a removed Via is still there at %d", n)
	}
}

func TestTooManyEdits(t *testing.T) {
	m := mustParse(t, wire(registerMsg))
	var err error
	for i := 0; i <= maxEdits && err == nil; i++ {
		err = m.AppendHeader([]byte("X: y"))
	}
	if err != ErrTooManyEdits {
		t.Errorf("got %v, want ErrTooManyEdits", err)
	}
	if f := mustParse(t, m.AppendTo(nil)); f.NumHeaders() != 10+maxEdits {
		t.Errorf("headers %d, want %d", f.NumHeaders(), 10+maxEdits)
	}
	m.ResetEdits()
	if out := m.AppendTo(nil); string(out) != string(wire(registerMsg)) {
		t.Error("ResetEdits left edits behind")
	}
}

// TestForceRPort: force_rport adds rport=port to a Via that did not ask
// for it, in a reply and in the forwarded request, as Kamailio's; received
// only when the address differs (RFC 3261 §18.2.1).
func TestForceRPort(t *testing.T) {
	req := mustParse(t, wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: fr1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"))
	// Kamailio 5.6 (sl_send_reply and t_relay after force_rport, run to
	// see): a reply's Via gets rport= then received= at its end, a
	// forwarded request's before its first parameter
	for _, c := range []struct {
		src        string
		force      bool
		reply, fwd string
	}{
		{"192.0.2.5", false, "SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1"},
		{"192.0.2.5", true, "SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1;rport=40000", "SIP/2.0/UDP 192.0.2.5:5070;rport=40000;branch=z9hG4bK1"},
		{"198.51.100.1", true, "SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1;rport=40000;received=198.51.100.1",
			"SIP/2.0/UDP 192.0.2.5:5070;rport=40000;received=198.51.100.1;branch=z9hG4bK1"},
	} {
		r := mustParse(t, AppendReply(nil, req, &Reply{Code: 200, Reason: "OK", Source: []byte(c.src), SourcePort: 40000, ForceRPort: c.force}))
		if got := string(r.TopVia().Raw); got != c.reply {
			t.Errorf("reply, %s force %v: Via %q, want %q", c.src, c.force, got, c.reply)
		}
		m := mustParse(t, req.Bytes())
		if err := m.SetViaReceived([]byte(c.src), 40000, c.force); err != nil {
			t.Fatal(err)
		}
		f := mustParse(t, m.AppendTo(nil))
		if got := string(f.TopVia().Raw); got != c.fwd {
			t.Errorf("forwarded, %s force %v: Via %q, want %q", c.src, c.force, got, c.fwd)
		}
	}
}

// TestLen: Len is the length AppendTo writes, edits of every kind
// applied (inserts, replacements, removals, overlaps dropped).
func TestLen(t *testing.T) {
	m := mustParse(t, wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.5:5070;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: l1\nCSeq: 1 OPTIONS\nX-A: 1\nContent-Length: 0\n\n"))
	check := func(what string) {
		t.Helper()
		if got, want := m.Len(), len(m.AppendTo(nil)); got != want {
			t.Errorf("%s: Len %d, AppendTo writes %d", what, got, want)
		}
	}
	check("no edits")
	m.InsertHeader([]byte("X-Top: t"))
	check("an insert")
	m.RemoveHeader(m.NextHeaderNamed([]byte("X-A"), -1))
	check("a removal")
	m.SetRURI([]byte("sip:longer-user@example.org:5080"))
	check("a replacement")
	m.SetViaReceived([]byte("198.51.100.1"), 4000, true)
	check("received and rport")
}
