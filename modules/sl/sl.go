// Package sl sends stateless replies, like Kamailio's sl module.
package sl

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Stats are the module's counters (sl:sent_replies and per class).
var Stats struct {
	SentReplies atomic.Uint64
	Sent1xx     atomic.Uint64
	Sent2xx     atomic.Uint64
	Sent3xx     atomic.Uint64
	Sent4xx     atomic.Uint64
	Sent5xx     atomic.Uint64
	Sent6xx     atomic.Uint64
	Failures    atomic.Uint64
}

// tagPrefix makes the to-tags of this process unique: a reply's tag is the
// prefix and a hash of the request's dialog and transaction ids, so that a
// retransmitted request gets the same tag.
var tagPrefix [8]byte

func init() {
	var b [4]byte
	rand.Read(b[:])
	hex.Encode(tagPrefix[:], b[:])
	sendReply := dispatch.FIS(SendReply)
	dispatch.RegisterLegacy(dispatch.Legacy{Name: "sl", Stats: registerStats, Exports: []dispatch.Export{
		{Name: "send_reply", Ret: dispatch.Int, Fn: sendReply, Native: "send_reply"},
		{Name: "sl_send_reply", Ret: dispatch.Int, Fn: sendReply, Native: "sl_send_reply"},
		{Name: "sreply", Ret: dispatch.Int, Fn: sendReply},
		{Name: "freply", Ret: dispatch.Int, Fn: sendReply},
		{Name: "send_reply_mode", Ret: dispatch.Int, Fn: dispatch.FISI(func(c *router.Ctx, code int, reason string, mode int) int {
			return SendReply(c, code, reason)
		})},
		{Name: "sl_reply_error", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Replied >= 200 {
				// The failing function (registrar's save) already sent its
				// own error reply: a second final reply would only confuse
				// the client.
				return 1
			}
			return SendReply(c, 500, "Server Internal Error")
		}), Native: "sl_reply_error"},
	}})
}

// SendReply sends a stateless reply to the current request. It does not
// answer an ACK, and takes codes 100 to 699.
func SendReply(c *router.Ctx, code int, reason string) int {
	return Send(c, code, reason, nil, nil)
}

// Send is SendReply with extra header lines (each ending in CRLF) and a
// body: what auth's challenges and registrar's replies go out through.
func Send(c *router.Ctx, code int, reason string, headers, body []byte) int {
	m := c.Msg
	if !m.IsRequest() {
		c.Log().Error("sl: cannot reply to a reply", "route", c.Route)
		return -1
	}
	if m.Method() == sip.MethodACK {
		c.Log().Warn("sl: no reply is sent to an ACK", "route", c.Route)
		return -1
	}
	if code < 100 || code > 699 {
		c.Log().Error("sl: invalid reply code", "code", code, "route", c.Route)
		return -1
	}
	if t := c.TM.T; t != nil {
		// The request has a transaction (t_newtran): the reply goes out
		// through it, as Kamailio's send_reply does, so that a
		// retransmission of the request gets it again.
		if err := t.Reply(c, code, reason, headers, body); err != nil {
			Stats.Failures.Add(1)
			c.Log().Error("sl: send reply: "+err.Error(), "route", c.Route)
			return -1
		}
		count(code)
		return 1
	}
	var tag [17]byte
	copy(tag[:], tagPrefix[:])
	tag[8] = '-'
	h := router.FNV1a(router.FNVOffset, m.CallID())
	if f := m.From(); f != nil {
		h = router.FNV1a(h, f.Tag)
	}
	if v := m.TopVia(); v != nil {
		h = router.FNV1a(h, v.Branch)
	}
	sum := [4]byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
	hex.Encode(tag[9:], sum[:])
	if err := c.Reply(code, reason, tag[:], headers, body); err != nil {
		Stats.Failures.Add(1)
		c.Log().Error("sl: send reply: "+err.Error(), "route", c.Route)
		return -1
	}
	count(code)
	return 1
}

func count(code int) {
	Stats.SentReplies.Add(1)
	switch code / 100 {
	case 1:
		Stats.Sent1xx.Add(1)
	case 2:
		Stats.Sent2xx.Add(1)
	case 3:
		Stats.Sent3xx.Add(1)
	case 4:
		Stats.Sent4xx.Add(1)
	case 5:
		Stats.Sent5xx.Add(1)
	default:
		Stats.Sent6xx.Add(1)
	}
}
