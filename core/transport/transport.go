// Package transport listens for SIP over UDP and TCP, hands each message
// to a worker, and sends replies back the way the request came.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/kemi-sip/kemi/core/sip"
)

// Packet is one received SIP message and the way back to its sender. The
// transport owns Buf until Handle returns.
type Packet struct {
	Buf   []byte
	Src   netip.AddrPort
	Local *Listener
	Proto sip.Transport
	conn  *tcpConn // the stream it came on (TCP)
	// Overloaded says the socket it came from had more than
	// Config.OverloadBacklog percent of its receive buffer waiting when
	// last looked at: the workers are behind.
	Overloaded bool
}

// TLS is the state of the TLS connection the packet came on, nil for
// another transport (or before the handshake is done).
func (p *Packet) TLS() *tls.ConnectionState {
	if p.conn == nil {
		return nil
	}
	tc, ok := p.conn.c.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete {
		return nil
	}
	return &st
}

// CloseStream closes the TCP or TLS connection the packet came on (a
// reply sent with set_reply_close); nothing for UDP.
func (p *Packet) CloseStream() {
	if p.conn != nil {
		p.conn.closeAfterWrite() // the reply queued before it goes first
	}
}

// ConnID is the id of the TCP connection the packet came on, 0 for UDP.
func (p *Packet) ConnID() uint64 {
	if p.conn == nil {
		return 0
	}
	return p.conn.id
}

// Handler processes packets. A worker owns one Handler and calls it from
// one goroutine at a time, so a Handler may keep per-worker state.
type Handler interface {
	Handle(p *Packet)
}

// Addr is a listen address: "udp:127.0.0.1:5060", "tcp:[::1]:5060",
// "127.0.0.1" (UDP and TCP on the default port).
type Addr struct {
	Proto     sip.Transport // TransportOther: UDP and TCP both
	Host      string
	Port      int
	Advertise string // "host[:port]" written in Via/Record-Route instead of Host
	Name      string // the socket's name (name "x"), for the functions that pick a socket by it
}

// ParseAddr parses a Kamailio listen value: [proto:]host[:port]
// [advertise host[:port]] [name "x"]. port 0 means the default port.
func ParseAddr(s string, defPort int) (Addr, error) {
	var a Addr
	s = strings.TrimSpace(s)
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return a, errors.New("empty listen address")
	}
	for i := 1; i < len(fields); i++ {
		switch strings.ToLower(fields[i]) {
		case "advertise":
			if i+1 >= len(fields) {
				return a, fmt.Errorf("listen %q: advertise needs an address", s)
			}
			a.Advertise = fields[i+1]
			i++
		case "name":
			if i+1 >= len(fields) {
				return a, fmt.Errorf("listen %q: name needs a value", s)
			}
			a.Name = strings.Trim(fields[i+1], `"`)
			i++
		case "virtual", "agname":
			i++
		default:
			return a, fmt.Errorf("listen %q: unexpected %q", s, fields[i])
		}
	}
	v := fields[0]
	if p, rest, ok := strings.Cut(v, ":"); ok && !strings.HasPrefix(v, "[") {
		switch strings.ToLower(p) {
		case "udp":
			a.Proto, v = sip.TransportUDP, rest
		case "tcp":
			a.Proto, v = sip.TransportTCP, rest
		case "tls":
			a.Proto, v = sip.TransportTLS, rest
		case "sctp", "ws", "wss":
			return a, fmt.Errorf("listen %q: %s is not supported yet", s, p)
		}
	}
	a.Port = defPort
	if a.Proto == sip.TransportTLS && defPort == 5060 {
		a.Port = 5061 // Kamailio's tls_port default
	}
	host := v
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return a, fmt.Errorf("listen %q: unclosed '['", s)
		}
		host = v[1:end]
		if rest := v[end+1:]; rest != "" {
			if rest[0] != ':' {
				return a, fmt.Errorf("listen %q: junk after ']'", s)
			}
			n, err := strconv.Atoi(rest[1:])
			if err != nil || n < 0 || n > 65535 {
				return a, fmt.Errorf("listen %q: bad port", s)
			}
			a.Port = n
		}
	} else if h, p, ok := strings.Cut(v, ":"); ok {
		if strings.Contains(p, ":") {
			host, p = v, "" // a bare IPv6 address
		} else {
			host = h
		}
		if p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 65535 {
				return a, fmt.Errorf("listen %q: bad port %q", s, p)
			}
			a.Port = n
		}
	}
	if host == "" {
		return a, fmt.Errorf("listen %q: no host", s)
	}
	a.Host = host
	return a, nil
}

