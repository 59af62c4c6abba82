package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// User is one subscriber the load generator registers as.
type User struct {
	Name, Domain, Password string
}

// LoadConfig is one run of the REGISTER-with-digest-auth test.
type LoadConfig struct {
	Target   netip.AddrPort
	Proto    sip.Transport // UDP or TCP
	Total    int           // registrations (-m)
	Rate     float64       // new registrations per second (-r)
	Limit    int           // registrations in flight at most (-l); 0: no limit
	Users    []User        // round robin; a user registers once at a time
	Sockets  int           // local sockets (UDP) or connections (TCP)
	Batch    bool          // UDP: queue requests per socket and send them with sendmmsg
	T1       time.Duration // RFC 3261 T1 (500 ms); timer F is 64*T1
	Deadline time.Duration // the whole run; what is still in flight then fails. 0: none
	Expires  int
	Progress io.Writer // a one-line status, rewritten with \r; nil: none
}

// LoadResult is what the client saw.
type LoadResult struct {
	Registrations int            // started
	OK            int            // ended with 200
	Failed        int            // ended otherwise
	Failures      map[string]int // reason -> count
	Retrans       int            // requests sent again by timer E
	Late          int            // replies that matched no waiting transaction
	Malformed     int            // datagrams or stream messages that did not parse
	SendErrors    int            // requests the socket refused (their transactions time out)
	Elapsed       time.Duration  // first send to last final reply
	// Client-side response times: the challenged REGISTER (to its 401),
	// the authenticated one (to its 200), and the whole registration.
	Challenge, Auth, Total router.LatencySnapshot
}

// RegsPerSec is the rate of successful registrations achieved.
func (r *LoadResult) RegsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

const (
	t2            = 4 * time.Second
	passChallenge = 1
	passAuth      = 2
)

// userState is a user's dialog-less registration state: one Call-ID and
// From tag, CSeq counting up over its requests (RFC 3261 10.2).
type userState struct {
	User
	callID, tag string
	cseq        uint32
	busy        bool
}

// reg is one registration in flight.
type reg struct {
	idx      int
	user     *userState
	pass     int // passChallenge or passAuth: the transaction waiting
	sock     int
	begun    time.Time // the registration's first send
	sent     time.Time // the current transaction's first send
	next     time.Time // its next retransmission (UDP)
	interval time.Duration
	timeout  time.Time // timer F
	msg      []byte
}

// loadGen runs one LoadConfig.
type loadGen struct {
	cfg   LoadConfig
	tr    *transport.Server
	socks []*transport.Listener
	local []string // host:port of each socket, for Via and Contact
	runID string

	mu       sync.Mutex
	users    []*userState
	cursor   int
	inflight map[int]*reg
	res      LoadResult
	started  time.Time
	last     time.Time
	free     chan struct{} // a registration ended
	done     chan struct{} // closed when all have ended
	total    int           // registrations started, to compare with cfg.Total

	challenge, auth, whole router.Latency
	out                    []*outbox // per UDP socket
}

// outbox is what one UDP socket has to send (--batch): requests queue here
// and its sender writes them in batches (sendmmsg), so that the generator
// spends few system calls. Measured against kemi on this 2-core machine it
// held less (bursts, and a goroutine hop per wake-up) than a send per
// request: an option for a generator on its own cores.
type outbox struct {
	mu   sync.Mutex
	bufs [][]byte
	wake chan struct{}
}

const maxBatch = 256

