package router

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Ctx is the state of one message while its routes run: the message, where
// it came from, flags, the destination URI, per-message AVPs and the
// exit/drop state. A worker reuses one Ctx for every message.
type Ctx struct {
	Msg *sip.Msg
	Pkt *transport.Packet
	W   *Worker

	Flags  uint64    // message flags (setflag), 0..63
	BFlags uint64    // flags of branch 0 (setbflag)
	XFlags [2]uint64 // extended flags (setxflag), 0..127
	Drop   bool      // drop / KSR.x.drop / KSR.drop: discard the message
	RC     int       // $rc: the return code of the last function or route

	// Settings for the way the message and its replies are sent.
	ForceRPort     bool
	ReplyNoConnect bool
	ReplyClose     bool
	ForwardClose   bool
	ForwardNoConn  bool

	// Tree is the dict or array an xval export returned with a Value of
	// kind Tree, for the engine to convert.
	Tree Node

	Route string    // the route running, for logs
	Kind  RouteKind // the kind of route running
	// EventName is the event an event route runs for, given to a script
	// engine's callback function (Kamailio's KEMI event_callback
	// parameters: the function is named by the module, the event is its
	// argument); "" passes the route's name.
	EventName string
	// Transaction is the request's stateful side once a module made one
	// (tm's t_newtran, t_relay): replies the script sends go out through
	// it, so that a retransmission of the request gets them again.
	Transaction Transaction

	slots [MaxSlots]SlotValue // the modules' per-request state (Slot)

	dst      []byte // $du
	dstSet   bool
	ruri     []byte // $ru after a change
	ruriSet  bool
	ruriURI  sip.URI
	ruriOK   int8 // 0 not parsed, 1 parsed, -1 error
	srcIP    []byte
	replyHdr []byte // headers for the next locally generated reply
	// replyBody, with replyType its Content-Type, is the body of the
	// next locally generated reply (textops' set_reply_body).
	replyBody []byte
	replyType string
	Replied   int // the status of the last reply sent by the script
	// SerError is Kamailio's ser_error: what the last failed forward or
	// relay ran into (EBadAddress, EBadURI; 0 none), for sl_reply_error.
	SerError int

	avps []avp
	xl   xlists       // the XAVPs, XAVUs and XAVIs
	log  *slog.Logger // Log with this message's log_prefix
	// Via parameters to add to this proxy's Via (corex's via_add_srvid,
	// via_add_xavp_params).
	viaSrvID, viaXAVP, viaFields bool
	sendSocket                   *transport.Listener // force_send_socket / set_send_socket
	mtuProto                     sip.Transport       // udp_mtu_try_proto(): the request's own
	outHop                       Hop                 // where PrepareRequest prepares the request for
	// advAddr and advPort stand for the sending socket's address and
	// port in this message's Via and Record-Route
	// (set_advertised_address, set_advertised_port).
	advAddr, advPort string
	// sendHop is where the message onsend_route runs for goes.
	sendHop Hop
	sending bool

	branches []Branch
	path     []byte
	instance []byte
	ruriQ    int // RURIQ + 1: the zero value is none
	atEnd    []func(*Ctx)
}

type avp struct {
	name   string
	val    Value
	buf    []byte
	marked bool // stored in (or loaded from) avpops' table: Kamailio's AVP_IS_IN_DB
}

// EventArg is what an event route's function gets as its argument: the
// event (EventName) when a module set it, else the route's name.
func (c *Ctx) EventArg(route string) string {
	if c.EventName != "" {
		return c.EventName
	}
	return route
}

