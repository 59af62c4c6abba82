package tm_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/siptest"
	_ "github.com/kemi-sip/kemi/modules/all" // the modules the configs load
	"github.com/kemi-sip/kemi/modules/tm"
)

type ua = siptest.UA

func newUA(t *testing.T, name string) *ua { return siptest.New(t, name) }

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

`, uas.Addr(), uac.Addr(), branch, seq, callID, uac.Addr(), extra)
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

`, method, uas.Addr(), uac.Addr(), branch, r, seq, toTag, callID, cseq, method)
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

`, uas.Addr(), uac.Addr(), callID, extra)
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

`, method, uas.Addr(), uac.Addr(), branch, seq, to, callID, method)
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
		m := u.Recv(2 * time.Second)
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
	uac.Send(p.Addr, msg)
	uac.Expect("SIP/2.0 100 trying -- your call is important to us")
	req := uas.Expect("INVITE ")
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
	uas.Reply(req, 180, "Ringing", "Record-Route: "+rr+"\r\n")
	r := uac.Expect("SIP/2.0 180 Ringing")
	if n := strings.Count(string(r.Bytes()), "Via: "); n != 1 {
		t.Errorf("the UAC got %d Via headers, want 1", n)
	}
	uas.Reply(req, 183, "Session Progress", "")
	uas.Reply(req, 200, "OK", "Record-Route: "+rr+"\r\n")
	uac.Expect("SIP/2.0 200 OK") // the 183 was dropped by onreply_route
	uac.Send(p.Addr, inDialog("ACK", uac, uas, callID, "z9hG4bK-ack-1", 1, "uas-uas", "<sip:"+p.Addr.String()+";lr>"))
	ack := uas.Expect("ACK ")
	if hdr(ack, "Route") != "" {
		t.Errorf("the ACK kept our Route: %q", hdr(ack, "Route"))
	}
	uac.Send(p.Addr, inDialog("BYE", uac, uas, callID, "z9hG4bK-bye-1", 2, "uas-uas", "<sip:"+p.Addr.String()+";lr>"))
	bye := uas.Expect("BYE ")
	uas.Reply(bye, 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")
	uas.Quiet(300 * time.Millisecond)
	waitEmpty(t, p)
}