// Listener is one bound socket.
type Listener struct {
	Proto      sip.Transport
	Addr       netip.AddrPort // the bound address (the real port when 0 was asked)
	Advertise  string         // host:port to write in headers, or ""
	Name       string         // listen=... name "x", or ""
	IP         string         // Addr's address as text
	udp        *net.UDPConn
	tcp        *net.TCPListener
	srv        *Server
	fd         int             // the UDP socket's descriptor, for the backlog; -1 if unknown
	rc         syscall.RawConn // the UDP socket's, for reads and sends without the net package; nil if unknown
	overloaded atomic.Bool     // the backlog's last reading
	str        atomic.Pointer[string]
}

// String is "udp:127.0.0.1:5060" (made once: the registrar writes it
// into every contact it saves).
func (l *Listener) String() string {
	if p := l.str.Load(); p != nil {
		return *p
	}
	s := strings.ToLower(l.Proto.String()) + ":" + l.Addr.String()
	l.str.Store(&s)
	return s
}

// Config says what a Server listens on and how many workers it runs.
type Config struct {
	Listen   []Addr
	Children int // workers per UDP socket, and TCP workers in all
	MaxMsg   int // bytes; 0 means 65535
	Log      *slog.Logger
	Guard    GuardConfig
	// RecvBuffer is the receive buffer asked for each UDP socket (core
	// maxbuffer); 0 leaves the system's default. Past net.core.rmem_max it
	// is forced when the process may (root), else the kernel's cap holds.
	RecvBuffer int
	// TCPLifetime closes a stream idle that long (tcp_connection_lifetime);
	// 0 means 120 s, Kamailio's default.
	TCPLifetime time.Duration
	// TCPSync writes to a stream from the worker (tcp_async=no); by
	// default writes are queued. TCPConnWQMax bounds one stream's queue
	// (tcp_conn_wq_max, 0: 32 KiB), TCPWQMax all of them (tcp_wq_max, 0:
	// 10 MiB); TCPSendTimeout closes a stream that takes nothing that long
	// (tcp_send_timeout, 0: 10 s).
	TCPSync        bool
	TCPConnWQMax   int
	TCPWQMax       int
	TCPSendTimeout time.Duration
	// TLS is the server side of listen=tls: sockets, ClientTLS what kemi
	// dials TLS destinations with (the tls module's); a tls listener
	// without TLS is an error.
	TLS, ClientTLS *tls.Config
	// TCPMaxConns bounds the open streams (tcp_max_connections, 0: 2048)
	// and TCPMaxPerIP those from one address (0: 128); a connection past
	// either is closed at once and counted.
	TCPMaxConns int
	TCPMaxPerIP int
	// TCPLimitBan bans an address for the guard's BanTime when it passes
	// TCPMaxPerIP (tcp_conn_limit_ban, off by default: the extra
	// connections are only refused, so that many phones behind one NAT
	// keep service). The ban is logged once, with its cause.
	TCPLimitBan bool
	// OverloadBacklog is the share of a UDP socket's receive buffer, in
	// percent, that waiting datagrams must fill for its packets to be
	// marked Overloaded; 0 means 50. Looked at every overloadEvery packets.
	OverloadBacklog int
}

// overloadEvery is how many datagrams a worker reads between two looks at
// its socket's backlog (one system call).
const overloadEvery = 32

