package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// TestGuardBansAndRateLimitsLogs: the BadLimit-th bad message in a unit
// bans its source, the ban is lifted by the sweep after BanTime, and one
// source gets one log line a second with the count of the ones left out.
func TestGuardBansAndRateLimitsLogs(t *testing.T) {
	g := NewGuard(GuardConfig{BadLimit: 5, Unit: time.Minute, BanTime: 50 * time.Millisecond})
	a := netip.MustParseAddr("127.0.0.2")
	logged := 0
	for i := 1; i <= 5; i++ {
		v := g.Bad(a)
		if v.Log {
			logged++
		}
		if v.Banned != (i == 5) {
			t.Fatalf("bad message %d: banned=%v", i, v.Banned)
		}
		if i == 5 && v.Suppressed != 3 {
			t.Errorf("the ban's line says %d suppressed, want 3", v.Suppressed)
		}
	}
	if logged != 2 {
		t.Errorf("%d lines logged for 5 bad messages in a second, want 2 (the first and the ban)", logged)
	}
	if !g.Banned(a) || g.Banned(netip.MustParseAddr("127.0.0.3")) {
		t.Fatal("Banned: want only 127.0.0.2")
	}
	if !g.Banned(netip.MustParseAddr("::ffff:127.0.0.2")) {
		t.Error("a v4-mapped address is not the same source")
	}
	time.Sleep(60 * time.Millisecond)
	if g.Banned(a) {
		t.Error("still banned after BanTime")
	}
	g.Sweep(time.Hour)
	if g.BannedSources() != 0 || g.Sources() != 1 {
		t.Errorf("after the sweep: %d banned, %d sources; want 0, 1", g.BannedSources(), g.Sources())
	}
	if g.Stats.Bans.Load() != 1 || g.Stats.Bad.Load() != 5 || g.Stats.Suppressed.Load() != 3 {
		t.Errorf("stats: bans %d bad %d suppressed %d", g.Stats.Bans.Load(), g.Stats.Bad.Load(), g.Stats.Suppressed.Load())
	}
}

// TestGuardLogBudget: many sources at once get guardLogBurst lines a
// second in all, and the table stops growing at MaxSources.
func TestGuardLogBudget(t *testing.T) {
	g := NewGuard(GuardConfig{MaxSources: 100})
	logged := 0
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if g.Bad(a).Log {
			logged++
		}
	}
	if logged > 2*guardLogBurst { // the second may turn during the loop
		t.Errorf("%d lines for 1000 sources at once, want at most %d", logged, 2*guardLogBurst)
	}
	if g.Sources() != 100 || g.Stats.Untracked.Load() != 900 {
		t.Errorf("%d sources, %d untracked; want 100, 900", g.Sources(), g.Stats.Untracked.Load())
	}
}

type countHandler struct{ n atomic.Int64 }

func (h *countHandler) Handle(*Packet) { h.n.Add(1) }

// TestBannedSourceDropped: datagrams from a banned address never reach a
// worker, those from another do, and a banned address's TCP connection
// is closed at accept.
func TestBannedSourceDropped(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Host: "127.0.0.1"}}, Children: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &countHandler{}
	s.Serve(func(int) Handler { return h })
	udp := s.Listener(sip.TransportUDP, true).Addr
	send := func(from string) {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)), net.UDPAddrFromAddrPort(udp))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 10 {
			c.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"))
		}
	}
	s.Guard.Ban(netip.MustParseAddr("127.0.0.2"), time.Minute)
	send("127.0.0.2:0")
	send("127.0.0.3:0")
	deadline := time.Now().Add(5 * time.Second)
	for h.n.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := h.n.Load(); got != 10 {
		t.Errorf("%d datagrams handled, want the 10 from 127.0.0.3", got)
	}
	if got := s.Guard.Stats.Dropped.Load(); got != 10 {
		t.Errorf("%d dropped, want the 10 from 127.0.0.2", got)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", s.Listener(sip.TransportTCP, true).Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("a banned address's connection stayed open")
	}
	if s.Stats.TCPRefused.Load() != 1 {
		t.Errorf("TCPRefused = %d, want 1", s.Stats.TCPRefused.Load())
	}
}

