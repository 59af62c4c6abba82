package rtpproxy_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/rtpproxy"
)

const sdp = "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 4000 RTP/AVP 0\n"

// TestNoNodeAnswers: with no rtpproxy listening, offer fails after the
// timeout and is counted; the SDP is left as it was.
func TestNoNodeAnswers(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"rtpproxy.so\"\nmodparam(\"rtpproxy\", \"rtpproxy_sock\", \"udp:127.0.0.1:1\")\n"+
		"modparam(\"rtpproxy\", \"rtpproxy_tout\", 50)\nmodparam(\"rtpproxy\", \"rtpproxy_retr\", 1)")
	invite := strings.Replace(moduletest.Invite, "Content-Length: 0\n\n", "Content-Type: application/sdp\nContent-Length: "+strconv.Itoa(len(sdp))+"\n\n"+sdp, 1)
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"rtpproxy.rtpproxy_offer", []any{"ie"}, "-1"},
		{"rtpproxy.set_rtpproxy_set", []any{7}, "-1"}, // no such set
		{"rtpproxy.set_rtpproxy_set", []any{0}, "1"},
	})
	if n := k.Module("rtpproxy").(*rtpproxy.Module).Stats.Errors.Load(); n != 1 {
		t.Errorf("errors %d, want 1", n)
	}
	if out := k.Out(); !strings.Contains(out, "c=IN IP4 192.0.2.10") {
		t.Errorf("the SDP changed:\n%s", out)
	}
	k.Request(moduletest.Invite) // no SDP: nothing to do for an offer
	k.Run([]moduletest.Case{{"rtpproxy.rtpproxy_offer0", nil, "-1"}})
}

func TestBadSocket(t *testing.T) {
	if _, err := moduletest.NewErr(t, "loadmodule \"rtpproxy.so\"\nmodparam(\"rtpproxy\", \"rtpproxy_sock\", \"nonsense\")"); err == nil {
		t.Error("a bad rtpproxy_sock: no error")
	}
}
