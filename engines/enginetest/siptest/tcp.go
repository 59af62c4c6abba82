package siptest

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// TCP is a SIP endpoint on a TCP connection of its own to a proxy: a
// phone that registers on it and is reached only through it.
type TCP struct {
	T    testing.TB
	Name string
	Conn net.Conn
	r    *bufio.Reader
}

// DialTCP connects to addr; the connection closes when the test ends.
func DialTCP(t testing.TB, name string, addr netip.AddrPort) *TCP {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &TCP{T: t, Name: name, Conn: c, r: bufio.NewReader(c)}
}

// Addr is the connection's local address.
func (u *TCP) Addr() netip.AddrPort { return u.Conn.LocalAddr().(*net.TCPAddr).AddrPort() }

// Send writes msg; header lines may end in "\n" alone.
func (u *TCP) Send(msg string) {
	u.T.Helper()
	if !strings.Contains(msg, "\r\n") {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
	}
	if _, err := u.Conn.Write([]byte(msg)); err != nil {
		u.T.Fatal(err)
	}
}

// Recv reads one message (its body by Content-Length); nil after d.
func (u *TCP) Recv(d time.Duration) *sip.Msg {
	u.T.Helper()
	u.Conn.SetReadDeadline(time.Now().Add(d))
	var b []byte
	length := 0
	for {
		line, err := u.r.ReadString('\n')
		if err != nil {
			return nil
		}
		if line == "\r\n" && len(b) == 0 {
			continue // a keep-alive
		}
		b = append(b, line...)
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(u.r, body); err != nil {
		return nil
	}
	m := new(sip.Msg)
	if err := m.Parse(append(b, body...)); err != nil {
		u.T.Fatalf("%s: bad message: %v\n%s", u.Name, err, b)
	}
	return m
}

// Expect is UA.Expect on the connection.
func (u *TCP) Expect(start string) *sip.Msg {
	u.T.Helper()
	return expect(u.T, u.Name, start, u.Recv)
}

// Reply answers a request it received on the connection, with a To tag.
func (u *TCP) Reply(req *sip.Msg, code int, reason string, hdrs string) {
	u.T.Helper()
	b := sip.AppendReply(nil, req, &sip.Reply{Code: code, Reason: reason, ToTag: []byte("uas-" + u.Name), Headers: []byte(hdrs)})
	if _, err := u.Conn.Write(b); err != nil {
		u.T.Fatal(err)
	}
}