// reset prepares the context for the next message.
func (c *Ctx) reset(m *sip.Msg, p *transport.Packet) {
	c.Msg, c.Pkt = m, p
	c.Flags, c.BFlags, c.XFlags = 0, 0, [2]uint64{}
	c.Drop, c.RC, c.Replied, c.SerError = false, 1, 0, 0
	c.Kind, c.EventName = RouteRequest, ""
	c.Transaction = nil
	c.resetSlots()
	c.ForceRPort, c.ReplyNoConnect, c.ReplyClose, c.ForwardClose, c.ForwardNoConn = false, false, false, false, false
	c.dst, c.dstSet = c.dst[:0], false
	c.ruri, c.ruriSet, c.ruriOK = c.ruri[:0], false, 0
	c.replyHdr = c.replyHdr[:0]
	c.replyBody, c.replyType = c.replyBody[:0], ""
	c.branches, c.path, c.instance, c.ruriQ = c.branches[:0], c.path[:0], c.instance[:0], 0
	c.srcIP = c.srcIP[:0]
	if p != nil {
		c.srcIP = p.Src.Addr().AppendTo(c.srcIP)
	}
	for i := range c.avps {
		c.avps[i].val = Value{}
	}
	c.avps = c.avps[:0]
	for k := range c.xl {
		c.xl[k] = c.xl[k][:0]
	}
	c.log = nil
	c.viaSrvID, c.viaXAVP, c.viaFields = false, false, false
	c.sendSocket = nil
	c.mtuProto = 0
	c.advAddr, c.advPort = "", ""
	c.sending = false
}

// SetAdvertised has this message's Via and Record-Route name addr and
// port for the socket it leaves from; "" keeps the socket's own
// (set_advertised_address, set_advertised_port).
func (c *Ctx) SetAdvertised(addr, port string) {
	if addr != "" {
		c.advAddr = addr
	}
	if port != "" {
		c.advPort = port
	}
}

// AppendAdvertised appends the host[:port] by which this proxy names
// socket l in the message's headers: set_advertised_address/port, else
// the listener's advertise address, else its own.
func (c *Ctx) AppendAdvertised(dst []byte, l *transport.Listener) []byte {
	if c.advAddr == "" && c.advPort == "" {
		if l.Advertise != "" {
			return append(dst, l.Advertise...)
		}
		return l.Addr.AppendTo(dst)
	}
	h, p := l.Advertised()
	if c.advAddr != "" {
		h = c.advAddr
	}
	return c.appendHostPort(dst, h, Value{}, p)
}

// Log is the logger of the proxy; with log_prefix, its lines about this
// message carry the prefix, formatted for the message (attribute
// "prefix").
func (c *Ctx) Log() *slog.Logger {
	e := c.W.env
	base := c.baseLog()
	if e.LogPrefix == nil {
		return base
	}
	if c.log == nil {
		c.log = base.With("prefix", string(e.LogPrefix.Append(nil, c)))
	}
	return c.log
}

// baseLog is the worker's logger, else the proxy's.
func (c *Ctx) baseLog() *slog.Logger {
	if c.W.log != nil {
		return c.W.log
	}
	return c.W.env.Log
}

// logLine logs one line about the message as Log() does, without making
// the message's logger when it has none yet (the latency line of every
// request: a logger made per message costs it four allocations).
func (c *Ctx) logLine(lvl slog.Level, msg string) {
	e := c.W.env
	if c.log != nil || e.LogPrefix == nil {
		logNoPC(c.Log(), lvl, msg)
		return
	}
	c.W.prefixBuf = e.LogPrefix.Append(c.W.prefixBuf[:0], c)
	logNoPC(c.baseLog(), lvl, msg, slog.String("prefix", string(c.W.prefixBuf)))
}

