// Package nat_traversal is Kamailio's nat_traversal module: tests for a
// client behind a NAT (client_nat_test), its Contact pointed at the
// address its packets come from (fix_contact), and keepalive NOTIFYs (or
// OPTIONS) to the NAT bindings of clients registered or subscribed
// through this proxy (nat_keepalive), while their registrations or
// subscriptions last, and with the dialog module while their calls
// last; the bindings are kept in a state file across restarts.
package nat_traversal

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/dialog"
	"github.com/kemi-sip/kemi/modules/internal/ticker"
	"github.com/kemi-sip/kemi/modules/sl"
	"github.com/kemi-sip/kemi/modules/tm"
)

// The tests of client_nat_test, Kamailio's bits.
const (
	testPrivateContact = 1
	testSourceAddress  = 2
	testPrivateVia     = 4
)

// binding is one NAT binding kept alive: "sip:ip:port" of the packets'
// source, the socket they came on, until when.
type binding struct {
	uri       string
	addr      netip.AddrPort
	socket    *transport.Listener
	regExpire int64
	subExpire int64
	phase     int              // the second of the interval it is pinged in
	dialogs   map[string]int64 // the dialogs through it (by the dialog module's key): until when, 0 ended
}

// liveDialogs drops the dialogs ended or past their time and reports how
// many are left; the lock is held.
func (b *binding) liveDialogs(m *Module, now int64) int {
	for k, exp := range b.dialogs {
		if exp == 0 || now > exp {
			if exp != 0 {
				m.dialogEnds.Add(-1)
			}
			delete(b.dialogs, k)
		}
	}
	return len(b.dialogs)
}

// dlgParam is what the module knows of a dialog (Kamailio's Dialog_Param):
// the caller's and the answering callee's source URIs, the sources of the
// provisional replies before the answer, until when it is kept alive.
type dlgParam struct {
	caller, callee string
	candidates     []string
	confirmed      bool
	expire         int64
}

// Module is the nat_traversal module of one proxy.
type Module struct {
	interval     int
	method, from string
	extra, event string
	stateFile    string
	contactMatch int

	callidPrefix  string
	callidCounter atomic.Uint32
	fromTag       atomic.Uint32
	started       time.Time
	env           *router.Env
	log           *slog.Logger
	mu            sync.Mutex
	table         map[string]*binding
	registered    atomic.Int64
	subscribed    atomic.Int64
	timer         *ticker.Ticker
	tick          int
	dlg           *dialog.Module       // nil: dialogs are not kept alive
	dlgs          map[string]*dlgParam // by the dialog module's key
	dialogEnds    atomic.Int64         // dialog_endpoints
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "nat_traversal",
		Params: []dispatch.Param{
			p("keepalive_interval", i, "60", "seconds between two keepalives to a binding (at least 10)"),
			p("keepalive_method", s, "NOTIFY", "NOTIFY (with Event: keep-alive) or OPTIONS"),
			p("keepalive_from", s, "sip:keepalive@<the socket's address>", "the From of the keepalives"),
			p("keepalive_extra_headers", s, "", "header lines added to the keepalives"),
			p("keepalive_state_file", s, "keepalive_state", "where the bindings are kept across a restart"),
			p("contact_match", i, "0", "1: a REGISTER's Contact matches the reply's by URI comparison, not as text"),
		},
		New: func() dispatch.Module { return &Module{table: map[string]*binding{}, dlgs: map[string]*dlgParam{}} },
	})
	router.RegisterPV("source_uri", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value {
		return router.StrValue(sourceURI(c, true))
	}})
	router.RegisterPV("keepalive.socket", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		m, _ := c.Env().Module("nat_traversal").(*Module)
		if m == nil {
			return router.Value{}
		}
		uri := pv.Arg
		if strings.HasPrefix(uri, "$") {
			if p, err := c.W.PV(uri); err == nil {
				uri = p.Get(c).String()
			}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if b := m.table[uri]; b != nil {
			return router.StrValue(b.socket.String())
		}
		return router.Value{}
	}})
}

