package transport

import (
	"net"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// echoHandler answers every datagram with a fixed reply from the socket it
// came in on, as a route that replies at once does.
type echoHandler struct {
	s     *Server
	reply []byte
}

func (h *echoHandler) Handle(p *Packet) { h.s.Send(p.Local, sip.TransportUDP, p.Src, h.reply) }

// BenchmarkUDPRoundTrip is the receive path of one request: a datagram on
// a real loopback socket, read by a worker through the netpoller, handed
// to the handler, answered; the client waits for each answer. children
// workers share the socket, as Kamailio's children do.
func BenchmarkUDPRoundTrip(b *testing.B) {
	for _, children := range []int{1, 4} {
		b.Run(map[int]string{1: "children1", 4: "children4"}[children], func(b *testing.B) {
			s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportUDP, Host: "127.0.0.1"}}, Children: children})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			h := &echoHandler{s: s, reply: []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")}
			s.Serve(func(int) Handler { return h })
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Listener(sip.TransportUDP, true).Addr))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-b\r\n" +
				"Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: rt\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
			buf := make([]byte, 2048)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
