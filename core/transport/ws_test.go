package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/wstest"
)

// wsHandler upgrades an HTTP request (the 101 sent first, as the
// websocket module does) and answers each SIP request on its stream with
// a 200 naming the transport it came on.
type wsHandler struct {
	s    *Server
	mu   sync.Mutex
	seen []string // the SIP requests' first lines and transports
}

func (h *wsHandler) Handle(p *Packet) {
	if bytes.HasPrefix(p.Buf, []byte("GET ")) {
		if err := p.UpgradeWS([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n")); err != nil {
			panic(err)
		}
		return
	}
	line, _, _ := bytes.Cut(p.Buf, []byte("\r\n"))
	h.mu.Lock()
	h.seen = append(h.seen, string(line)+" "+p.Proto.String())
	h.mu.Unlock()
	h.s.Reply(p, p.Src, []byte("SIP/2.0 200 OK\r\nX-Proto: "+p.Proto.String()+"\r\nContent-Length: 0\r\n\r\n"))
}

const wsReq = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-w\r\nMax-Forwards: 70\r\n" +
	"From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: ws\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

// TestWebSocket: a TCP stream upgraded by its handler carries SIP in
// frames (whole, fragmented, large) as transport WS, answered in text
// frames; pings are ponged and CRLF keepalives echoed; a message sent to
// the peer's address over WS goes in a frame, one to an address with no
// WebSocket fails; the peer's close is answered with 1000 and the stream
// closed; a frame not masked is answered with 1002, one of an unknown
// opcode 1008, one too large 1009. The counters and the close hook agree.
func TestWebSocket(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportTCP, Host: "127.0.0.1"}}, Children: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ended sync.WaitGroup
	var endedMu sync.Mutex
	var ends []WSConn
	s.OnWSClose(func(w WSConn) {
		endedMu.Lock()
		ends = append(ends, w)
		endedMu.Unlock()
		ended.Done()
	})
	h := &wsHandler{s: s}
	s.Serve(func(int) Handler { return h })
	addr := s.Listener(sip.TransportTCP, true).Addr.String()

	w := wstest.Open(t, addr, nil)
	w.Frame(true, wsText, []byte(wsReq), false)
	if op, p := w.Next(); op != wsText || !bytes.HasPrefix(p, []byte("SIP/2.0 200 OK\r\nX-Proto: WS\r\n")) {
		t.Fatalf("reply: opcode %d %q", op, p)
	}
	// Fragmented: three frames, one message.
	w.Frame(false, wsText, []byte(wsReq[:20]), false)
	w.Frame(false, wsContinuation, []byte(wsReq[20:60]), false)
	w.Frame(true, wsContinuation, []byte(wsReq[60:]), false)
	if op, p := w.Next(); op != wsText || !bytes.HasPrefix(p, []byte("SIP/2.0 200")) {
		t.Fatalf("fragmented: opcode %d %q", op, p)
	}
	// A body past 126 and 65535 bytes' length forms: 16-bit length.
	big := strings.Replace(wsReq, "Content-Length: 0\r\n\r\n", "Content-Length: 3000\r\n\r\n"+strings.Repeat("x", 3000), 1)
	w.Frame(true, wsText, []byte(big), false)
	if op, _ := w.Next(); op != wsText {
		t.Fatalf("large: opcode %d", op)
	}
	w.Frame(true, wsPing, []byte("are you there"), false)
	if op, p := w.Next(); op != wsPong || string(p) != "are you there" {
		t.Fatalf("ping: opcode %d %q", op, p)
	}
	w.Frame(true, wsText, []byte("\r\n\r\n"), false)
	if op, p := w.Next(); op != wsText || string(p) != "\r\n" {
		t.Fatalf("CRLF keepalive: opcode %d %q", op, p)
	}
	// The server sends to the peer's address over WS: a frame.
	list := s.WSConns()
	if len(list) != 1 || list[0].Proto != sip.TransportWS || list[0].Peer.String() != w.C.LocalAddr().String() {
		t.Fatalf("WSConns: %+v", list)
	}
	if err := s.Send(nil, sip.TransportWS, list[0].Peer, []byte(wsReq)); err != nil {
		t.Fatal(err)
	}
	if op, p := w.Next(); op != wsText || string(p) != wsReq {
		t.Fatalf("sent: opcode %d %q", op, p)
	}
	if err := s.Send(nil, sip.TransportWS, netip.MustParseAddrPort("127.0.0.1:9"), []byte(wsReq)); !errors.Is(err, ErrNoWS) {
		t.Errorf("send to no WebSocket: %v, want ErrNoWS", err)
	}
	// A ping of ours, its pong awaited until it comes.
	if err := s.WSPing(list[0].ID, false, []byte("kemi")); err != nil {
		t.Fatal(err)
	}
	if op, p := w.Next(); op != wsPing || string(p) != "kemi" {
		t.Fatalf("our ping: opcode %d %q", op, p)
	}
	if !s.WSConns()[0].AwaitingPong {
		t.Error("a ping sent: want AwaitingPong")
	}
	w.Frame(true, wsPong, []byte("kemi"), false)
	w.Frame(true, wsText, []byte(wsReq), false) // after the pong: it was read
	w.Next()
	if s.WSConns()[0].AwaitingPong {
		t.Error("the pong came: AwaitingPong still set")
	}
	ended.Add(1)
	w.Frame(true, wsClose, append([]byte{0x03, 0xe8}, "bye"...), false)
	if op, p := w.Next(); op != wsClose || string(p) != "\x03\xe8Normal closure" {
		t.Fatalf("close: opcode %d %q", op, p)
	}
	if !w.Closed() {
		t.Error("the stream is open after the close")
	}
	ended.Wait()

	for _, c := range []struct {
		name   string
		send   func(*wstest.Conn)
		code   uint16
		reason string
	}{
		{"not masked", func(w *wstest.Conn) { w.Frame(true, wsText, []byte(wsReq), true) }, 1002, "Protocol error"},
		{"unknown opcode", func(w *wstest.Conn) { w.Frame(true, 0x3, []byte("x"), false) }, 1008, "Unsupported opcode"},
		{"reserved bit", func(w *wstest.Conn) { w.C.Write([]byte{0xc1, 0x80, 0, 0, 0, 0}) }, 1002, "Protocol error"},
		{"too big", func(w *wstest.Conn) { w.Frame(true, wsText, make([]byte, 70000), false) }, 1009, "Message too big"},
	} {
		ended.Add(1)
		w := wstest.Open(t, addr, nil)
		c.send(w)
		op, p := w.Next()
		if op != wsClose || len(p) < 2 || binary.BigEndian.Uint16(p) != c.code || string(p[2:]) != c.reason {
			t.Errorf("%s: opcode %d %q, want close %d %q", c.name, op, p, c.code, c.reason)
		}
		if !w.Closed() {
			t.Errorf("%s: the stream is open after the close", c.name)
		}
		// the server is done with it (counted, hooks run) before the next
		// opens: else, on a loaded machine, two are open at once
		ended.Wait()
	}
	h.mu.Lock()
	if len(h.seen) != 4 || h.seen[0] != "OPTIONS sip:x@127.0.0.1 SIP/2.0 WS" {
		t.Errorf("requests routed: %q", h.seen)
	}
	h.mu.Unlock()
	endedMu.Lock()
	if len(ends) != 5 || ends[0].Proto != sip.TransportWS || ends[0].Local == nil {
		t.Errorf("close hook: %+v", ends)
	}
	endedMu.Unlock()
	ws := &s.WS
	if ws.Handshakes.Load() != 5 || ws.Conns.Load() != 0 || ws.MaxConns.Load() != 1 || ws.RemoteClosed.Load() != 1 || ws.LocalClosed.Load() != 4 {
		t.Errorf("counters: handshakes %d open %d max %d remote %d local %d", ws.Handshakes.Load(), ws.Conns.Load(), ws.MaxConns.Load(),
			ws.RemoteClosed.Load(), ws.LocalClosed.Load())
	}
}

// TestParseWSFrame: the three length forms, an incomplete frame at each
// point, and the payload unmasked.
func TestParseWSFrame(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 300, 65535, 65536} {
		payload := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		b := wstest.AppendFrame(nil, true, wsBinary, payload, true)
		for cut := range min(len(b), 20) {
			if _, k, code, _ := parseWSFrame(append([]byte(nil), b[:cut]...), 1<<20); k != 0 || code != 0 {
				t.Errorf("%d bytes cut at %d: n %d code %d", n, cut, k, code)
			}
		}
		f, k, code, _ := parseWSFrame(b, 1<<20)
		if k != len(b) || code != 0 || !f.fin || f.op != wsBinary || !bytes.Equal(f.payload, payload) {
			t.Errorf("%d bytes: n %d/%d code %d fin %v op %d", n, k, len(b), code, f.fin, f.op)
		}
	}
}