// RunLoad runs the test and returns what it saw. Only a setup problem
// (no socket, no users) is an error: failed registrations are counted.
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if len(cfg.Users) == 0 {
		return nil, errors.New("no users to register")
	}
	if cfg.Total <= 0 || cfg.Rate <= 0 {
		return nil, errors.New("-m and -r must be positive")
	}
	if cfg.Sockets <= 0 {
		cfg.Sockets = 1
	}
	if cfg.T1 <= 0 {
		cfg.T1 = 500 * time.Millisecond
	}
	if cfg.Expires <= 0 {
		cfg.Expires = 3600
	}
	if cfg.Proto != sip.TransportTCP {
		cfg.Proto = sip.TransportUDP
	}
	lip, err := localIP(cfg.Target)
	if err != nil {
		return nil, err
	}
	g := &loadGen{cfg: cfg, inflight: map[int]*reg{}, free: make(chan struct{}, 1), done: make(chan struct{}),
		runID: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	g.res.Failures = map[string]int{}
	for i, u := range cfg.Users {
		g.users = append(g.users, &userState{User: u, callID: fmt.Sprintf("kb%s-%d@kemibench", g.runID, i),
			tag: fmt.Sprintf("kb%s-%d", g.runID, i), cseq: 1})
	}
	var addrs []transport.Addr
	proto := "udp:"
	if cfg.Proto == sip.TransportTCP {
		proto = "tcp:"
		cfg.Sockets = 1 // the transport keeps one stream per peer
		g.cfg.Sockets = 1
	}
	for range cfg.Sockets {
		a, err := transport.ParseAddr(proto+net.JoinHostPort(lip.String(), "0"), 0)
		if err != nil {
			return nil, err
		}
		a.Port = 0
		addrs = append(addrs, a)
	}
	if g.tr, err = transport.Listen(transport.Config{Listen: addrs, Children: 1}); err != nil {
		return nil, err
	}
	defer g.tr.Close()
	g.socks = g.tr.Listeners
	for _, l := range g.socks {
		g.local = append(g.local, l.Addr.String())
	}
	g.tr.Serve(func(int) transport.Handler { return &replyReader{g: g} })
	// A sender per socket when batching, and always over TCP: a stream
	// write can block, and must not while the generator's lock is held.
	if cfg.Batch || cfg.Proto == sip.TransportTCP {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range g.socks {
			ob := &outbox{wake: make(chan struct{}, 1)}
			g.out = append(g.out, ob)
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.sender(g.socks[i], ob, stop)
			}()
		}
		defer wg.Wait()
		defer close(stop)
	}
	g.run(ctx)
	return &g.res, nil
}

// localIP is the address this host sends to target from.
func localIP(target netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", target, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// run starts the registrations on schedule, then waits for the last.
func (g *loadGen) run(ctx context.Context) {
	parent := ctx
	if g.cfg.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Deadline)
		defer cancel()
	}
	stopTimers := make(chan struct{})
	defer close(stopTimers)
	go g.timers(stopTimers)
	if g.cfg.Progress != nil {
		go g.progress(stopTimers)
	}
	g.started = time.Now()
	gap := time.Duration(float64(time.Second) / g.cfg.Rate)
	for i := 0; i < g.cfg.Total; i++ {
		if !g.waitStart(ctx, g.started.Add(time.Duration(i)*gap)) {
			break
		}
		g.start(i)
	}
	select {
	case <-g.done:
	case <-ctx.Done():
	}
	why := "deadline"
	if parent.Err() != nil {
		why = "interrupted"
	}
	g.mu.Lock()
	for _, r := range g.inflight {
		g.fail(r, why)
	}
	if g.last.IsZero() {
		g.last = time.Now()
	}
	g.res.Elapsed = g.last.Sub(g.started)
	g.res.Challenge, g.res.Auth, g.res.Total = g.challenge.Snapshot(), g.auth.Snapshot(), g.whole.Snapshot()
	g.mu.Unlock()
	if g.cfg.Progress != nil {
		g.printProgress()
		fmt.Fprintln(g.cfg.Progress)
	}
}

// waitStart waits until at, and until a registration may start under the
// limit with a free user. False when the run is over.
func (g *loadGen) waitStart(ctx context.Context, at time.Time) bool {
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	for {
		g.mu.Lock()
		ok := (g.cfg.Limit <= 0 || len(g.inflight) < g.cfg.Limit) && len(g.inflight) < len(g.users)
		g.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-g.free:
		case <-ctx.Done():
			return false
		}
	}
}

