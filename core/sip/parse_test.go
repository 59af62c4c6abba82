package sip

import (
	"strings"
	"testing"
)

// crlf turns a test message written with \n into wire form.
func wire(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func mustParse(t *testing.T, b []byte) *Msg {
	t.Helper()
	m := new(Msg)
	if err := m.Parse(b); err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return m
}

func TestClassifyHeader(t *testing.T) {
	cases := []struct {
		name string
		want HdrType
	}{
		// every compact form, each on its own (one parser maps l: to Max-Forwards too)
		{"v", HdrVia}, {"f", HdrFrom}, {"t", HdrTo}, {"i", HdrCallID}, {"m", HdrContact},
		{"l", HdrContentLength}, {"c", HdrContentType}, {"k", HdrSupported}, {"s", HdrSubject},
		{"e", HdrContentEncoding}, {"o", HdrEvent}, {"r", HdrReferTo}, {"u", HdrAllowEvents},
		{"x", HdrSessionExpires}, {"y", HdrIdentity}, {"b", HdrReferredBy},
		{"V", HdrVia}, {"L", HdrContentLength}, {"a", HdrOther}, {"z", HdrOther}, {"1", HdrOther},
		{"Via", HdrVia}, {"VIA", HdrVia}, {"vIa", HdrVia}, {"max-forwards", HdrMaxForwards},
		{"Max-Forwards", HdrMaxForwards}, {"MAX-FORWARDS", HdrMaxForwards},
		{"Call-ID", HdrCallID}, {"call-id", HdrCallID}, {"CSeq", HdrCSeq},
		{"WWW-Authenticate", HdrWWWAuthenticate}, {"www-authenticate", HdrWWWAuthenticate},
		{"Proxy-Authorization", HdrProxyAuthorization}, {"P-Preferred-Identity", HdrPPreferredIdentity},
		{"Record-Route", HdrRecordRoute}, {"Route", HdrRoute}, {"Path", HdrPath},
		// near misses
		{"Max_Forwards", HdrOther}, {"Max-Forward", HdrOther}, {"Vias", HdrOther}, {"Call-IE", HdrOther},
		{"Max\rForwards", HdrOther}, {"", HdrOther}, {"X-Custom", HdrOther},
		{strings.Repeat("x", 100), HdrOther},
	}
	for i, c := range cases {
		if got := ClassifyHeader([]byte(c.name)); got != c.want {
			t.Errorf("case %d (%q): got %v, want %v", i, c.name, got, c.want)
		}
	}
	for ty := HdrType(1); ty < hdrTypeCount; ty++ {
		if got := ClassifyHeader([]byte(ty.String())); got != ty {
			t.Errorf("canonical name %q: got %v", ty.String(), got)
		}
	}
}

func TestCompactContentLengthIsNotMaxForwards(t *testing.T) {
	m := mustParse(t, wire("OPTIONS sip:b@example.org SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:a@h>;tag=1\nt: <sip:b@h>\ni: c1\nCSeq: 1 OPTIONS\nl: 0\n\n"))
	if m.MaxForwards() != -1 || m.ContentLength() != 0 {
		t.Errorf("l: 0 gave Max-Forwards %d, Content-Length %d; want -1, 0", m.MaxForwards(), m.ContentLength())
	}
}

func TestParseMethod(t *testing.T) {
	for m := MethodINVITE; m <= MethodREFER; m++ {
		if got := ParseMethod([]byte(m.String())); got != m {
			t.Errorf("%s: got %v", m, got)
		}
	}
	for _, s := range []string{"invite", "Invite", "INVITEX", "", "FOO"} {
		if got := ParseMethod([]byte(s)); got != MethodOther {
			t.Errorf("%q: got %v, want MethodOther (methods are case-sensitive)", s, got)
		}
	}
}

func TestURIEqual(t *testing.T) {
	// RFC 3261 §19.1.4's examples, and a few more
	cases := []struct {
		a, b  string
		equal bool
	}{
		{"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", true},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true},
		{"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com", "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent", "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true},
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", false},
		{"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false},
		{"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off", false},
		{"sip:alice@atlanta.com", "sips:alice@atlanta.com", false},
		{"sip:alice:secret@atlanta.com", "sip:alice@atlanta.com", false},
		{"sip:alice@atlanta.com;maddr=239.255.255.1", "sip:alice@atlanta.com", false},
		{"sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com", false},
		{"sip:alice@atlanta.com;lr", "sip:alice@atlanta.com", true},
		// an escaped reserved character is not its plain form
		{"sip:a%3Bb@h", "sip:a;b@h", false},
		{"sip:a%3bb@h", "sip:a%3Bb@h", true},
		{"sip:[2001:db8::1]:5060", "sip:[2001:DB8::1]:5060", true},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0123", true},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0124", false},
		{"urn:service:sos", "URN:service:SOS", true},
	}
	for i, c := range cases {
		var a, b URI
		if err := ParseURI([]byte(c.a), &a); err != nil {
			t.Fatalf("case %d: %s: %v", i, c.a, err)
		}
		if err := ParseURI([]byte(c.b), &b); err != nil {
			t.Fatalf("case %d: %s: %v", i, c.b, err)
		}
		if got := URIEqual(&a, &b); got != c.equal {
			t.Errorf("case %d (%s vs %s): got %v, want %v", i, c.a, c.b, got, c.equal)
		}
		if got := URIEqual(&b, &a); got != c.equal {
			t.Errorf("case %d reversed (%s vs %s): got %v, want %v", i, c.b, c.a, got, c.equal)
		}
	}
}

func TestParseURI(t *testing.T) {
	cases := []struct {
		in                          string
		user, pass, host, params, h string
		port                        int
		scheme                      Scheme
		err                         bool
	}{
		{in: "sip:alice@atlanta.com", user: "alice", host: "atlanta.com", scheme: SchemeSIP},
		{in: "sips:alice:pw@atlanta.com:5061;transport=tls?subject=x", user: "alice", pass: "pw", host: "atlanta.com", port: 5061, params: "transport=tls", h: "subject=x", scheme: SchemeSIPS},
		{in: "sip:[2001:db8::1]:5070;lr", host: "[2001:db8::1]", port: 5070, params: "lr", scheme: SchemeSIP},
		{in: "SIP:host", host: "host", scheme: SchemeSIP},
		{in: "sip:+1-212-555-1212:1234@gateway.com;user=phone", user: "+1-212-555-1212", pass: "1234", host: "gateway.com", params: "user=phone", scheme: SchemeSIP},
		{in: "tel:+358-555-1234567;postd=pp22", user: "+358-555-1234567", params: "postd=pp22", scheme: SchemeTEL},
		{in: "im:bob@example.org", scheme: SchemeOther},
		{in: "sip:", err: true},
		{in: "sip:alice@", err: true},
		{in: "sip:alice@host:0", err: true},
		{in: "sip:alice@host:65536", err: true},
		{in: "sip:alice@host:50x", err: true},
		{in: "sip:alice@ho st", err: true},
		{in: "sip:alice@[2001:db8::1", err: true},
		{in: "<sip:alice@host>", err: true},
		{in: "alice@host", err: true},
		{in: "1sip:host", err: true},
		{in: "sip:a@h\x00", err: true},
		{in: "", err: true},
	}
	for i, c := range cases {
		var u URI
		err := ParseURI([]byte(c.in), &u)
		if (err != nil) != c.err {
			t.Errorf("case %d (%q): got error %v, want error %v", i, c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if string(u.User) != c.user || string(u.Password) != c.pass || string(u.Host) != c.host ||
			u.Port != c.port || string(u.Params) != c.params || string(u.Headers) != c.h || u.Scheme != c.scheme {
			t.Errorf("case %d (%q): got user=%q pass=%q host=%q port=%d params=%q headers=%q scheme=%d",
				i, c.in, u.User, u.Password, u.Host, u.Port, u.Params, u.Headers, u.Scheme)
		}
	}
}

func TestUnescape(t *testing.T) {
	if got := string(Unescape(nil, []byte("sips%3Auser%40example.com%2"))); got != "sips:user@example.com%2" {
		t.Errorf("got %q", got)
	}
}

func TestListSplitting(t *testing.T) {
	m := mustParse(t, wire(`INVITE sip:b@example.org SIP/2.0
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2
Via: SIP/2.0/UDP c.example.com ;branch=z9hG4bK3
From: <sip:a@h>;tag=1
To: <sip:b@h>
Call-ID: c1
CSeq: 1 INVITE
Contact: "Doe, J" <sip:j@h;x=1,2>;expires=5, <sip:k@h>
Contact: <sip:l@h>
Record-Route: <sip:p1;lr>, , <sip:p2;lr>
Allow: INVITE, ACK,BYE ,  CANCEL
Supported: path, 100rel
Content-Length: 0

`))
	var v Via
	it := m.Vias()
	var hosts, branches []string
	for it.Next(&v) {
		hosts = append(hosts, string(v.Host))
		branches = append(branches, string(v.Branch))
	}
	if it.Err() != nil || strings.Join(hosts, " ") != "a.example.com b.example.com c.example.com" || strings.Join(branches, " ") != "z9hG4bK1 z9hG4bK2 z9hG4bK3" {
		t.Errorf("vias: %v %v err %v", hosts, branches, it.Err())
	}
	if string(m.TopVia().Host) != "a.example.com" {
		t.Errorf("top via: %q", m.TopVia().Host)
	}
	var c Contact
	ci := m.Contacts()
	var users []string
	for ci.Next(&c) {
		users = append(users, string(c.URI.User))
	}
	if strings.Join(users, " ") != "j k l" {
		t.Errorf("contacts: %v (err %v)", users, ci.Err())
	}
	first, err := m.Contact()
	if err != nil || string(first.URI.User) != "j" || first.Expires != 5 || string(first.Display) != "Doe, J" {
		t.Errorf("first contact: %+v %v", first, err)
	}
	var rr NameAddr
	ri := m.Addrs(HdrRecordRoute)
	n := 0
	for ri.Next(&rr) {
		n++
		if !rr.URI.LR() {
			t.Errorf("record-route %d: lr not seen", n)
		}
	}
	if n != 2 || ri.Err() != nil {
		t.Errorf("record-routes: %d, err %v", n, ri.Err())
	}
	if !m.HasToken(HdrAllow, "cancel") || !m.HasToken(HdrAllow, "BYE") || m.HasToken(HdrAllow, "REFER") {
		t.Error("Allow tokens")
	}
	if !m.HasToken(HdrSupported, "path") || m.HasToken(HdrRequire, "path") {
		t.Error("Supported tokens")
	}
}

func TestDuplicatesAndMandatory(t *testing.T) {
	base := "OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c1\nCSeq: 1 OPTIONS\n"
	cases := []struct {
		extra string
		kind  ErrKind
	}{
		{"Max-Forwards: 70\nMax-Forwards: 69\n", ErrDuplicate},
		{"i: c2\n", ErrDuplicate},
		{"t: <sip:c@h>\n", ErrDuplicate},
		{"Content-Length: 0\nl: 0\n", ErrDuplicate},
		{"Via: SIP/2.0/UDP h2;branch=z9hG4bK2\n", 0},    // Via repeats
		{"Contact: <sip:a@h>\nContact: <sip:b@h>\n", 0}, // Contact repeats
		{"Expires: 5\nExpires: 6\n", 0},                 // first wins
		{"Max-Forwards: 4294967296\n", ErrBadHeader},    // past 255
		{"Content-Length: 1\n", ErrContentLength},       // nothing after the headers
		{"X: a\n\tb\n", 0},                              // folded unknown header
		{"Subject: caf\xc3\xa9 \xff\n", 0},              // non-UTF-8 bytes in a value
		{"Content-Length: 00000000000000000000000\n", ErrContentLength},
	}
	for i, c := range cases {
		var m Msg
		err := m.Parse(wire(base + c.extra + "\n"))
		var kind ErrKind
		if err != nil {
			kind = err.(*ParseError).Kind
		}
		if kind != c.kind {
			t.Errorf("case %d (%q): got %v (%v), want kind %v", i, c.extra, kind, err, c.kind)
		}
	}
	var m Msg
	_ = m.Parse(wire(base + "Expires: 5\nExpires: 6\n\n"))
	if m.Expires() != 5 {
		t.Errorf("Expires: first should win, got %d", m.Expires())
	}
}

func TestErrorKeepsTopVia(t *testing.T) {
	var m Msg
	err := m.Parse(wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCSeq: 1 OPTIONS\n\n"))
	if err == nil || err.(*ParseError).Kind != ErrMissing || err.(*ParseError).Header != HdrCallID {
		t.Fatalf("got %v, want a missing Call-ID", err)
	}
	if v := m.TopVia(); v == nil || string(v.Host) != "192.0.2.1" {
		t.Errorf("top via should be readable after a missing Call-ID: %v", v)
	}
	if m.CanReply() {
		t.Error("no Call-ID: cannot reply")
	}
	if out := AppendReply(nil, &m, &Reply{Code: 400, Reason: "Bad Request"}); len(out) != 0 {
		t.Errorf("reply built without Call-ID: %q", out)
	}
	err = m.Parse(wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: x\nCSeq: 1 OPTIONS\nContent-Length: 99\n\n"))
	if err == nil || !m.CanReply() {
		t.Fatalf("bad Content-Length: got %v, can reply %v; want an error and a 400", err, m.CanReply())
	}
	r := mustParse(t, AppendReply(nil, &m, &Reply{Code: 400, Reason: "Bad Request"}))
	if r.StatusCode() != 400 || string(r.CallID()) != "x" {
		t.Errorf("400: %d %q", r.StatusCode(), r.CallID())
	}
}

// A request broken in its request line or in a header field after those a
// reply copies keeps its first error and can still be answered (RFC 4475
// 3.1.2.7, 3.1.2.8, 3.1.2.16); broken before them, it cannot.
func TestBrokenRequestsStayAnswerable(t *testing.T) {
	essentials := "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: x\nCSeq: 1 OPTIONS\n"
	for _, c := range []struct {
		msg   string
		kind  ErrKind
		reply bool
	}{
		{"OPTIONS <sip:b@example.org> SIP/2.0\n" + essentials + "\n", ErrMalformed, true},
		{"OPTIONS sip:b@example.org; lr SIP/2.0\n" + essentials + "\n", ErrMalformed, true},
		{"OPTIONS sip:b@example.org SIP/7.0\n" + essentials + "\n", ErrVersion, true},
		{"OPTIONS sip:b@example.org SIP/2.0\n" + essentials + "Bad Header: x\n\n", ErrMalformed, true},
		{"OPTIONS sip:b@example.org SIP/2.0\n" + essentials + "Call-ID: y\n\n", ErrDuplicate, true},
		{"OPTIONS sip:b@example.org SIP/2.0\nBad Header: x\n" + essentials + "\n", ErrMalformed, false},
		{"OPTIONS <sip:b@example.org> SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1\n\n", ErrMissing, false},
		{"OPT IONS sip:b@example.org SIP/2.0\n" + essentials + "\n", ErrMalformed, true},
	} {
		var m Msg
		err := m.Parse(wire(c.msg))
		pe, ok := err.(*ParseError)
		if !ok || pe.Kind != c.kind || m.CanReply() != c.reply {
			t.Errorf("%q: %v (kind %v), can reply %v; want kind %v, %v", c.msg, err, pe, m.CanReply(), c.kind, c.reply)
			continue
		}
		if c.reply {
			r := mustParse(t, AppendReply(nil, &m, &Reply{Code: 400, Reason: "Bad Request", ToTag: []byte("t")}))
			if r.StatusCode() != 400 || string(r.CallID()) != "x" || r.CSeq() != 1 {
				t.Errorf("%q: reply %d %q %d", c.msg, r.StatusCode(), r.CallID(), r.CSeq())
			}
		}
	}
}

func TestStatusLine(t *testing.T) {
	m := mustParse(t, wire("SIP/2.0 486 Busy Here\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\nCall-ID: c1\nCSeq: 7 INVITE\nContent-Length: 0\n\n"))
	if m.IsRequest() || m.StatusCode() != 486 || string(m.Reason()) != "Busy Here" || m.CSeqMethod() != MethodINVITE || m.CSeq() != 7 {
		t.Errorf("got %v %d %q %v %d", m.IsRequest(), m.StatusCode(), m.Reason(), m.CSeqMethod(), m.CSeq())
	}
	if u, err := m.RURI(); u != nil || err == nil {
		t.Errorf("RURI of a response: got %v, %v; want an error", u, err)
	}
}

func TestLimits(t *testing.T) {
	msg := wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n")
	cases := []struct {
		lim  Limits
		kind ErrKind
	}{
		{Limits{MaxMsgSize: len(msg) - 1, MaxHeaders: 10, MaxHeaderLen: 100}, ErrTooLarge},
		{Limits{MaxMsgSize: 1000, MaxHeaders: 5, MaxHeaderLen: 100}, ErrTooManyHdrs},
		{Limits{MaxMsgSize: 1000, MaxHeaders: 10, MaxHeaderLen: 20}, ErrHeaderTooLong},
		{Limits{MaxMsgSize: 1000, MaxHeaders: 6, MaxHeaderLen: 40}, 0},
		{Limits{MaxMsgSize: 1000}, 0}, // the other limits take their defaults
		{Limits{MaxHeaderLen: 20}, ErrHeaderTooLong},
	}
	for i, c := range cases {
		m := Msg{Limits: c.lim}
		err := m.Parse(msg)
		var kind ErrKind
		if err != nil {
			kind = err.(*ParseError).Kind
		}
		if kind != c.kind {
			t.Errorf("case %d: got %v, want %v", i, err, c.kind)
		}
	}
}

func TestFrameLen(t *testing.T) {
	one := wire("OPTIONS sip:b@example.org SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: c1\nCSeq: 1 OPTIONS\nl: 5\n\nhello")
	stream := append(append([]byte("\r\n\r\n"), one...), one[:20]...)
	skip, n, err := FrameLen(stream, 65535)
	if err != nil || skip != 4 || n != len(one) {
		t.Fatalf("got skip %d n %d err %v; want 4 %d nil", skip, n, err, len(one))
	}
	if _, n, err := FrameLen(stream[skip+n:], 65535); n != 0 || err != nil {
		t.Errorf("partial message: n %d err %v, want 0 nil", n, err)
	}
	if _, n, err := FrameLen(one[:len(one)-1], 65535); n != 0 || err != nil {
		t.Errorf("partial body: n %d err %v, want 0 nil", n, err)
	}
	noCL := wire("OPTIONS sip:b SIP/2.0\nVia: x\n\n")
	if _, _, err := FrameLen(noCL, 65535); err == nil {
		t.Error("no Content-Length on a stream: want an error")
	}
	get := wire("GET /RPC HTTP/1.1\nHost: x\n\n")
	if _, n, err := FrameLen(append(get, "GET /b HTTP/1.1"...), 65535); err != nil || n != len(get) {
		t.Errorf("an HTTP request without Content-Length (xhttp): n %d err %v, want %d nil", n, err, len(get))
	}
	var hm Msg
	if err := hm.Parse(get); err != nil || !hm.IsHTTP() || string(hm.RURIText()) != "/RPC" {
		t.Errorf("an HTTP request: %v http %v %q", err, hm.IsHTTP(), hm.RURIText())
	}
	if _, err := hm.RURI(); err == nil {
		t.Error("an HTTP request's URI parsed as a SIP URI")
	}
	twoCL := wire("OPTIONS sip:b SIP/2.0\nl: 0\nContent-Length: 0\n\n")
	if _, _, err := FrameLen(twoCL, 65535); err == nil || err.(*ParseError).Kind != ErrDuplicate {
		t.Errorf("two Content-Length on a stream: got %v, want a duplicate error as Parse gives", err)
	}
	if _, _, err := FrameLen(one, 50); err == nil {
		t.Error("over the size: want an error")
	}
	if _, _, err := FrameLen(make([]byte, 100), 50); err == nil {
		t.Error("unterminated headers past the size: want an error")
	}
	var m Msg
	if err := m.Parse(stream[skip : skip+n]); err != nil || string(m.Body()) != "hello" {
		t.Errorf("parse framed: %v %q", err, m.Body())
	}
}

// TestHasVia2: a second via-parm counts in the top Via header or in
// another one.
func TestHasVia2(t *testing.T) {
	for vias, want := range map[string]bool{
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n":                                       false,
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n":        true,
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP b;branch=z9hG4bK2\r\n": true,
	} {
		var m Msg
		if err := m.Parse([]byte("OPTIONS sip:x SIP/2.0\r\n" + vias + "From: <sip:a@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: v\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if got := m.HasVia2(); got != want {
			t.Errorf("%q: HasVia2 %v, want %v", vias, got, want)
		}
	}
}
