package tm_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	_ "github.com/kemi-sip/kemi/modules/all" // the modules the configs load
	"github.com/kemi-sip/kemi/modules/tm"
)

// ua is a SIP endpoint on a UDP socket of its own.
type ua struct {
	t    *testing.T
	name string
	conn *net.UDPConn
}

func newUA(t *testing.T, name string) *ua {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ua{t: t, name: name, conn: c}
}

func (u *ua) addr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (u *ua) send(to netip.AddrPort, msg string) {
	u.t.Helper()
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	if _, err := u.conn.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		u.t.Fatal(err)
	}
}

func (u *ua) sendRaw(to netip.AddrPort, b []byte) {
	if _, err := u.conn.WriteToUDPAddrPort(b, to); err != nil {
		u.t.Fatal(err)
	}
}

// recv waits for a message; nil after d.
func (u *ua) recv(d time.Duration) *sip.Msg {
	buf := make([]byte, 65536)
	u.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil
	}
	m := new(sip.Msg)
	if err := m.Parse(buf[:n]); err != nil {
		u.t.Fatalf("%s: bad message: %v\n%s", u.name, err, buf[:n])
	}
	return m
}

// expect waits for a message and checks its start: "SIP/2.0 180", "INVITE".
func (u *ua) expect(start string) *sip.Msg {
	u.t.Helper()
	for {
		m := u.recv(3 * time.Second)
		if m == nil {
			u.t.Fatalf("%s: no %q within 3s", u.name, start)
		}
		if strings.HasPrefix(string(m.Bytes()), start) {
			return m
		}
		if strings.HasPrefix(string(m.Bytes()), "SIP/2.0 100 ") && !strings.HasPrefix(start, "SIP/2.0 100") {
			continue // Trying is not what the tests look at
		}
		u.t.Fatalf("%s: got %q, want %q", u.name, firstLine(m), start)
	}
}

// quiet checks that nothing but what skip allows comes within d.
func (u *ua) quiet(d time.Duration, skip ...string) {
	u.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		m := u.recv(time.Until(end))
		if m == nil {
			return
		}
		ok := false
		for _, s := range skip {
			if strings.HasPrefix(string(m.Bytes()), s) {
				ok = true
			}
		}
		if !ok {
			u.t.Fatalf("%s: unexpected %q", u.name, firstLine(m))
		}
	}
}

func firstLine(m *sip.Msg) string {
	l, _, _ := strings.Cut(string(m.Bytes()), "\r\n")
	return l
}

// reply answers a request it received, with a To tag.
func (u *ua) reply(req *sip.Msg, code int, reason string, hdrs string) {
	u.t.Helper()
	b := sip.AppendReply(nil, req, &sip.Reply{Code: code, Reason: reason, ToTag: []byte("uas-" + u.name), Headers: []byte(hdrs)})
	v := req.TopVia()
	u.sendRaw(netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port)), b)
}

var seq int

// invite is an INVITE from uac to uas through the proxy.
func invite(uac, uas *ua, extra string) (msg, callID, branch string) {
	seq++
	callID = fmt.Sprintf("call-%d-%d", seq, time.Now().UnixNano())
	branch = fmt.Sprintf("z9hG4bK-uac-%d", seq)
	msg = fmt.Sprintf(`INVITE sip:bob@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=%s;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a%d
To: <sip:bob@example.com>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:alice@%s>
%sContent-Length: 0

`, uas.addr(), uac.addr(), branch, seq, callID, uac.addr(), extra)
	return msg, callID, branch
}

// inDialog makes a request in the dialog an INVITE set up: to the UAS's
// contact, through the proxy's Route.
func inDialog(method string, uac, uas *ua, callID, branch string, cseq int, toTag string, route string) string {
	r := ""
	if route != "" {
		r = "Route: " + route + "\n"
	}
	return fmt.Sprintf(`%s sip:bob@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=%s;rport
Max-Forwards: 70
%sFrom: <sip:alice@example.com>;tag=a%d
To: <sip:bob@example.com>;tag=%s
Call-ID: %s
CSeq: %d %s
Content-Length: 0

`, method, uas.addr(), uac.addr(), branch, r, seq, toTag, callID, cseq, method)
}