// Init reads the parameters and hooks into sl and tm for the replies.
func (m *Module) Init(p *dispatch.Params) error {
	m.interval = p.Int("keepalive_interval", 60)
	m.method, m.from = p.Str("keepalive_method", "NOTIFY"), p.Str("keepalive_from", "")
	m.extra, m.stateFile = p.Str("keepalive_extra_headers", ""), p.Str("keepalive_state_file", "keepalive_state")
	m.contactMatch = p.Int("contact_match", 0)
	if m.interval <= 0 {
		return fmt.Errorf("nat_traversal: keepalive_interval must be positive")
	}
	if m.interval < 10 {
		m.interval = 10 // as Kamailio: "keepalive_interval should be at least 10 seconds"
	}
	if m.extra != "" && !strings.HasSuffix(m.extra, "\r\n") {
		m.extra = strings.TrimRight(m.extra, "\r\n") + "\r\n"
	}
	if strings.EqualFold(m.method, "NOTIFY") {
		m.event = "Event: keep-alive\r\n"
	}
	s, err := dispatch.Need[*sl.Module](p, "sl")
	if err != nil {
		return fmt.Errorf("nat_traversal: cannot bind to SL API: %w", err)
	}
	t, err := dispatch.Need[*tm.Module](p, "tm")
	if err != nil {
		return fmt.Errorf("nat_traversal: cannot load the TM module API: %w", err)
	}
	s.OnReply(m.slReply)
	t.OnReplyIn(m.tmReply)
	if d, ok := p.Module("dialog").(*dialog.Module); ok {
		m.dlg = d
		d.OnDialog(m.dialogHook)
	}
	m.callidPrefix = strconv.FormatUint(uint64(rand.Uint32()>>1), 16)
	m.callidCounter.Store(rand.Uint32() >> 1)
	m.fromTag.Store(rand.Uint32() >> 1)
	return nil
}

// Start restores the bindings of the state file and starts the timer.
func (m *Module) Start(env *router.Env) error {
	m.env, m.log, m.started = env, env.Log, time.Now()
	if m.log == nil {
		m.log = slog.Default()
	}
	m.restore()
	if m.dlg != nil && m.dlg.Flag() >= 0 {
		// Every initial INVITE gets the dialog flag, as Kamailio's
		// pre-script callback does: a call to a phone kept alive keeps it
		// alive while it lasts.
		flag := uint64(1) << uint(m.dlg.Flag())
		env.PreRequest = append(env.PreRequest, func(c *router.Ctx) {
			if c.Msg.Method() == sip.MethodINVITE {
				if to := c.Msg.To(); to != nil && len(to.Tag) == 0 {
					c.Flags |= flag
				}
			}
		})
	}
	m.timer = ticker.Start(time.Second, func(time.Time) { m.keepalive() })
	return nil
}

// Stop ends the timer and saves the bindings.
func (m *Module) Stop() {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
		m.save()
	}
}

// RegisterStats registers Kamailio's counters of the module.
func (m *Module) RegisterStats(r *stats.Registry) {
	r.Func("nat_traversal", "keepalive_endpoints", "NAT bindings kept alive", stats.Gauge, func() int64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return int64(len(m.table))
	})
	r.Func("nat_traversal", "registered_endpoints", "bindings with a registration", stats.Gauge, m.registered.Load)
	r.Func("nat_traversal", "subscribed_endpoints", "bindings with a subscription", stats.Gauge, m.subscribed.Load)
	r.Func("nat_traversal", "dialog_endpoints", "dialogs kept alive, counted once per binding", stats.Gauge, m.dialogEnds.Load)
}

// sourceURI is sip:ip:port of the request's source; with transport the
// transport parameter of a stream ($source_uri).
func sourceURI(c *router.Ctx, transportParam bool) string {
	src := c.Src()
	ip := src.Addr().Unmap()
	host := ip.String()
	if ip.Is6() {
		host = "[" + host + "]"
	}
	u := "sip:" + host + ":" + strconv.Itoa(int(src.Port()))
	if transportParam && c.Pkt != nil {
		switch c.Pkt.Proto {
		case sip.TransportTCP:
			u += ";transport=tcp"
		case sip.TransportTLS:
			u += ";transport=tls"
		case sip.TransportWS, sip.TransportWSS:
			u += ";transport=ws"
		}
	}
	return u
}

