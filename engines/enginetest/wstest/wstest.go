// Package wstest is a WebSocket client for tests (RFC 6455), written so
// that a test controls every byte: the upgrade request as given, frames
// masked or not, fragmented, of any opcode; frames read with their
// opcode, and the server's frames checked to be final and not masked.
package wstest

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The opcodes.
const (
	Continuation = 0x0
	Text         = 0x1
	Binary       = 0x2
	Close        = 0x8
	Ping         = 0x9
	Pong         = 0xa
)

// Upgrade is a browser's upgrade request for the sip sub-protocol, key
// RFC 6455's example.
const Upgrade = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://127.0.0.1\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Protocol: sip\r\n\r\n"

// Conn is a client connection.
type Conn struct {
	t testing.TB
	C net.Conn
	r *bufio.Reader
}

// Dial connects to addr over TCP (or TLS when cfg is not nil).
func Dial(t testing.TB, addr string, cfg *tls.Config) *Conn {
	t.Helper()
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.Dial("tcp", addr, cfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Conn{t: t, C: c, r: bufio.NewReader(c)}
}

// Open dials addr and upgrades with Upgrade; it fails the test unless the
// answer is a 101.
func Open(t testing.TB, addr string, cfg *tls.Config) *Conn {
	t.Helper()
	w := Dial(t, addr, cfg)
	if head := w.Handshake(Upgrade); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", head)
	}
	return w
}

// Handshake sends req and returns the HTTP answer's head (status line and
// headers, to the blank line).
func (w *Conn) Handshake(req string) string {
	w.t.Helper()
	w.C.Write([]byte(req))
	w.C.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for {
		l, err := w.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			w.t.Fatalf("reading the handshake's answer: %v (%q so far)", err, b.String())
		}
		if l == "\r\n" {
			return b.String()
		}
	}
}

// Frame writes one frame: final or not, op, masked unless unmasked.
func (w *Conn) Frame(fin bool, op byte, payload []byte, unmasked bool) {
	w.C.Write(AppendFrame(nil, fin, op, payload, !unmasked))
}

// Send writes a SIP message in one masked text frame.
func (w *Conn) Send(msg string) { w.Frame(true, Text, []byte(msg), false) }

// AppendFrame appends a frame to b, masked with a fixed key when masked.
func AppendFrame(b []byte, fin bool, op byte, payload []byte, masked bool) []byte {
	first := op
	if fin {
		first |= 0x80
	}
	b = append(b, first)
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, mask|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, mask|127), uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i&3])
	}
	return b
}

// Read reads one frame within timeout: its opcode and payload. A server's
// frame must be final and not masked.
func (w *Conn) Read(timeout time.Duration) (byte, []byte, error) {
	w.C.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, errors.New("a server frame not final or masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(w.r, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(w.r, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.r, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// Next is Read that fails the test on an error.
func (w *Conn) Next() (byte, []byte) {
	w.t.Helper()
	op, p, err := w.Read(5 * time.Second)
	if err != nil {
		w.t.Fatalf("reading a frame: %v", err)
	}
	return op, p
}

// Closed reports whether the server closed the stream within 5 s: the
// stream's end, or a reset when what the client sent was left unread.
func (w *Conn) Closed() bool {
	w.C.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := w.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// CloseFrame is a close frame's payload: the code and the reason.
func CloseFrame(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}
