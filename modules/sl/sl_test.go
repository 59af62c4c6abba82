package sl_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/sl"
)

func TestSendReply(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	k.Request(moduletest.Options)
	if rc := k.CallInt("sl.send_reply", 404, "Not Here"); rc != 1 {
		t.Fatalf("send_reply: %d, want 1", rc)
	}
	r := k.Reply()
	if r.StatusCode() != 404 || string(r.Reason()) != "Not Here" {
		t.Errorf("reply %d %s, want 404 Not Here", r.StatusCode(), r.Reason())
	}
	if r.Dst != moduletest.Client {
		t.Errorf("sent to %s, want the source %s (rport)", r.Dst, moduletest.Client)
	}
	if to := r.To(); to == nil || len(to.Tag) == 0 {
		t.Errorf("no To tag: %q", r.Header("To"))
	}
	if v := r.Header("Via"); !strings.Contains(v, "received=192.0.2.10") || !strings.Contains(v, "rport=5062") {
		t.Errorf("Via %q: want received and rport", v)
	}
	// The same request again gets the same To tag.
	tag := string(r.To().Tag)
	k.Request(moduletest.Options)
	k.Call("sl.sl_send_reply", 200, "OK")
	if again := k.Reply(); string(again.To().Tag) != tag {
		t.Errorf("retransmission's tag %q, want %q", again.To().Tag, tag)
	}
	if n := k.Module("sl").(*sl.Module).Stats.SentReplies.Load(); n != 2 {
		t.Errorf("sl counted %d replies, want 2", n)
	}
}

func TestSendReplyRefuses(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	ack := strings.Replace(strings.Replace(moduletest.Invite, "INVITE sip:", "ACK sip:", 1), "1 INVITE", "1 ACK", 1)
	cases := []struct {
		name, msg string
		code      int
	}{
		{"an ACK", ack, 200},
		{"code below 100", moduletest.Options, 99},
		{"code above 699", moduletest.Options, 700},
	}
	for i, c := range cases {
		k.Request(c.msg)
		if rc := k.CallInt("sl.send_reply", c.code, "X"); rc != -1 {
			t.Errorf("case %d (%s): rc %d, want -1", i, c.name, rc)
		}
		k.NothingSent()
	}
}

func TestReplyError(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	k.Request(moduletest.Invite)
	k.Call("sl.sl_reply_error")
	if r := k.Reply(); r.StatusCode() != 500 {
		t.Errorf("sl_reply_error sent %d, want 500", r.StatusCode())
	}
	// After a final reply, no second one.
	k.Request(moduletest.Invite)
	k.Call("sl.send_reply", 486, "Busy Here")
	k.Sent()
	k.Call("sl.sl_reply_error")
	k.NothingSent()
}

// TestTwoProxies: each proxy's sl counts its own replies.
func TestTwoProxies(t *testing.T) {
	a := moduletest.New(t, `loadmodule "sl.so"`)
	b := moduletest.New(t, `loadmodule "sl.so"`)
	a.Request(moduletest.Options)
	a.Call("sl.send_reply", 200, "OK")
	a.Call("sl.send_reply", 200, "OK")
	b.Request(moduletest.Options)
	b.Call("sl.send_reply", 200, "OK")
	na := a.Module("sl").(*sl.Module).Stats.SentReplies.Load()
	nb := b.Module("sl").(*sl.Module).Stats.SentReplies.Load()
	if na != 2 || nb != 1 {
		t.Errorf("counted %d and %d, want 2 and 1", na, nb)
	}
}

// TestForwardReply: sl_forward_reply sends the reply upstream at once
// with another code of its class and another reason; the reply itself is
// unchanged.
func TestForwardReply(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	reply := "SIP/2.0 486 Busy Here\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ours\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport=5062;received=192.0.2.10\n" +
		"From: <sip:alice@example.com>;tag=f1\nTo: <sip:bob@example.com>;tag=t1\n" +
		"Call-ID: c1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
	k.Request(reply)
	k.Run([]moduletest.Case{
		{"sl.sl_forward_reply", []any{"603", "Decline"}, "-1"},
		{"sl.sl_forward_reply", []any{"48x", ""}, "-1"},
		{"sl.sl_forward_reply", []any{"403", "Not Today"}, "1"},
	})
	r := k.Reply()
	if r.StatusCode() != 403 || string(r.Reason()) != "Not Today" || r.Dst.String() != "192.0.2.10:5062" {
		t.Errorf("forwarded %d %s to %s, want 403 Not Today to 192.0.2.10:5062", r.StatusCode(), r.Reason(), r.Dst)
	}
	if strings.Contains(r.Header("Via"), "z9hG4bK-ours") {
		t.Errorf("our Via went upstream: %q", r.Header("Via"))
	}
	if out := k.Out(); !strings.HasPrefix(out, "SIP/2.0 486 Busy Here\r\n") || !strings.Contains(out, "z9hG4bK-ours") {
		t.Errorf("the reply changed:\n%s", out)
	}
	k.Run([]moduletest.Case{{"sl.sl_forward_reply", []any{"", ""}, "1"}})
	if r := k.Reply(); r.StatusCode() != 486 || string(r.Reason()) != "Busy Here" {
		t.Errorf("forwarded %d %s, want it as it was", r.StatusCode(), r.Reason())
	}
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{{"sl.sl_forward_reply", []any{"", ""}, "-1"}})
}
