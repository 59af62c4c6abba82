package moduletest_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`loadmodule "nope.so"`, `test.cfg:1:1: loadmodule "nope.so": no such module`},
		{"loadmodule \"sl.so\"\nmodparam(\"sl\", \"x\", 1)", `test.cfg:2:1: modparam("sl", "x"): no such parameter`},
	} {
		if _, err := moduletest.NewErr(t, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestReceiveAndSent: a request over TCP is answered on TCP to its
// source; the kit's messages parse and its CRLFs are the wire's.
func TestReceiveAndSent(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	c := k.Receive(sip.TransportTCP, moduletest.Client, moduletest.Options)
	if c.Proto() != sip.TransportTCP || c.Pkt.Local == nil || c.Pkt.Local.Proto != sip.TransportTCP {
		t.Fatalf("proto %v, local %v", c.Proto(), c.Pkt.Local)
	}
	k.Call("sl.send_reply", 200, "OK")
	r := k.Reply()
	if r.Proto != sip.TransportTCP || r.Dst != moduletest.Client || !strings.HasPrefix(string(r.Sent.Msg), "SIP/2.0 200 OK\r\n") {
		t.Errorf("reply over %v to %v:\n%s", r.Proto, r.Dst, r.Sent.Msg)
	}
	k.NothingSent()
	if got := k.Native("sl_send_reply", "404", "Nope"); got.I != 1 {
		t.Errorf("native sl_send_reply: %d", got.I)
	}
	if r := k.Reply(); r.StatusCode() != 404 {
		t.Errorf("native reply %d", r.StatusCode())
	}
}
