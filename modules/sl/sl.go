// Package sl sends stateless replies, like Kamailio's sl module.
package sl

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "sl", New: func() dispatch.Module { return New() }})
}

// Module is the sl module of one proxy: its counters (sl:sent_replies and
// per class) and the prefix of its to-tags.
type Module struct {
	Stats struct {
		SentReplies atomic.Uint64
		Sent1xx     atomic.Uint64
		Sent2xx     atomic.Uint64
		Sent3xx     atomic.Uint64
		Sent4xx     atomic.Uint64
		Sent5xx     atomic.Uint64
		Sent6xx     atomic.Uint64
		Failures    atomic.Uint64
	}
	// replyHooks are told of each reply sent (OnReply); set while the
	// modules initialise, read only after.
	replyHooks []func(c *router.Ctx, code int, headers, out []byte)
	// tagPrefix makes the to-tags of this proxy unique: a reply's tag is
	// the prefix and a hash of the request's dialog and transaction ids,
	// so that a retransmitted request gets the same tag.
	tagPrefix [8]byte
	// sendErrors logs failed replies (a peer gone, a full stream) once a
	// second with their count.
	sendErrors db.Complainer
}

// New makes an sl module with a random to-tag prefix.
func New() *Module {
	m := &Module{sendErrors: db.Complainer{Every: time.Second}}
	var b [4]byte
	rand.Read(b[:])
	hex.Encode(m.tagPrefix[:], b[:])
	return m
}

var (
	_ dispatch.Module        = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// Exports are KSR.sl.
func (m *Module) Exports() []dispatch.Export {
	sendReply := dispatch.FIS(m.SendReply)
	return []dispatch.Export{
		{Name: "send_reply", Ret: dispatch.Int, Fn: sendReply},
		{Name: "sl_send_reply", Ret: dispatch.Int, Fn: sendReply},
		{Name: "sreply", Ret: dispatch.Int, Fn: sendReply, Native: dispatch.NoNative},
		{Name: "freply", Ret: dispatch.Int, Fn: sendReply, Native: dispatch.NoNative},
		{Name: "send_reply_mode", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FISI(func(c *router.Ctx, code int, reason string, mode int) int {
			return m.SendReply(c, code, reason)
		})},
		{Name: "sl_forward_reply", Ret: dispatch.Int, Fn: dispatch.FSS(forwardReply)},
		{Name: "sl_forward_reply", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, code string) int { return forwardReply(c, code, "") })},
		{Name: "sl_forward_reply", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return forwardReply(c, "", "") })},
		{Name: "sl_reply_error", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Replied >= 200 {
				// The failing function (registrar's save) already sent its
				// own error reply: a second final reply would only confuse
				// the client.
				return 1
			}
			// As Kamailio: the reply says what the last forward or relay
			// ran into (478 for a destination that does not resolve).
			code, reason := router.SerErrorReply(c.SerError)
			return m.SendReply(c, code, reason)
		})},
	}
}

// SendReply sends a stateless reply to the current request. It does not
// answer an ACK, and takes codes 100 to 699.
func (m *Module) SendReply(c *router.Ctx, code int, reason string) int {
	return m.Send(c, code, reason, nil, nil)
}

