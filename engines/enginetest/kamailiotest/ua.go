package kamailiotest

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// UA is a UDP endpoint of a test: a caller, a callee, a registrar that
// talks SIP by hand to the servers compared.
type UA struct {
	t *testing.T
	c *net.UDPConn
}

func NewUA(t *testing.T) *UA {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &UA{t, c}
}

// Addr is the UA's address, ip:port.
func (u *UA) Addr() string { return u.c.LocalAddr().String() }

// Send sends msg (lines may end in "\n" alone) to to.
func (u *UA) Send(to netip.AddrPort, msg string) {
	u.t.Helper()
	if !strings.Contains(msg, "\r\n") {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
	}
	if _, err := u.c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		u.t.Fatal(err)
	}
}

// Recv waits for a message whose first line starts with prefix ("BYE ",
// "SIP/2.0 200"), skipping the others (100 Trying, ACKs).
func (u *UA) Recv(prefix string) (string, netip.AddrPort) {
	u.t.Helper()
	buf := make([]byte, 65536)
	u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, from, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			u.t.Fatalf("%s waiting for %q: %v", u.Addr(), prefix, err)
		}
		m := string(buf[:n])
		if strings.HasPrefix(m, prefix) {
			return m, from
		}
	}
}

// RecvWith is Recv for a message with text in it (a retransmission of
// the one before does not count).
func (u *UA) RecvWith(prefix, text string) string {
	u.t.Helper()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		m, _ := u.Recv(prefix)
		if strings.Contains(m, text) {
			return m
		}
	}
	u.t.Fatalf("%s: no %q with %q in 5 s", u.Addr(), prefix, text)
	return ""
}

// Hdr is the value of the first header name in a message, "" if none.
func Hdr(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n")[1:] {
		if l == "" {
			break
		}
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Hdrs is every header line of names, in order, for a reply.
func Hdrs(msg string, names ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(msg, "\r\n")[1:] {
		if l == "" {
			break
		}
		n, _, _ := strings.Cut(l, ":")
		for _, name := range names {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				b.WriteString(l + "\r\n")
			}
		}
	}
	return b.String()
}

// Reply answers req with code, a To tag added when it has none, extra
// header lines after.
func Reply(req, code, totag, extra string) string {
	to := Hdr(req, "To")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=" + totag
	}
	return "SIP/2.0 " + code + "\r\n" + Hdrs(req, "Via", "Record-Route") + "From: " + Hdr(req, "From") + "\r\nTo: " + to +
		"\r\nCall-ID: " + Hdr(req, "Call-ID") + "\r\nCSeq: " + Hdr(req, "CSeq") + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
}

// ViaAddr is the sent-by address of a message's top Via: where its
// reply goes.
func ViaAddr(t *testing.T, m string) netip.AddrPort {
	t.Helper()
	v := Hdr(m, "Via")
	v, _, _ = strings.Cut(v, ";")
	f := strings.Fields(v)
	return mustAddr(t, f[len(f)-1])
}

func mustAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a
}

// TryRecv is Recv that gives up quietly after d: ok is false when
// nothing starting with prefix came (what a server must not send).
func (u *UA) TryRecv(prefix string, d time.Duration) (string, bool) {
	buf := make([]byte, 65536)
	u.c.SetReadDeadline(time.Now().Add(d))
	for {
		n, _, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return "", false
		}
		if m := string(buf[:n]); strings.HasPrefix(m, prefix) {
			return m, true
		}
	}
}

// URIOf is the URI of a name-addr header value ("Bob" <sip:b@h>;tag=1),
// or the value itself when it has no angle brackets.
func URIOf(na string) string {
	if i := strings.IndexByte(na, '<'); i >= 0 {
		na = na[i+1:]
		na, _, _ = strings.Cut(na, ">")
	}
	return na
}
