package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// tcpConn is one SIP stream. Replies and requests to the same peer reuse
// it (RFC 3261 §18.2.2) for as long as it is open.
type tcpConn struct {
	id     uint64
	c      *net.TCPConn
	peer   netip.AddrPort
	wmu    sync.Mutex
	closed atomic.Bool
}

func (c *tcpConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.c.Write(b)
	return err
}

func (s *Server) acceptLoop(l *Listener) {
	defer s.wg.Done()
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if s.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("tcp accept", "listener", l.String(), "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		tc := s.admit(c)
		if tc == nil {
			continue
		}
		s.wg.Add(1)
		go s.readLoop(l, tc)
	}
}

// admit tracks an accepted connection, or closes it when its source is
// banned or would pass tcp_max_connections or the per-address limit.
func (s *Server) admit(c *net.TCPConn) *tcpConn {
	ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	ip := ap.Addr().Unmap()
	if s.Guard.Banned(ip) {
		s.Guard.Drop()
		s.Stats.TCPRefused.Add(1)
		c.Close()
		return nil
	}
	s.mu.Lock()
	full := len(s.conns) >= s.cfg.TCPMaxConns || s.perIP[ip] >= s.cfg.TCPMaxPerIP
	s.mu.Unlock()
	if full {
		s.Stats.TCPRefused.Add(1)
		if v := s.Guard.Bad(ip); v.Log {
			s.log.Warn("tcp connection refused: connection limit", "src", ip.String(),
				"max", s.cfg.TCPMaxConns, "max_per_ip", s.cfg.TCPMaxPerIP, "suppressed", v.Suppressed)
		}
		c.Close()
		return nil
	}
	return s.track(c)
}

func (s *Server) track(c *net.TCPConn) *tcpConn {
	ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	tc := &tcpConn{id: s.nextID.Add(1), c: c, peer: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	s.mu.Lock()
	s.conns[tc.peer] = tc
	s.perIP[tc.peer.Addr()]++
	s.mu.Unlock()
	s.Stats.TCPConns.Add(1)
	return tc
}

func (s *Server) untrack(tc *tcpConn) {
	tc.closed.Store(true)
	tc.c.Close()
	s.mu.Lock()
	if s.conns[tc.peer] == tc {
		delete(s.conns, tc.peer)
	}
	if s.perIP[tc.peer.Addr()]--; s.perIP[tc.peer.Addr()] <= 0 {
		delete(s.perIP, tc.peer.Addr())
	}
	s.mu.Unlock()
	s.Stats.TCPConns.Add(-1)
}

// dial opens a stream to dst for a message that has none.
func (s *Server) dial(dst netip.AddrPort) (*tcpConn, error) {
	c, err := net.DialTimeout("tcp", dst.String(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	tc := s.track(c.(*net.TCPConn))
	var l *Listener
	for _, x := range s.Listeners {
		if x.tcp != nil {
			l = x
			break
		}
	}
	s.wg.Add(1)
	go s.readLoop(l, tc)
	return tc, nil
}

// readLoop frames messages by Content-Length and hands each to an idle
// TCP worker. A framing error closes the stream: it cannot be resynced.
func (s *Server) readLoop(l *Listener, tc *tcpConn) {
	defer s.wg.Done()
	defer s.untrack(tc)
	buf := make([]byte, 0, 4096)
	p := &Packet{Local: l, Proto: sip.TransportTCP, Src: tc.peer, conn: tc}
	for {
		for {
			skip, n, err := sip.FrameLen(buf, s.cfg.MaxMsg)
			if err != nil {
				s.Stats.TCPFrame.Add(1)
				if v := s.Guard.Bad(tc.peer.Addr()); v.Log {
					s.log.Warn("tcp stream closed", "src", tc.peer.String(), "err", err.Error(), "suppressed", v.Suppressed, "banned", v.Banned)
				}
				return
			}
			if skip > 0 && n == 0 {
				buf = buf[:copy(buf, buf[skip:])]
				continue
			}
			if n == 0 {
				break
			}
			if s.Guard.Banned(tc.peer.Addr()) {
				s.Guard.Drop()
				return
			}
			p.Buf = buf[skip : skip+n]
			s.Stats.Received.Add(1)
			if s.tcpW == nil { // a dialled stream on a server without TCP listeners
				return
			}
			h := <-s.tcpW
			h.Handle(p)
			s.tcpW <- h
			buf = buf[:copy(buf, buf[skip+n:])]
		}
		if len(buf) == cap(buf) {
			if cap(buf) > s.cfg.MaxMsg {
				return
			}
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		tc.c.SetReadDeadline(time.Now().Add(s.cfg.TCPLifetime))
		n, err := tc.c.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
		}
		if err != nil && n == 0 {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				s.Stats.TCPIdle.Add(1)
			}
			return
		}
	}
}

// String is for logs.
func (c *tcpConn) String() string { return fmt.Sprintf("tcp#%d %s", c.id, c.peer) }
