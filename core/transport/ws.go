package transport

// SIP over WebSocket (RFC 7118) on the TCP and TLS streams, as Kamailio's
// websocket module carries it: the HTTP upgrade arrives as any HTTP
// request (xhttp's event route), the script's ws_handle_handshake answers
// it and calls Packet.UpgradeWS; from then on the stream carries RFC 6455
// frames, its transport is WS (over TCP) or WSS (over TLS), the SIP
// messages of its text and binary frames go to the TCP workers, and what is
// sent to it goes framed. A server cannot open a WebSocket connection: a
// message for a WS peer with none open fails.

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kemi-sip/kemi/core/sip"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xa
)

// The close codes and reasons Kamailio sends (RFC 6455 §7.4.1).
const (
	WSNormalClosure = 1000
	wsProtocolError = 1002
	wsUnsupported   = 1008
	wsTooBig        = 1009
)

const wsNormalReason = "Normal closure"

// wsState is a stream's WebSocket side, from its upgrade on.
type wsState struct {
	lastUsed     atomic.Int64 // unix seconds of the last frame either way
	awaitingPong atomic.Bool  // a keepalive ping sent, its pong not seen
	closing      atomic.Bool  // our close frame sent, the peer's awaited
	pingData     atomic.Pointer[[]byte]
	frag         []byte // the reader's: a fragmented message so far
}

func (st *wsState) touch() { st.lastUsed.Store(time.Now().Unix()) }

// WSConn is an open WebSocket connection, as ws.dump lists it and the
// websocket:closed route sees it.
type WSConn struct {
	ID           uint64
	Proto        sip.Transport // WS or WSS
	Local        *Listener
	Peer         netip.AddrPort
	LastUsed     time.Time
	Closing      bool // a close frame sent, the peer's awaited
	AwaitingPong bool
}

// WSStats are the WebSocket counters (Kamailio's ws_* statistics).
type WSStats struct {
	Conns        atomic.Int64 // open
	MaxConns     atomic.Int64 // the most open at once
	Handshakes   atomic.Uint64
	FramesIn     atomic.Uint64
	FramesOut    atomic.Uint64
	SIPFramesIn  atomic.Uint64 // text and binary frames received (SIP)
	SIPFramesOut atomic.Uint64
	LocalClosed  atomic.Uint64 // closed by this side (ws_close, a bad frame, keepalive)
	RemoteClosed atomic.Uint64 // closed by the peer's close frame
	Failed       atomic.Uint64 // a frame that could not be sent
}

// ErrNoWS says a message is for a WebSocket peer with no connection open:
// a WebSocket server cannot open one.
var ErrNoWS = errors.New("no WebSocket connection open to the peer (a WebSocket server cannot open one)")

var errWSClosing = errors.New("the WebSocket connection is closing")

// ErrNoWSConn says no open WebSocket connection has the id asked for.
var ErrNoWSConn = errors.New("no such WebSocket connection")

// OnWSClose adds a hook told of each WebSocket connection that ends, after
// it ended (the websocket module's websocket:closed route). Hooks are added
// while the modules start, before Serve.
func (s *Server) OnWSClose(h func(WSConn)) { s.wsClosed = append(s.wsClosed, h) }

// IsWS reports whether p came in a WebSocket frame.
func (p *Packet) IsWS() bool {
	return p.conn != nil && p.conn.ws.Load() != nil && p.Proto >= sip.TransportWS
}

