package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// tcpConn is one SIP stream, TCP or TLS. Replies and requests to the same
// peer over the same transport reuse it (RFC 3261 §18.2.2) for as long as
// it is open.
type tcpConn struct {
	id     uint64
	c      net.Conn // *net.TCPConn or *tls.Conn
	srv    *Server
	proto  sip.Transport
	peer   netip.AddrPort
	wmu    sync.Mutex // synchronous writes (tcp_async=no)
	wq     writeQueue
	raw    syscall.RawConn // plain TCP: a write tried at once, without blocking
	closed atomic.Bool
	local  *Listener               // the listener it came on (set by its reader)
	ws     atomic.Pointer[wsState] // its WebSocket side, once upgraded (ws.go)
	// aliases are the other peer ports this stream carries messages to
	// (add_tcp_alias); guarded by the server's mu.
	aliases []uint16
}

// writeQueue is a stream's queue of bytes to send (Kamailio's tcp_async):
// a worker appends its message and goes on; the stream's writer goroutine,
// started when the queue fills and gone when it empties, sends them.
type writeQueue struct {
	mu      sync.Mutex
	buf     []byte    // queued, not yet handed to the writer
	spare   []byte    // the writer's last batch, reused
	since   time.Time // the last progress while bytes wait
	running bool      // a writer goroutine is on it
	// closeAfter closes the stream once the queue is empty (a reply sent
	// with set_reply_close, a WebSocket close frame).
	closeAfter bool
}

// The errors of a write that did not queue.
var (
	errQueueFull   = errors.New("the connection's write queue is full (tcp_conn_wq_max, tcp_wq_max)")
	errSendTimeout = errors.New("the connection took nothing for tcp_send_timeout: closed")
	errStreamGone  = errors.New("the connection is closed")
)

// write sends a message on the stream, framed when it is a WebSocket.
func (c *tcpConn) write(b []byte) error {
	if st := c.ws.Load(); st != nil {
		return c.wsMessage(st, b)
	}
	return c.writeRaw(b, false)
}

// writeRaw sends b on the stream: queued (tcp_async, the default) or
// written at once; closeAfter closes the stream once b is written. A
// queue that has made no progress for tcp_send_timeout closes the stream;
// one past tcp_conn_wq_max (or all past tcp_wq_max) refuses b. Neither
// blocks the worker.
func (c *tcpConn) writeRaw(b []byte, closeAfter bool) error {
	s := c.srv
	if s.cfg.TCPSync {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.c.SetWriteDeadline(time.Now().Add(s.cfg.TCPSendTimeout))
		_, err := c.c.Write(b)
		if closeAfter {
			c.closed.Store(true)
			c.c.Close()
		}
		return err
	}
	q := &c.wq
	q.mu.Lock()
	if c.closed.Load() {
		q.mu.Unlock()
		return errStreamGone
	}
	if len(q.buf) > 0 && time.Since(q.since) > s.cfg.TCPSendTimeout {
		q.mu.Unlock()
		s.stalled(c)
		return errSendTimeout
	}
	if len(q.buf)+len(b) > s.cfg.TCPConnWQMax || s.wqBytes.Load()+int64(len(b)) > int64(s.cfg.TCPWQMax) {
		q.mu.Unlock()
		s.Stats.TCPQueueFull.Add(1)
		return errQueueFull
	}
	if len(q.buf) == 0 && !q.running {
		if c.raw != nil {
			// Nothing waits: what the socket takes now goes at once, as
			// Kamailio's async write tries first; the rest is queued.
			n := c.writeNow(b)
			if n == len(b) {
				q.mu.Unlock()
				if closeAfter {
					c.closed.Store(true)
					c.c.Close()
				}
				return nil
			}
			b = b[n:]
		}
		q.since = time.Now()
	}
	q.buf = append(q.buf, b...)
	s.wqBytes.Add(int64(len(b)))
	q.closeAfter = q.closeAfter || closeAfter
	if !q.running {
		q.running = true
		go c.drain()
	}
	q.mu.Unlock()
	return nil
}

// writeNow writes what the socket takes of b without waiting: how much.
func (c *tcpConn) writeNow(b []byte) int {
	n := 0
	c.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			k, err := syscall.Write(int(fd), b[n:])
			if k > 0 {
				n += k
			}
			if err == syscall.EINTR {
				continue
			}
			if err != nil || k <= 0 {
				break
			}
		}
		return true // one try: never wait here
	})
	return n
}

