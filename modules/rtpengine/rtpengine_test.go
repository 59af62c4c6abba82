package rtpengine

import (
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/rtpengine/rtpenginetest"
)

func TestBencode(t *testing.T) {
	v := map[string]any{"command": "offer", "flags": []any{"trust-address"}, "n": int64(-3), "sdp": "v=0\r\n"}
	b, err := encode(nil, v)
	if err != nil || string(b) != "d7:command5:offer5:flagsl13:trust-addresse1:ni-3e3:sdp5:v=0\r\ne" {
		t.Fatalf("encode: %q %v", b, err)
	}
	back, rest, err := decode(b, 0)
	if err != nil || len(rest) != 0 || fmt.Sprint(back) != fmt.Sprint(v) {
		t.Fatalf("decode: %v %q %v", back, rest, err)
	}
	for _, bad := range []string{"", "d", "l", "i12", "5:abc", "d3:abci1e", "d1:a", "x", "99999999999999999999:x", "-1:x"} {
		if _, _, err := decode([]byte(bad), 0); err == nil {
			t.Errorf("decode(%q): no error", bad)
		}
	}
}

var mPort = regexp.MustCompile(`m=audio (\d+) `)

func sdp(port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", port)
}

// TestMediaThroughRtpengine: offer and answer through the real daemon,
// then RTP sent to the port the answer gave the caller reaches the callee.
func TestMediaThroughRtpengine(t *testing.T) {
	d := rtpenginetest.Start(t)
	tab, err := dispatch.Build([]dispatch.Load{{Name: "rtpengine"}}, []dispatch.Setting{
		{Module: "rtpengine", Name: "rtpengine_sock", Value: router.StrValue("udp:127.0.0.1:1 udp:" + d.NG)},
		{Module: "rtpengine", Name: "rtpengine_tout_ms", Value: router.IntValue(200)},
		{Module: "rtpengine", Name: "rtpengine_retr", Value: router.IntValue(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Start(&router.Env{Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	defer tab.Stop()
	m := tab.Module("rtpengine").(*Module)
	caller, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	callee, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer caller.Close()
	defer callee.Close()
	cp, ep := caller.LocalAddr().(*net.UDPAddr).Port, callee.LocalAddr().(*net.UDPAddr).Port
	const callID = "media-test-1"
	// Two nodes: whichever the Call-ID picks, a dead node (port 1) is
	// skipped and the call still reaches the daemon.
	offer, err := m.Command(0, callID, map[string]any{"command": "offer", "call-id": callID, "from-tag": "ft", "sdp": sdp(cp),
		"replace": []any{"origin", "session-connection"}})
	if err != nil || offer["result"] != "ok" {
		t.Fatalf("offer: %v %v\n%s", offer, err, d.Log)
	}
	answer, err := m.Command(0, callID, map[string]any{"command": "answer", "call-id": callID, "from-tag": "ft", "to-tag": "tt", "sdp": sdp(ep)})
	if err != nil || answer["result"] != "ok" {
		t.Fatalf("answer: %v %v", answer, err)
	}
	port := func(s any) int {
		m := mPort.FindStringSubmatch(s.(string))
		if m == nil {
			t.Fatalf("no m= line in %q", s)
		}
		n, _ := strconv.Atoi(m[1])
		if n < d.PortMin || n > d.PortMax {
			t.Fatalf("m= port %d is not rtpengine's (%d-%d)", n, d.PortMin, d.PortMax)
		}
		return n
	}
	toCallee := port(offer["sdp"])  // where the callee sends
	toCaller := port(answer["sdp"]) // where the caller sends
	rtp := func(seq int) []byte {
		p := make([]byte, 12+160)
		p[0], p[1] = 0x80, 0
		p[2], p[3] = byte(seq>>8), byte(seq)
		p[11] = 7 // SSRC
		return p
	}
	got := 0
	for seq := 1; seq <= 5; seq++ {
		caller.WriteToUDP(rtp(seq), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: toCaller})
		callee.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2048)
		n, _, err := callee.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		if n == 172 && buf[0] == 0x80 {
			got++
		}
	}
	if got < 4 {
		t.Errorf("callee got %d of 5 RTP packets through rtpengine\n%s", got, d.Log)
	}
	// and back
	callee.WriteToUDP(rtp(1), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: toCallee})
	caller.SetReadDeadline(time.Now().Add(time.Second))
	if _, _, err := caller.ReadFromUDP(make([]byte, 2048)); err != nil {
		t.Errorf("caller got no RTP back: %v", err)
	}
	del, err := m.Command(0, callID, map[string]any{"command": "delete", "call-id": callID, "from-tag": "ft"})
	if err != nil || del["result"] != "ok" {
		t.Errorf("delete: %v %v", del, err)
	}
}
