package transport

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// replyHandler answers each request with a reply of about 16 KB on the
// stream it came on.
type replyHandler struct {
	s     *Server
	reply []byte
}

func (h *replyHandler) Handle(p *Packet) { h.s.Reply(p, p.Src, h.reply) }

// TestStalledPeersDoNotBlock: eight clients pipeline requests and never
// read the replies; a ninth, reading, gets every reply within 50 ms while
// they do, with two workers. The stalled streams fill their queues
// (tcp_conn_wq_max) and are closed after tcp_send_timeout.
func TestStalledPeersDoNotBlock(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportTCP, Host: "127.0.0.1"}}, Children: 2,
		TCPSendTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &replyHandler{s: s, reply: []byte("SIP/2.0 200 OK\r\nX-Pad: " + strings.Repeat("x", 16000) + "\r\nContent-Length: 0\r\n\r\n")}
	s.Serve(func(int) Handler { return h })
	addr := s.Listener(sip.TransportTCP, true).Addr.String()
	req := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-s\r\nMax-Forwards: 70\r\n" +
		"From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: st\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetReadBuffer(4096)
		defer c.Close()
		wg.Add(1)
		go func() { // 5 MB of requests, no read
			defer wg.Done()
			block := []byte(strings.Repeat(req, 50))
			for sent := 0; sent < 5<<20; sent += len(block) {
				select {
				case <-stop:
					return
				default:
				}
				c.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Write(block); err != nil {
					return // closed by the proxy: it took its time
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the stalled streams' queues fill
	probe, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	r := bufio.NewReader(probe)
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		probe.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := probe.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("probe %d: %v (worst so far %v)", i, err, worst)
			}
			if line == "\r\n" {
				break
			}
		}
		worst = max(worst, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	if worst > 50*time.Millisecond {
		t.Errorf("the reading client waited up to %v for a reply, want at most 50 ms", worst)
	}
	if !eventually(5*time.Second, func() bool { return s.Stats.TCPSendTimeout.Load() > 0 }) {
		t.Errorf("no stalled stream closed after tcp_send_timeout (queue full %d)", s.Stats.TCPQueueFull.Load())
	}
	wg.Wait()
	t.Logf("worst probe %v; replies refused by full queues %d; stalled streams closed %d; send errors %d; open %d", worst, s.Stats.TCPQueueFull.Load(), s.Stats.TCPSendTimeout.Load(), s.Stats.SendErrors.Load(), s.Stats.TCPConns.Load())
}