// private reports an address of RFC 1918, RFC 6598 shared space or the
// RFC 7335 prefix, as Kamailio's list has them; false for what is not an
// IPv4 address.
func private(host string) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() {
		return false
	}
	for _, p := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/29"} {
		if netip.MustParsePrefix(p).Contains(ip) {
			return true
		}
	}
	return false
}

// natTest is client_nat_test: 1 when one of the tests asked says NAT.
func (m *Module) natTest(c *router.Ctx, tests int) int {
	msg := c.Msg
	if tests&testPrivateContact != 0 {
		if ct, err := msg.Contact(); err == nil && ct != nil && private(string(ct.URI.Host)) {
			return 1
		}
	}
	if tests&testSourceAddress != 0 {
		if v := msg.TopVia(); v != nil {
			port := v.Port
			if port == 0 {
				port = 5060
			}
			src := c.Src()
			if string(v.Host) != src.Addr().Unmap().String() || int(src.Port()) != port {
				return 1
			}
		}
	}
	if tests&testPrivateVia != 0 {
		if v := msg.TopVia(); v != nil && private(string(v.Host)) {
			return 1
		}
	}
	return -1
}

// fixContact is fix_contact: the first Contact's host and port become the
// source address.
func (m *Module) fixContact(c *router.Ctx) int {
	msg := c.Msg
	ct, err := msg.Contact()
	if err != nil || ct == nil || len(ct.URI.Host) == 0 {
		return -1
	}
	src := c.Src()
	ip := src.Addr().Unmap()
	port := ct.URI.Port
	if port == 0 {
		port = 5060
	}
	if string(ct.URI.Host) == ip.String() && port == int(src.Port()) {
		return 1
	}
	raw := ct.URI.Raw
	hs := cap(raw) - cap(ct.URI.Host)
	he := hs + len(ct.URI.Host)
	if ct.URI.Port != 0 { // past ":port"
		for he < len(raw) && raw[he] != ';' && raw[he] != '?' && raw[he] != '>' {
			he++
		}
	}
	host := ip.String()
	if ip.Is6() {
		host = "[" + host + "]"
	}
	nu := string(raw[:hs]) + host + ":" + strconv.Itoa(int(src.Port())) + string(raw[he:])
	if err := msg.Replace(raw, []byte(nu)); err != nil {
		return -1
	}
	return 1
}

// reqState marks a request nat_keepalive was called for, with what the
// reply handling needs; it goes with the request into its transaction.
type reqState struct {
	on       bool
	method   sip.Method
	src      netip.AddrPort
	socket   string
	contacts []string // a REGISTER's Contact URIs
}

var state = router.NewSlot[reqState]()

var _ router.Carrier = (*reqState)(nil)

func (s *reqState) Reset() { s.on, s.contacts = false, s.contacts[:0] }

func (s *reqState) AppendCarried(dst []byte) []byte {
	if !s.on {
		return dst
	}
	line := strconv.Itoa(int(s.method)) + "\n" + s.src.String() + "\n" + s.socket + "\n" + strings.Join(s.contacts, "\n")
	return append(dst, line...)
}

func (s *reqState) RestoreCarried(b []byte) {
	s.Reset()
	if len(b) == 0 {
		return
	}
	parts := strings.Split(string(b), "\n")
	if len(parts) < 3 {
		return
	}
	meth, _ := strconv.Atoi(parts[0])
	src, err := netip.ParseAddrPort(parts[1])
	if err != nil {
		return
	}
	s.on, s.method, s.src, s.socket = true, sip.Method(meth), src, parts[2]
	for _, c := range parts[3:] {
		if c != "" {
			s.contacts = append(s.contacts, c)
		}
	}
}

