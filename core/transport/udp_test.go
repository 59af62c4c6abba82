package transport

import (
	"bytes"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// gateHandler answers every datagram with its own text; a datagram that
// starts with "slow" waits for the gate first, "work" takes 2 ms of the
// worker (a query) before its answer.
type gateHandler struct {
	s       *Server
	gate    chan struct{}
	handled atomic.Int64
}

func (h *gateHandler) Handle(p *Packet) {
	switch {
	case bytes.HasPrefix(p.Buf, []byte("slow")):
		<-h.gate
	case bytes.HasPrefix(p.Buf, []byte("work")):
		time.Sleep(2 * time.Millisecond)
	}
	h.handled.Add(1)
	h.s.Send(p.Local, sip.TransportUDP, p.Src, p.Buf)
}

func udpServer(t *testing.T, children int) (*Server, *gateHandler, *net.UDPConn) {
	t.Helper()
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportUDP, Host: "127.0.0.1"}}, Children: children, RecvBuffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := &gateHandler{s: s, gate: make(chan struct{})}
	s.Serve(func(int) Handler { return h })
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Listener(sip.TransportUDP, true).Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s, h, c
}

// A worker held by a slow message (a blocked query) does not hold up the
// socket: the watchdog sets another worker reading, and the messages
// after it are answered while it waits; with every worker held, nothing
// is, as with Kamailio's children.
func TestSlowHandlerDoesNotStallUDP(t *testing.T) {
	s, h, c := udpServer(t, 3)
	send := func(m string) {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		buf := make([]byte, 100)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v (handled %d)", want, err, h.handled.Load())
		}
		if string(buf[:n]) != want {
			t.Fatalf("got %q, want %q", buf[:n], want)
		}
	}
	send("slow 1")
	send("fast 1")
	expect("fast 1")
	send("slow 2")
	send("fast 2")
	expect("fast 2")
	// Both slow messages hold a worker each: the third one serves on.
	for _, m := range []string{"fast 3", "fast 4", "fast 5"} {
		send(m)
		expect(m)
	}
	send("slow 3") // the last worker is held: nothing is read now
	send("fast 6")
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 100)); err == nil {
		t.Fatalf("answered %d bytes with every worker held", n)
	}
	for range 3 {
		h.gate <- struct{}{}
	}
	got := map[string]bool{}
	for range 4 {
		buf := make([]byte, 100)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after the gate opened: %v (got %v)", err, got)
		}
		got[string(buf[:n])] = true
	}
	for _, m := range []string{"slow 1", "slow 2", "slow 3", "fast 6"} {
		if !got[m] {
			t.Errorf("%q not answered (got %v)", m, got)
		}
	}
	if adaptiveReaders && s.Stats.ReaderGrants.Load() < 2 {
		t.Errorf("reader grants %d, want at least 2", s.Stats.ReaderGrants.Load())
	}
}

// A backlog in the socket sets more workers reading; once it is gone
// they stop, and one reads on.
func TestBacklogAddsReaders(t *testing.T) {
	s, h, c := udpServer(t, 4)
	const burst = 300
	for i := range burst {
		if _, err := c.Write([]byte("work " + string(rune('a'+i%26)))); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for i := range burst {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("answer %d of %d: %v", i+1, burst, err)
		}
	}
	if h.handled.Load() != burst {
		t.Fatalf("handled %d, want %d", h.handled.Load(), burst)
	}
	if !adaptiveReaders {
		return
	}
	if g := s.Stats.ReaderGrants.Load(); g == 0 {
		t.Errorf("no reader granted for a backlog of %d datagrams of 2 ms each", burst)
	}
	// The extra readers retire when they find the socket empty: the
	// watchdog's grants go back to one reader.
	u := s.Listeners[0]
	deadline := time.Now().Add(5 * time.Second)
	for readers(s, u) > 1 && time.Now().Before(deadline) {
		c.Write([]byte("fast")) // wakes the readers, which find nothing after it
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Read(buf)
		time.Sleep(5 * time.Millisecond)
	}
	if n := readers(s, u); n != 1 {
		t.Errorf("%d workers read after the backlog, want 1", n)
	}
}

func readers(s *Server, l *Listener) int32 {
	for _, u := range s.udp {
		if u.l == l {
			return u.reading.Load()
		}
	}
	return -1
}

// Replies leave from sockets of either family, to the sender's address
// (sendTo writes the socket address itself).
func TestUDPSendFamilies(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportUDP, Host: host}}, Children: 2})
		if err != nil {
			if host == "::1" && os.Getenv("CI") != "true" {
				t.Skipf("no IPv6 loopback here (%v); CI has one", err)
			}
			t.Fatal(err)
		}
		s.Serve(func(int) Handler { return &gateHandler{s: s} })
		l := s.Listeners[0]
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(l.Addr))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			msg := []byte("fast " + host + string(rune('0'+i)))
			c.Write(msg)
			buf := make([]byte, 100)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("%s: got %q, %v; want %q", host, buf[:n], err, msg)
			}
		}
		if err := s.Send(l, sip.TransportUDP, c.LocalAddr().(*net.UDPAddr).AddrPort(), []byte("pushed")); err != nil {
			t.Fatalf("%s: Send: %v", host, err)
		}
		buf := make([]byte, 100)
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pushed" {
			t.Fatalf("%s: got %q, %v", host, buf[:n], err)
		}
		c.Close()
		s.Close()
		if err := s.Send(l, sip.TransportUDP, c.LocalAddr().(*net.UDPAddr).AddrPort(), []byte("late")); err == nil {
			t.Errorf("%s: a send after Close succeeded", host)
		}
	}
}

// The watchdog sleeps while no datagram comes (a tick of an idle process
// is a wake-up) and the next datagram wakes it; asleep, a slow message is
// still noticed.
func TestWatchdogSleepsWhenIdle(t *testing.T) {
	if !adaptiveReaders {
		t.Skip("every worker reads on this platform: no watchdog")
	}
	s, h, c := udpServer(t, 2)
	dog := s.udp[0].dog
	asleep := func() bool {
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if dog.asleep.Load() {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	if !asleep() {
		t.Fatal("the watchdog of an idle server does not sleep")
	}
	ticks := dog.tick.Load()
	time.Sleep(3 * readerTick)
	if dog.tick.Load() != ticks {
		t.Errorf("asleep, the watchdog ticked %d times", dog.tick.Load()-ticks)
	}
	c.Write([]byte("slow 1"))
	c.Write([]byte("fast 1"))
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "fast 1" {
		t.Fatalf("behind a slow message after a sleep: %q, %v", buf[:n], err)
	}
	if dog.tick.Load() == ticks {
		t.Error("the datagram did not wake the watchdog")
	}
	h.gate <- struct{}{}
	c.Read(buf)
	if !asleep() {
		t.Error("the watchdog does not sleep again")
	}
}
