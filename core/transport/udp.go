package transport

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// How a UDP socket is read. Every goroutine that reads a socket beyond
// the first costs wake-ups per datagram (Go's descriptor lock hands the
// read over between them: BENCHMARKS.md, "The UDP receive path"), so one
// worker reads a socket and handles what it reads, and the others wait
// for a grant. A watchdog, ticking every readerTick, grants one more
// worker the socket when every worker reading it has been handling one
// message for a whole tick (a slow database, a blocked script: the
// others are served within two ticks) or when datagrams pile up in the
// socket (more than readerBacklog bytes of the kernel's accounting). A
// worker beyond the first goes back to waiting as soon as it finds the
// socket empty. Where the platform cannot read without blocking
// (adaptiveReaders false), every worker reads, as before.

// readerTick is the watchdog's period: the longest a message waits for a
// free worker behind a slow one is about two of it.
const readerTick = 10 * time.Millisecond

// readerBacklog is the socket's backlog (SO_MEMINFO's receive memory,
// about 1 KB per datagram waiting) past which the watchdog grants another
// reader.
const readerBacklog = 8 << 10

// udpSocket is the reading state of one UDP listener.
type udpSocket struct {
	l       *Listener
	grant   chan struct{} // an idle worker takes one and reads
	reading atomic.Int32  // workers reading (holding a grant)
	workers int32
	// busy has one entry per worker: the watchdog's tick at which its
	// current message began, 0 while it reads.
	busy []atomic.Uint32
	tick *atomic.Uint32 // the server's watchdog tick
}

// retire lets a worker beyond the first stop reading: true when it may
// (the socket keeps at least one reader).
func (u *udpSocket) retire() bool {
	for {
		n := u.reading.Load()
		if n <= 1 {
			return false
		}
		if u.reading.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// watch is one tick of the watchdog on u: it grants one more worker the
// socket when the readers are all stuck or the backlog grows.
func (u *udpSocket) watch(tick uint32) {
	n := u.reading.Load()
	if n >= u.workers {
		return
	}
	stuck := int32(0)
	for i := range u.busy {
		if t := u.busy[i].Load(); t != 0 && tick-t >= 2 {
			stuck++
		}
	}
	if stuck < n && u.l.backlog() < readerBacklog {
		return
	}
	u.reading.Add(1)
	u.l.srv.Stats.ReaderGrants.Add(1)
	select {
	case u.grant <- struct{}{}:
	default:
		u.reading.Add(-1) // every worker holds a grant already
	}
}

// readWatch runs the watchdog of the UDP sockets until the server closes.
func (s *Server) readWatch(socks []*udpSocket, tick *atomic.Uint32) {
	defer s.wg.Done()
	t := time.NewTicker(readerTick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			now := tick.Add(1)
			if now == 0 {
				now = tick.Add(1) // 0 means "reading"
			}
			for _, u := range socks {
				u.watch(now)
			}
		}
	}
}

// udpWorker is worker i of socket u: it waits for a grant, then reads and
// handles until it retires or the server closes.
func (s *Server) udpWorker(u *udpSocket, i int, h Handler) {
	defer s.wg.Done()
	r := newUDPReader(u, s.cfg.MaxMsg+1)
	p := &Packet{Local: u.l, Proto: sip.TransportUDP}
	reads := 0 // this worker's: a shared counter would bounce between cores
	busy := &u.busy[i]
	for {
		select {
		case <-u.grant:
		case <-s.done:
			return
		}
		for {
			n, src, err := r.read()
			if err != nil {
				if s.closed.Load() {
					return
				}
				s.log.Warn("udp read", "listener", u.l.String(), "err", err)
				continue
			}
			if n < 0 {
				break // retired: wait for the next grant
			}
			buf := r.buf[:n]
			if n == 0 || isKeepalive(buf) {
				continue
			}
			p.Src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			if s.Guard.Banned(p.Src.Addr()) {
				s.Guard.Drop()
				continue
			}
			p.Buf = buf
			if reads++; reads%overloadEvery == 0 {
				u.l.overloaded.Store(u.l.backlogOver(s.cfg.OverloadBacklog))
			}
			p.Overloaded = u.l.overloaded.Load()
			s.Stats.Received.Add(1)
			busy.Store(max(u.tick.Load(), 1))
			h.Handle(p)
			busy.Store(0)
		}
	}
}