// UpgradeWS turns the stream p came on (TCP or TLS) into a WebSocket
// connection (WS or WSS) and sends reply, the upgrade's 101, unframed:
// what is sent to it from then on is framed, what it carries is read as
// frames after the message being handled.
func (p *Packet) UpgradeWS(reply []byte) error {
	tc := p.conn
	if tc == nil || tc.closed.Load() {
		return errors.New("not on an open TCP or TLS connection")
	}
	if tc.ws.Load() != nil {
		return errors.New("the connection is a WebSocket already")
	}
	proto := sip.TransportWS
	if tc.proto == sip.TransportTLS {
		proto = sip.TransportWSS
	}
	s := tc.srv
	st := &wsState{}
	st.touch()
	s.mu.Lock()
	rekey := func(port uint16) {
		old := streamKey{tc.proto, netip.AddrPortFrom(tc.peer.Addr(), port)}
		if s.conns[old] == tc {
			delete(s.conns, old)
		}
		s.conns[streamKey{proto, netip.AddrPortFrom(tc.peer.Addr(), port)}] = tc
	}
	rekey(tc.peer.Port())
	for _, a := range tc.aliases {
		rekey(a)
	}
	tc.proto = proto
	tc.ws.Store(st)
	if s.wsConns == nil {
		s.wsConns = map[uint64]*tcpConn{}
	}
	s.wsConns[tc.id] = tc
	s.mu.Unlock()
	if n := s.WS.Conns.Add(1); n > s.WS.MaxConns.Load() {
		s.WS.MaxConns.Store(n) // a race between two upgrades at most loses a peak of one
	}
	// The 101 goes as it is, after the connection is listed (as Kamailio
	// adds it before its reply): a client that has it finds the
	// connection in ws.dump. One that cannot be sent ends the stream.
	if err := tc.writeRaw(reply, false); err != nil {
		tc.closeAfterWrite()
		return err
	}
	s.WS.Handshakes.Add(1)
	return nil
}

// writeFrame sends one unmasked frame with payload on the stream (a
// server's frames are not masked).
func (c *tcpConn) writeFrame(st *wsState, op byte, payload []byte, closeAfter bool) error {
	bp := framePool.Get().(*[]byte)
	b := appendFrameHeader((*bp)[:0], op, len(payload))
	b = append(b, payload...)
	err := c.writeRaw(b, closeAfter)
	*bp = b[:0]
	framePool.Put(bp)
	if err != nil {
		c.srv.WS.Failed.Add(1)
		return err
	}
	st.touch()
	c.srv.WS.FramesOut.Add(1)
	if op == wsText || op == wsBinary {
		c.srv.WS.SIPFramesOut.Add(1)
	}
	return nil
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// appendFrameHeader appends a final frame's header: FIN, the opcode and
// the length in 7, 16 or 64 bits.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// wsMessage sends a SIP message in a text frame, or a binary one when it
// is not UTF-8 (as Kamailio).
func (c *tcpConn) wsMessage(st *wsState, b []byte) error {
	if st.closing.Load() {
		return errWSClosing
	}
	op := byte(wsText)
	if !utf8.Valid(b) {
		op = wsBinary
	}
	return c.writeFrame(st, op, b, false)
}

// wsFrame is a frame read from a stream: its payload unmasked in place.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseWSFrame reads the frame at the start of b: n is its length, 0 when
// more bytes are needed. A frame Kamailio refuses gives the close code and
// reason it answers with, in its order of checks: reserved bits set (1002),
// an opcode RFC 6455 does not define (1008), a frame not masked (a client's
// must be, 1002), a payload of maxPayload bytes or more (1009).
func parseWSFrame(b []byte, maxPayload int) (f wsFrame, n int, code uint16, reason string) {
	if len(b) < 2 {
		return f, 0, 0, ""
	}
	if b[0]&0x70 != 0 {
		return f, 0, wsProtocolError, "Protocol error"
	}
	f.fin, f.op = b[0]&0x80 != 0, b[0]&0x0f
	switch f.op {
	case wsContinuation, wsText, wsBinary, wsClose, wsPing, wsPong:
	default:
		return f, 0, wsUnsupported, "Unsupported opcode"
	}
	if b[1]&0x80 == 0 {
		return f, 0, wsProtocolError, "Protocol error"
	}
	size, at := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, 0, ""
		}
		size, at = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return f, 0, 0, ""
		}
		size, at = binary.BigEndian.Uint64(b[2:]), 10
	}
	if size >= uint64(maxPayload) {
		return f, 0, wsTooBig, "Message too big"
	}
	end := at + 4 + int(size)
	if len(b) < end {
		return f, 0, 0, ""
	}
	key := b[at : at+4]
	f.payload = b[at+4 : end]
	for i := range f.payload {
		f.payload[i] ^= key[i&3]
	}
	return f, end, 0, ""
}