// TestTCPPerAddressLimit: the connection past TCPMaxPerIP is closed, and
// an idle one is closed after TCPLifetime.
func TestTCPPerAddressLimit(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportTCP, Host: "127.0.0.1"}}, TCPMaxPerIP: 2,
		TCPLifetime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Serve(func(int) Handler { return &countHandler{} })
	addr := s.Listener(sip.TransportTCP, true).Addr.String()
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		time.Sleep(20 * time.Millisecond) // accepted in order
	}
	conns[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conns[2].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("third connection from one address: read gave %v, want it closed", err)
	}
	conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("idle connection: read gave %v, want it closed after the lifetime", err)
	}
	if s.Stats.TCPRefused.Load() != 1 || s.Stats.TCPIdle.Load() < 1 {
		t.Errorf("refused %d idle %d, want 1 and at least 1", s.Stats.TCPRefused.Load(), s.Stats.TCPIdle.Load())
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestBacklogReading: datagrams nobody reads fill the socket's buffer and
// the backlog's reading says so; an empty socket is not overloaded.
func TestBacklogReading(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportUDP, Host: "127.0.0.1"}}, RecvBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := s.Listener(sip.TransportUDP, true)
	if over, _ := l.backlogOver(1); over {
		t.Fatal("an empty socket reads as backed up")
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(l.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1000)
	for range 40 {
		c.Write(b)
	}
	time.Sleep(20 * time.Millisecond)
	if over, _ := l.backlogOver(10); !over {
		t.Errorf("40 kB waiting in a %d-byte buffer does not read as over 10%%", l.RecvBuffer())
	}
	if over, _ := l.backlogOver(100); over {
		t.Error("a buffer that still takes datagrams reads as full")
	}
}

// TestTLSHandshakeFailuresBan: connections to a tls: socket that send
// plain text fail their handshake; each counts against the source, which
// is banned at the limit, and a real TLS client is served.
func TestTLSHandshakeFailuresBan(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}, MinVersion: tls.VersionTLS12}
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportTLS, Host: "127.0.0.1"}}, TLS: srv,
		Guard: GuardConfig{BadLimit: 3, Unit: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &countHandler{}
	s.Serve(func(int) Handler { return h })
	addr := s.Listener(sip.TransportTLS, true).Addr.String()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	for range 3 {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 100)) // the server's alert, then the close
		c.Close()
	}
	if !eventually(2*time.Second, func() bool { return s.Guard.Banned(netip.MustParseAddr("127.0.0.3")) }) {
		t.Fatalf("not banned after 3 failed handshakes: %d failed, %d bad", s.Stats.TLSHandshake.Load(), s.Guard.Stats.Bad.Load())
	}
	// A TLS client from another address gets its message to a worker.
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"))
	if !eventually(2*time.Second, func() bool { return h.n.Load() == 1 }) {
		t.Errorf("the TLS client's message did not reach a worker (%d handled)", h.n.Load())
	}
}

func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