// drain is the stream's writer: it sends what the queue holds, a batch at
// a time, until it is empty; a write that fails or takes longer than
// tcp_send_timeout closes the stream.
func (c *tcpConn) drain() {
	s, q := c.srv, &c.wq
	for {
		q.mu.Lock()
		if len(q.buf) == 0 || c.closed.Load() {
			s.wqBytes.Add(-int64(len(q.buf)))
			q.buf = q.buf[:0]
			q.running = false
			if q.closeAfter {
				c.closed.Store(true)
				c.c.Close()
			}
			q.mu.Unlock()
			return
		}
		out := q.buf
		q.buf = q.spare[:0]
		q.mu.Unlock()
		c.c.SetWriteDeadline(time.Now().Add(s.cfg.TCPSendTimeout))
		_, err := c.c.Write(out)
		s.wqBytes.Add(-int64(len(out)))
		q.mu.Lock()
		q.spare, q.since = out[:0], time.Now()
		q.mu.Unlock()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				s.stalled(c)
			} else {
				s.Stats.SendErrors.Add(1)
				c.closed.Store(true) // further writes are refused at once
				c.c.Close()          // the read loop untracks it
			}
		}
	}
}

// closeAfterWrite closes the stream once what is queued on it is written
// (at once when nothing is).
func (c *tcpConn) closeAfterWrite() {
	q := &c.wq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		q.closeAfter = true
		return
	}
	c.closed.Store(true)
	c.c.Close()
}

// stalled closes a stream whose peer takes nothing, counted and logged
// within the guard's lines per second (a slow peer is not banned for it).
func (s *Server) stalled(c *tcpConn) {
	if c.closed.Swap(true) {
		return
	}
	s.Stats.TCPSendTimeout.Add(1)
	if s.Guard.logSlot(time.Now().UnixNano()) {
		s.log.Warn("tcp stream closed: the peer takes nothing (tcp_send_timeout)", "peer", c.peer.String(),
			"timeout", s.cfg.TCPSendTimeout.String(), "closed_so_far", s.Stats.TCPSendTimeout.Load())
	}
	c.c.Close()
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
		tc := s.admit(c, l.Proto)
		if tc == nil {
			continue
		}
		s.wg.Add(1)
		go s.readLoop(l, tc)
	}
}

// admit tracks an accepted connection, or closes it when its source is
// banned or would pass tcp_max_connections or the per-address limit. A
// connection past a limit is refused, not held against its address: 140
// phones behind one NAT keep their first 128 streams and their UDP
// (unless tcp_conn_limit_ban asks for a ban).
func (s *Server) admit(c *net.TCPConn, proto sip.Transport) *tcpConn {
	ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	ip := ap.Addr().Unmap()
	if s.Guard.Banned(ip) {
		s.Guard.Drop()
		s.Stats.TCPRefused.Add(1)
		c.Close()
		return nil
	}
	s.mu.Lock()
	perIP := s.perIP[ip] >= s.cfg.TCPMaxPerIP
	full := len(s.conns) >= s.cfg.TCPMaxConns || perIP
	s.mu.Unlock()
	if perIP && s.cfg.TCPLimitBan {
		s.Stats.TCPRefused.Add(1)
		if s.Guard.Ban(ip, 0) {
			s.log.Warn("source banned: more TCP connections than tcp_max_connections_per_ip (tcp_conn_limit_ban)",
				"src", ip.String(), "max_per_ip", s.cfg.TCPMaxPerIP, "ban_time", s.Guard.Config().BanTime.String())
		}
		c.Close()
		return nil
	}
	if full {
		s.Stats.TCPRefused.Add(1)
		if s.Guard.logSlot(time.Now().UnixNano()) {
			s.log.Warn("tcp connection refused: connection limit", "src", ip.String(),
				"max", s.cfg.TCPMaxConns, "max_per_ip", s.cfg.TCPMaxPerIP, "refused_so_far", s.Stats.TCPRefused.Load())
		}
		c.Close()
		return nil
	}
	var conn net.Conn = c
	if proto == sip.TransportTLS {
		tc := tls.Server(c, s.cfg.TLS)
		// The handshake runs on the stream's first read, under its
		// deadline: a peer that never finishes it holds nothing long.
		conn = tc
	}
	return s.track(conn, proto)
}

// streamKey finds an open stream: its transport and its peer.
type streamKey struct {
	proto sip.Transport
	peer  netip.AddrPort
}

