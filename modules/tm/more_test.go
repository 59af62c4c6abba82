package tm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestMaxLifetime: t_set_max_lifetime ends an INVITE that keeps ringing
// (fr_inv_timer 800 ms, restarted by each 180) after its lifetime.
func TestMaxLifetime(t *testing.T) {
	p := start(t)
	uac, uas := newUA(t, "uac"), newUA(t, "uas")
	msg, _, _ := invite(uac, uas, "X-Life: 500\n")
	uac.Send(p.Addr, msg)
	req := uas.Expect("INVITE ")
	uas.Reply(req, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	start := time.Now()
	uas.Reply(req, 180, "Ringing", "")
	uac.Expect("SIP/2.0 180 ")
	uas.Expect("CANCEL ") // the lifetime ended: the ringing branch is cancelled
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("the branch ended after %v: the 500 ms lifetime did not cut fr_inv_timer", d)
	}
}

// TestDisable6xx: a 6xx on one branch cancels the others, unless
// t_set_disable_6xx: then the other branch's 200 wins.
func TestDisable6xx(t *testing.T) {
	p := start(t)
	for _, disable := range []bool{false, true} {
		uac, a, b := newUA(t, "uac"), newUA(t, "a"), newUA(t, "b")
		extra := "X-Fork: sip:bob@" + b.Addr().String() + "\n"
		if disable {
			extra += "X-No6xx: 1\n"
		}
		msg, _, _ := invite(uac, a, extra)
		uac.Send(p.Addr, msg)
		ra, rb := a.Expect("INVITE "), b.Expect("INVITE ")
		b.Reply(rb, 180, "Ringing", "")
		uac.Expect("SIP/2.0 180 ")
		a.Reply(ra, 603, "Decline", "")
		a.Expect("ACK ")
		if !disable {
			cancel := b.Expect("CANCEL ")
			b.Reply(cancel, 200, "OK", "")
			b.Reply(rb, 487, "Request Terminated", "")
			b.Expect("ACK ")
			uac.Expect("SIP/2.0 603 ")
			continue
		}
		b.Quiet(200*time.Millisecond, "CANCEL ")
		b.Reply(rb, 200, "OK", "")
		if r := uac.Expect("SIP/2.0 200 OK"); !strings.Contains(hdr(r, "To"), "uas-b") {
			t.Errorf("the 200 is not b's: %s", hdr(r, "To"))
		}
	}
}

// TestCancelReason: a CANCEL's Reason goes on to the branch it cancels,
// unless t_set_no_e2e_cancel_reason.
func TestCancelReason(t *testing.T) {
	p := start(t)
	for _, keep := range []bool{true, false} {
		uac, uas := newUA(t, "uac"), newUA(t, "uas")
		extra := ""
		if !keep {
			extra = "X-NoReason: 1\n"
		}
		msg, callID, branch := invite(uac, uas, extra)
		uac.Send(p.Addr, msg)
		req := uas.Expect("INVITE ")
		uas.Reply(req, 180, "Ringing", "")
		uac.Expect("SIP/2.0 180 ")
		cancel := strings.Replace(cancelOf(uac, uas, callID, branch), "Content-Length", "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\nContent-Length", 1)
		uac.Send(p.Addr, cancel)
		c := uas.Expect("CANCEL ")
		got := hdr(c, "Reason")
		if keep && got != `SIP;cause=200;text="Call completed elsewhere"` || !keep && got != "" {
			t.Errorf("keep %v: the CANCEL's Reason %q", keep, got)
		}
		uas.Reply(c, 200, "OK", "")
		uas.Reply(req, 487, "Request Terminated", "")
		if got := finals(t, uac, 2); !got["1 CANCEL 200"] || !got["1 INVITE 487"] {
			t.Errorf("got %v, want 200 to the CANCEL and 487 to the INVITE", got)
		}
	}
}

// TestSaveLumpsAndDropReplies: a header added before t_save_lumps is on
// the branch failure_route makes; t_drop_replies("n") keeps the first
// branch's 486 in the choice of the final reply (the module's
// failure_reply_mode 3 would leave the second branch's 404 alone).
func TestSaveLumpsAndDropReplies(t *testing.T) {
	p := start(t)
	for _, keep := range []bool{false, true} {
		uac, busy, alt := newUA(t, "uac"), newUA(t, "busy"), newUA(t, "alt")
		extra := "X-Alt: sip:" + alt.Addr().String() + "\nX-Save: 1\n"
		if keep {
			extra += "X-Keep: 1\n"
		}
		msg, _, _ := invite(uac, busy, extra)
		uac.Send(p.Addr, msg)
		req := busy.Expect("INVITE ")
		busy.Reply(req, 486, "Busy Here", "")
		busy.Expect("ACK ")
		req2 := alt.Expect("INVITE ")
		if hdr(req2, "X-Saved") != "yes" {
			t.Errorf("the failure route's branch lost the saved header:\n%s", req2.Bytes())
		}
		alt.Reply(req2, 404, "Not Found", "")
		alt.Expect("ACK ")
		want := "SIP/2.0 404 "
		if keep {
			want = "SIP/2.0 486 "
		}
		uac.Expect(want)
	}
}

