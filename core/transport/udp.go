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
// for a grant. More read when datagrams pile up in the socket (more than
// readerBacklog bytes of the kernel's accounting: the reader looks every
// overloadEvery datagrams, the watchdog every tick), or when every worker
// reading has been handling one message for a whole tick of the watchdog
// (a slow database, a blocked script: the messages behind it wait two
// ticks at most). A worker beyond the first goes back to waiting as soon
// as it finds the socket empty. The watchdog sleeps while no datagram
// comes: a tick of an idle process is a wake-up of the runtime. Where the
// platform cannot read without blocking (adaptiveReaders false), every
// worker reads, as before.

// readerTick is the watchdog's period: the longest a message waits for a
// free worker behind a slow one is about two of it. Each tick while
// traffic flows costs the process a wake-up (a tick of 10 ms cost 25% more
// CPU per request at 800 requests/s than no watchdog).
const readerTick = 25 * time.Millisecond

// readerIdleTicks is how many ticks with no datagram and no worker busy
// put the watchdog to sleep until the next datagram.
const readerIdleTicks = 4

// readerBacklog is the socket's backlog (SO_MEMINFO's receive memory,
// about 1 KB per datagram waiting) past which another worker reads.
const readerBacklog = 8 << 10

// udpSocket is the reading state of one UDP listener.
type udpSocket struct {
	l       *Listener
	grant   chan struct{} // an idle worker takes one and reads
	reading atomic.Int32  // workers reading (holding a grant)
	// busy has one entry per worker: the watchdog's tick at which its
	// current message began, 0 while it reads.
	busy []atomic.Uint32
	dog  *readWatch // the server's watchdog
}

// workers is how many workers the socket has.
func (u *udpSocket) workers() int32 { return int32(len(u.busy)) }

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
// socket when the readers are all stuck or the backlog grows. It reports
// whether a worker is busy.
func (u *udpSocket) watch(tick uint32) (busy bool) {
	n := u.reading.Load()
	stuck := int32(0)
	for i := range u.busy {
		if t := u.busy[i].Load(); t != 0 {
			busy = true
			if tick-t >= 2 {
				stuck++
			}
		}
	}
	if n < u.workers() && (stuck >= n || u.l.backlog() >= readerBacklog) {
		u.grantOne()
	}
	return busy
}

// grantOne sets one more worker reading u, if one waits.
func (u *udpSocket) grantOne() {
	u.reading.Add(1)
	select {
	case u.grant <- struct{}{}:
		u.l.srv.Stats.ReaderGrants.Add(1)
	default:
		u.reading.Add(-1) // every worker holds a grant already
	}
}

// readWatch runs the watchdog of the UDP sockets until the server closes.
// It sleeps after readerIdleTicks ticks without a datagram or a busy
// worker; the next datagram read wakes it (udpWorker).
func (s *Server) readWatch(socks []*udpSocket, w *readWatch) {
	defer s.wg.Done()
	t := time.NewTicker(readerTick)
	defer t.Stop()
	idle, last := 0, s.Stats.Received.Load()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := w.tick.Add(1)
		if now == 0 {
			now = w.tick.Add(1) // 0 means "reading"
		}
		busy := false
		for _, u := range socks {
			busy = u.watch(now) || busy
		}
		if got := s.Stats.Received.Load(); got != last || busy {
			idle, last = 0, got
			continue
		}
		if idle++; idle < readerIdleTicks {
			continue
		}
		// Asleep: a worker that reads a datagram from now on wakes us.
		w.asleep.Store(true)
		if s.Stats.Received.Load() == last {
			select {
			case <-s.done:
				return
			case <-w.wake:
			}
		}
		w.asleep.Store(false)
		select { // a wake sent after the check above
		case <-w.wake:
		default:
		}
		idle, last = 0, s.Stats.Received.Load()
		t.Reset(readerTick)
	}
}

// readWatch is the state the watchdog shares with the workers.
type readWatch struct {
	tick   atomic.Uint32 // the watchdog's tick count
	asleep atomic.Bool   // the watchdog waits for wake
	wake   chan struct{}
}

// woken is told by a worker that read a datagram: it wakes the watchdog
// when it sleeps (one atomic load per datagram otherwise).
func (w *readWatch) woken() {
	if w.asleep.Load() {
		w.asleep.Store(false)
		select {
		case w.wake <- struct{}{}:
		default:
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
	var stunOut []byte // the STUN answers' buffer
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
			if buf[0] == 0 && s.STUN != nil {
				if out := s.STUN(p.Src, buf, stunOut[:0]); out != nil {
					s.send(u.l, sip.TransportUDP, p.Src, out)
					stunOut = out
				}
				continue
			}
			p.Buf = buf
			if reads++; reads%overloadEvery == 0 {
				over, backlog := u.l.backlogOver(s.cfg.OverloadBacklog)
				u.l.overloaded.Store(over)
				if backlog >= readerBacklog && u.reading.Load() < u.workers() {
					u.grantOne()
				}
			}
			p.Overloaded = u.l.overloaded.Load()
			s.Stats.Received.Add(1)
			u.dog.woken()
			busy.Store(max(u.dog.tick.Load(), 1))
			h.Handle(p)
			busy.Store(0)
		}
	}
}