func (s *Server) track(c net.Conn, proto sip.Transport) *tcpConn {
	ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	tc := &tcpConn{id: s.nextID.Add(1), c: c, srv: s, proto: proto, peer: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	if t, ok := c.(*net.TCPConn); ok {
		tc.raw, _ = t.SyscallConn()
	}
	s.mu.Lock()
	s.conns[streamKey{proto, tc.peer}] = tc
	s.perIP[tc.peer.Addr()]++
	s.mu.Unlock()
	s.Stats.TCPConns.Add(1)
	s.Stats.TCPOpened.Add(1)
	return tc
}

func (s *Server) untrack(tc *tcpConn) {
	tc.closeAfterWrite() // what is queued (a close frame, a last reply) goes first
	s.mu.Lock()
	if k := (streamKey{tc.proto, tc.peer}); s.conns[k] == tc {
		delete(s.conns, k)
	}
	for _, p := range tc.aliases {
		if k := (streamKey{tc.proto, netip.AddrPortFrom(tc.peer.Addr(), p)}); s.conns[k] == tc {
			delete(s.conns, k)
		}
	}
	delete(s.wsConns, tc.id)
	if s.perIP[tc.peer.Addr()]--; s.perIP[tc.peer.Addr()] <= 0 {
		delete(s.perIP, tc.peer.Addr())
	}
	s.mu.Unlock()
	s.Stats.TCPConns.Add(-1)
}

// AddAlias has messages to port of the peer at the far end of the open
// proto stream from peer travel over that stream (Kamailio's
// add_tcp_alias, for clients that listen on one port and connect from
// another). It fails when no such stream is open.
func (s *Server) AddAlias(proto sip.Transport, peer netip.AddrPort, port uint16) error {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	tc := s.conns[streamKey{proto, peer}]
	if tc == nil || tc.closed.Load() {
		return fmt.Errorf("no open %s stream from %s", proto, peer)
	}
	if port == peer.Port() {
		return nil
	}
	k := streamKey{proto, netip.AddrPortFrom(peer.Addr(), port)}
	if s.conns[k] == tc {
		return nil
	}
	s.conns[k] = tc
	tc.aliases = append(tc.aliases, port)
	return nil
}

// dial opens a stream to dst for a message that has none: TLS with the
// client configuration (verified as the tls module says), the handshake
// done before the first message is written.
func (s *Server) dial(proto sip.Transport, dst netip.AddrPort) (*tcpConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", dst.String())
	if err != nil {
		return nil, err
	}
	if proto == sip.TransportTLS {
		cfg := s.cfg.ClientTLS
		if cfg == nil {
			c.Close()
			return nil, errors.New("no TLS client configuration (load the tls module)")
		}
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	tc := s.track(c, proto)
	var l *Listener
	for _, x := range s.Listeners {
		if x.tcp != nil && x.Proto == proto {
			l = x
			break
		}
	}
	s.wg.Add(1)
	go s.readLoop(l, tc)
	return tc, nil
}

// yieldEvery is how many messages a stream's reader handles in a row
// before it lets other goroutines run.
const yieldEvery = 8

// readLoop frames messages by Content-Length and hands each to an idle
// TCP worker. A framing error closes the stream: it cannot be resynced.
func (s *Server) readLoop(l *Listener, tc *tcpConn) {
	defer s.wg.Done()
	defer s.untrack(tc)
	tc.local = l
	buf := make([]byte, 0, 4096)
	p := &Packet{Local: l, Proto: tc.proto, Src: tc.peer, conn: tc}
	inARow := 0 // messages handled on this stream
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
			if tc.ws.Load() != nil { // the message was its WebSocket upgrade
				s.wsLoop(l, tc, buf)
				return
			}
			if inARow++; inARow%yieldEvery == 0 {
				// A stream that never runs dry (a flood) lets the others
				// run: with every CPU busy, the runtime looks for streams
				// that became readable only when a goroutine yields (or
				// every 10 ms), and a probe waited 40–80 ms behind eight
				// flooding streams.
				runtime.Gosched()
			}
		}
		var err error
		if buf, err = s.fill(tc, buf, s.cfg.MaxMsg); err != nil {
			if tlc, ok := tc.c.(*tls.Conn); ok && !errors.Is(err, errIdle) && !errors.Is(err, errTooLong) &&
				!tlc.ConnectionState().HandshakeComplete && !errors.Is(err, io.EOF) {
				// A failed handshake is bad input like a bad message.
				s.Stats.TLSHandshake.Add(1)
				if v := s.Guard.Bad(tc.peer.Addr()); v.Log {
					s.log.Warn("tls handshake failed", "src", tc.peer.String(), "err", err.Error(), "suppressed", v.Suppressed, "banned", v.Banned)
				}
			}
			return
		}
	}
}

// The reasons fill gives for a stream that ends.
var (
	errIdle    = errors.New("idle for tcp_connection_lifetime")
	errTooLong = errors.New("a message longer than the limit")
)

// fill reads what the stream has into buf's free space, the buffer
// doubled first when it is full (errTooLong past limit); it waits
// tcp_connection_lifetime at most (errIdle, counted). An error is
// returned only when nothing was read.
func (s *Server) fill(tc *tcpConn, buf []byte, limit int) ([]byte, error) {
	if len(buf) == cap(buf) {
		if cap(buf) > limit {
			return buf, errTooLong
		}
		nb := make([]byte, len(buf), 2*cap(buf))
		copy(nb, buf)
		buf = nb
	}
	tc.c.SetReadDeadline(time.Now().Add(s.cfg.TCPLifetime))
	n, err := tc.c.Read(buf[len(buf):cap(buf)])
	if n > 0 {
		return buf[:len(buf)+n], nil
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		s.Stats.TCPIdle.Add(1)
		return buf, errIdle
	}
	return buf, err
}

// String is for logs.
func (c *tcpConn) String() string {
	return fmt.Sprintf("%s#%d %s", strings.ToLower(c.proto.String()), c.id, c.peer)
}
