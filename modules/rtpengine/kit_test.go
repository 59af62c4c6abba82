package rtpengine_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/rtpengine"
	"github.com/kemi-sip/kemi/modules/rtpengine/rtpenginetest"
)

var mPort = regexp.MustCompile(`m=audio (\d+) `)

func withSDP(msg string, port int) string {
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", port)
	return strings.Replace(msg, "Content-Length: 0\n\n", "Content-Type: application/sdp\nContent-Length: "+strconv.Itoa(len(sdp))+"\n\n"+sdp, 1)
}

// TestOfferAnswerExports: rtpengine_offer on the INVITE and
// rtpengine_answer on its 200 rewrite each SDP to ports of the real
// daemon; rtpengine_delete ends the call.
func TestOfferAnswerExports(t *testing.T) {
	d := rtpenginetest.Start(t)
	k := moduletest.New(t, "loadmodule \"rtpengine.so\"\nmodparam(\"rtpengine\", \"rtpengine_sock\", \"udp:"+d.NG+"\")\nmodparam(\"rtpengine\", \"rtpengine_tout_ms\", 500)")
	port := func(what string) int {
		t.Helper()
		m := mPort.FindStringSubmatch(k.Out())
		if m == nil {
			t.Fatalf("%s: no m= line in\n%s\n%s", what, k.Out(), d.Log)
		}
		n, _ := strconv.Atoi(m[1])
		if n < d.PortMin || n > d.PortMax {
			t.Fatalf("%s: m= port %d is not rtpengine's (%d-%d)", what, n, d.PortMin, d.PortMax)
		}
		return n
	}
	k.Request(withSDP(moduletest.Invite, 4000))
	k.Run([]moduletest.Case{{"rtpengine.rtpengine_offer", []any{"replace-origin replace-session-connection"}, "1"}})
	port("offer")
	reply := "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-inv-1;rport\nFrom: <sip:alice@example.com>;tag=f2\n" +
		"To: <sip:bob@example.com>;tag=b1\nCall-ID: invite-1@192.0.2.10\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
	k.Request(withSDP(reply, 5000))
	k.Run([]moduletest.Case{{"rtpengine.rtpengine_answer0", nil, "1"}})
	port("answer")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"rtpengine.rtpengine_delete0", nil, "1"}})
	if n := k.Module("rtpengine").(*rtpengine.Module).Stats.Requests.Load(); n != 3 {
		t.Errorf("%d ng commands, want 3", n)
	}
}
