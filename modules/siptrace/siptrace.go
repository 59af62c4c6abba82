// Package siptrace is Kamailio's siptrace module: SIP messages copied to a
// capture server (HEP versions 1, 2 and 3, or the plain message) and/or
// stored in the sip_trace table — the current message (sip_trace()), or
// with transaction mode the requests relayed and the replies received
// and sent for it too, with dialog mode those of the whole dialog; and
// log lines in HEP (hlog).
package siptrace

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
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

// Module is the siptrace module of one proxy.
type Module struct {
	conf struct {
		dbURL, table, dupURI, localIP, authKey string
		traceOn, toDB, hepOn                   bool
		hepVersion, captureID                  int
		tracedUserAVP, sendSock                string
	}
	dup      netip.AddrPort
	dupProto sip.Transport
	env      *router.Env
	log      *slog.Logger
	db       *db.DB
	mu       sync.Mutex
	dialogs  map[string]dialogTrace // Call-IDs traced in dialog mode
	dlgMod   *dialog.Module
	tm, dlg  bool // tm and dialog are loaded
	sweeper  *ticker.Ticker
	stats    struct{ req, rpl int64 }
}

// traceDst is where a traced message goes: a URI (a destination of its
// own) or "" for duplicate_uri, and the correlation id.
type traceDst struct{ uri, cid string }