// logNoPC is l.Log without the caller's program counter, which slog
// takes with runtime.Callers for every line and no handler of kemi's
// reads: a request's latency line costs a stack walk less.
func logNoPC(l *slog.Logger, lvl slog.Level, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	h := l.Handler()
	if !h.Enabled(ctx, lvl) {
		return
	}
	r := slog.NewRecord(time.Now(), lvl, msg, 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// Env is the environment shared by all workers.
func (c *Ctx) Env() *Env { return c.W.env }

// SrcIP is the source address as text ("127.0.0.1", "::1").
func (c *Ctx) SrcIP() []byte { return c.srcIP }

// Src is the source address and port.
func (c *Ctx) Src() netip.AddrPort {
	if c.Pkt == nil {
		return netip.AddrPort{}
	}
	return c.Pkt.Src
}

// Proto is the transport the message came on.
func (c *Ctx) Proto() sip.Transport {
	if c.Pkt == nil {
		return sip.TransportOther
	}
	return c.Pkt.Proto
}

// ReplaceMsg makes b the message, parsed (textopsx's msg_apply_changes
// and msg_set_buffer): the pending edits of the old one are gone, and a
// changed $ru is whatever b's request URI is. When b does not parse, the
// message stays as it was.
func (c *Ctx) ReplaceMsg(b []byte) error {
	check := sip.Msg{Limits: c.Msg.Limits}
	if err := check.Parse(b); err != nil {
		return err
	}
	if err := c.Msg.Parse(b); err != nil {
		return err
	}
	c.ruri, c.ruriSet, c.ruriOK = c.ruri[:0], false, 0
	return nil
}

// RURIText is the request URI, as changed by the script ($ru).
func (c *Ctx) RURIText() []byte {
	if c.ruriSet {
		return c.ruri
	}
	return c.Msg.RURIText()
}

// RevertRURI undoes the script's changes of the request URI (revert_uri):
// it is the received one again.
func (c *Ctx) RevertRURI() { c.ruri, c.ruriSet, c.ruriOK = c.ruri[:0], false, 0 }

// RURI is the parsed request URI ($ru), as changed by the script.
func (c *Ctx) RURI() (*sip.URI, error) {
	if !c.ruriSet {
		return c.Msg.RURI()
	}
	switch c.ruriOK {
	case 1:
		return &c.ruriURI, nil
	case -1:
		return nil, errBadRURI
	}
	if err := sip.ParseURI(c.ruri, &c.ruriURI); err != nil {
		c.ruriOK = -1
		return nil, errBadRURI
	}
	c.ruriOK = 1
	return &c.ruriURI, nil
}

var errBadRURI = errors.New("request URI does not parse")

// SetRURI changes the request URI ($ru = ...). The new URI is checked.
func (c *Ctx) SetRURI(uri []byte) error {
	if !c.Msg.IsRequest() {
		return errors.New("not a request")
	}
	var u sip.URI
	if err := sip.ParseURI(uri, &u); err != nil {
		return err
	}
	c.ruri = append(c.ruri[:0], uri...)
	c.ruriSet, c.ruriOK = true, 0
	return c.Msg.SetRURI(c.ruri)
}

// DstURI is $du, empty when not set.
func (c *Ctx) DstURI() []byte { return c.dst }

// DstSet reports whether $du is set.
func (c *Ctx) DstSet() bool { return c.dstSet }

// SetDstURI sets $du; an empty uri resets it.
func (c *Ctx) SetDstURI(uri []byte) error {
	if len(uri) == 0 {
		c.dst, c.dstSet = c.dst[:0], false
		return nil
	}
	var u sip.URI
	if err := sip.ParseURI(uri, &u); err != nil {
		return err
	}
	c.dst, c.dstSet = append(c.dst[:0], uri...), true
	return nil
}

// AVPName is the name "$avp(name)", "$avp(s:name)" or "$avp(i:n)" stands
// for; ok is false when s is not an AVP. Module parameters that name an
// AVP (received_avp, load_credentials) and the $avp class read it alike.
func AVPName(s string) (string, bool) {
	inner, ok := strings.CutPrefix(s, "$avp(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return "", false
	}
	return AVPKey(inner[:len(inner)-1])
}

// AVPKey is the name of the argument of $avp(...): "s:" and "i:" dropped;
// ok is false for an empty name or a name from a variable.
func AVPKey(arg string) (string, bool) {
	if len(arg) > 2 && (arg[:2] == "s:" || arg[:2] == "i:") {
		arg = arg[2:]
	}
	return arg, arg != "" && arg[0] != '$'
}

// AVP returns the last value added to $avp(name).
func (c *Ctx) AVP(name string) Value {
	for i := len(c.avps) - 1; i >= 0; i-- {
		if c.avps[i].name == name {
			return c.avps[i].val
		}
	}
	return Value{}
}

// AddAVP adds a value to $avp(name) (assignment adds, as in Kamailio).
func (c *Ctx) AddAVP(name string, v Value) {
	a := c.nextAVP()
	a.marked = false
	if a.name != name {
		a.name = name
	}
	a.val = ownValue(v, &a.buf)
}

// AddAVPMarked is AddAVP for a value that came from avpops' table: it
// is marked, as stored there.
func (c *Ctx) AddAVPMarked(name string, v Value) {
	c.AddAVP(name, v)
	c.avps[len(c.avps)-1].marked = true
}

// AVPEntry is one AVP: its name, its value (a copy) and whether it is
// marked (AddAVPMarked, MarkAVP).
type AVPEntry struct {
	Name   string
	Val    Value
	Marked bool
}

// AVPEntries are all the AVPs, the last added first.
func (c *Ctx) AVPEntries() []AVPEntry {
	out := make([]AVPEntry, 0, len(c.avps))
	for i := len(c.avps) - 1; i >= 0; i-- {
		v := c.avps[i].val
		if v.Kind == Str {
			v = StrValue(v.String())
		}
		out = append(out, AVPEntry{c.avps[i].name, v, c.avps[i].marked})
	}
	return out
}

// MarkAVP marks the AVP at index i of AVPEntries (0: the last added).
func (c *Ctx) MarkAVP(i int) {
	if j := len(c.avps) - 1 - i; j >= 0 && j < len(c.avps) {
		c.avps[j].marked = true
	}
}

// addAVP is AddAVP for a name in bytes (Uncarry's).
func (c *Ctx) addAVP(name []byte, v Value) {
	a := c.nextAVP()
	a.marked = false
	if a.name != string(name) {
		a.name = string(name)
	}
	a.val = ownValue(v, &a.buf)
}

// nextAVP is a new last AVP, reusing the buffers of one cleared before.
func (c *Ctx) nextAVP() *avp {
	if len(c.avps) < cap(c.avps) {
		c.avps = c.avps[:len(c.avps)+1]
	} else {
		c.avps = append(c.avps, avp{})
	}
	return &c.avps[len(c.avps)-1]
}

// AVPValues are the values of $avp(name), the last added first (Kamailio's
// search order), copied: they outlive changes to the AVPs.
func (c *Ctx) AVPValues(name string) []Value {
	var out []Value
	for i := len(c.avps) - 1; i >= 0; i-- {
		if c.avps[i].name == name {
			v := c.avps[i].val
			if v.Kind == Str {
				v = StrValue(v.String())
			}
			out = append(out, v)
		}
	}
	return out
}

// DelAVPAt removes the value of $avp(name) at index i, counted from the
// last added (0); false when there is none.
func (c *Ctx) DelAVPAt(name string, i int) bool {
	for j := len(c.avps) - 1; j >= 0; j-- {
		if c.avps[j].name != name {
			continue
		}
		if i > 0 {
			i--
			continue
		}
		for k := j; k < len(c.avps)-1; k++ {
			c.avps[k], c.avps[k+1] = c.avps[k+1], c.avps[k] // each slot keeps its own buffer
		}
		c.avps = c.avps[:len(c.avps)-1]
		return true
	}
	return false
}

// DelAVP removes every value of $avp(name).
func (c *Ctx) DelAVP(name string) {
	k := 0
	for i := range c.avps {
		if c.avps[i].name != name {
			c.avps[k], c.avps[i] = c.avps[i], c.avps[k] // swap: each slot keeps its own buffer
			k++
		}
	}
	c.avps = c.avps[:k]
}

// ownValue copies a string value into buf so that it outlives the message
// or the script string it points into.
func ownValue(v Value, buf *[]byte) Value {
	if v.Kind != Str {
		return v
	}
	*buf = v.AppendTo((*buf)[:0])
	return Value{Kind: Str, B: *buf}
}

// SetReplyBody makes body, of Content-Type ctype, the body of the next
// reply the proxy builds for the message (textops' set_reply_body).
func (c *Ctx) SetReplyBody(body []byte, ctype string) {
	c.replyBody, c.replyType = append(c.replyBody[:0], body...), ctype
}

// AddReplyHeader adds a header line to the next reply the proxy builds
// (hdr.append_to_reply).
func (c *Ctx) AddReplyHeader(line []byte) {
	c.replyHdr = append(c.replyHdr, line...)
	if n := len(c.replyHdr); n < 2 || c.replyHdr[n-2] != '\r' || c.replyHdr[n-1] != '\n' {
		c.replyHdr = append(c.replyHdr, "\r\n"...)
	}
}

// ReplyHeaders are the header lines added for the next reply the proxy
// builds (for a module that writes a reply of its own: websocket's HTTP
// answers).
func (c *Ctx) ReplyHeaders() []byte { return c.replyHdr }

// Reply builds a reply to the request and sends it back the way the
// request came: on its connection for a stream, else to the source
// address and, when the Via asks for rport (or force_rport was called),
// the source port, else the Via's port.
func (c *Ctx) Reply(code int, reason string, toTag, headers, body []byte) error {
	out, err := c.BuildReply(code, reason, toTag, headers, body)
	if err != nil {
		return err
	}
	if c.Pkt == nil || c.W.env.Transport == nil {
		return errors.New("no socket to reply on")
	}
	return c.W.env.Transport.Reply(c.Pkt, c.ReplyDst(), out)
}

// BuildReply writes a reply to the request into the worker's output
// buffer, with the headers append_to_reply added; the bytes are valid
// until the worker builds the next message.
func (c *Ctx) BuildReply(code int, reason string, toTag, headers, body []byte) ([]byte, error) {
	m := c.Msg
	if !m.IsRequest() {
		return nil, errors.New("cannot reply to a reply")
	}
	if !m.CanReply() {
		return nil, errors.New("request cannot be replied to")
	}
	w := c.W
	hdrs := headers
	ctype := ""
	if len(body) == 0 && len(c.replyBody) > 0 {
		body, ctype = c.replyBody, "Content-Type: "+c.replyType+"\r\n"
	}
	if server := w.env.ServerHeader; len(c.replyHdr) > 0 || server != "" || ctype != "" {
		w.hdrBuf = append(append(append(append(w.hdrBuf[:0], c.replyHdr...), headers...), ctype...), server...)
		hdrs = w.hdrBuf
	}
	r := sip.Reply{Code: code, Reason: reason, ToTag: toTag, Headers: hdrs, Body: body, Source: c.srcIP, ForceRPort: c.ForceRPort}
	if c.Pkt != nil {
		r.SourcePort = int(c.Pkt.Src.Port())
	}
	w.out = sip.AppendReply(w.out[:0], m, &r)
	c.Replied = code
	return w.out, nil
}

// ReplyDst is where replies to the request go over UDP: the source address
// and, when the Via asks for rport (or force_rport was called), the source
// port, else the Via's port.
func (c *Ctx) ReplyDst() netip.AddrPort {
	src := c.Pkt.Src
	if c.Pkt.Proto != sip.TransportUDP || c.ForceRPort {
		return src
	}
	v := c.Msg.TopVia()
	if v == nil || v.HasRPort {
		return src
	}
	port := v.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// IsMyself reports whether the host:port of a SIP URI names this proxy.
func (c *Ctx) IsMyself(u *sip.URI) bool { return c.W.env.Myself.IsURI(u) }

// RewriteRURI replaces the user (when user is not nil) or the host (when
// host is not nil) of the request URI, keeping the rest.
func (c *Ctx) RewriteRURI(user, host []byte) error { return c.rewriteRURI(user, host, false) }

// RewriteRURIHostPort replaces the host and port of the request URI with
// hp, "host[:port]" (sethostport).
func (c *Ctx) RewriteRURIHostPort(hp []byte) error { return c.rewriteRURI(nil, hp, true) }

func (c *Ctx) rewriteRURI(user, host []byte, withPort bool) error {
	u, err := c.RURI()
	if err != nil {
		return err
	}
	if u.Scheme != sip.SchemeSIP && u.Scheme != sip.SchemeSIPS {
		return errors.New("request URI is not a sip: or sips: URI")
	}
	b := c.W.Scratch[:0]
	b = append(b, u.SchemeName...)
	b = append(b, ':')
	if user == nil {
		user = u.User
	}
	if len(user) > 0 {
		b = append(b, user...)
		if u.HasPassword {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		b = append(b, '@')
	}
	if host != nil {
		b = append(b, host...)
		if len(u.PortText) > 0 && !withPort {
			b = append(append(b, ':'), u.PortText...)
		}
	} else {
		b = append(b, u.HostPort()...)
	}
	if len(u.Params) > 0 {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	if len(u.Headers) > 0 {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	c.W.Scratch = b
	return c.SetRURI(b)
}

// ProtoName is the transport in lower case, as $pr shows it: "udp", "tcp",
// "tls", "sctp", "ws", "wss", or "none".
func (c *Ctx) ProtoName() string {
	switch c.Proto() {
	case sip.TransportUDP:
		return "udp"
	case sip.TransportTCP:
		return "tcp"
	case sip.TransportTLS:
		return "tls"
	case sip.TransportSCTP:
		return "sctp"
	case sip.TransportWS:
		return "ws"
	case sip.TransportWSS:
		return "wss"
	}
	return "none"
}

// Branch is a further destination of the request beside the request URI
// (append_branch, or lookup with several contacts), forked by tm.
type Branch struct {
	URI   []byte
	Dst   []byte // destination URI ($du of the branch), when set
	Path  []byte // Path values: the branch's route set
	Q     int    // × 1000, -1 when not given
	Flags uint64 // branch flags
	// Instance is the contact's +sip.instance (RFC 5626), for tm's
	// t_next_contacts and t_next_contact_flow.
	Instance []byte
}

// MaxBranches is the most branches a request gets, as Kamailio's
// sr_dst_max_branches default.
const MaxBranches = 12

// AppendBranch adds a branch, copying its bytes; false when MaxBranches
// are set.
func (c *Ctx) AppendBranch(b Branch) bool {
	n := len(c.branches)
	if n >= MaxBranches {
		return false
	}
	if n < cap(c.branches) {
		c.branches = c.branches[:n+1]
	} else {
		c.branches = append(c.branches, Branch{})
	}
	s := &c.branches[n]
	s.URI = append(s.URI[:0], b.URI...)
	s.Dst = append(s.Dst[:0], b.Dst...)
	s.Path = append(s.Path[:0], b.Path...)
	s.Instance = append(s.Instance[:0], b.Instance...)
	s.Q, s.Flags = b.Q, b.Flags
	return true
}

// UseBranch makes branch b the request URI's: its URI, $du, path,
// instance and branch flags.
func (c *Ctx) UseBranch(b Branch) error {
	if err := c.SetRURI(b.URI); err != nil {
		return err
	}
	c.SetDstURI(b.Dst)
	c.SetPath(b.Path)
	c.SetInstance(b.Instance)
	c.BFlags = b.Flags
	return nil
}

// AppendBranchURI adds a branch to uri, or to the current request URI with
// $du and its path when uri is empty (append_branch); q ×1000, -1 for none.
func (c *Ctx) AppendBranchURI(uri string, q int) error {
	if !c.Msg.IsRequest() {
		return errors.New("not a request")
	}
	b := Branch{URI: []byte(uri), Q: q, Flags: c.BFlags}
	if uri == "" {
		b.URI, b.Dst, b.Path = c.RURIText(), c.dst, c.path
	} else {
		var u sip.URI
		if err := sip.ParseURI(b.URI, &u); err != nil {
			return errors.New(strconv.Quote(uri) + ": " + err.Error())
		}
	}
	if !c.AppendBranch(b) {
		return errors.New("too many branches")
	}
	return nil
}

// ParseQ reads a q-value ("0.5", "1") as ×1000; "" is -1 (none).
func ParseQ(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return -1, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, errors.New("bad q-value " + strconv.Quote(s))
	}
	return int(f*1000 + 0.5), nil
}

// Branches are the branches appended so far (not the request URI's).
func (c *Ctx) Branches() []Branch { return c.branches }

// ClearBranches drops the appended branches.
func (c *Ctx) ClearBranches() { c.branches = c.branches[:0] }

// Path is the route set of the request URI's branch: the Path a contact
// registered with, set by lookup; forwarding turns it into Route headers.
func (c *Ctx) Path() []byte { return c.path }

// SetPath sets the route set of the request URI's branch.
func (c *Ctx) SetPath(p []byte) { c.path = append(c.path[:0], p...) }

// Instance is the +sip.instance of the request URI's contact (registrar's
// lookup sets it); SetInstance sets it.
func (c *Ctx) Instance() []byte     { return c.instance }
func (c *Ctx) SetInstance(i []byte) { c.instance = append(c.instance[:0], i...) }

// RURIQ is the q of the request URI's contact (× 1000, -1 for none), as
// registrar's lookup found it; SetRURIQ sets it.
func (c *Ctx) RURIQ() int     { return c.ruriQ - 1 }
func (c *Ctx) SetRURIQ(q int) { c.ruriQ = q + 1 }

// fakedMsg is the message of a faked context: Kamailio's own faked
// message (core/fmsg.c), an OPTIONS from 127.0.0.1.
const fakedMsg = "OPTIONS sip:you@kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n" +
	"From: <sip:you@kamailio.org>;tag=123\r\nTo: <sip:you@kamailio.org>\r\n" +
	"Call-ID: 123\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

// FakedCtx is a context for the KSR functions a script calls outside a
// route — at load, in Python's mod_init() and child_init() — as Kamailio
// runs them on its faked message: logging and whatever needs no real
// request work; a reply or a relay from there goes nowhere (no socket).
// Each engine runner makes its own.
func FakedCtx(log *slog.Logger) *Ctx {
	if log == nil {
		log = slog.Default()
	}
	w := &Worker{env: &Env{Log: log, Myself: transport.NewMyself(nil, nil)}, vars: map[string]*varSlot{}}
	w.ctx.W = w
	m := &sip.Msg{}
	if err := m.Parse([]byte(fakedMsg)); err != nil {
		panic("router: the faked message does not parse: " + err.Error())
	}
	w.ctx.reset(m, nil)
	w.ctx.Route = "faked"
	return &w.ctx
}

// Socket is the proxy's socket written proto:ip:port ("udp:10.0.0.1:5060",
// as listen= and Kamailio's socket parameters write it), nil when it has
// none such.
func (c *Ctx) Socket(name string) *transport.Listener { return c.W.env.Socket(name) }

// Socket is the proxy's socket written proto:ip:port, nil when it has
// none such.
func (e *Env) Socket(name string) *transport.Listener {
	if tr := e.Transport; tr != nil {
		for _, l := range tr.Listeners {
			if strings.EqualFold(l.String(), name) {
				return l
			}
		}
	}
	return nil
}

// SocketAt is the proxy's socket of transport proto bound to addr; nil
// when there is none (a WebSocket's is its TCP or TLS socket).
func (c *Ctx) SocketAt(proto sip.Transport, addr netip.AddrPort) *transport.Listener {
	switch proto {
	case sip.TransportWS:
		proto = sip.TransportTCP
	case sip.TransportWSS:
		proto = sip.TransportTLS
	}
	if tr := c.W.env.Transport; tr != nil {
		for _, l := range tr.Listeners {
			if l.Proto == proto && l.Addr == addr {
				return l
			}
		}
	}
	return nil
}

// SocketNamed is the proxy's socket listen=... name gave name; nil when
// none has it.
func (c *Ctx) SocketNamed(name string) *transport.Listener {
	if tr := c.W.env.Transport; tr != nil && name != "" {
		for _, l := range tr.Listeners {
			if l.Name == name {
				return l
			}
		}
	}
	return nil
}

// SetSendSocket makes l the socket the message's requests leave from
// (force_send_socket, corex's set_send_socket); nil for the default.
func (c *Ctx) SetSendSocket(l *transport.Listener) { c.sendSocket = l }

// SetMTUProto is udp_mtu_try_proto(proto): where this request goes when
// it is larger than udp_mtu for a UDP destination.
func (c *Ctx) SetMTUProto(p sip.Transport) { c.mtuProto = p }

// MTUFallback is the hop a request built for hop goes to instead when it
// is size bytes (Kamailio's check in build_req_buf_from_sip_req): hop is
// UDP, udp_mtu is set and exceeded, and the request's or the config's
// udp_mtu_try_proto names a transport this proxy has a socket of for the
// address's family; the same address, over that transport. ok is false
// otherwise.
func (c *Ctx) MTUFallback(hop Hop, size int) (Hop, bool) {
	e := c.W.env
	if hop.Proto != sip.TransportUDP || e.UDPMTU <= 0 || size <= e.UDPMTU || e.Transport == nil {
		return hop, false
	}
	p := c.mtuProto
	if p == 0 {
		p = e.MTUTryProto
	}
	if p != sip.TransportTCP && p != sip.TransportTLS {
		return hop, false
	}
	l := e.Transport.Listener(p, hop.Addr.Addr().Is4())
	if l == nil {
		return hop, false
	}
	return Hop{Addr: hop.Addr, Proto: p, Local: l}, true
}

// Resolve is where a request to target goes (Env.Resolve), from the socket
// set_send_socket chose when there is one.
func (c *Ctx) Resolve(target []byte) (Hop, error) {
	hop, err := c.W.env.Resolve(target)
	if err == nil && c.sendSocket != nil {
		hop.Local, hop.Proto = c.sendSocket, c.sendSocket.Proto
	}
	if err != nil {
		c.SerError = EBadURI
		if errors.Is(err, errUnresolvable) {
			c.SerError = EBadAddress
		}
	}
	return hop, err
}

// SetSource makes src the message's source address (corex's
// set_source_address): $si, $sp, replies and received= follow it.
func (c *Ctx) SetSource(src netip.AddrPort) {
	if c.Pkt == nil {
		return
	}
	c.Pkt.Src = src
	c.srcIP = src.Addr().AppendTo(c.srcIP[:0])
}

// EachAVP calls f with every AVP of the message, in the order added.
func (c *Ctx) EachAVP(f func(name string, v Value)) {
	for i := range c.avps {
		f(c.avps[i].name, c.avps[i].val)
	}
}

// Tracer is what a config engine tells of each action it runs while
// tracing is on (the debugger module's cfgtrace).
// block is the route block the action is in ("DEFAULT" for an unnamed
// one, as Kamailio names it).
type Tracer interface {
	Tracing() bool
	Trace(c *Ctx, block, file string, line int, action string)
}
