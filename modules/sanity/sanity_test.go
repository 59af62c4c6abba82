package sanity_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const snippet = "loadmodule \"sl.so\"\nloadmodule \"sanity.so\"\n"

func TestSanityCheck(t *testing.T) {
	k := moduletest.New(t, snippet)
	cases := []struct {
		name    string
		msg     string
		checks  int
		rc      int
		replied int
	}{
		{"a good request", moduletest.Invite, 17895, 1, 0},
		{"unsupported URI scheme", strings.Replace(moduletest.Invite, "INVITE sip:bob@example.com", "INVITE im:bob@example.com", 1), 2, 0, 416},
		{"unknown Proxy-Require", strings.Replace(moduletest.Invite, "Max-Forwards: 70\n", "Max-Forwards: 70\nProxy-Require: foo\n", 1), 1 << 9, 0, 420},
		{"negative Expires", strings.Replace(moduletest.Register, "Expires: 3600", "Expires: -1", 1), 1 << 8, 0, 400},
	}
	for i, c := range cases {
		k.Request(c.msg)
		if rc := k.CallInt("sanity.sanity_check", c.checks, 7); rc != c.rc {
			t.Errorf("case %d (%s): rc %d, want %d", i, c.name, rc, c.rc)
		}
		sent := k.Sent()
		switch {
		case c.replied == 0 && len(sent) != 0:
			t.Errorf("case %d (%s): answered %d", i, c.name, sent[0].StatusCode())
		case c.replied != 0 && (len(sent) != 1 || sent[0].StatusCode() != c.replied):
			t.Errorf("case %d (%s): sent %d messages, want a %d", i, c.name, len(sent), c.replied)
		}
	}
}

// TestNoreplyAndSanityReply: with noreply the script answers with
// sanity_reply, the failed check's code; autodrop 0 returns -1.
func TestNoreplyAndSanityReply(t *testing.T) {
	k := moduletest.New(t, snippet+"modparam(\"sanity\", \"noreply\", 1)\nmodparam(\"sanity\", \"autodrop\", 0)")
	k.Request(strings.Replace(moduletest.Invite, "INVITE sip:bob@example.com", "INVITE im:bob@example.com", 1))
	if rc := k.CallInt("sanity.sanity_check", 2, 7); rc != -1 {
		t.Errorf("autodrop 0: rc %d, want -1", rc)
	}
	k.NothingSent()
	k.Call("sanity.sanity_reply")
	if r := k.Reply(); r.StatusCode() != 416 {
		t.Errorf("sanity_reply sent %d, want 416", r.StatusCode())
	}
	k.Request(moduletest.Invite) // a new message: no failed check to answer
	if rc := k.CallInt("sanity.sanity_reply"); rc != -1 {
		t.Errorf("sanity_reply without a failed check: %d", rc)
	}
}