// Stats are the transport's counters.
type Stats struct {
	Received     atomic.Uint64 // messages handed to workers
	SendErrors   atomic.Uint64
	Overloaded   atomic.Uint64 // backlog readings over OverloadBacklog
	ReaderGrants atomic.Uint64 // UDP workers the watchdog set reading (udp.go)
	TCPConns     atomic.Int64  // open TCP and TLS connections
	TCPOpened    atomic.Uint64 // TCP and TLS connections accepted or dialled
	TCPFrame     atomic.Uint64 // streams closed for a framing error
	TCPRefused   atomic.Uint64 // connections closed at accept: a limit or a ban
	TCPIdle      atomic.Uint64 // streams closed after tcp_connection_lifetime idle
	TLSHandshake atomic.Uint64 // TLS connections whose handshake failed
	// TCPQueueFull counts messages refused by a full write queue;
	// TCPSendTimeout streams closed because their peer took nothing.
	TCPQueueFull   atomic.Uint64
	TCPSendTimeout atomic.Uint64
}

// Server runs the listeners and the workers.
type Server struct {
	cfg       Config
	log       *slog.Logger
	Listeners []*Listener
	Stats     Stats
	WS        WSStats
	Guard     *Guard
	wsClosed  []func(WSConn)      // OnWSClose's hooks
	wsConns   map[uint64]*tcpConn // the WebSocket connections by id, under mu

	mu     sync.Mutex
	conns  map[streamKey]*tcpConn // open streams by transport and peer, for replies
	nextID atomic.Uint64
	wg     sync.WaitGroup
	tcpW   chan Handler       // idle TCP workers
	udp    []*udpSocket       // the UDP sockets the read watchdog looks after
	perIP  map[netip.Addr]int // open streams per peer address, under mu
	closed atomic.Bool
	done   chan struct{}
	rec    *recorder // NewRecorder's: nothing is sent, it is kept
	// Out, when set, sees every message before it is sent (Kamailio's
	// SREV_NET_DATA_OUT: topoh masks the topology there) and returns the
	// bytes to send. Set while the modules start, before Serve.
	Out OutHook
	// STUN, when set, answers a UDP datagram whose first byte is 0 — a
	// STUN message, never SIP — as Kamailio's stun module: it writes the
	// answer after dst, nil for none. Set while the modules start.
	STUN func(src netip.AddrPort, req, dst []byte) []byte
	// wqBytes are the bytes in every stream's write queue (tcp_wq_max).
	wqBytes atomic.Int64
}

// Listen binds every address. Nothing is read until Serve.
func Listen(cfg Config) (*Server, error) {
	if cfg.Children <= 0 {
		cfg.Children = 1
	}
	if cfg.MaxMsg <= 0 {
		cfg.MaxMsg = 65535
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.TCPConnWQMax <= 0 {
		cfg.TCPConnWQMax = 32 << 10
	}
	if cfg.TCPWQMax <= 0 {
		cfg.TCPWQMax = 10 << 20
	}
	if cfg.TCPSendTimeout <= 0 {
		cfg.TCPSendTimeout = 10 * time.Second
	}
	if cfg.TCPLifetime <= 0 {
		cfg.TCPLifetime = 120 * time.Second
	}
	if cfg.TCPMaxConns <= 0 {
		cfg.TCPMaxConns = 2048
	}
	if cfg.TCPMaxPerIP <= 0 {
		cfg.TCPMaxPerIP = 128
	}
	if cfg.OverloadBacklog <= 0 {
		cfg.OverloadBacklog = 50
	}
	s := &Server{cfg: cfg, log: cfg.Log, conns: map[streamKey]*tcpConn{}, perIP: map[netip.Addr]int{},
		Guard: NewGuard(cfg.Guard), done: make(chan struct{})}
	for _, a := range cfg.Listen {
		ips, err := resolve(a.Host)
		if err != nil {
			s.Close()
			return nil, err
		}
		for _, ip := range ips {
			for _, proto := range []sip.Transport{sip.TransportUDP, sip.TransportTCP, sip.TransportTLS} {
				if a.Proto != proto && (a.Proto != sip.TransportOther || proto == sip.TransportTLS) {
					continue
				}
				if proto == sip.TransportTLS && cfg.TLS == nil {
					s.Close()
					return nil, fmt.Errorf("transport: listen tls:%s: no certificate: load the tls module and set its certificate and private_key", a.Host)
				}
				l, err := s.bind(proto, netip.AddrPortFrom(ip, uint16(a.Port)))
				if err != nil {
					s.Close()
					return nil, err
				}
				l.Advertise, l.Name = a.Advertise, a.Name
			}
		}
	}
	if len(s.Listeners) == 0 {
		return nil, errors.New("transport: nothing to listen on")
	}
	return s, nil
}

func resolve(host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", host, err)
	}
	return addrs, nil
}