// message is a MESSAGE from uac to uas through the proxy; callID also
// makes its branch and From tag. extra are header lines ending in "\n".
func message(uac, uas *ua, callID, extra string) string {
	return fmt.Sprintf(`MESSAGE sip:bob@%[1]s SIP/2.0
Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-%[3]s;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=%[3]s
To: <sip:bob@example.com>
Call-ID: %[3]s
CSeq: 1 MESSAGE
%[4]sContent-Length: 0

`, uas.addr(), uac.addr(), callID, extra)
}

// onInviteBranch is a CANCEL (to "") or the ACK of a non-2xx reply (to:
// the reply's To) of an INVITE made by invite: same branch, CSeq number.
func onInviteBranch(method string, uac, uas *ua, callID, branch, to string) string {
	if to == "" {
		to = "<sip:bob@example.com>"
	}
	return fmt.Sprintf(`%s sip:bob@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=%s;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a%d
To: %s
Call-ID: %s
CSeq: 1 %s
Content-Length: 0

`, method, uas.addr(), uac.addr(), branch, seq, to, callID, method)
}

// cancelOf is the CANCEL of an INVITE made by invite.
func cancelOf(uac, uas *ua, callID, branch string) string {
	return onInviteBranch("CANCEL", uac, uas, callID, branch, "")
}

func hdr(m *sip.Msg, name string) string {
	i := m.NextHeaderNamed([]byte(name), -1)
	if i < 0 {
		return ""
	}
	return string(m.Header(i).Value)
}

// finals collects n final replies (not 100 Trying) as "CSeq code".
func finals(t *testing.T, u *ua, n int) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for len(got) < n {
		m := u.recv(2 * time.Second)
		if m == nil {
			t.Fatalf("missing replies, got %v", got)
		}
		if m.StatusCode() > 100 {
			got[hdr(m, "CSeq")+" "+fmt.Sprint(m.StatusCode())] = true
		}
	}
	return got
}

// tmOf is the proxy's tm.
func tmOf(p *proxytest.Proxy) *tm.Module { return p.Table.Module("tm").(*tm.Module) }

func start(t *testing.T) *proxytest.Proxy {
	return proxytest.Start(t, "testdata/tm.cfg", nil)
}

// waitEmpty waits for the wait timers to remove every transaction.
func waitEmpty(t *testing.T, p *proxytest.Proxy) {
	t.Helper()
	m := tmOf(p)
	for i := 0; i < 100 && m.Count() > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if n := m.Count(); n != 0 {
		t.Fatalf("%d transactions left after the timers", n)
	}
}

// A call: 100 Trying, 180 and 200 relayed with our Via gone, the ACK and
// BYE routed by the Record-Route, the INVITE's branch route run.
func TestCall(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, _ := invite(uac, uas, "")
	uac.send(p.Addr, msg)
	uac.expect("SIP/2.0 100 Trying")
	req := uas.expect("INVITE ")
	if got := hdr(req, "X-Branch"); got != "0" {
		t.Errorf("X-Branch = %q, want 0 (branch_route ran)", got)
	}
	rr := hdr(req, "Record-Route")
	if !strings.Contains(rr, p.Addr.String()) || !strings.Contains(rr, ";lr") {
		t.Errorf("Record-Route = %q", rr)
	}
	if n := strings.Count(string(req.Bytes()), "Via: "); n != 2 {
		t.Errorf("the UAS got %d Via headers, want 2", n)
	}
	uas.reply(req, 180, "Ringing", "Record-Route: "+rr+"\r\n")
	r := uac.expect("SIP/2.0 180 Ringing")
	if n := strings.Count(string(r.Bytes()), "Via: "); n != 1 {
		t.Errorf("the UAC got %d Via headers, want 1", n)
	}
	uas.reply(req, 183, "Session Progress", "")
	uas.reply(req, 200, "OK", "Record-Route: "+rr+"\r\n")
	uac.expect("SIP/2.0 200 OK") // the 183 was dropped by onreply_route
	uac.send(p.Addr, inDialog("ACK", uac, uas, callID, "z9hG4bK-ack-1", 1, "uas-uas", "<sip:"+p.Addr.String()+";lr>"))
	ack := uas.expect("ACK ")
	if hdr(ack, "Route") != "" {
		t.Errorf("the ACK kept our Route: %q", hdr(ack, "Route"))
	}
	uac.send(p.Addr, inDialog("BYE", uac, uas, callID, "z9hG4bK-bye-1", 2, "uas-uas", "<sip:"+p.Addr.String()+";lr>"))
	bye := uas.expect("BYE ")
	uas.reply(bye, 200, "OK", "")
	uac.expect("SIP/2.0 200 OK")
	uas.quiet(300 * time.Millisecond)
	waitEmpty(t, p)
}

