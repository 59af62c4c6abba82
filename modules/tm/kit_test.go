package tm_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/tm"
)

var toPeer = strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@198.51.100.20 SIP/2.0", 1)

// TestRelayWithKit: t_relay answers 100 Trying and sends the INVITE on a
// branch of its own; a retransmission is absorbed.
func TestRelayWithKit(t *testing.T) {
	k := moduletest.New(t, `loadmodule "tm.so"`)
	k.Request(toPeer)
	if rc := k.CallInt("tm.t_relay"); rc != 1 {
		t.Fatalf("t_relay: %d", rc)
	}
	sent := k.Sent()
	if len(sent) != 2 || sent[0].StatusCode() != 100 || !sent[1].IsRequest() || sent[1].Dst.String() != "198.51.100.20:5060" {
		t.Fatalf("sent %d messages, want 100 Trying and the INVITE to 198.51.100.20", len(sent))
	}
	if v := sent[1].Header("Via"); !strings.Contains(v, "127.0.0.1:5060;branch=z9hG4bK") {
		t.Errorf("the branch's Via %q", v)
	}
	if n := k.Module("tm").(*tm.Module).Count(); n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
	k.Request(toPeer) // the retransmission
	k.Run([]moduletest.Case{{"tm.t_check_trans", nil, "0"}})
	if r := k.Reply(); r.StatusCode() != 100 {
		t.Errorf("the retransmission got %d, want the 100 again", r.StatusCode())
	}
}

// TestReplyThroughTransaction: after t_newtran, sl's reply goes out
// through the transaction and a retransmission gets it again.
func TestReplyThroughTransaction(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nmodparam(\"tm\", \"auto_inv_100\", 0)")
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"tm.t_newtran", nil, "1"}, {"sl.send_reply", []any{403, "Forbidden"}, "1"}})
	k.Reply()
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"tm.t_check_trans", nil, "0"}})
	if r := k.Reply(); r.StatusCode() != 403 {
		t.Errorf("the retransmission got %d, want 403", r.StatusCode())
	}
	k.Request(strings.Replace(moduletest.Register, "z9hG4bK-reg-1", "z9hG4bK-reg-2", 1))
	k.Run([]moduletest.Case{
		{"tm.t_reply", []any{486, "Busy Here"}, "1"},
		{"tm.t_on_failure", []any{"NOPE"}, "-1"}, // no such route
		{"tm.t_is_set", []any{"failure_route"}, "-1"},
		{"tm.t_get_status_code", nil, "486"},
	})
}

// TestRelayToProtoAndGrep: t_relay_to_proto sends over the transport
// asked for; t_grep_status sees only received replies; t_retransmit_reply
// sends the last reply again.
func TestRelayToProtoAndGrep(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nmodparam(\"tm\", \"auto_inv_100\", 0)")
	k.Request(toPeer)
	k.Run([]moduletest.Case{
		{"tm.t_relay_to_proto", []any{"sctp"}, "-1"},
		{"tm.t_grep_status", []any{200}, "-1"}, // no transaction yet
		{"tm.t_relay_to_proto", []any{"tcp"}, "1"},
		{"tm.t_grep_status", []any{200}, "-1"}, // nothing received
	})
	sent := k.Sent()
	if len(sent) != 1 || sent[0].Proto.String() != "TCP" || sent[0].Dst.String() != "198.51.100.20:5060" {
		t.Fatalf("sent %+v", sent)
	}
	k.Request(strings.Replace(moduletest.Register, "z9hG4bK-reg-1", "z9hG4bK-reg-3", 1))
	k.Run([]moduletest.Case{{"tm.t_reply", []any{403, "Forbidden"}, "1"}, {"tm.t_retransmit_reply", nil, "1"}})
	if sent := k.Sent(); len(sent) != 2 || sent[1].StatusCode() != 403 {
		t.Errorf("t_retransmit_reply: %d messages", len(sent))
	}
}

// TestNativeRelayTo: the native t_relay_to takes flags or a proxy, or
// both: flags 0x01 sends no 100, a proxy is where the request goes.
func TestNativeRelayTo(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"tm.so\"")
	k.Request(toPeer)
	if rc := k.Native("t_relay_to", "udp:192.0.2.77:5070", "0x01").I; rc != 1 {
		t.Fatalf("t_relay_to(proxy, flags) = %d", rc)
	}
	sent := k.Sent()
	if len(sent) != 1 || sent[0].Dst.String() != "192.0.2.77:5070" {
		t.Fatalf("t_relay_to(proxy, 0x01): sent %+v, want the request to the proxy and no 100", sent)
	}
	k.Request(strings.Replace(toPeer, "z9hG4bK", "z9hG4bK-2", 1))
	if rc := k.Native("t_relay_to", "0x01").I; rc != 1 {
		t.Fatalf("t_relay_to(flags) = %d", rc)
	}
	if sent := k.Sent(); len(sent) != 1 || sent[0].Dst.String() != "198.51.100.20:5060" {
		t.Fatalf("t_relay_to(0x01): sent %+v", sent)
	}
}
