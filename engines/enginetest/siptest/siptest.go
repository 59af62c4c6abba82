// Package siptest is the SIP endpoint of the integration tests: a UA on a
// UDP socket of its own on 127.0.0.1 that sends requests and replies to a
// proxy and waits for what comes back.
package siptest

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// UA is a SIP endpoint on a UDP socket of its own.
type UA struct {
	T    testing.TB
	Name string
	Conn *net.UDPConn
}

// New opens the UA's socket on 127.0.0.1; it closes when the test ends.
func New(t testing.TB, name string) *UA { return NewOn(t, name, "127.0.0.1") }

// NewOn opens the UA's socket on ip, a loopback address (on Linux every
// 127.0.0.x is the machine's own: a second "host" for tests about source
// addresses).
func NewOn(t testing.TB, name, ip string) *UA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &UA{T: t, Name: name, Conn: c}
}

// Addr is the UA's address.
func (u *UA) Addr() netip.AddrPort { return u.Conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Send sends msg to to; header lines may end in "\n" alone.
func (u *UA) Send(to netip.AddrPort, msg string) {
	u.T.Helper()
	if !strings.Contains(msg, "\r\n") {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
	}
	u.SendRaw(to, []byte(msg))
}

// SendRaw sends b as it is.
func (u *UA) SendRaw(to netip.AddrPort, b []byte) {
	u.T.Helper()
	if _, err := u.Conn.WriteToUDPAddrPort(b, to); err != nil {
		u.T.Fatal(err)
	}
}

// Recv waits for a message; nil after d.
func (u *UA) Recv(d time.Duration) *sip.Msg {
	u.T.Helper()
	m, _ := u.RecvFrom(d)
	return m
}

// RecvFrom waits for a message and gives where it came from; nil after d.
func (u *UA) RecvFrom(d time.Duration) (*sip.Msg, netip.AddrPort) {
	u.T.Helper()
	buf := make([]byte, 65536)
	u.Conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := u.Conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}
	}
	m := new(sip.Msg)
	if err := m.Parse(buf[:n]); err != nil {
		u.T.Fatalf("%s: bad message: %v\n%s", u.Name, err, buf[:n])
	}
	return m, from
}

// Expect waits for a message and checks its start: "SIP/2.0 180",
// "INVITE". A 100 Trying is passed over unless it is what is expected.
func (u *UA) Expect(start string) *sip.Msg {
	u.T.Helper()
	return expect(u.T, u.Name, start, u.Recv)
}

func expect(t testing.TB, name, start string, recv func(time.Duration) *sip.Msg) *sip.Msg {
	t.Helper()
	for {
		m := recv(3 * time.Second)
		if m == nil {
			t.Fatalf("%s: no %q within 3s", name, start)
		}
		if strings.HasPrefix(string(m.Bytes()), start) {
			return m
		}
		if strings.HasPrefix(string(m.Bytes()), "SIP/2.0 100 ") && !strings.HasPrefix(start, "SIP/2.0 100") {
			continue
		}
		t.Fatalf("%s: got %q, want %q", name, FirstLine(m), start)
	}
}

// Quiet checks that nothing but what skip allows comes within d.
func (u *UA) Quiet(d time.Duration, skip ...string) {
	u.T.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		m := u.Recv(time.Until(end))
		if m == nil {
			return
		}
		ok := false
		for _, s := range skip {
			if strings.HasPrefix(string(m.Bytes()), s) {
				ok = true
			}
		}
		if !ok {
			u.T.Fatalf("%s: unexpected %q", u.Name, FirstLine(m))
		}
	}
}

// Reply answers a request it received, with a To tag, to its top Via.
func (u *UA) Reply(req *sip.Msg, code int, reason string, hdrs string) {
	u.T.Helper()
	b := sip.AppendReply(nil, req, &sip.Reply{Code: code, Reason: reason, ToTag: []byte("uas-" + u.Name), Headers: []byte(hdrs)})
	v := req.TopVia()
	u.SendRaw(netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port)), b)
}

// FirstLine is a message's start line.
func FirstLine(m *sip.Msg) string {
	l, _, _ := strings.Cut(string(m.Bytes()), "\r\n")
	return l
}