// Send is SendReply with extra header lines (each ending in CRLF) and a
// body: what auth's challenges and registrar's replies go out through.
func (m *Module) Send(c *router.Ctx, code int, reason string, headers, body []byte) int {
	msg := c.Msg
	if !msg.IsRequest() {
		c.Log().Error("sl: cannot reply to a reply", "route", c.Route)
		return -1
	}
	if msg.Method() == sip.MethodACK {
		c.Log().Warn("sl: no reply is sent to an ACK", "route", c.Route)
		return -1
	}
	if code < 100 || code > 699 {
		c.Log().Error("sl: invalid reply code", "code", code, "route", c.Route)
		return -1
	}
	if t := c.Transaction; t != nil {
		// The request has a transaction (t_newtran): the reply goes out
		// through it, as Kamailio's send_reply does, so that a
		// retransmission of the request gets it again.
		if err := t.Reply(c, code, reason, headers, body); err != nil {
			m.Stats.Failures.Add(1)
			m.sendErrors.Log(c.Log(), "sl: send reply failed", err)
			return -1
		}
		m.count(code)
		m.sent(c, code, headers, nil)
		return 1
	}
	var tag [17]byte
	copy(tag[:], m.tagPrefix[:])
	tag[8] = '-'
	h := router.FNV1a(router.FNVOffset, msg.CallID())
	if f := msg.From(); f != nil {
		h = router.FNV1a(h, f.Tag)
	}
	if v := msg.TopVia(); v != nil {
		h = router.FNV1a(h, v.Branch)
	}
	sum := [4]byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
	hex.Encode(tag[9:], sum[:])
	out, err := c.BuildReply(code, reason, tag[:], headers, body)
	if err == nil {
		if c.Pkt == nil || c.Env().Transport == nil {
			err = errNoSocket
		} else {
			// The hooks run before the send, as Kamailio's
			// SLCB_REPLY_READY: siptrace's row for the reply is written
			// before the peer can act on it.
			m.sent(c, code, headers, out)
			err = c.Env().Transport.Reply(c.Pkt, c.ReplyDst(), out)
		}
	}
	if err != nil {
		m.Stats.Failures.Add(1)
		m.sendErrors.Log(c.Log(), "sl: send reply failed", err)
		return -1
	}
	m.count(code)
	return 1
}

var errNoSocket = errors.New("no socket to reply on")

// OnReply adds a hook told of each reply sl sent for a request (Kamailio's
// SLCB_REPLY_READY): the request's context, the code, the extra header
// lines (registrar's Contacts with their expires) and the reply as sent
// (nil when it went through the request's transaction). Modules add
// theirs while they initialise.
func (m *Module) OnReply(h func(c *router.Ctx, code int, headers, out []byte)) {
	m.replyHooks = append(m.replyHooks, h)
}

func (m *Module) sent(c *router.Ctx, code int, headers, out []byte) {
	for _, h := range m.replyHooks {
		h(c, code, headers, out)
	}
}

func (m *Module) count(code int) {
	s := &m.Stats
	s.SentReplies.Add(1)
	switch code / 100 {
	case 1:
		s.Sent1xx.Add(1)
	case 2:
		s.Sent2xx.Add(1)
	case 3:
		s.Sent3xx.Add(1)
	case 4:
		s.Sent4xx.Add(1)
	case 5:
		s.Sent5xx.Add(1)
	default:
		s.Sent6xx.Add(1)
	}
}

// forwardReply sends the reply being routed on upstream now, statelessly,
// with code and reason in place of its own when they are not "" (the
// class of the code cannot change); the reply itself is left as it was
// (sl_forward_reply).
func forwardReply(c *router.Ctx, code, reason string) int {
	m := c.Msg
	if m.IsRequest() {
		c.Log().Error("sl: sl_forward_reply: not a reply", "route", c.Route)
		return -1
	}
	var mk sip.EditMark
	m.MarkEdits(&mk)
	defer m.RestoreEdits(&mk)
	if code != "" {
		if len(code) != 3 || code[0] != byte('0'+m.StatusCode()/100) || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
			c.Log().Error("sl: sl_forward_reply: "+strconv.Quote(code)+": want a code of the reply's class", "route", c.Route)
			return -1
		}
		sp := bytes.IndexByte(m.Bytes(), ' ')
		if err := m.ReplaceAt(sp+1, 3, []byte(code)); err != nil {
			return -1
		}
	}
	if reason != "" {
		r := m.Reason()
		off := m.Offset(r)
		if len(r) == 0 {
			off = bytes.IndexByte(m.Bytes(), ' ') + 5 // "SIP/2.0 200 " and no reason
		}
		if err := m.ReplaceAt(off, len(r), []byte(reason)); err != nil {
			return -1
		}
	}
	if !c.ForwardReply() {
		c.Log().Error("sl: sl_forward_reply: the top Via is not this proxy's", "route", c.Route)
		return -1
	}
	return 1
}