// keepaliveReq is nat_keepalive: a REGISTER or SUBSCRIBE over UDP is
// marked; its 2xx, sent here or relayed, starts or extends the keepalives
// of its source. An INVITE gets the dialog module's dlg_flag (its dialog
// is made when it is relayed) and its source is kept alive while the
// dialog lasts; without the dialog module -1, as Kamailio.
func (m *Module) keepaliveReq(c *router.Ctx) int {
	msg := c.Msg
	if c.Pkt == nil || c.Pkt.Proto != sip.TransportUDP {
		return -1
	}
	st := state.Of(c)
	switch msg.Method() {
	case sip.MethodREGISTER, sip.MethodSUBSCRIBE:
		st.on, st.method, st.src = true, msg.Method(), c.Src()
		if c.Pkt.Local != nil {
			st.socket = c.Pkt.Local.String()
		}
		st.contacts = st.contacts[:0]
		for it := msg.Contacts(); ; {
			var ct sip.Contact
			if !it.Next(&ct) {
				break
			}
			if ct.Star {
				st.contacts = append(st.contacts[:0], "*")
				break
			}
			st.contacts = append(st.contacts, string(ct.URI.Raw))
		}
		return 1
	case sip.MethodINVITE:
		if m.dlg == nil {
			c.Log().Error("nat_traversal: cannot keep alive dialog without the dialog module being loaded", "route", c.Route)
			return -1
		}
		st.on, st.method, st.src = true, sip.MethodINVITE, c.Src()
		if f := m.dlg.Flag(); f >= 0 {
			c.Flags |= 1 << uint(f) // have the dialog module trace this dialog
		}
		return 1
	}
	c.Log().Error("nat_traversal: unsupported method for keepalive", "route", c.Route)
	return -1
}

// slReply is sl's hook: a 2xx sent here for a marked request.
func (m *Module) slReply(c *router.Ctx, code int, headers, out []byte) {
	st := state.Of(c)
	if !st.on || st.method == sip.MethodINVITE || code < 200 || code >= 300 {
		return
	}
	// The reply sent, or (sent through the request's transaction) one
	// made of the headers the sender gave.
	raw := out
	if raw == nil {
		raw = []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n" + string(headers) + "Content-Length: 0\r\n\r\n")
	}
	var reply sip.Msg
	if reply.Parse(raw) != nil {
		return
	}
	m.replied(c, st, &reply)
}

// tmReply is tm's hook: a 2xx received for a marked request relayed.
func (m *Module) tmReply(c *router.Ctx, carried []byte) {
	kept := state.Carried(carried)
	if len(kept) == 0 {
		return
	}
	code := c.Msg.StatusCode()
	if code < 200 || code >= 300 {
		return
	}
	var st reqState
	st.RestoreCarried(kept)
	if st.on && st.method != sip.MethodINVITE {
		m.replied(c, &st, c.Msg)
	}
}

// dialogHook follows the dialogs (Kamailio's dialog callbacks): a dialog
// made for an INVITE nat_keepalive marked keeps its caller's binding
// alive; the sources of the provisional replies that already have a
// binding (a phone registered with nat_keepalive) keep theirs while the
// call rings, the answering one's for the whole call.
func (m *Module) dialogHook(kind int, key string, c *router.Ctx) {
	now := time.Now().Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.dlgs[key]
	switch kind {
	case dialog.Created:
		if c.Msg.Method() != sip.MethodINVITE {
			return
		}
		p = &dlgParam{expire: now + int64(m.dlg.DefaultTimeout())}
		m.dlgs[key] = p
		st := state.Of(c)
		if !st.on || st.method != sip.MethodINVITE || c.Pkt == nil || c.Pkt.Local == nil {
			return
		}
		p.caller = sourceURI(c, false)
		b := m.table[p.caller]
		if b == nil {
			src := c.Src()
			b = &binding{uri: p.caller, addr: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), socket: c.Pkt.Local, phase: int(hash(p.caller) % uint32(m.interval))}
			m.table[p.caller] = b
		}
		m.addDialog(b, key, p.expire)
	case dialog.Early:
		if p == nil || p.confirmed {
			return // a late 1xx
		}
		uri := sourceURI(c, false)
		for _, x := range p.candidates {
			if x == uri {
				return
			}
		}
		p.candidates = append(p.candidates, uri)
		if b := m.table[uri]; b != nil {
			m.addDialog(b, key, p.expire)
		}
	case dialog.Confirmed:
		if p == nil {
			return
		}
		p.confirmed = true
		uri := sourceURI(c, false)
		for _, x := range p.candidates {
			if x != uri {
				m.endDialog(x, key) // an unanswered branch
			}
		}
		p.candidates = nil
		if b := m.table[uri]; b != nil {
			m.addDialog(b, key, p.expire)
			p.callee = uri
		}
	case dialog.Destroyed:
		if p == nil {
			return
		}
		for _, x := range append([]string{p.caller, p.callee}, p.candidates...) {
			m.endDialog(x, key)
		}
		delete(m.dlgs, key)
	}
}