// dialogTrace is a dialog traced in "d" mode: where to, since when.
type dialogTrace struct {
	dst   traceDst
	since time.Time
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
	dispatch.Register(dispatch.ModuleInfo{Name: "siptrace",
		Params: []dispatch.Param{
			p("db_url", s, "Kamailio's default", "the database of the sip_trace table"),
			p("table", s, "sip_trace", ""),
			p("trace_on", i, "0", "1: tracing on (sip_trace does nothing while it is 0)"),
			p("trace_to_database", i, "1", "1: each message stored in the table"),
			p("duplicate_uri", s, "", "sip:ip:port of the capture server"),
			p("hep_mode_on", i, "0", "1: HEP to the capture server, 0: the plain message"),
			p("hep_version", i, "1", "1, 2 or 3"),
			p("hep_capture_id", i, "1", "the capture id in HEP 2 and 3"),
			p("auth_key", s, "", "HEP 3 authentication key chunk"),
			p("trace_local_ip", s, "", "the address written for this proxy"),
			p("traced_user_avp", s, "", "an AVP: tracing while it is set (with trace_on 0), stored as traced_user"),
			p("trace_flag", i, "-1", "accepted: sip_trace is called by the script"),
			p("force_send_sock", s, "", "the socket HEP leaves from (proto:ip:port)"),
			p("send_sock_addr", s, "", "same as force_send_sock"),
			p("trace_mode", i, "0", "accepted: tracing every message from the core is not done (the script calls sip_trace)"),
			p("trace_init_mode", i, "0", "accepted"),
			p("trace_sl_acks", i, "1", "accepted"),
			p("xheaders_write", i, "0", "accepted, not written"),
			p("xheaders_read", i, "0", "accepted, not read"),
			p("trace_delayed", i, "0", "accepted"),
			p("trace_db_mode", i, "0", "accepted: inserts are synchronous"),
		},
		New: func() dispatch.Module { return &Module{dialogs: map[string]dialogTrace{}} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.dbURL, c.table = p.Str("db_url", db.DefaultURL), p.Str("table", "sip_trace")
	c.traceOn, c.toDB = p.Int("trace_on", 0) != 0, p.Int("trace_to_database", 1) != 0
	c.dupURI, c.hepOn = p.Str("duplicate_uri", ""), p.Int("hep_mode_on", 0) != 0
	c.hepVersion, c.captureID = p.Int("hep_version", 1), p.Int("hep_capture_id", 1)
	c.authKey, c.localIP = p.Str("auth_key", ""), p.Str("trace_local_ip", "")
	c.tracedUserAVP = p.Str("traced_user_avp", "")
	c.sendSock = p.Str("force_send_sock", p.Str("send_sock_addr", ""))
	for _, n := range []string{"trace_flag", "trace_mode", "trace_init_mode", "trace_sl_acks", "xheaders_write", "xheaders_read", "trace_delayed", "trace_db_mode"} {
		p.Int(n, 0)
	}
	if c.hepVersion < 1 || c.hepVersion > 3 {
		return fmt.Errorf("siptrace: unsupported hep_version %d (1, 2 or 3)", c.hepVersion)
	}
	if c.tracedUserAVP != "" {
		if _, err := router.ParsePV(c.tracedUserAVP); err != nil {
			return fmt.Errorf("siptrace: traced_user_avp: %w", err)
		}
	}
	if err := db.Ident("table", c.table); err != nil {
		return fmt.Errorf("siptrace: %w", err)
	}
	if c.dupURI != "" {
		a, proto, err := parseDst(c.dupURI)
		if err != nil {
			return fmt.Errorf("siptrace: duplicate_uri: %w", err)
		}
		m.dup, m.dupProto = a, proto
	}
	if t, ok := p.Module("tm").(*tm.Module); ok {
		t.OnSend(m.tmSent)
		t.OnReplyIn(m.tmReplyIn)
		m.tm = true
	}
	if s, ok := p.Module("sl").(*sl.Module); ok {
		s.OnReply(m.slReply)
	}
	if d, ok := p.Module("dialog").(*dialog.Module); ok {
		d.OnSequential(m.dialogRequest)
		m.dlg, m.dlgMod = true, d
	}
	return nil
}

// parseDst is a capture server's sip:ip:port (a host name resolved now).
func parseDst(uri string) (netip.AddrPort, sip.Transport, error) {
	var u sip.URI
	if err := sip.ParseURI([]byte(uri), &u); err != nil {
		return netip.AddrPort{}, 0, err
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(strings.Trim(string(u.Host), "[]"))
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%s: want an IP address", u.Host)
	}
	proto := sip.ParseTransport(u.TransportParam())
	if proto == 0 {
		proto = sip.TransportUDP
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), proto, nil
}

// Start opens the database when messages are stored.
func (m *Module) Start(env *router.Env) error {
	m.env, m.log = env, env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.conf.toDB {
		d, err := db.OpenParam("siptrace", m.conf.dbURL)
		if err != nil {
			return fmt.Errorf("siptrace: %w", err)
		}
		if err := d.CheckVersion(context.Background(), m.conf.table, 4); err != nil {
			d.Close()
			return fmt.Errorf("siptrace: %w", err)
		}
		m.db = d
	}
	if m.dlg {
		m.sweeper = ticker.Start(time.Minute, func(now time.Time) { m.forgetGone(now.Add(-time.Minute)) })
	}
	return nil
}

// The sweeper forgets, each minute, the dialogs traced in "d" mode that
// the dialog module no longer keeps (ended without a BYE through the
// proxy, failed, or never made by dlg_manage).

// forgetGone drops the traced dialogs older than before that the dialog
// module does not keep.
func (m *Module) forgetGone(before time.Time) {
	ids := m.dlgMod.CallIDs()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, dt := range m.dialogs {
		if dt.since.Before(before) && !ids[id] {
			delete(m.dialogs, id)
		}
	}
}

// Stop closes the database.
func (m *Module) Stop() {
	m.sweeper.Stop()
	m.sweeper = nil
	if m.db != nil {
		m.db.Close()
		m.db = nil
	}
}

// RegisterStats registers Kamailio's counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	read := func(v *int64) func() int64 { return stats.Guarded(&m.mu, v) }
	r.Func("siptrace", "traced_requests", "requests traced", stats.Counter, read(&m.stats.req))
	r.Func("siptrace", "traced_replies", "replies traced", stats.Counter, read(&m.stats.rpl))
}

// reqState is a request's trace mode ("t" transaction, "d" dialog) and
// destination; it goes with the request into its transaction.
type reqState struct {
	mode byte
	dst  traceDst
	sl   bool // the request was traced: its stateless reply is too
}

var state = router.NewSlot[reqState]()

var _ router.Carrier = (*reqState)(nil)

func (s *reqState) Reset() { *s = reqState{} }

func (s *reqState) AppendCarried(dst []byte) []byte {
	if s.mode == 0 {
		return dst
	}
	return append(append(append(append(dst, s.mode), s.dst.uri...), 0), s.dst.cid...)
}

func (s *reqState) RestoreCarried(b []byte) {
	*s = reqState{}
	if len(b) == 0 {
		return
	}
	s.mode = b[0]
	uri, cid, _ := strings.Cut(string(b[1:]), "\x00")
	s.dst = traceDst{uri, cid}
}

// record is one traced message.
type record struct {
	buf               []byte
	msg               *sip.Msg
	proto             sip.Transport
	src, dst          netip.AddrPort
	fromIP, toIP, dir string
	tracedUser        string
	request           bool
}

func protoName(p sip.Transport) string {
	switch p {
	case sip.TransportTCP:
		return "tcp"
	case sip.TransportTLS:
		return "tls"
	case sip.TransportWS:
		return "ws"
	case sip.TransportWSS:
		return "wss"
	}
	return "udp"
}

func addrText(p sip.Transport, a netip.AddrPort) string {
	ip := a.Addr().Unmap()
	host := ip.String()
	if ip.Is6() {
		host = "[" + host + "]"
	}
	return protoName(p) + ":" + host + ":" + strconv.Itoa(int(a.Port()))
}

// on reports whether tracing is on for c: trace_on, or the traced user
// AVP set (its value returned).
func (m *Module) on(c *router.Ctx) (string, bool) {
	if m.conf.tracedUserAVP != "" && c != nil {
		if pv, err := c.W.PV(m.conf.tracedUserAVP); err == nil {
			if v := pv.Get(c); !v.IsNull() {
				return v.String(), true
			}
		}
	}
	return "", m.conf.traceOn
}

// traceIn is sip_trace_helper for the current (received) message.
func (m *Module) traceIn(c *router.Ctx, dst traceDst) int {
	user, ok := m.on(c)
	if !ok {
		return -1
	}
	if c.Pkt == nil {
		return -1
	}
	r := &record{buf: c.Msg.Bytes(), msg: c.Msg, proto: c.Pkt.Proto, src: c.Src(), dir: "in", tracedUser: user, request: c.Msg.IsRequest()}
	if c.Pkt.Local != nil {
		r.dst = c.Pkt.Local.Addr
	}
	m.fill(r)
	return m.store(r, dst)
}

// fill writes fromip and toip, trace_local_ip for this proxy's side.
func (m *Module) fill(r *record) {
	r.fromIP, r.toIP = addrText(r.proto, r.src), addrText(r.proto, r.dst)
	if m.conf.localIP != "" {
		if r.dir == "out" {
			r.fromIP = m.conf.localIP
		} else {
			r.toIP = m.conf.localIP
		}
	}
}

// store is sip_trace_store: the row in the table, the copy to the
// capture server (HEP or plain) when there is one.
func (m *Module) store(r *record, dst traceDst) int {
	now := time.Now()
	m.mu.Lock()
	if r.request {
		m.stats.req++
	} else {
		m.stats.rpl++
	}
	m.mu.Unlock()
	rc := 1
	if m.db != nil {
		if err := m.insert(r, now); err != nil {
			m.log.Error("siptrace: error storing trace: " + err.Error())
			rc = -1
		}
	}
	to, proto := m.dup, m.dupProto
	if dst.uri != "" {
		a, p, err := parseDst(dst.uri)
		if err != nil {
			m.log.Error("siptrace: bad destination " + dst.uri + ": " + err.Error())
			return -1
		}
		to, proto = a, p
	}
	if !to.IsValid() {
		return rc
	}
	if !m.conf.hepOn && dst.uri == "" && m.conf.toDB {
		return rc // the plain copy goes to duplicate_uri only when not stored (Kamailio's rule)
	}
	var out []byte
	if m.conf.hepOn {
		out = m.hep(r.buf, r.proto, r.src, r.dst, now, 1, dst.cid, m.conf.hepVersion)
	} else {
		out = r.buf
	}
	m.send(proto, to, out)
	return rc
}

// send writes a copy to the capture server from force_send_sock or a
// socket of the proxy of the protocol's family.
func (m *Module) send(proto sip.Transport, to netip.AddrPort, out []byte) {
	if m.env == nil || m.env.Transport == nil {
		return
	}
	var local *transport.Listener
	if m.conf.sendSock != "" {
		local = m.env.Socket(m.conf.sendSock)
	}
	if local == nil {
		for _, l := range m.env.Transport.Listeners {
			if l.Proto == proto && l.Addr.Addr().Is4() == to.Addr().Is4() {
				local = l
				break
			}
		}
	}
	if local == nil {
		m.log.Error("siptrace: no socket to send the trace to " + to.String())
		return
	}
	if err := m.env.Transport.Send(local, proto, to, out); err != nil {
		m.log.Debug("siptrace: trace not sent: " + err.Error())
	}
}

// insert writes a sip_trace row.
func (m *Module) insert(r *record, now time.Time) error {
	var callID, method, status, ftag, ttag string
	if r.msg != nil {
		callID = string(r.msg.CallID())
		if r.msg.IsRequest() {
			method = string(r.msg.MethodName())
		} else {
			method = string(r.msg.CSeqMethodName())
			status = strconv.Itoa(r.msg.StatusCode())
		}
		if f := r.msg.From(); f != nil {
			ftag = string(f.Tag)
		}
		if t := r.msg.To(); t != nil {
			ttag = string(t.Tag)
		}
	}
	_, err := m.db.Exec(context.Background(), "INSERT INTO "+m.conf.table+" (time_stamp, time_us, callid, traced_user, msg, method, status, fromip, toip, fromtag, totag, direction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		m.db.TimeArg(now), now.Nanosecond()/1000, callID, r.tracedUser, string(r.buf), method, status, r.fromIP, r.toIP, ftag, ttag, r.dir)
	return err
}

// hep encodes a copy: HEP 1, 2 or 3 (HEP 3 with the correlation id and
// the auth key; ptype 1 SIP, 100 a log line).
func (m *Module) hep(payload []byte, proto sip.Transport, src, dst netip.AddrPort, now time.Time, ptype byte, cid string, version int) []byte {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	ipProto := byte(17)
	if proto != sip.TransportUDP && proto != sip.TransportOther {
		ipProto = 6 // TCP under TLS and WebSocket too
	}
	v6 := src.Addr().Is6() || dst.Addr().Is6()
	family := byte(2)
	if v6 {
		family = 10
	}
	if version < 3 {
		var b []byte
		hlen := byte(16)
		if v6 {
			hlen = 40
		}
		b = append(b, byte(version), hlen, family, ipProto)
		b = binary.BigEndian.AppendUint16(b, src.Port())
		b = binary.BigEndian.AppendUint16(b, dst.Port())
		if v6 {
			s16, d16 := src.Addr().As16(), dst.Addr().As16()
			b = append(append(b, s16[:]...), d16[:]...)
		} else {
			s4, d4 := src.Addr().As4(), dst.Addr().As4()
			b = append(append(b, s4[:]...), d4[:]...)
		}
		if version == 2 {
			b = binary.LittleEndian.AppendUint32(b, uint32(now.Unix()))
			b = binary.LittleEndian.AppendUint32(b, uint32(now.Nanosecond()/1000))
			b = binary.LittleEndian.AppendUint16(b, uint16(m.conf.captureID))
			b = append(b, 0, 0)
		}
		return append(b, payload...)
	}
	b := []byte("HEP3\x00\x00")
	chunk := func(typ uint16, data []byte) {
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(data)))
		b = append(b, data...)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	chunk(0x01, []byte{family})
	chunk(0x02, []byte{ipProto})
	if v6 {
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		chunk(0x05, s16[:])
		chunk(0x06, d16[:])
	} else {
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		chunk(0x03, s4[:])
		chunk(0x04, d4[:])
	}
	chunk(0x07, u16(src.Port()))
	chunk(0x08, u16(dst.Port()))
	chunk(0x09, u32(uint32(now.Unix())))
	chunk(0x0a, u32(uint32(now.Nanosecond()/1000)))
	chunk(0x0b, []byte{ptype})
	chunk(0x0c, u32(uint32(m.conf.captureID)))
	if cid != "" {
		chunk(0x11, []byte(cid))
	}
	if m.conf.authKey != "" {
		chunk(0x0e, []byte(m.conf.authKey))
	}
	chunk(0x0f, payload)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

// traceMsg is sip_trace(dst, cid, type): the current message now, and
// with "t" or "d" what its transaction (dialog) sends and receives.
func (m *Module) traceMsg(c *router.Ctx, uri, cid, typ string) int {
	mode, ok := parseMode(typ)
	if !ok {
		c.Log().Error("siptrace: invalid trace type ["+typ+"]", "route", c.Route)
		return -1
	}
	if _, on := m.on(c); !on {
		return -1
	}
	dst := traceDst{uri, cid}
	if mode == 't' && !m.tm || mode == 'd' && !m.dlg {
		c.Log().Error("siptrace: transaction mode needs tm, dialog mode tm and dialog", "route", c.Route)
		return -1
	}
	if c.Msg.IsRequest() {
		st := state.Of(c)
		st.sl, st.dst = true, dst
	}
	if mode != 'm' && c.Msg.IsRequest() {
		st := state.Of(c)
		st.mode, st.dst = mode, dst
		if mode == 'd' && c.Msg.Method() == sip.MethodINVITE {
			m.mu.Lock()
			m.dialogs[string(c.Msg.CallID())] = dialogTrace{dst, time.Now()}
			m.mu.Unlock()
		}
	}
	return m.traceIn(c, dst)
}

func parseMode(s string) (byte, bool) {
	switch strings.ToLower(s) {
	case "", "m":
		return 'm', true
	case "t":
		return 't', true
	case "d":
		return 'd', true
	}
	return 0, false
}

// traceMode is sip_trace_mode(mode): the message and, by mode, its
// transaction or dialog, to duplicate_uri and the table.
func (m *Module) traceMode(c *router.Ctx, mode string) int {
	return m.traceMsg(c, "", "", mode)
}

// tmSent is tm's hook: what a traced transaction sends.
func (m *Module) tmSent(s *tm.Sent) {
	kept := state.Carried(s.Carried)
	if len(kept) == 0 {
		return
	}
	var st reqState
	st.RestoreCarried(kept)
	if st.mode == 0 {
		return
	}
	var msg sip.Msg
	parsed := msg.Parse(s.Buf) == nil
	r := &record{buf: s.Buf, proto: s.Proto, dst: s.Dst, dir: "out", request: s.Request}
	if parsed {
		r.msg = &msg
	}
	if s.Local != nil {
		r.src = s.Local.Addr
	}
	m.fill(r)
	m.store(r, st.dst)
}

// slReply is sl's hook: the stateless reply to a traced request.
func (m *Module) slReply(c *router.Ctx, _ int, _, out []byte) {
	st := state.Of(c)
	if !st.sl || out == nil || c.Pkt == nil {
		return
	}
	user, _ := m.on(c)
	r := &record{buf: out, proto: c.Pkt.Proto, dst: c.ReplyDst(), dir: "out", tracedUser: user}
	var msg sip.Msg
	if msg.Parse(out) == nil {
		r.msg = &msg
	}
	if c.Pkt.Local != nil {
		r.src = c.Pkt.Local.Addr
	}
	m.fill(r)
	m.store(r, st.dst)
}

// tmReplyIn is tm's hook: the replies a traced transaction receives.
func (m *Module) tmReplyIn(c *router.Ctx, carried []byte) {
	kept := state.Carried(carried)
	if len(kept) == 0 {
		return
	}
	var st reqState
	st.RestoreCarried(kept)
	if st.mode == 0 || c.Pkt == nil {
		return
	}
	r := &record{buf: c.Msg.Bytes(), msg: c.Msg, proto: c.Pkt.Proto, src: c.Src(), dir: "in"}
	if c.Pkt.Local != nil {
		r.dst = c.Pkt.Local.Addr
	}
	m.fill(r)
	m.store(r, st.dst)
}

// dialogRequest is for requests of a dialog traced in "d" mode: each is
// traced with its transaction; a BYE ends the dialog's tracing.
func (m *Module) dialogRequest(c *router.Ctx) {
	if !c.Msg.IsRequest() {
		return
	}
	m.mu.Lock()
	dt, ok := m.dialogs[string(c.Msg.CallID())]
	dst := dt.dst
	if ok && c.Msg.Method() == sip.MethodBYE {
		delete(m.dialogs, string(c.Msg.CallID()))
	}
	m.mu.Unlock()
	if !ok {
		return
	}
	st := state.Of(c)
	if st.mode != 0 {
		return // the script traced it already
	}
	st.mode, st.dst = 'd', dst
	m.traceIn(c, dst)
}

// hlog is hlog([cid,] message): a HEP 3 log packet (type 100) to
// duplicate_uri, correlated by cid or the Call-ID; hep_mode_on needed.
func (m *Module) hlog(c *router.Ctx, cid, message string) int {
	if !m.conf.hepOn {
		c.Log().Error("siptrace: HEP is not enabled (hep_mode_on)", "route", c.Route)
		return -1
	}
	if !m.dup.IsValid() {
		c.Log().Error("siptrace: no duplicate_uri for hlog", "route", c.Route)
		return -1
	}
	if cid == "" {
		cid = string(c.Msg.CallID())
	}
	var src netip.AddrPort
	for _, l := range m.env.Transport.Listeners {
		if l.Proto == m.dupProto {
			src = l.Addr
			break
		}
	}
	// A log line is HEP 3 whatever hep_version says, as Kamailio's.
	m.send(m.dupProto, m.dup, m.hep([]byte(message), m.dupProto, src, m.dup, time.Now(), 100, cid, 3))
	return 1
}

// Exports are KSR.siptrace and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "sip_trace", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.traceMsg(c, "", "", "") })},
		{Name: "sip_trace_dst", Native: "sip_trace", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.traceMsg(c, uri, "", "") })},
		{Name: "sip_trace_dst_cid", Native: "sip_trace", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, uri, cid string) int { return m.traceMsg(c, uri, cid, "") })},
		{Name: "sip_trace_dst_cid_type", Native: "sip_trace", Ret: I, Fn: dispatch.FSSS(m.traceMsg)},
		{Name: "sip_trace_mode", Ret: I, Fn: dispatch.FS(m.traceMode)},
		{Name: "hlog", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, msg string) int { return m.hlog(c, "", msg) })},
		{Name: "hlog_cid", Native: "hlog", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, cid, msg string) int { return m.hlog(c, cid, msg) })},
	}
}