// No reply from the UAS: the INVITE is retransmitted with T1 doubling,
// then fr_timer gives 408 upstream, resent (timer G) until the ACK, which
// is absorbed.
func TestRetransmissionAndTimeout(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.send(p.Addr, msg)
	first := uas.expect("INVITE ")
	var gaps []time.Duration
	last := time.Now()
	for {
		m := uas.recv(time.Second)
		if m == nil {
			break
		}
		if string(m.Bytes()) != string(first.Bytes()) {
			t.Fatalf("a retransmission differs from the request:\n%s\n%s", m.Bytes(), first.Bytes())
		}
		gaps = append(gaps, time.Since(last))
		last = time.Now()
	}
	// T1 = 50 ms: 50, 100, 200 within fr_timer = 400 ms.
	if len(gaps) < 2 || len(gaps) > 4 {
		t.Fatalf("%d retransmissions %v, want 2 to 4", len(gaps), gaps)
	}
	if gaps[1] < gaps[0] {
		t.Errorf("the interval does not grow: %v", gaps)
	}
	r := uac.expect("SIP/2.0 408 ")
	if hdr(r, "Call-ID") != callID {
		t.Fatalf("408 for another call")
	}
	// Not ACKed yet: timer G sends it again.
	uac.expect("SIP/2.0 408 ")
	to := hdr(r, "To")
	uac.send(p.Addr, onInviteBranch("ACK", uac, uas, callID, branch, to))
	uac.quiet(250*time.Millisecond, "SIP/2.0 408 ") // one may have crossed the ACK
	uac.quiet(300 * time.Millisecond)
	uas.quiet(100 * time.Millisecond)
	waitEmpty(t, p)
}

// The UAS rings, the caller cancels: 200 to the CANCEL, the CANCEL goes to
// the UAS, its 487 comes back and the proxy ACKs it.
func TestCancel(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.send(p.Addr, msg)
	req := uas.expect("INVITE ")
	uas.reply(req, 180, "Ringing", "")
	uac.expect("SIP/2.0 180 ")
	uac.send(p.Addr, cancelOf(uac, uas, callID, branch))
	uac.expect("SIP/2.0 200 OK")
	cancel := uas.expect("CANCEL ")
	if hdr(cancel, "Via") != hdr(req, "Via") {
		t.Errorf("the CANCEL's Via %q is not the INVITE's %q", hdr(cancel, "Via"), hdr(req, "Via"))
	}
	uas.reply(cancel, 200, "OK", "")
	uas.reply(req, 487, "Request Terminated", "")
	uac.expect("SIP/2.0 487 ")
	ack := uas.expect("ACK ")
	if !strings.Contains(hdr(ack, "CSeq"), "1 ACK") || !strings.Contains(hdr(ack, "To"), "tag=uas-uas") {
		t.Errorf("bad ACK:\n%s", ack.Bytes())
	}
	waitEmpty(t, p)
}

// Cancelled before the UAS said anything: no CANCEL goes out (it could not
// be matched), the proxy answers 487 itself.
func TestCancelBeforeProvisional(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.send(p.Addr, msg)
	uas.expect("INVITE ")
	uac.send(p.Addr, cancelOf(uac, uas, callID, branch))
	got := finals(t, uac, 2)
	if !got["1 CANCEL 200"] || !got["1 INVITE 487"] {
		t.Fatalf("got %v, want 200 to the CANCEL and 487 to the INVITE", got)
	}
	uas.quiet(200*time.Millisecond, "INVITE ") // retransmissions stop, no CANCEL
	waitEmpty(t, p)
}

