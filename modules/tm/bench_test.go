package tm_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
)

// benchSetup starts the proxy with testdata/bench.cfg, a worker of its
// own to hand packets to (no socket read in the measure), and a sink
// socket that stands for the callee and the caller.
func benchSetup(b testing.TB) (*proxytest.Proxy, interface{ Handle(*transport.Packet) }, *net.UDPConn, *transport.Listener) {
	p := proxytest.Start(b, "testdata/bench.cfg", nil)
	w, err := p.Env.NewWorker(100)
	if err != nil {
		b.Fatal(err)
	}
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() { // drain
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	var l *transport.Listener
	for _, x := range p.Env.Transport.Listeners {
		if x.Proto == sip.TransportUDP {
			l = x
		}
	}
	return p, w, sink, l
}

// benchInvite is an INVITE from the sink to a callee at the sink, with
// 8 hex digits in its branch and Call-ID that each iteration changes.
func benchInvite(sink netip.AddrPort) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf("INVITE sip:bob@%[1]s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bK-00000000;rport\n"+
		"Max-Forwards: 70\n"+
		"From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl\n"+
		"To: <sip:bob@example.com>\n"+
		"Call-ID: 00000000-3848276298220188511@example.com\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:alice@%[1]s>\n"+
		"Content-Type: application/sdp\n"+
		"Content-Length: 129\n\n"+
		"v=0\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 49170 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n", sink),
		"\n", "\r\n"))
}

// stamp writes i as 8 hex digits at every "00000000" the template had.
func stamp(buf []byte, at []int, i int) {
	const hexd = "0123456789abcdef"
	for _, o := range at {
		for k := 7; k >= 0; k-- {
			buf[o+k] = hexd[i&15]
			i >>= 4
		}
	}
}

func stampsOf(buf []byte) []int {
	var at []int
	for i := 0; i+8 <= len(buf); i++ {
		if string(buf[i:i+8]) == "00000000" {
			at = append(at, i)
			i += 7
		}
	}
	return at
}

// BenchmarkRelayInvite: an INVITE received, its transaction made, 100
// Trying sent, record-routed and relayed (t_relay).
func BenchmarkRelayInvite(b *testing.B) {
	_, w, sink, l := benchSetup(b)
	src := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := benchInvite(src)
	at := stampsOf(buf)
	pkt := &transport.Packet{Src: src, Local: l, Proto: sip.TransportUDP}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stamp(buf, at, i)
		pkt.Buf = buf
		w.Handle(pkt)
	}
}

// BenchmarkForwardReply: a 180 from the callee matched to its transaction
// and its branch, and relayed upstream without our Via.
func BenchmarkForwardReply(b *testing.B) {
	w, pkt, reply := replySetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.Buf = reply
		w.Handle(pkt)
	}
}

// TestForwardReplyAllocs holds reply forwarding to no allocation.
func TestForwardReplyAllocs(t *testing.T) {
	w, pkt, reply := replySetup(t)
	n := testing.AllocsPerRun(200, func() {
		pkt.Buf = reply
		w.Handle(pkt)
	})
	if n != 0 {
		t.Errorf("forwarding a reply: %v allocations, want 0", n)
	}
}

// replySetup relays one INVITE to a callee socket and builds the 180 the
// callee sends back.
func replySetup(b testing.TB) (interface{ Handle(*transport.Packet) }, *transport.Packet, []byte) {
	p, w, sink, l := benchSetup(b)
	src := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	// One INVITE through the proxy's socket, to learn the branch it made.
	callee, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer callee.Close()
	inv := strings.Replace(string(benchInvite(src)), "sip:bob@"+src.String(), "sip:bob@"+callee.LocalAddr().String(), 1)
	if _, err := sink.WriteToUDPAddrPort([]byte(inv), p.Addr); err != nil {
		b.Fatal(err)
	}
	callee.SetReadDeadline(time.Now().Add(3 * time.Second))
	rb := make([]byte, 65536)
	n, _, err := callee.ReadFromUDPAddrPort(rb)
	if err != nil {
		b.Fatal(err)
	}
	var req sip.Msg
	if err := req.Parse(rb[:n]); err != nil {
		b.Fatal(err)
	}
	reply := sip.AppendReply(nil, &req, &sip.Reply{Code: 180, Reason: "Ringing", ToTag: []byte("callee")})
	pkt := &transport.Packet{Buf: reply, Src: callee.LocalAddr().(*net.UDPAddr).AddrPort(), Local: l, Proto: sip.TransportUDP}
	return w, pkt, reply
}
