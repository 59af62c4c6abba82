package tm_test

import (
	"strings"
	"testing"
	"time"
)

// TestSuspendContinue: t_suspend holds an INVITE (its 183 carries
// $T(id_index) and $T(id_label)); a MESSAGE's t_continue runs
// route[RESUME] on it, which relays it; a second t_continue fails.
func TestSuspendContinue(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-Suspend: 1\n")
	uac.Send(p.Addr, msg)
	r := uac.Expect("SIP/2.0 183 Suspended")
	idx, lbl := hdr(r, "X-Idx"), hdr(r, "X-Lbl")
	if idx == "" || lbl == "" {
		t.Fatalf("no ids in the 183:\n%s", r.Bytes())
	}
	uas.Quiet(200*time.Millisecond, "") // nothing relayed while suspended
	uac.Send(p.Addr, message(uac, uas, "resume-1", "X-Idx: "+idx+"\nX-Lbl: "+lbl+"\n"))
	uac.Expect("SIP/2.0 200 Continued")
	req := uas.Expect("INVITE ")
	if hdr(req, "X-Resumed") != "yes" {
		t.Errorf("the relayed INVITE did not go through route[RESUME]:\n%s", req.Bytes())
	}
	uas.Reply(req, 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")
	uac.Send(p.Addr, message(uac, uas, "resume-2", "X-Idx: "+idx+"\nX-Lbl: "+lbl+"\n"))
	uac.Expect("SIP/2.0 200 Continued") // the script answers; t_continue itself failed
}

// TestSuspendTimeout: a suspended INVITE nobody continues ends with 408
// after fr_inv_timer.
func TestSuspendTimeout(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-Suspend: 1\n")
	uac.Send(p.Addr, msg)
	uac.Expect("SIP/2.0 183 Suspended")
	uac.Expect("SIP/2.0 408 ")
	waitEmpty(t, p)
}

// TestByCallID: t_reply_callid answers a suspended INVITE from another
// request; t_cancel_callid cancels a ringing one with a Reason of cause
// 600.
func TestByCallID(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, callID, _ := invite(uac, uas, "X-Suspend: 1\n")
	uac.Send(p.Addr, msg)
	uac.Expect("SIP/2.0 183 Suspended")
	uac.Send(p.Addr, message(uac, uas, "reply-1", "X-Reply-CallID: "+callID+"\n"))
	got := finals(t, uac, 2)
	if !got["1 INVITE 404"] || !got["1 MESSAGE 200"] {
		t.Fatalf("got %v, want 404 to the INVITE and 200 to the MESSAGE", got)
	}

	msg, callID, _ = invite(uac, uas, "")
	uac.Send(p.Addr, msg)
	req := uas.Expect("INVITE ")
	uas.Reply(req, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	uac.Send(p.Addr, message(uac, uas, "cancel-1", "X-Cancel-CallID: "+callID+"\n"))
	cancel := uas.Expect("CANCEL ")
	if got := hdr(cancel, "Reason"); got != "SIP;cause=600" {
		t.Errorf("the CANCEL's Reason %q, want SIP;cause=600", got)
	}
	uas.Reply(cancel, 200, "OK", "")
	uas.Reply(req, 487, "Request Terminated", "")
	got = finals(t, uac, 2)
	if !got["1 INVITE 487"] || !got["1 MESSAGE 200"] {
		t.Errorf("got %v, want 487 to the INVITE", got)
	}
}

// TestReplicateAndUACSend: t_replicate sends a copy whose reply goes
// nowhere, the original's reply goes upstream; t_uac_send sends a request
// of the proxy's own, retransmitted until answered.
func TestReplicateAndUACSend(t *testing.T) {
	p := start(t)
	uac, uas, copyUA := newUA(t, "uac"), newUA(t, "uas"), newUA(t, "copy")
	uac.Send(p.Addr, message(uac, uas, "repl-1", "X-Replicate: sip:"+copyUA.Addr().String()+"\n"))
	cp, req := copyUA.Expect("MESSAGE "), uas.Expect("MESSAGE ")
	copyUA.Reply(cp, 500, "Copy Failed", "")
	uac.Quiet(200*time.Millisecond, "SIP/2.0 100 ")
	uas.Reply(req, 202, "Accepted", "")
	uac.Expect("SIP/2.0 202 Accepted")

	uac.Send(p.Addr, message(uac, uas, "uac-1", "X-Uac: "+copyUA.Addr().String()+"\n"))
	uac.Expect("SIP/2.0 200 Sent")
	o := copyUA.Expect("OPTIONS sip:probe@")
	if hdr(o, "X-From-Kemi") != "yes" || hdr(o, "Call-ID") == "" || !strings.HasSuffix(hdr(o, "CSeq"), "OPTIONS") ||
		strings.Count(string(o.Bytes()), "\r\nVia: ") != 1 || strings.Contains(hdr(o, "Via"), "0.0.0.0") {
		t.Errorf("t_uac_send's request:\n%s", o.Bytes())
	}
	copyUA.Expect("OPTIONS sip:probe@") // retransmitted until answered
	copyUA.Reply(o, 200, "OK", "")
	copyUA.Quiet(300*time.Millisecond, "")
	uac.Quiet(100*time.Millisecond, "") // the 200 goes nowhere
	waitEmpty(t, p)
}

// TestCancelOthersAndDrop: t_cancel_branches("others") in onreply_route
// cancels the other branch of a fork; t_drop ends a transaction without
// a reply.
func TestCancelOthersAndDrop(t *testing.T) {
	p := start(t)
	uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
	msg, _, _ := invite(uac, a, "X-Fork: sip:bob@"+b.Addr().String()+"\n")
	uac.Send(p.Addr, msg)
	ra, rb := a.Expect("INVITE "), b.Expect("INVITE ")
	b.Reply(rb, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	a.Reply(ra, 180, "Ringing", "X-Cancel-Others: 1\r\n")
	uac.Expect("SIP/2.0 180 ")
	c := b.Expect("CANCEL ")
	b.Reply(c, 200, "OK", "")
	b.Reply(rb, 487, "Request Terminated", "")
	b.Expect("ACK ")
	a.Reply(ra, 200, "OK", "")
	uac.Expect("SIP/2.0 200 OK")

	msg, _, _ = invite(uac, a, "X-TDrop: 1\n")
	uac.Send(p.Addr, msg)
	a.Quiet(200*time.Millisecond, "")
	uac.Quiet(200*time.Millisecond, "") // no 100, nothing
	waitEmpty(t, p)
}