// start sends registration i's first REGISTER.
func (g *loadGen) start(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var u *userState
	for range g.users {
		c := g.users[g.cursor]
		g.cursor = (g.cursor + 1) % len(g.users)
		if !c.busy {
			u = c
			break
		}
	}
	u.busy = true
	r := &reg{idx: i, user: u, sock: i % len(g.socks), begun: time.Now()}
	g.inflight[i] = r
	g.total++
	g.res.Registrations++
	g.send(r, passChallenge, nil)
}

// send starts r's transaction of pass; chal, for the second, is the
// challenge to answer. Called with mu held.
func (g *loadGen) send(r *reg, pass int, chal *challenge) {
	u := r.user
	r.pass = pass
	r.msg = r.msg[:0]
	branch := "z9hG4bK-kb" + g.runID + "-" + strconv.Itoa(r.idx) + "-" + strconv.Itoa(pass)
	local := g.local[r.sock]
	tp := "UDP"
	if g.cfg.Proto == sip.TransportTCP {
		tp = "TCP"
	}
	ruri := "sip:" + u.Domain
	b := r.msg
	b = append(b, "REGISTER "+ruri+" SIP/2.0\r\nVia: SIP/2.0/"+tp+" "+local+";branch="+branch+";rport\r\n"...)
	b = append(b, "Max-Forwards: 70\r\nFrom: <sip:"+u.Name+"@"+u.Domain+">;tag="+u.tag+"\r\nTo: <sip:"+u.Name+"@"+u.Domain+">\r\n"...)
	b = append(b, "Call-ID: "+u.callID+"\r\nCSeq: "...)
	b = strconv.AppendUint(b, uint64(u.cseq), 10)
	u.cseq++
	b = append(b, " REGISTER\r\nContact: <sip:"+u.Name+"@"+local+";transport="+tp+">\r\nExpires: "...)
	b = strconv.AppendInt(b, int64(g.cfg.Expires), 10)
	b = append(b, "\r\n"...)
	if chal != nil {
		b = chal.authorize(b, u, ruri)
	}
	b = append(b, "User-Agent: kemibench\r\nContent-Length: 0\r\n\r\n"...)
	r.msg = b
	now := time.Now()
	r.sent, r.interval = now, g.cfg.T1
	r.next, r.timeout = now.Add(r.interval), now.Add(64*g.cfg.T1)
	g.write(r)
}

// write sends r's current request, or queues it for its socket's sender
// (--batch, TCP). Called with mu held.
func (g *loadGen) write(r *reg) {
	if g.out != nil {
		ob := g.out[r.sock]
		ob.mu.Lock()
		ob.bufs = append(ob.bufs, append([]byte(nil), r.msg...))
		ob.mu.Unlock()
		select {
		case ob.wake <- struct{}{}:
		default:
		}
		return
	}
	if err := g.tr.Send(g.socks[r.sock], g.cfg.Proto, g.cfg.Target, r.msg); err != nil {
		g.res.SendErrors++ // the transaction retransmits, or times out
	}
}

// sender writes what queues in ob until stop: in batches over UDP, one
// message after the other on a stream.
func (g *loadGen) sender(l *transport.Listener, ob *outbox, stop <-chan struct{}) {
	send := func(part [][]byte) (int, error) { return l.WriteBatch(part, g.cfg.Target) }
	if g.cfg.Proto == sip.TransportTCP {
		send = func(part [][]byte) (int, error) {
			for i, b := range part {
				if err := g.tr.Send(l, sip.TransportTCP, g.cfg.Target, b); err != nil {
					return i, err
				}
			}
			return len(part), nil
		}
	}
	var batch, spare [][]byte
	for {
		select {
		case <-ob.wake:
		case <-stop:
			return
		}
		ob.mu.Lock()
		batch, ob.bufs = ob.bufs, spare[:0]
		ob.mu.Unlock()
		for i := 0; i < len(batch); i += maxBatch {
			part := batch[i:min(i+maxBatch, len(batch))]
			if sent, err := send(part); err != nil {
				g.mu.Lock()
				g.res.SendErrors += len(part) - sent
				g.mu.Unlock()
			}
		}
		clear(batch)
		spare = batch
	}
}