// The UAS answers 200 while the caller's CANCEL is on its way: the 200
// goes through, the CANCEL gets its 200, no 487.
func TestCancelRacingOK(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.send(p.Addr, msg)
	req := uas.expect("INVITE ")
	uas.reply(req, 180, "Ringing", "")
	uac.expect("SIP/2.0 180 ")
	uas.reply(req, 200, "OK", "")
	uac.send(p.Addr, cancelOf(uac, uas, callID, branch))
	got := finals(t, uac, 2)
	if !got["1 INVITE 200"] || !got["1 CANCEL 200"] {
		t.Fatalf("got %v, want 200 to the INVITE and to the CANCEL", got)
	}
	uac.quiet(300 * time.Millisecond)
	waitEmpty(t, p)
}

// The first UAS is busy: failure_route relays to the second, whose 200 is
// what the caller gets; the busy UAS gets its ACK.
func TestFailureRoute(t *testing.T) {
	p := start(t)
	uac, busy, alt := newUA(t, "uac"), newUA(t, "busy"), newUA(t, "alt")
	msg, _, _ := invite(uac, busy, "X-Alt: sip:"+alt.addr().String()+"\n")
	uac.send(p.Addr, msg)
	req := busy.expect("INVITE ")
	busy.reply(req, 486, "Busy Here", "")
	busy.expect("ACK ")
	req2 := alt.expect("INVITE ")
	if got := hdr(req2, "X-Branch"); got != "1" {
		t.Errorf("X-Branch of the second branch = %q, want 1", got)
	}
	alt.reply(req2, 200, "OK", "")
	r := uac.expect("SIP/2.0 200 OK")
	if !strings.Contains(hdr(r, "To"), "uas-alt") {
		t.Errorf("200 from the wrong UAS: %s", hdr(r, "To"))
	}
	uac.quiet(200 * time.Millisecond)
	waitEmpty(t, p)
}

// A non-INVITE request: its final reply relayed, a retransmission of the
// request answered from the transaction without reaching the UAS.
func TestNonInviteRetransmission(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg := message(uac, uas, "msg-1", "")
	uac.send(p.Addr, msg)
	req := uas.expect("MESSAGE ")
	uas.reply(req, 202, "Accepted", "")
	uac.expect("SIP/2.0 202 ")
	uac.send(p.Addr, msg)
	uac.expect("SIP/2.0 202 ")
	uas.quiet(200 * time.Millisecond)
	waitEmpty(t, p)
}

// 10 000 transactions leave nothing behind once their timers ran.
func TestNoStateLeft(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := uas.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m sip.Msg
			if m.Parse(buf[:n]) != nil || !m.IsRequest() {
				continue
			}
			b := sip.AppendReply(nil, &m, &sip.Reply{Code: 200, Reason: "OK", ToTag: []byte("x")})
			v := m.TopVia()
			uas.conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port)))
		}
	}()
	const n = 10000
	created := tmOf(p).Stats.Created.Load()
	got := 0
	buf := make([]byte, 65536)
	for i := range n {
		msg := fmt.Sprintf("MESSAGE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-many-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:a@example.com>;tag=f%d\r\nTo: <sip:bob@example.com>\r\nCall-ID: many-%d\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
			uas.addr(), uac.addr(), i, i, i)
		uac.sendRaw(p.Addr, []byte(msg))
		uac.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := uac.conn.ReadFromUDPAddrPort(buf); err == nil {
			got++
		}
	}
	if got < n*99/100 {
		t.Fatalf("%d of %d transactions answered", got, n)
	}
	if made := tmOf(p).Stats.Created.Load() - created; made < uint64(got) {
		t.Fatalf("%d transactions made for %d answered requests", made, got)
	}
	waitEmpty(t, p)
}

// drop in onsend_route keeps a request from leaving (the branch is not
// made, t_relay fails, the script answers); drop in reply_route discards
// a reply before tm sees it.
func TestOnSendAndReplyRouteDrop(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	uac.send(p.Addr, message(uac, uas, "nosend-1", "X-No-Send: yes\n"))
	r := uac.expect("SIP/2.0 500 ") // sl_reply_error after t_relay failed
	if hdr(r, "Call-ID") != "nosend-1" {
		t.Fatalf("reply to another request")
	}
	uas.quiet(200 * time.Millisecond)

	uac.send(p.Addr, message(uac, uas, "dropreply-1", ""))
	req := uas.expect("MESSAGE ")
	uas.reply(req, 200, "OK", "X-Drop-Reply: yes\r\n")
	uac.quiet(200 * time.Millisecond)
	uas.reply(req, 200, "OK", "")
	uac.expect("SIP/2.0 200 OK")
	waitEmpty(t, p)
}

