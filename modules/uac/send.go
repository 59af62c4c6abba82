package uac

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/modules/tm"
)

// sendInfo is $uac_req: the request uac_req_send sends, and in
// event_route[uac:reply] the result (evcode, evtype 1 a reply, 2 none).
type sendInfo struct {
	method, ruri, furi, turi, ouri, hdrs, body string
	auser, apasswd, callid, sock, evparam      string
	flags, evroute, evcode, evtype             int
}

// uacReqNames are $uac_req's keys.
var uacReqNames = map[string]bool{"all": true, "ruri": true, "turi": true, "furi": true, "hdrs": true, "body": true,
	"ouri": true, "sock": true, "auser": true, "flags": true, "method": true, "callid": true, "evcode": true,
	"evtype": true, "evroute": true, "apasswd": true, "evparam": true}

func parseUACReq(pv *router.PV) error {
	if !uacReqNames[pv.Arg] {
		return fmt.Errorf("uac: unknown uac_req name %s", pv.Arg)
	}
	return nil
}

// req is the worker's $uac_req, as Kamailio's is its process's.
func (m *Module) req(w *router.Worker) *sendInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.reqs[w]
	if r == nil {
		r = &sendInfo{}
		m.reqs[w] = r
	}
	return r
}

func getUACReq(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("uac").(*Module)
	if m == nil {
		return router.Value{}
	}
	r := m.req(c.W)
	str := func(s string) router.Value {
		if s == "" {
			return router.Value{}
		}
		return router.StrValue(s)
	}
	switch pv.Arg {
	case "ruri":
		return str(r.ruri)
	case "turi":
		return str(r.turi)
	case "furi":
		return str(r.furi)
	case "hdrs":
		return str(r.hdrs)
	case "body":
		return str(r.body)
	case "ouri":
		return str(r.ouri)
	case "method":
		return str(r.method)
	case "evroute":
		return router.IntValue(int64(r.evroute))
	case "auser":
		return str(r.auser)
	case "apasswd":
		return str(r.apasswd)
	case "callid":
		return str(r.callid)
	case "sock":
		return str(r.sock)
	case "evparam":
		return str(r.evparam)
	case "evcode":
		return router.IntValue(int64(r.evcode))
	case "evtype":
		return router.IntValue(int64(r.evtype))
	}
	return router.IntValue(int64(r.flags)) // all, flags
}

func setUACReq(c *router.Ctx, pv *router.PV, v router.Value) error {
	m, _ := c.Env().Module("uac").(*Module)
	if m == nil {
		return fmt.Errorf("uac is not loaded")
	}
	r := m.req(c.W)
	null := v.IsNull()
	num := func(dst *int) error {
		if null {
			*dst = 0
			return nil
		}
		n, ok := v.Int64()
		if ok && !v.IsStr() {
			*dst = int(n)
			return nil
		}
		return fmt.Errorf("$uac_req(%s): invalid value type (an int)", pv.Arg)
	}
	text := func(dst *string) error {
		if null {
			*dst = ""
			return nil
		}
		if !v.IsStr() {
			return fmt.Errorf("$uac_req(%s): invalid value type (a string)", pv.Arg)
		}
		*dst = v.String()
		return nil
	}
	switch pv.Arg {
	case "all":
		if null { // auser, apasswd and sock stay, as in Kamailio
			a, p, s := r.auser, r.apasswd, r.sock
			*r = sendInfo{auser: a, apasswd: p, sock: s}
		}
		return nil
	case "ruri":
		return text(&r.ruri)
	case "turi":
		return text(&r.turi)
	case "furi":
		return text(&r.furi)
	case "hdrs":
		return text(&r.hdrs)
	case "body":
		return text(&r.body)
	case "ouri":
		return text(&r.ouri)
	case "method":
		return text(&r.method)
	case "evroute":
		return num(&r.evroute)
	case "auser":
		return text(&r.auser)
	case "apasswd":
		return text(&r.apasswd)
	case "callid":
		return text(&r.callid)
	case "sock":
		return text(&r.sock)
	case "evparam":
		return text(&r.evparam)
	case "evcode":
		return num(&r.evcode)
	case "evtype":
		return num(&r.evtype)
	case "flags":
		return num(&r.flags)
	}
	return nil
}

func fromTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reqSend is uac_req_send: $uac_req's request sent by tm; with evroute,
// event_route[uac:reply] runs on its final status; with auser and
// apasswd, a 401 or 407 is answered once, in the same dialog.
func (m *Module) reqSend(c *router.Ctx) int {
	r := *m.req(c.W)
	if r.ruri == "" || r.method == "" {
		return -1
	}
	if r.sock == "" {
		r.sock = m.defaultSocket
	}
	furi, turi := r.furi, r.turi
	if furi == "" {
		furi = r.ruri
	}
	if turi == "" {
		turi = r.ruri
	}
	hdrs := "From: <" + furi + ">;tag=" + fromTag() + "\r\nTo: <" + turi + ">\r\n"
	if r.callid != "" {
		hdrs += "Call-ID: " + r.callid + "\r\n"
	}
	if err := m.send(&r, hdrs, r.hdrs, true); err != nil {
		c.Log().Error("uac: uac_req_send: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// send gives the request of r to tm, the dialog's headers first; first
// says whether a challenge may still be answered.
func (m *Module) send(r *sendInfo, dialog, extra string, first bool) error {
	return m.tm.Request(tm.UAC{Method: r.method, RURI: r.ruri, NextHop: r.ouri, Socket: r.sock,
		Headers: dialog + extra, Body: r.body, Done: func(code int, reply []byte) {
			if r.evroute != 0 && code > 0 {
				m.replyEvent(r, code, reply)
			}
			if first && (code == 401 || code == 407) && r.apasswd != "" && reply != nil {
				m.resendAuth(r, code, reply, extra)
			}
		}})
}

// resendAuth sends the request again with the credentials that answer
// the reply's challenge, in the dialog the reply made (its Call-ID, From
// tag and CSeq + 1), as Kamailio's t_request_within does.
func (m *Module) resendAuth(r *sendInfo, code int, raw []byte, extra string) {
	var reply sip.Msg
	if err := reply.Parse(raw); err != nil {
		m.log().Error("uac: the challenge does not parse: " + err.Error())
		return
	}
	ch, err := challengeOf(&reply)
	if err != nil {
		m.log().Error("uac: failed to parse auth hdr body: " + err.Error())
		return
	}
	crd := credential{user: r.auser, realm: ch.realm, passwd: r.apasswd, ha1: r.flags&1 != 0}
	auth := authorization(code, r.method, r.ruri, crd, ch)
	from, to := reply.From(), reply.To()
	dialog := "From: <" + string(from.URI.Raw) + ">"
	if len(from.Tag) > 0 {
		dialog += ";tag=" + string(from.Tag)
	}
	dialog += "\r\nTo: <" + string(to.URI.Raw) + ">\r\nCall-ID: " + string(reply.CallID()) +
		"\r\nCSeq: " + strconv.FormatUint(uint64(reply.CSeq())+1, 10) + " " + r.method + "\r\n"
	if extra != "" && !strings.HasSuffix(extra, "\n") {
		extra += "\r\n"
	}
	if err := m.send(r, dialog, extra+auth+"\r\n", false); err != nil {
		m.log().Error("uac: failed to send request with authentication: " + err.Error())
	}
}

// replyEvent runs event_route[uac:reply] (or event_callback) with
// $uac_req as the request was, evcode the status and evtype 1 for a
// reply received, 2 for none; on the reply itself when one came, as
// Kamailio does, else on the faked message.
func (m *Module) replyEvent(r *sendInfo, code int, reply []byte) {
	m.events.With(m.env, func(w *router.Worker) {
		route := "uac:reply"
		if m.eventCallback != "" {
			route = m.eventCallback
		}
		ev := *r
		ev.evcode, ev.evtype = code, 2
		var c *router.Ctx
		if reply != nil {
			var msg sip.Msg
			if msg.Parse(reply) == nil {
				ev.evtype = 1
				c = w.Begin(&transport.Packet{}, &msg)
				c.Kind = router.RouteEvent
			}
		}
		if c == nil {
			c = w.EventCtx()
		}
		defer c.Finish()
		if !c.HasRoute(router.RouteEvent, route) {
			return
		}
		*m.req(w) = ev
		if m.eventCallback != "" {
			c.EventName = "uac:reply"
			defer func() { c.EventName = "" }()
		}
		c.RunKind(router.RouteEvent, route)
	})
}
