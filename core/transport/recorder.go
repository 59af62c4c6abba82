package transport

import (
	"log/slog"
	"net/netip"
	"sync"

	"github.com/kemi-sip/kemi/core/sip"
)

// Sent is one message a recording server was asked to send.
type Sent struct {
	Proto sip.Transport
	Dst   netip.AddrPort
	Msg   []byte // a copy
}

// recorder keeps what a server without sockets sends.
type recorder struct {
	mu   sync.Mutex
	sent []Sent
}

// NewRecorder makes a server that binds nothing and records what it is
// asked to send instead: the module test kit's transport. It has a
// listener of each transport on each address (none open), so that a
// message can be "received" on one and forwarded from one.
func NewRecorder(addrs ...netip.AddrPort) *Server {
	s := &Server{cfg: Config{Children: 1, MaxMsg: 65535}, log: slog.Default(), conns: map[streamKey]*tcpConn{},
		perIP: map[netip.Addr]int{}, Guard: NewGuard(GuardConfig{}), done: make(chan struct{}), rec: &recorder{}}
	for _, a := range addrs {
		for _, proto := range []sip.Transport{sip.TransportUDP, sip.TransportTCP, sip.TransportTLS} {
			s.Listeners = append(s.Listeners, &Listener{Proto: proto, Addr: a, IP: a.Addr().String(), srv: s, fd: -1})
		}
	}
	return s
}

func (r *recorder) add(proto sip.Transport, dst netip.AddrPort, b []byte) {
	r.mu.Lock()
	r.sent = append(r.sent, Sent{Proto: proto, Dst: dst, Msg: append([]byte(nil), b...)})
	r.mu.Unlock()
}

// TakeSent returns what a recording server was asked to send since the
// last call, in order; nil for a server with sockets.
func (s *Server) TakeSent() []Sent {
	if s.rec == nil {
		return nil
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := s.rec.sent
	s.rec.sent = nil
	return out
}
