package rr_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// invite goes to 198.51.100.20, so that forward() sends it somewhere.
var invite = strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@198.51.100.20 SIP/2.0", 1)

// forwarded is the Record-Route of the request forward() sent.
func forwarded(t *testing.T, k *moduletest.Kit) string {
	t.Helper()
	k.Call("forward")
	sent := k.Sent()
	if len(sent) != 1 {
		t.Fatalf("forward sent %d messages", len(sent))
	}
	return sent[0].Header("Record-Route")
}

func TestRecordRoute(t *testing.T) {
	k := moduletest.New(t, `loadmodule "rr.so"`)
	k.Request(invite)
	k.Run([]moduletest.Case{{"rr.record_route", nil, "1"}, {"rr.record_route", nil, "-1"}, {"rr.add_rr_param", []any{"nat=yes"}, "1"}})
	if rr := forwarded(t, k); rr != "<sip:127.0.0.1:5060;lr;ftag=f2;nat=yes>" {
		t.Errorf("Record-Route %q", rr)
	}
	k.Request(invite)
	k.Call("rr.record_route_preset", "proxy.example.com:5070", "")
	if rr := forwarded(t, k); rr != "<sip:proxy.example.com:5070;lr;ftag=f2>" {
		t.Errorf("preset Record-Route %q", rr)
	}
	k.Request(invite)
	k.Call("rr.record_route")
	k.Call("rr.remove_record_route")
	if rr := forwarded(t, k); rr != "" {
		t.Errorf("after remove_record_route: %q", rr)
	}
	k.Request(invite) // the next message starts without one
	if rr := forwarded(t, k); rr != "" {
		t.Errorf("a new message has a Record-Route: %q", rr)
	}
}

func TestParameters(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"rr.so\"\nmodparam(\"rr\", \"append_fromtag\", 0)\nmodparam(\"rr\", \"enable_full_lr\", 1)")
	k.Request(invite)
	k.Call("rr.record_route_params", ";x=1")
	if rr := forwarded(t, k); rr != "<sip:127.0.0.1:5060;lr=on;x=1>" {
		t.Errorf("Record-Route %q", rr)
	}
}

func TestLooseRoute(t *testing.T) {
	k := moduletest.New(t, `loadmodule "rr.so"`)
	inDialog := strings.Replace(moduletest.Invite, "Max-Forwards: 70\n",
		"Max-Forwards: 70\nRoute: <sip:127.0.0.1:5060;lr;ftag=f2;nat=yes>, <sip:198.51.100.30;lr>\n", 1)
	inDialog = strings.Replace(inDialog, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=t1", 1)
	k.Request(inDialog)
	k.Run([]moduletest.Case{
		{"rr.next_hop_route", nil, "-1"},
		{"rr.loose_route", nil, "1"},
		{"rr.next_hop_route", nil, "1"},
		{"pv.get", []any{"$du"}, "sip:198.51.100.30;lr"},
		{"rr.check_route_param", []any{"nat=yes"}, "1"},
		{"rr.check_route_param", []any{"nat=no"}, "-1"},
		{"rr.is_direction", []any{"downstream"}, "1"},
		{"rr.is_direction", []any{"upstream"}, "-1"},
	})
	if out := k.Out(); strings.Contains(out, "127.0.0.1:5060;lr") {
		t.Errorf("our Route was not removed:\n%s", out)
	}
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"rr.loose_route", nil, "-1"}, {"rr.next_hop_route", nil, "-1"}})

	// loose_route_mode(1): our Route off, no $du; loose_route_preloaded:
	// in-dialog requests are not preloaded.
	k.Request(inDialog)
	k.Run([]moduletest.Case{{"rr.loose_route_preloaded", nil, "-1"}})
	k.Request(inDialog)
	k.Run([]moduletest.Case{
		{"rr.loose_route_mode", []any{1}, "1"},
		{"pv.get", []any{"$du"}, ""},
	})
	// As Kamailio's: an initial request is "preloaded" when its Route set
	// was this proxy alone (loose_route -3, loose_route_preloaded 1); with
	// a Route to someone next it is routed by it (1, and -1).
	k.Request(strings.Replace(inDialog, ";tag=t1", "", 1))
	k.Run([]moduletest.Case{{"rr.loose_route_preloaded", nil, "-1"}, {"pv.get", []any{"$du"}, "sip:198.51.100.30;lr"}})
	alone := strings.Replace(strings.Replace(inDialog, ";tag=t1", "", 1), ", <sip:198.51.100.30;lr>", "", 1)
	k.Request(alone)
	k.Run([]moduletest.Case{{"rr.loose_route", nil, "-3"}, {"pv.get", []any{"$du"}, ""}})
	k.Request(alone)
	k.Run([]moduletest.Case{{"rr.loose_route_preloaded", nil, "1"}})
}

// TestCarried: the Record-Route to write goes with a request's
// transaction as bytes (router.Carrier) and comes back whole on another
// context, as tm does for a failure_route's new branches; restoring
// nothing removes it, and what loose_route found stays.
func TestCarried(t *testing.T) {
	k := moduletest.New(t, `loadmodule "rr.so"`)
	c := k.Request(invite)
	k.Call("rr.record_route_params", ";x=1")
	kept := c.Carry(nil)
	empty := k.Request(invite).Carry(nil) // a new message: nothing to carry
	c = k.Request(invite)
	c.Uncarry(kept)
	if rr := forwarded(t, k); rr != "<sip:127.0.0.1:5060;lr;ftag=f2;x=1>" {
		t.Errorf("restored Record-Route %q", rr)
	}
	c = k.Request(invite)
	k.Call("rr.record_route")
	c.Uncarry(empty)
	if rr := forwarded(t, k); rr != "" {
		t.Errorf("after restoring nothing: %q", rr)
	}
}