// end takes r out of flight. Called with mu held.
func (g *loadGen) end(r *reg) {
	delete(g.inflight, r.idx)
	r.user.busy = false
	g.last = time.Now()
	select {
	case g.free <- struct{}{}:
	default:
	}
	if g.total == g.cfg.Total && len(g.inflight) == 0 {
		select {
		case <-g.done:
		default:
			close(g.done)
		}
	}
}

func (g *loadGen) fail(r *reg, why string) {
	g.res.Failed++
	g.res.Failures[why]++
	g.end(r)
}

// timers retransmits (timer E, UDP only) and times out (timer F).
func (g *loadGen) timers(stop <-chan struct{}) {
	tick := time.NewTicker(min(g.cfg.T1/8, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			g.mu.Lock()
			for _, r := range g.inflight {
				switch {
				case !now.Before(r.timeout):
					g.fail(r, "timeout (no final reply)")
				case g.cfg.Proto == sip.TransportUDP && !now.Before(r.next):
					r.interval = min(2*r.interval, t2)
					r.next = now.Add(r.interval)
					g.res.Retrans++
					g.write(r)
				}
			}
			g.mu.Unlock()
		}
	}
}

// replyReader handles the datagrams or stream messages of one socket.
type replyReader struct {
	g   *loadGen
	msg sip.Msg
	ch  challenge
}

func (rr *replyReader) Handle(p *transport.Packet) {
	m := &rr.msg
	g := rr.g
	if err := m.Parse(p.Buf); err != nil || m.IsRequest() {
		g.mu.Lock()
		g.res.Malformed++ // a request is not what a registrar sends back either
		g.mu.Unlock()
		return
	}
	now := time.Now()
	idx, pass, ok := g.parseBranch(m.TopVia())
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.inflight[idx]
	if !ok || r == nil || r.pass != pass {
		g.res.Late++
		return
	}
	code := m.StatusCode()
	switch {
	case code < 200:
		r.interval = t2 // RFC 3261 17.1.2.2: provisional seen, retransmit at T2
		r.next = now.Add(t2)
	case pass == passChallenge && (code == 401 || code == 407):
		g.challenge.Record(now.Sub(r.sent))
		if err := rr.ch.read(m, code); err != nil {
			g.fail(r, strconv.Itoa(code)+" with a bad challenge: "+err.Error())
			return
		}
		g.send(r, passAuth, &rr.ch)
	case code >= 200 && code < 300:
		if pass == passAuth {
			g.auth.Record(now.Sub(r.sent))
		} else {
			g.challenge.Record(now.Sub(r.sent))
		}
		g.whole.Record(now.Sub(r.begun))
		g.res.OK++
		g.end(r)
	default:
		why := strconv.Itoa(code) + " " + string(m.Reason())
		if pass == passAuth && (code == 401 || code == 407) {
			why += " (credentials refused)"
		}
		g.fail(r, why)
	}
}

// parseBranch reads "z9hG4bK-kb<run>-<idx>-<pass>".
func (g *loadGen) parseBranch(v *sip.Via) (idx, pass int, ok bool) {
	if v == nil {
		return 0, 0, false
	}
	b := string(v.Branch)
	prefix := "z9hG4bK-kb" + g.runID + "-"
	if len(b) < len(prefix)+3 || b[:len(prefix)] != prefix {
		return 0, 0, false
	}
	b = b[len(prefix):]
	n := len(b)
	if b[n-2] != '-' {
		return 0, 0, false
	}
	pass = int(b[n-1] - '0')
	idx, err := strconv.Atoi(b[:n-2])
	return idx, pass, err == nil
}

// progress rewrites the status line every second.
func (g *loadGen) progress(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			g.printProgress()
		}
	}
}

func (g *loadGen) printProgress() {
	g.mu.Lock()
	r := g.res
	n := len(g.inflight)
	elapsed := time.Since(g.started)
	g.mu.Unlock()
	fmt.Fprintf(g.cfg.Progress, "\r  %d/%d registrations: %d ok, %d failed, %d in flight, %d retransmissions, %.1f s ",
		r.Registrations, g.cfg.Total, r.OK, r.Failed, n, r.Retrans, elapsed.Seconds())
}