func (s *Server) bind(proto sip.Transport, ap netip.AddrPort) (*Listener, error) {
	l := &Listener{Proto: proto, srv: s}
	switch proto {
	case sip.TransportUDP:
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("transport: listen udp %s: %w", ap, err)
		}
		l.udp = c
		l.fd = socketFD(c)
		if rc, err := c.SyscallConn(); err == nil {
			l.rc = rc
		}
		l.Addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
		if s.cfg.RecvBuffer > 0 {
			setRecvBuffer(c, s.cfg.RecvBuffer)
		}
	case sip.TransportTCP, sip.TransportTLS:
		c, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("transport: listen %s %s: %w", strings.ToLower(proto.String()), ap, err)
		}
		l.tcp = c
		l.Addr = c.Addr().(*net.TCPAddr).AddrPort()
	}
	l.Addr = netip.AddrPortFrom(l.Addr.Addr().Unmap(), l.Addr.Port())
	l.IP = l.Addr.Addr().String()
	s.Listeners = append(s.Listeners, l)
	return l, nil
}

// Serve starts cfg.Children workers per UDP socket and as many TCP
// workers, each with the Handler newWorker returns, and returns at once.
// newWorker is called with a rank counted from 1, as Kamailio's children.
func (s *Server) Serve(newWorker func(rank int) Handler) {
	s.wg.Add(1)
	go s.sweeper(s.done)
	rank := 0
	hasTCP := false
	var socks []*udpSocket
	watch := &readWatch{wake: make(chan struct{}, 1)}
	for _, l := range s.Listeners {
		if l.udp == nil {
			hasTCP = true
			continue
		}
		n := s.cfg.Children
		u := &udpSocket{l: l, grant: make(chan struct{}, n), busy: make([]atomic.Uint32, n), dog: watch}
		grants := 1
		if !adaptiveReaders {
			grants = n
		}
		for range grants {
			u.reading.Add(1)
			u.grant <- struct{}{}
		}
		for i := range n {
			rank++
			h := newWorker(rank)
			s.wg.Add(1)
			go s.udpWorker(u, i, h)
		}
		if n > 1 && adaptiveReaders {
			socks = append(socks, u)
		}
	}
	s.udp = socks
	if len(socks) > 0 {
		s.wg.Add(1)
		go s.readWatch(socks, watch)
	}
	if hasTCP {
		s.tcpW = make(chan Handler, s.cfg.Children)
		for i := 0; i < s.cfg.Children; i++ {
			rank++
			s.tcpW <- newWorker(rank)
		}
		for _, l := range s.Listeners {
			if l.tcp != nil {
				s.wg.Add(1)
				go s.acceptLoop(l)
			}
		}
	}
}

// isKeepalive reports a NAT keepalive: CRLFs or a single zero byte.
func isKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 && c != ' ' {
			return false
		}
	}
	return true
}

// OutHook rewrites a message about to leave from local (nil: the
// listener is still to be chosen) over proto to dst; it returns b when it
// changes nothing.
type OutHook func(local *Listener, proto sip.Transport, dst netip.AddrPort, b []byte) []byte

// Send writes b to dst over proto, from the listener the packet came in on
// when it fits. A TCP reply reuses the open connection to dst.
func (s *Server) Send(from *Listener, proto sip.Transport, dst netip.AddrPort, b []byte) error {
	if s.Out != nil {
		b = s.out(from, proto, dst, b)
	}
	return s.send(from, proto, dst, b)
}

// out runs the Out hook; one that panics (sends happen on timer
// goroutines too, where nothing else would recover) is logged and the
// message goes as it was.
func (s *Server) out(local *Listener, proto sip.Transport, dst netip.AddrPort, b []byte) (res []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("transport: the hook on messages sent failed; sent as it was", "panic", fmt.Sprint(r), "to", dst.String())
			res = b
		}
	}()
	return s.Out(local, proto, dst, b)
}