// Parallel forking: the request URI and an appended branch both ring; the
// first 200 goes to the caller, the other branch is cancelled.
func TestParallelFork(t *testing.T) {
	p := start(t)
	uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
	msg, _, _ := invite(uac, a, "X-Fork: sip:bob@"+b.addr().String()+"\n")
	uac.send(p.Addr, msg)
	ra, rb := a.expect("INVITE "), b.expect("INVITE ")
	if hdr(ra, "X-Branch") != "0" || hdr(rb, "X-Branch") != "1" {
		t.Errorf("branch indexes %q and %q, want 0 and 1", hdr(ra, "X-Branch"), hdr(rb, "X-Branch"))
	}
	a.reply(ra, 180, "Ringing", "")
	b.reply(rb, 180, "Ringing", "")
	uac.expect("SIP/2.0 180 ")
	uac.expect("SIP/2.0 180 ")
	b.reply(rb, 200, "OK", "")
	r := uac.expect("SIP/2.0 200 OK")
	if !strings.Contains(hdr(r, "To"), "uas-b") {
		t.Errorf("the 200 is not b's: %s", hdr(r, "To"))
	}
	cancel := a.expect("CANCEL ")
	a.reply(cancel, 200, "OK", "")
	a.reply(ra, 487, "Request Terminated", "")
	a.expect("ACK ")
	uac.quiet(300 * time.Millisecond) // the 487 of the cancelled branch stays here
	waitEmpty(t, p)
}

// Serial forking: t_load_contacts orders the request URI (q 1) before the
// appended branch (q 0.5); the second is tried when the first fails.
func TestSerialFork(t *testing.T) {
	p := start(t)
	uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
	msg, _, _ := invite(uac, a, "X-Serial: sip:bob@"+b.addr().String()+"\n")
	uac.send(p.Addr, msg)
	ra := a.expect("INVITE ")
	a.reply(ra, 100, "Trying", "")  // stops the INVITE's retransmissions
	b.quiet(200 * time.Millisecond) // not yet
	a.reply(ra, 480, "Temporarily Unavailable", "")
	a.expect("ACK ")
	rb := b.expect("INVITE ")
	b.reply(rb, 200, "OK", "")
	if r := uac.expect("SIP/2.0 200 OK"); !strings.Contains(hdr(r, "To"), "uas-b") {
		t.Errorf("the 200 is not b's: %s", hdr(r, "To"))
	}
	waitEmpty(t, p)
}

// max_transactions: with two INVITEs in memory a third is answered 503
// with Retry-After and not relayed, while a retransmission of the first
// is still absorbed (its 100 again), never refused.
func TestMaxTransactions(t *testing.T) {
	p := proxytest.Start(t, "testdata/tm.cfg", map[string]string{"MAXTRANS": "2"})
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	first, _, _ := invite(uac, uas, "")
	uac.send(p.Addr, first)
	uac.expect("SIP/2.0 100 Trying")
	uas.expect("INVITE ")
	second, _, _ := invite(uac, uas, "")
	uac.send(p.Addr, second)
	uac.expect("SIP/2.0 100 Trying")
	uas.expect("INVITE ")
	refused0 := tmOf(p).Stats.Refused.Load()
	third, thirdID, _ := invite(uac, uas, "")
	uac.send(p.Addr, third)
	r := uac.expect("SIP/2.0 503 Service Unavailable")
	if got := hdr(r, "Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want 7", got)
	}
	uac.send(p.Addr, first)
	uac.expect("SIP/2.0 100 Trying")
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		if m := uas.recv(time.Until(end)); m != nil && hdr(m, "Call-ID") == thirdID {
			t.Fatal("the refused INVITE was relayed")
		}
	}
	if got := tmOf(p).Stats.Refused.Load() - refused0; got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
}