// wsLoop reads the frames of a stream upgraded to WebSocket, buf holding
// what followed the upgrade request, until the stream ends.
func (s *Server) wsLoop(l *Listener, tc *tcpConn, buf []byte) {
	st := tc.ws.Load()
	defer s.wsEnded(l, tc, st)
	p := &Packet{Local: l, Proto: tc.proto, Src: tc.peer, conn: tc}
	maxPayload := min(s.cfg.MaxMsg, 65535) // Kamailio's BUF_SIZE
	for {
		for {
			f, n, code, reason := parseWSFrame(buf, maxPayload)
			if code != 0 {
				if v := s.Guard.Bad(tc.peer.Addr()); v.Log {
					s.log.Warn("websocket: bad frame: connection closed", "src", tc.peer.String(), "code", code, "reason", reason,
						"suppressed", v.Suppressed, "banned", v.Banned)
				}
				// The frame's end is not known (or not kept): the stream
				// cannot go on after the close frame.
				tc.wsClose(st, code, reason, true)
				return
			}
			if n == 0 {
				break
			}
			st.touch()
			s.WS.FramesIn.Add(1)
			if !s.wsFrame(p, tc, st, f, maxPayload) {
				return
			}
			buf = buf[:copy(buf, buf[n:])]
		}
		var err error
		if buf, err = s.fill(tc, buf, maxPayload+14); err != nil {
			return
		}
	}
}

// wsFrame acts on one frame as Kamailio's ws_frame_receive; false ends the
// stream.
func (s *Server) wsFrame(p *Packet, tc *tcpConn, st *wsState, f wsFrame, maxPayload int) bool {
	switch f.op {
	case wsText, wsBinary, wsContinuation:
		s.WS.SIPFramesIn.Add(1)
		if st.closing.Load() {
			return true // the peer's close is awaited: nothing more is routed
		}
		if f.op == wsContinuation {
			if len(st.frag)+len(f.payload) >= maxPayload {
				tc.wsClose(st, wsTooBig, "Message too big", true)
				return false
			}
			st.frag = append(st.frag, f.payload...)
			if !f.fin {
				return true
			}
			f.payload, st.frag = st.frag, st.frag[:0]
		} else if !f.fin {
			st.frag = append(st.frag[:0], f.payload...)
			return true
		} else if string(f.payload) == "\r\n" || string(f.payload) == "\r\n\r\n" {
			tc.writeFrame(st, f.op, f.payload[:2], false) // a keepalive: answered with one CRLF, as Kamailio
			return true
		}
		if s.Guard.Banned(tc.peer.Addr()) {
			s.Guard.Drop()
			return false
		}
		if s.tcpW == nil {
			return false
		}
		p.Buf = f.payload
		s.Stats.Received.Add(1)
		h := <-s.tcpW
		h.Handle(p)
		s.tcpW <- h
	case wsClose:
		if st.closing.Load() {
			return false // the answer to ours: done
		}
		// The peer closes: answered with 1000, the stream closed after it.
		s.WS.RemoteClosed.Add(1)
		tc.writeFrame(st, wsClose, closePayload(WSNormalClosure, wsNormalReason), true)
		st.closing.Store(true)
		return false
	case wsPing:
		tc.writeFrame(st, wsPong, f.payload, false)
	case wsPong:
		if d := st.pingData.Load(); d != nil && len(f.payload) >= len(*d) && string(f.payload[:len(*d)]) == string(*d) {
			st.awaitingPong.Store(false)
		}
	}
	return true
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// wsClose sends a close frame with code and reason: the stream closed
// after it (now), or kept until the peer answers with its own.
func (c *tcpConn) wsClose(st *wsState, code uint16, reason string, now bool) error {
	if st.closing.Swap(true) {
		c.closeAfterWrite()
		return nil
	}
	c.srv.WS.LocalClosed.Add(1)
	if len(reason) > 123 {
		reason = reason[:123] // a control frame's payload is 125 bytes at most
	}
	return c.writeFrame(st, wsClose, closePayload(code, reason), now)
}

// wsEnded runs when the reader of a WebSocket stream stops: the stream is
// closed, counted and the hooks told.
func (s *Server) wsEnded(l *Listener, tc *tcpConn, st *wsState) {
	tc.closeAfterWrite()
	s.WS.Conns.Add(-1)
	info := WSConn{ID: tc.id, Proto: tc.proto, Local: l, Peer: tc.peer, LastUsed: time.Unix(st.lastUsed.Load(), 0), Closing: true}
	for _, h := range s.wsClosed {
		h(info)
	}
}

// WSConns lists the open WebSocket connections.
func (s *Server) WSConns() []WSConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WSConn, 0, len(s.wsConns))
	for _, tc := range s.wsConns {
		st := tc.ws.Load()
		if tc.closed.Load() {
			continue
		}
		out = append(out, WSConn{ID: tc.id, Proto: tc.proto, Local: tc.local, Peer: tc.peer,
			LastUsed: time.Unix(st.lastUsed.Load(), 0), Closing: st.closing.Load(), AwaitingPong: st.awaitingPong.Load()})
	}
	return out
}