// TestTransactionChecks: t_is_expired, t_set_fr_inv, t_clean,
// t_lookup_cancel_flags and t_load_contacts(1) on the kit.
func TestTransactionChecks(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"corex.so\"\nmodparam(\"tm\", \"auto_inv_100\", 0)\nmodparam(\"tm\", \"max_inv_lifetime\", 100)")
	k.Request(toPeer)
	k.Run([]moduletest.Case{
		{"tm.t_is_expired", nil, "-1"}, // no transaction
		{"tm.t_set_fr_inv", []any{5000}, "1"},
		{"tm.t_newtran", nil, "1"},
		{"tm.t_is_expired", nil, "-1"},
		{"setflag", []any{3}, "1"},
		{"tm.t_relay", nil, "1"},
	})
	time.Sleep(150 * time.Millisecond)
	k.Run([]moduletest.Case{{"tm.t_is_expired", nil, "1"}, {"tm.t_clean", nil, "1"}})
	k.Request(strings.NewReplacer("INVITE sip:", "CANCEL sip:", "CSeq: 1 INVITE", "CSeq: 1 CANCEL").Replace(toPeer))
	k.Run([]moduletest.Case{
		{"isflagset", []any{3}, "-1"},
		{"tm.t_lookup_cancel_flags", []any{1}, "1"},
		{"isflagset", []any{3}, "1"}, // the INVITE's flags
	})
	k.Request(strings.Replace(toPeer, "z9hG4bK-inv-1", "z9hG4bK-inv-2", 1))
	k.Run([]moduletest.Case{
		{"corex.append_branch_uri", []any{"sip:b@198.51.100.21"}, "1"},
		{"corex.append_branch_uri_q", []any{"sip:c@198.51.100.22", "0.5"}, "1"},
		{"tm.ki_t_load_contacts_mode", []any{2}, "-1"},
		{"tm.ki_t_load_contacts_mode", []any{1}, "1"},
		{"tm.t_next_contacts", nil, "1"},
		{"tm.t_next_contacts", nil, "1"},
		{"tm.t_next_contacts", nil, "1"},
		{"tm.t_next_contacts", nil, "-1"}, // one contact at a time: three
	})
}

// TestContactFlows: contacts registered with the same +sip.instance are
// one target for t_next_contacts; t_next_contact_flow gives the failed
// branch's other flow; t_reuse_branch is for branch failure routes.
func TestContactFlows(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nmodparam(\"tm\", \"auto_inv_100\", 0)")
	k.Request(strings.Replace(moduletest.Register, "Contact: <sip:alice@192.0.2.10:5062>",
		`Contact: <sip:alice@192.0.2.10:5062>;+sip.instance="<urn:uuid:a>";reg-id=1, <sip:alice@192.0.2.11:5062>;+sip.instance="<urn:uuid:a>";reg-id=2, <sip:alice@192.0.2.12>;q=0.5`, 1))
	k.Run([]moduletest.Case{{"registrar.save", []any{"location", 0}, "1"}})
	k.Reply() // the 200
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:alice@example.com SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"registrar.lookup", []any{"location"}, "1"},
		{"tm.t_load_contacts", nil, "1"},
		{"tm.t_next_contacts", nil, "1"},
		{"tm.t_relay", nil, "1"},
	})
	sent := k.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d requests sent, want one per instance of q 1", len(sent))
	}
	first := sent[0].Dst.String()
	k.Run([]moduletest.Case{
		{"tmx.t_reuse_branch", nil, "-1"}, // not a branch failure route
		{"tm.t_next_contact_flow", nil, "1"},
		{"tm.t_next_contact_flow", nil, "-2"}, // the instance has no other flow
		{"tm.t_is_retr_async_reply", nil, "-1"},
	})
	other := "192.0.2.11:5062"
	if first == other {
		other = "192.0.2.10:5062"
	}
	if ru := k.Ctx().RURIText(); string(ru) != "sip:alice@"+other {
		t.Errorf("t_next_contact_flow: $ru %s, want the other flow of the instance (%s)", ru, other)
	}
}

// TestFlushFlags: t_flush_flags and t_flush_xflags give the transaction
// the flags set after it was made.
func TestFlushFlags(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"corex.so\"\nmodparam(\"tm\", \"auto_inv_100\", 0)")
	k.Request(toPeer)
	k.Run([]moduletest.Case{
		{"tmx.t_flush_flags", nil, "-1"}, // no transaction
		{"tm.t_newtran", nil, "1"},
		{"setflag", []any{7}, "1"},
		{"corex.setxflag", []any{70}, "1"},
		{"tmx.t_flush_flags", nil, "1"},
		{"tmx.t_flush_xflags", nil, "1"},
		{"tmx.t_drop_rcode", []any{404}, "0"},
	})
	k.Request(strings.NewReplacer("INVITE sip:", "CANCEL sip:", "CSeq: 1 INVITE", "CSeq: 1 CANCEL").Replace(toPeer))
	k.Run([]moduletest.Case{{"tm.t_lookup_cancel_flags", []any{1}, "1"}, {"isflagset", []any{7}, "1"}})
}