// addDialog keeps a binding alive for a dialog; the lock is held.
func (m *Module) addDialog(b *binding, key string, expire int64) {
	if _, ok := b.dialogs[key]; ok {
		return
	}
	if b.dialogs == nil {
		b.dialogs = map[string]int64{}
	}
	b.dialogs[key] = expire
	m.dialogEnds.Add(1)
}

// endDialog ends a dialog's keepalive of the binding of uri; the lock
// is held.
func (m *Module) endDialog(uri, key string) {
	if uri == "" {
		return
	}
	if b := m.table[uri]; b != nil {
		if exp, ok := b.dialogs[key]; ok && exp > 0 {
			b.dialogs[key] = 0
			m.dialogEnds.Add(-1)
		}
	}
}

// replied adds or extends the binding of the request's source: a
// SUBSCRIBE until the reply's Expires, a REGISTER until the longest
// expires the reply gives its Contacts.
func (m *Module) replied(c *router.Ctx, st *reqState, reply *sip.Msg) {
	now := time.Now().Unix()
	var expire int64
	switch st.method {
	case sip.MethodSUBSCRIBE:
		if e := reply.Expires(); e > 0 {
			expire = now + int64(e)
		}
	case sip.MethodREGISTER:
		if len(st.contacts) == 0 || st.contacts[0] == "*" {
			return
		}
		var max int64
		for it := reply.Contacts(); ; {
			var ct sip.Contact
			if !it.Next(&ct) {
				break
			}
			for _, req := range st.contacts {
				if m.sameContact(req, string(ct.URI.Raw)) && ct.Expires > 0 && int64(ct.Expires) > max {
					max = int64(ct.Expires)
				}
			}
		}
		if max > 0 {
			expire = now + max
		}
	}
	if expire == 0 {
		return
	}
	var sock *transport.Listener
	if m.env != nil {
		sock = m.env.Socket(st.socket)
	}
	if sock == nil {
		return
	}
	m.update(sock, st.src, st.method == sip.MethodSUBSCRIBE, expire)
}

// sameContact is contact_match: 0 the same text, 1 the same URI.
func (m *Module) sameContact(a, b string) bool {
	if m.contactMatch == 0 {
		return a == b
	}
	var ua, ub sip.URI
	if sip.ParseURI([]byte(a), &ua) != nil || sip.ParseURI([]byte(b), &ub) != nil {
		return a == b
	}
	return ua.Scheme == ub.Scheme && string(ua.User) == string(ub.User) &&
		strings.EqualFold(string(ua.Host), string(ub.Host)) && ua.Port == ub.Port
}

// update adds a binding or moves its expiry later.
func (m *Module) update(sock *transport.Listener, src netip.AddrPort, sub bool, expire int64) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	host := src.Addr().String()
	if src.Addr().Is6() {
		host = "[" + host + "]"
	}
	uri := "sip:" + host + ":" + strconv.Itoa(int(src.Port()))
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.table[uri]
	if b == nil {
		b = &binding{uri: uri, addr: src, socket: sock, phase: int(hash(uri) % uint32(m.interval))}
		m.table[uri] = b
	}
	if sub {
		if expire > b.subExpire {
			if b.subExpire == 0 {
				m.subscribed.Add(1)
			}
			b.subExpire = expire
		}
	} else if expire > b.regExpire {
		if b.regExpire == 0 {
			m.registered.Add(1)
		}
		b.regExpire = expire
	}
}