// No reply from the UAS: the INVITE is retransmitted with T1 doubling,
// then fr_timer gives 408 upstream, resent (timer G) until the ACK, which
// is absorbed.
func TestRetransmissionAndTimeout(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.Send(p.Addr, msg)
	first := uas.Expect("INVITE ")
	var gaps []time.Duration
	last := time.Now()
	for {
		m := uas.Recv(time.Second)
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
	r := uac.Expect("SIP/2.0 408 ")
	if hdr(r, "Call-ID") != callID {
		t.Fatalf("408 for another call")
	}
	// Not ACKed yet: timer G sends it again.
	uac.Expect("SIP/2.0 408 ")
	to := hdr(r, "To")
	uac.Send(p.Addr, onInviteBranch("ACK", uac, uas, callID, branch, to))
	uac.Quiet(250*time.Millisecond, "SIP/2.0 408 ") // one may have crossed the ACK
	uac.Quiet(300 * time.Millisecond)
	uas.Quiet(100 * time.Millisecond)
	waitEmpty(t, p)
}

// The UAS rings, the caller cancels: 200 to the CANCEL, the CANCEL goes to
// the UAS, its 487 comes back and the proxy ACKs it.
func TestCancel(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.Send(p.Addr, msg)
	req := uas.Expect("INVITE ")
	uas.Reply(req, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	uac.Send(p.Addr, cancelOf(uac, uas, callID, branch))
	uac.Expect("SIP/2.0 200 canceling") // Kamailio's reason
	cancel := uas.Expect("CANCEL ")
	if hdr(cancel, "Via") != hdr(req, "Via") {
		t.Errorf("the CANCEL's Via %q is not the INVITE's %q", hdr(cancel, "Via"), hdr(req, "Via"))
	}
	uas.Reply(cancel, 200, "OK", "")
	uas.Reply(req, 487, "Request Terminated", "")
	uac.Expect("SIP/2.0 487 ")
	ack := uas.Expect("ACK ")
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
	uac.Send(p.Addr, msg)
	uas.Expect("INVITE ")
	uac.Send(p.Addr, cancelOf(uac, uas, callID, branch))
	got := finals(t, uac, 2)
	if !got["1 CANCEL 200"] || !got["1 INVITE 487"] {
		t.Fatalf("got %v, want 200 to the CANCEL and 487 to the INVITE", got)
	}
	uas.Quiet(200*time.Millisecond, "INVITE ") // retransmissions stop, no CANCEL
	waitEmpty(t, p)
}

// The UAS answers 200 while the caller's CANCEL is on its way: the 200
// goes through, the CANCEL gets its 200, no 487.
func TestCancelRacingOK(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, branch := invite(uac, uas, "")
	uac.Send(p.Addr, msg)
	req := uas.Expect("INVITE ")
	uas.Reply(req, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	uas.Reply(req, 200, "OK", "")
	uac.Send(p.Addr, cancelOf(uac, uas, callID, branch))
	got := finals(t, uac, 2)
	if !got["1 INVITE 200"] || !got["1 CANCEL 200"] {
		t.Fatalf("got %v, want 200 to the INVITE and to the CANCEL", got)
	}
	uac.Quiet(300 * time.Millisecond)
	waitEmpty(t, p)
}

// The first UAS is busy: failure_route relays to the second, whose 200 is
// what the caller gets; the busy UAS gets its ACK. The second UAS comes
// from a header read in the failure route (X-Alt), or from an AVP that
// request_route set (X-Alt-AVP): an AVP is the transaction's, as
// Kamailio's default config finds the voicemail user so.
func TestFailureRoute(t *testing.T) {
	for _, via := range []string{"X-Alt", "X-Alt-AVP"} {
		t.Run(via, func(t *testing.T) {
			p := start(t)
			uac, busy, alt := newUA(t, "uac"), newUA(t, "busy"), newUA(t, "alt")
			msg, _, _ := invite(uac, busy, via+": sip:"+alt.Addr().String()+"\n")
			uac.Send(p.Addr, msg)
			req := busy.Expect("INVITE ")
			busy.Reply(req, 486, "Busy Here", "")
			busy.Expect("ACK ")
			req2 := alt.Expect("INVITE ")
			if got := hdr(req2, "X-Branch"); got != "1" {
				t.Errorf("X-Branch of the second branch = %q, want 1", got)
			}
			alt.Reply(req2, 200, "OK", "")
			r := uac.Expect("SIP/2.0 200 OK")
			if !strings.Contains(hdr(r, "To"), "uas-alt") {
				t.Errorf("200 from the wrong UAS: %s", hdr(r, "To"))
			}
			uac.Quiet(200 * time.Millisecond)
			waitEmpty(t, p)
		})
	}
}

// A non-INVITE request: its final reply relayed, a retransmission of the
// request answered from the transaction without reaching the UAS.
func TestNonInviteRetransmission(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg := message(uac, uas, "msg-1", "")
	uac.Send(p.Addr, msg)
	req := uas.Expect("MESSAGE ")
	uas.Reply(req, 202, "Accepted", "")
	uac.Expect("SIP/2.0 202 ")
	uac.Send(p.Addr, msg)
	uac.Expect("SIP/2.0 202 ")
	uas.Quiet(200 * time.Millisecond)
	waitEmpty(t, p)
}

// A completed non-INVITE transaction over UDP is kept wt_timer (300 ms
// here), as Kamailio keeps it, not RFC 3261's 64*T1 (3.2 s here): a
// retransmission within it is answered, and it is gone well before 64*T1.
func TestNonInviteKeptWtTimer(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg := message(uac, uas, "msg-wt", "")
	uac.Send(p.Addr, msg)
	uas.Reply(uas.Expect("MESSAGE "), 202, "Accepted", "")
	uac.Expect("SIP/2.0 202 ")
	uac.Send(p.Addr, msg) // within wt_timer: answered from the transaction
	uac.Expect("SIP/2.0 202 ")
	uas.Quiet(100 * time.Millisecond)
	deadline := time.Now().Add(1500 * time.Millisecond) // under half of 64*T1
	for tmOf(p).Count() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := tmOf(p).Count(); n != 0 {
		t.Errorf("%d transactions kept 1.5 s after the final reply (wt_timer 300 ms)", n)
	}
}

// A relay to a name that does not resolve fails, and sl_reply_error says
// why as Kamailio does: 478 Unresolvable destination (it was a 500).
func TestUnresolvableDestination(t *testing.T) {
	p := start(t)
	uac := newUA(t, "uac")
	msg := strings.Replace(message(uac, uac, "unres-1", ""), "sip:bob@"+uac.Addr().String(), "sip:bob@nohost.invalid", 1)
	uac.Send(p.Addr, msg)
	r := uac.Expect("SIP/2.0 478 ")
	if got := string(r.Reason()); got != "Unresolvable destination (478/SL)" {
		t.Errorf("reason %q", got)
	}
}

// 10 000 transactions leave nothing behind once their timers ran.
func TestNoStateLeft(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := uas.Conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m sip.Msg
			if m.Parse(buf[:n]) != nil || !m.IsRequest() {
				continue
			}
			b := sip.AppendReply(nil, &m, &sip.Reply{Code: 200, Reason: "OK", ToTag: []byte("x")})
			v := m.TopVia()
			uas.Conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port)))
		}
	}()
	const n = 10000
	created := tmOf(p).Stats.Created.Load()
	got := 0
	buf := make([]byte, 65536)
	for i := range n {
		msg := fmt.Sprintf("MESSAGE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-many-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:a@example.com>;tag=f%d\r\nTo: <sip:bob@example.com>\r\nCall-ID: many-%d\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
			uas.Addr(), uac.Addr(), i, i, i)
		uac.SendRaw(p.Addr, []byte(msg))
		uac.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := uac.Conn.ReadFromUDPAddrPort(buf); err == nil {
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
	uac.Send(p.Addr, message(uac, uas, "nosend-1", "X-No-Send: yes\n"))
	r := uac.Expect("SIP/2.0 500 ") // sl_reply_error after t_relay failed
	if hdr(r, "Call-ID") != "nosend-1" {
		t.Fatalf("reply to another request")
	}
	uas.Quiet(200 * time.Millisecond)

	// onsend_route sees where the request goes (to_ip, to_port, snd_*).
	uac.Send(p.Addr, message(uac, uas, "nosendto-1", "X-No-Send-To: "+fmt.Sprint(uas.Addr().Port())+"\n"))
	uac.Expect("SIP/2.0 500 ")
	uas.Quiet(200 * time.Millisecond)
	uac.Send(p.Addr, message(uac, uas, "nosendto-2", "X-No-Send-To: 1\n"))
	uas.Reply(uas.Expect("MESSAGE "), 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")

	uac.Send(p.Addr, message(uac, uas, "dropreply-1", ""))
	req := uas.Expect("MESSAGE ")
	uas.Reply(req, 200, "OK", "X-Drop-Reply: yes\r\n")
	uac.Quiet(200 * time.Millisecond)
	uas.Reply(req, 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")
	waitEmpty(t, p)
}

// Parallel forking: the request URI and an appended branch both ring; the
// first 200 goes to the caller, the other branch is cancelled.
func TestParallelFork(t *testing.T) {
	p := start(t)
	uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
	msg, _, _ := invite(uac, a, "X-Fork: sip:bob@"+b.Addr().String()+"\n")
	uac.Send(p.Addr, msg)
	ra, rb := a.Expect("INVITE "), b.Expect("INVITE ")
	if hdr(ra, "X-Branch") != "0" || hdr(rb, "X-Branch") != "1" {
		t.Errorf("branch indexes %q and %q, want 0 and 1", hdr(ra, "X-Branch"), hdr(rb, "X-Branch"))
	}
	a.Reply(ra, 180, "Ringing", "")
	b.Reply(rb, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	uac.Expect("SIP/2.0 180 ")
	b.Reply(rb, 200, "OK", "")
	r := uac.Expect("SIP/2.0 200 OK")
	if !strings.Contains(hdr(r, "To"), "uas-b") {
		t.Errorf("the 200 is not b's: %s", hdr(r, "To"))
	}
	cancel := a.Expect("CANCEL ")
	a.Reply(cancel, 200, "OK", "")
	a.Reply(ra, 487, "Request Terminated", "")
	a.Expect("ACK ")
	uac.Quiet(300 * time.Millisecond) // the 487 of the cancelled branch stays here
	waitEmpty(t, p)
}

// Serial forking: t_load_contacts orders the request URI (q 1) before the
// appended branch (q 0.5); the second is tried when the first fails.
func TestSerialFork(t *testing.T) {
	p := start(t)
	uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
	msg, _, _ := invite(uac, a, "X-Serial: sip:bob@"+b.Addr().String()+"\n")
	uac.Send(p.Addr, msg)
	ra := a.Expect("INVITE ")
	a.Reply(ra, 100, "Trying", "")  // stops the INVITE's retransmissions
	b.Quiet(200 * time.Millisecond) // not yet
	a.Reply(ra, 480, "Temporarily Unavailable", "")
	a.Expect("ACK ")
	rb := b.Expect("INVITE ")
	b.Reply(rb, 200, "OK", "")
	if r := uac.Expect("SIP/2.0 200 OK"); !strings.Contains(hdr(r, "To"), "uas-b") {
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
	uac.Send(p.Addr, first)
	uac.Expect("SIP/2.0 100 trying -- your call is important to us")
	uas.Expect("INVITE ")
	second, _, _ := invite(uac, uas, "")
	uac.Send(p.Addr, second)
	uac.Expect("SIP/2.0 100 trying -- your call is important to us")
	uas.Expect("INVITE ")
	refused0 := tmOf(p).Stats.Refused.Load()
	third, thirdID, _ := invite(uac, uas, "")
	uac.Send(p.Addr, third)
	r := uac.Expect("SIP/2.0 503 Service Unavailable")
	if got := hdr(r, "Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want 7", got)
	}
	uac.Send(p.Addr, first)
	uac.Expect("SIP/2.0 100 trying -- your call is important to us")
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		if m := uas.Recv(time.Until(end)); m != nil && hdr(m, "Call-ID") == thirdID {
			t.Fatal("the refused INVITE was relayed")
		}
	}
	if got := tmOf(p).Stats.Refused.Load() - refused0; got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
}

// TestSetFRAndAuto100: t_set_fr gives the transaction its own fr_timer
// (here longer than the module's 400 ms: no 408 within a second, one
// after), t_set_auto_inv_100(0) keeps the 100 back.
func TestSetFRAndAuto100(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-FR: 1800\nX-No100: 1\n")
	uac.Send(p.Addr, msg)
	uas.Expect("INVITE ")
	uac.Quiet(1000 * time.Millisecond) // neither a 100 nor, before fr_timer, a 408
	uac.Expect("SIP/2.0 408 ")
	if n := tmOf(p).Stats.Timeouts.Load(); n != 1 {
		t.Errorf("%d timeouts, want 1", n)
	}
}

// TestSetRetr: t_set_retr gives the transaction its own T1: with 300 ms
// (the module's is 50) and fr_timer 1 s, two retransmissions (at 300 and
// 900 ms) where the module's timers would make several more.
func TestSetRetr(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-FR: 1000\nX-Retr: 300\n")
	uac.Send(p.Addr, msg)
	uas.Expect("INVITE ")
	n := 0
	for uas.Recv(700*time.Millisecond) != nil {
		n++
	}
	if n != 2 {
		t.Errorf("%d retransmissions, want 2 (T1 300 ms within fr_timer 1 s)", n)
	}
	uac.Expect("SIP/2.0 408 ")
}

// The branch failure route's t_reuse_branch gives back the failed
// branch's request URI (over a $ru the route changed); the failure route
// sends a second branch to it.
func TestReuseBranch(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-Reuse: 1\n")
	uac.Send(p.Addr, msg)
	req := uas.Expect("INVITE ")
	uas.Reply(req, 486, "Busy Here", "")
	uas.Expect("ACK ")
	req2 := uas.Expect("INVITE ")
	want := "sip:bob@" + uas.Addr().String()
	if got := hdr(req2, "X-Reused"); got != want {
		t.Errorf("X-Reused = %q, want the failed branch's URI %s", got, want)
	}
	uas.Reply(req2, 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")
	uac.Quiet(200 * time.Millisecond)
	waitEmpty(t, p)
}