func (s *Server) send(from *Listener, proto sip.Transport, dst netip.AddrPort, b []byte) error {
	if s.rec != nil {
		s.rec.add(proto, dst, b)
		return nil
	}
	var err error
	switch proto {
	case sip.TransportTCP, sip.TransportTLS, sip.TransportWS, sip.TransportWSS:
		s.mu.Lock()
		c := s.conns[streamKey{proto, dst}]
		if c == nil && (proto == sip.TransportWS || proto == sip.TransportWSS) {
			// transport=ws names both (RFC 7118 §5.2): the peer's
			// connection is whichever it opened.
			c = s.conns[streamKey{sip.TransportWS + sip.TransportWSS - proto, dst}]
		}
		s.mu.Unlock()
		switch {
		case c != nil:
		case proto == sip.TransportWS || proto == sip.TransportWSS:
			err = ErrNoWS
		default:
			c, err = s.dial(proto, dst)
		}
		if err == nil {
			err = c.write(b)
		}
	default:
		l := from
		if l == nil || l.udp == nil || l.Addr.Addr().Is4() != dst.Addr().Is4() {
			l = s.pick(sip.TransportUDP, dst.Addr().Is4())
		}
		if l == nil {
			err = fmt.Errorf("no udp socket for %s", dst)
		} else {
			err = l.sendTo(b, dst)
		}
	}
	if err != nil {
		s.Stats.SendErrors.Add(1)
		return fmt.Errorf("transport: send to %s: %w", dst, err)
	}
	return nil
}

// Reply sends b back to where p came from: on its stream for TCP, else
// to dst (the Via's received/rport address) from p's socket.
func (s *Server) Reply(p *Packet, dst netip.AddrPort, b []byte) error {
	if s.Out != nil {
		b = s.out(p.Local, p.Proto, dst, b)
	}
	if s.rec != nil {
		s.rec.add(p.Proto, dst, b)
		return nil
	}
	if p.conn != nil && !p.conn.closed.Load() {
		err := p.conn.write(b)
		if err == nil || errors.Is(err, errQueueFull) || errors.Is(err, errSendTimeout) {
			return err // not on another connection: the peer is not reading this one
		}
	}
	return s.send(p.Local, p.Proto, dst, b)
}

// Listener is the first socket of a transport and address family, nil
// when there is none: where requests a worker forwards leave from.
func (s *Server) Listener(proto sip.Transport, v4 bool) *Listener { return s.pick(proto, v4) }

func (s *Server) pick(proto sip.Transport, v4 bool) *Listener {
	switch proto { // WebSocket connections come on the stream listeners
	case sip.TransportWS:
		proto = sip.TransportTCP
	case sip.TransportWSS:
		proto = sip.TransportTLS
	}
	for _, l := range s.Listeners {
		if l.Proto == proto && l.Addr.Addr().Is4() == v4 {
			return l
		}
	}
	return nil
}

// Close stops the listeners and closes every connection, then waits for
// the workers to finish the message they hold.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	for _, l := range s.Listeners {
		if l.udp != nil {
			l.udp.Close()
		}
		if l.tcp != nil {
			l.tcp.Close()
		}
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// WriteBatch sends each of bufs to dst from l's UDP socket, as few system
// calls as the platform allows (sendmmsg on Linux). It returns how many
// were sent; a load generator's path, not the proxy's.
func (l *Listener) WriteBatch(bufs [][]byte, dst netip.AddrPort) (int, error) {
	if l.udp == nil {
		return 0, fmt.Errorf("transport: %s is not a UDP socket", l)
	}
	ms := make([]ipv4.Message, len(bufs))
	ua := net.UDPAddrFromAddrPort(dst)
	for i, b := range bufs {
		ms[i] = ipv4.Message{Buffers: [][]byte{b}, Addr: ua}
	}
	var write func([]ipv4.Message, int) (int, error)
	if dst.Addr().Is4() {
		write = ipv4.NewPacketConn(l.udp).WriteBatch
	} else {
		write = ipv6.NewPacketConn(l.udp).WriteBatch
	}
	sent := 0
	for sent < len(ms) {
		n, err := write(ms[sent:], 0)
		sent += n
		if err != nil {
			l.srv.Stats.SendErrors.Add(uint64(len(ms) - sent))
			return sent, fmt.Errorf("transport: send to %s: %w", dst, err)
		}
		if n == 0 {
			break
		}
	}
	return sent, nil
}