func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// keepalive is the timer's second: the expired bindings go, those of
// this second of the interval get their keepalive (each binding once an
// interval, as Kamailio's slots).
func (m *Module) keepalive() {
	now := time.Now().Unix()
	m.mu.Lock()
	iteration := m.tick % m.interval
	m.tick++
	var due []*binding
	for uri, b := range m.table {
		if b.regExpire != 0 && now > b.regExpire {
			m.registered.Add(-1)
			b.regExpire = 0
		}
		if b.subExpire != 0 && now > b.subExpire {
			m.subscribed.Add(-1)
			b.subExpire = 0
		}
		if live := b.liveDialogs(m, now); b.regExpire == 0 && b.subExpire == 0 && live == 0 {
			delete(m.table, uri)
			continue
		}
		if b.phase == iteration {
			due = append(due, b)
		}
	}
	m.mu.Unlock()
	for _, b := range due {
		m.send(b)
	}
}

// send writes one keepalive as Kamailio's send_keepalive does, to the
// binding from its socket.
func (m *Module) send(b *binding) {
	sock := b.socket
	addr := sock.Addr.Addr().Unmap().String()
	if sock.Addr.Addr().Unmap().Is6() {
		addr = "[" + addr + "]"
	}
	from := m.from
	if from == "" {
		from = "sip:keepalive@" + addr
	}
	ticks := int64(time.Since(m.started) / time.Second)
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%d\r\nFrom: %s;tag=%x\r\nTo: %s\r\n"+
		"Call-ID: %s-%x-%x@%s\r\nCSeq: 1 %s\r\n%s%sContent-Length: 0\r\n\r\n",
		m.method, b.uri, addr, sock.Addr.Port(), 1000000+rand.IntN(9000000), from, m.fromTag.Add(1)-1, b.uri,
		m.callidPrefix, m.callidCounter.Add(1)-1, ticks, addr, m.method, m.event, m.extra)
	if m.env == nil || m.env.Transport == nil {
		return
	}
	if err := m.env.Transport.Send(sock, sip.TransportUDP, b.addr, []byte(msg)); err != nil {
		m.log.Debug("nat_traversal: keepalive not sent", "to", b.uri, "error", err)
	}
}

const stateHeader = "# Automatically generated file from internal keepalive state. Do NOT modify!\n"

// save writes the bindings: "uri socket registration_expire
// subscription_expire" a line, as Kamailio's file.
func (m *Module) save() {
	if m.stateFile == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString(stateHeader)
	for _, x := range m.table {
		fmt.Fprintf(&b, "%s %s %d %d\n", x.uri, x.socket.String(), x.regExpire, x.subExpire)
	}
	if err := os.WriteFile(m.stateFile, []byte(b.String()), 0o644); err != nil {
		m.log.Error("nat_traversal: failed to write keepalive state file " + m.stateFile + ": " + err.Error())
	}
}

// restore reads the state file: the bindings not expired on sockets
// this proxy still has.
func (m *Module) restore() {
	if m.stateFile == "" {
		return
	}
	f, err := os.Open(m.stateFile)
	if err != nil {
		if !os.IsNotExist(err) {
			m.log.Error("nat_traversal: failed to open keepalive state file for reading: " + err.Error())
		}
		return
	}
	defer f.Close()
	now := time.Now().Unix()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 {
			m.log.Error("nat_traversal: invalid/corrupted keepalive state file. ignoring remaining entries.")
			return
		}
		rt, err1 := strconv.ParseInt(fs[2], 10, 64)
		st, err2 := strconv.ParseInt(fs[3], 10, 64)
		if err1 != nil || err2 != nil {
			m.log.Error("nat_traversal: invalid/corrupted keepalive state file. ignoring remaining entries.")
			return
		}
		if now > rt && now > st {
			continue
		}
		sock := m.env.Socket(fs[1])
		addr, err := netip.ParseAddrPort(strings.TrimPrefix(fs[0], "sip:"))
		if sock == nil || err != nil {
			continue
		}
		if rt > now {
			m.update(sock, addr, false, rt)
		}
		if st > now {
			m.update(sock, addr, true, st)
		}
	}
}

// Exports are KSR.nat_traversal and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "client_nat_test", Ret: I, Fn: dispatch.FI(m.natTest)},
		{Name: "fix_contact", Ret: I, Fn: dispatch.F0(m.fixContact)},
		{Name: "nat_keepalive", Ret: I, Fn: dispatch.F0(m.keepaliveReq)},
	}
}