// wsByID finds an open WebSocket connection by its id.
func (s *Server) wsByID(id uint64) (*tcpConn, *wsState) {
	s.mu.Lock()
	tc := s.wsConns[id]
	s.mu.Unlock()
	if tc == nil || tc.closed.Load() {
		return nil, nil
	}
	return tc, tc.ws.Load()
}

// WSClose closes WebSocket connection id with code and reason: a close
// frame sent and the peer's awaited (ws_close, the ws.close RPC). One
// already closing is closed now.
func (s *Server) WSClose(id uint64, code int, reason string) error {
	tc, st := s.wsByID(id)
	if tc == nil {
		return ErrNoWSConn
	}
	return tc.wsClose(st, uint16(code), reason, false)
}

// WSCloseNow closes WebSocket connection id without a frame (a keepalive
// unanswered).
func (s *Server) WSCloseNow(id uint64) error {
	tc, st := s.wsByID(id)
	if tc == nil {
		return ErrNoWSConn
	}
	st.closing.Store(true)
	tc.c.Close()
	return nil
}

// WSPing sends a ping (or, pong true, an unsolicited pong) with data on
// WebSocket connection id; a ping's pong is then awaited.
func (s *Server) WSPing(id uint64, pong bool, data []byte) error {
	tc, st := s.wsByID(id)
	if tc == nil {
		return ErrNoWSConn
	}
	if st.closing.Load() {
		return errWSClosing
	}
	op := byte(wsPing)
	if pong {
		op = wsPong
	}
	if err := tc.writeFrame(st, op, data, false); err != nil {
		return err
	}
	if !pong {
		st.pingData.Store(&data)
		st.awaitingPong.Store(true)
	}
	return nil
}

// Packet is a packet of the connection, for a route run after it ended
// (websocket:closed): its source, socket, transport and connection id;
// nothing can be sent on it.
func (w WSConn) Packet() *Packet {
	tc := &tcpConn{id: w.ID, proto: w.Proto, peer: w.Peer}
	tc.closed.Store(true)
	return &Packet{Src: w.Peer, Local: w.Local, Proto: w.Proto, conn: tc}
}