// TestTCPAlias: after AddAlias, a message to the alias port of the peer
// goes over the peer's open stream instead of a new connection; the alias
// goes with the stream.
func TestTCPAlias(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportTCP, Host: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &countHandler{}
	s.Serve(func(int) Handler { return h })
	c, err := net.Dial("tcp", s.Listener(sip.TransportTCP, true).Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"))
	if !eventually(5*time.Second, func() bool { return h.n.Load() == 1 }) {
		t.Fatal("the request was not handled")
	}
	peer := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if err := s.AddAlias(sip.TransportTCP, netip.AddrPortFrom(peer.Addr(), 1), 5099); err == nil {
		t.Error("AddAlias for a stream that is not open: no error")
	}
	if err := s.AddAlias(sip.TransportTCP, peer, 5099); err != nil {
		t.Fatal(err)
	}
	msg := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if err := s.Send(nil, sip.TransportTCP, netip.AddrPortFrom(peer.Addr(), 5099), msg); err != nil {
		t.Fatalf("send to the alias: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := io.ReadAtLeast(c, buf, len(msg))
	if err != nil || string(buf[:n]) != string(msg) {
		t.Fatalf("read %q, %v: want the message on the aliased stream", buf[:n], err)
	}
	c.Close()
	if !eventually(5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 0
	}) {
		t.Error("the alias outlived its stream")
	}
}

// TestConnectionLimitDoesNotBan: 140 connections from one address with
// the per-address limit at 128: 128 are served, the rest refused, and the
// address is not banned: its first streams and its UDP go on.
func TestConnectionLimitDoesNotBan(t *testing.T) {
	s, tcpAddr := answeringServer(t, Config{TCPMaxPerIP: 128, Guard: GuardConfig{BadLimit: 10}})
	req := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-l\r\nMax-Forwards: 70\r\n" +
		"From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: lim\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	conns := dialTCP(t, tcpAddr, 140)
	served, refused := 0, 0
	buf := make([]byte, 512)
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte(req)); err != nil {
			refused++
			continue
		}
		if n, err := c.Read(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			served++
		} else {
			refused++
		}
	}
	if served != 128 || refused != 12 {
		t.Errorf("served %d, refused %d; want 128 and 12", served, refused)
	}
	if s.Guard.Banned(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the address was banned for its connections")
	}
	u, err := net.Dial("udp", s.Listener(sip.TransportUDP, true).Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(3 * time.Second))
	u.Write([]byte(strings.Replace(req, "SIP/2.0/TCP", "SIP/2.0/UDP", 1)))
	if n, err := u.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Errorf("the address's UDP: %q %v", buf[:n], err)
	}
}

// With tcp_conn_limit_ban the address that passes the per-address limit
// is banned, once, with its cause in the log: its streams and its UDP go
// unserved.
func TestConnectionLimitBanWhenAsked(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), nil))
	s, tcpAddr := answeringServer(t, Config{TCPMaxPerIP: 4, TCPLimitBan: true, Guard: GuardConfig{BadLimit: 10, BanTime: time.Minute}, Log: log})
	dialTCP(t, tcpAddr, 8)
	ip := netip.MustParseAddr("127.0.0.1")
	deadline := time.Now().Add(3 * time.Second)
	for !s.Guard.Banned(ip) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !s.Guard.Banned(ip) {
		t.Fatal("not banned past tcp_max_connections_per_ip with tcp_conn_limit_ban")
	}
	mu.Lock()
	n := strings.Count(logs.String(), "source banned")
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d ban lines, want 1:\n%s", n, logs.String())
	}
	u, err := net.Dial("udp", s.Listener(sip.TransportUDP, true).Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(300 * time.Millisecond))
	u.Write([]byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;rport;branch=z9hG4bK-b\r\n\r\n"))
	if _, err := u.Read(make([]byte, 100)); err == nil {
		t.Error("a banned address's UDP was answered")
	}
}

// answeringServer listens on UDP and TCP of 127.0.0.1 with cfg and answers
// every message 200; it closes when the test ends.
func answeringServer(t *testing.T, cfg Config) (s *Server, tcpAddr string) {
	t.Helper()
	cfg.Listen = []Addr{{Proto: sip.TransportTCP, Host: "127.0.0.1"}, {Proto: sip.TransportUDP, Host: "127.0.0.1"}}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := &replyHandler{s: s, reply: []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")}
	s.Serve(func(int) Handler { return h })
	return s, s.Listener(sip.TransportTCP, true).Addr.String()
}

// dialTCP opens n connections to addr, closed when the test ends.
func dialTCP(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
