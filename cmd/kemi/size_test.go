package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// bigMessage is an OPTIONS of exactly n bytes over proto, made long by
// its body or (body false) by one header field.
func bigMessage(n int, proto string, body bool, id string) []byte {
	head := fmt.Sprintf("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:5999;rport;branch=z9hG4bK-%s\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: %[2]s\r\nCSeq: 1 OPTIONS\r\n", proto, id)
	if body {
		pad := n - len(head) - len("Content-Type: text/plain\r\nContent-Length: 00000\r\n\r\n")
		return []byte(head + fmt.Sprintf("Content-Type: text/plain\r\nContent-Length: %05d\r\n\r\n", pad) + strings.Repeat("x", pad))
	}
	pad := n - len(head) - len("Subject: \r\nContent-Length: 0\r\n\r\n")
	return []byte(head + "Subject: " + strings.Repeat("y", pad) + "\r\nContent-Length: 0\r\n\r\n")
}

// Messages up to Kamailio's buffer (65 535 bytes) are answered over UDP
// (the largest datagram, 65 507 bytes, too) and TCP, whether a body or
// one header field makes them long; a TCP message past it closes its
// stream and nothing else, as Kamailio closes it.
func TestLargeMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "size.cfg")
	os.WriteFile(path, []byte(stallCfg), 0o644)
	s, _ := startListening(t, path, nil, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	udpAddr, tcpAddr := s.Addr(sip.TransportUDP).String(), s.Addr(sip.TransportTCP).String()
	for _, body := range []bool{true, false} {
		for _, n := range []int{60 << 10, 65507} {
			id := fmt.Sprintf("udp-%d-%v", n, body)
			c, err := net.Dial("udp", udpAddr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(bigMessage(n, "UDP", body, id))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 4096)
			m, err := c.Read(b)
			c.Close()
			if err != nil || !strings.HasPrefix(string(b[:m]), "SIP/2.0 200") || !strings.Contains(string(b[:m]), id) {
				t.Errorf("UDP, %d bytes (body %v): %v %q", n, body, err, b[:m])
			}
		}
		for _, n := range []int{60 << 10, 65535} {
			id := fmt.Sprintf("tcp-%d-%v", n, body)
			if got := tcpExchange(t, tcpAddr, bigMessage(n, "TCP", body, id)); !strings.HasPrefix(got, "SIP/2.0 200") || !strings.Contains(got, id) {
				t.Errorf("TCP, %d bytes (body %v): %q", n, body, got)
			}
		}
	}
	// Past the limit: the stream is closed without an answer.
	if got := tcpExchange(t, tcpAddr, bigMessage(70000, "TCP", true, "tcp-70000")); got != "" {
		t.Errorf("TCP, 70 000 bytes: answered %q, want the stream closed", got)
	}
	if got := tcpExchange(t, tcpAddr, bigMessage(500, "TCP", true, "after")); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("a small message after the large one: %q", got)
	}
}

// tcpExchange sends msg on a new TCP connection and returns the status
// line and headers of the answer, "" when the stream closes first.
func tcpExchange(t *testing.T, addr string, msg []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go c.Write(msg) // the proxy may close before it took all of it
	r := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("TCP %s: %v", addr, err)
		}
		if err != nil { // closed (EOF, or a reset where data was left unread)
			return b.String()
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}
