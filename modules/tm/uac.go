package tm

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

// uacVia is the stand-in Via of a t_uac_send request.
const uacVia = "SIP/2.0/UDP 0.0.0.0;branch=z9hG4bK-kemi-uac"

// uacExports are t_replicate and t_uac_send: requests tm sends whose
// replies go nowhere.
func (tm *Module) uacExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "t_replicate", Ret: dispatch.Int, Fn: dispatch.FS(tm.replicate)},
		{Name: "t_uac_send", Ret: dispatch.Int, Fn: dispatch.FSSSSSS(tm.uacSend)},
	}
}

// replicate sends a copy of c's request to uri on a branch of its
// transaction (made now when it has none); that branch's replies are
// absorbed and never chosen as the final reply (t_replicate).
func (tm *Module) replicate(c *router.Ctx, uri string) int {
	m := c.Msg
	if !m.IsRequest() || m.Method() == sip.MethodACK || m.Method() == sip.MethodCANCEL {
		return -1
	}
	if current(c) == nil {
		if rc := tm.newtran(c); rc <= 0 {
			return rc
		}
	}
	t := current(c)
	saveDst := clone(c.DstURI())
	if err := c.SetDstURI([]byte(uri)); err != nil {
		c.Log().Error("tm: t_replicate: "+strconv.Quote(uri)+": "+err.Error(), "route", c.Route)
		return -1
	}
	ok := t.branchOut(c)
	c.SetDstURI(saveDst)
	if !ok {
		return -1
	}
	t.branches[len(t.branches)-1].replica = true
	return 1
}

// uacSend sends a request of tm's own (t_uac_send): method to ruri,
// through nexthop when given, from socket (proto:ip:port) when given,
// with the header lines given (From, To, Call-ID and CSeq are made when
// missing) and body. It goes statefully, retransmitted until answered;
// the replies go nowhere.
func (tm *Module) uacSend(c *router.Ctx, method, ruri, nexthop, socket, headers, body string) int {
	if err := tm.Request(UAC{Method: method, RURI: ruri, NextHop: nexthop, Socket: socket, Headers: headers, Body: body}); err != nil {
		c.Log().Error("tm: t_uac_send: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// UAC is a request of tm's own: t_uac_send's, a module's (dispatcher's
// probes).
type UAC struct {
	Method, RURI string
	// NextHop is where it goes when not to RURI; Socket the socket it
	// leaves from (proto:ip:port), "" for the usual choice.
	NextHop, Socket string
	// Headers are header lines ("\n" or "\r\n" between them); From, To,
	// Call-ID, CSeq and Max-Forwards are made when missing.
	Headers, Body string
	// Done, when set, is told the final status once: the reply's, or
	// tm's own 408 when none came in time. It runs on a goroutine of its
	// own; reply is the final reply received, nil for tm's own status.
	Done func(code int, reply []byte)
}

// Request sends u statefully, retransmitted until answered; an error says
// why it was not sent (then Done is not called).
func (tm *Module) Request(u UAC) error {
	method, ruri, headers, body := u.Method, u.RURI, u.Headers, u.Body
	if method == "" || strings.ContainsAny(method, " \r\n") || strings.EqualFold(method, "ACK") || strings.EqualFold(method, "CANCEL") {
		return tmError("method " + strconv.Quote(method))
	}
	var uri sip.URI
	if err := sip.ParseURI([]byte(ruri), &uri); err != nil {
		return tmError("request URI " + strconv.Quote(ruri) + ": " + err.Error())
	}
	var local *transport.Listener
	if u.Socket != "" {
		if local = tm.env.Socket(u.Socket); local == nil {
			return tmError(u.Socket + " is not a socket of this proxy")
		}
	}
	has := func(names ...string) bool {
		for _, l := range strings.Split(headers, "\n") {
			n, _, ok := strings.Cut(l, ":")
			for _, name := range names {
				if ok && strings.EqualFold(strings.TrimSpace(n), name) {
					return true
				}
			}
		}
		return false
	}
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	// A stand-in: the message needs a Via to parse; branchOut puts ours
	// in its place.
	b.WriteString("Via: " + uacVia + "\r\n")
	for _, l := range strings.Split(strings.ReplaceAll(headers, "\r\n", "\n"), "\n") {
		if l = strings.TrimRight(l, " \t"); l != "" {
			b.WriteString(l + "\r\n")
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	if !has("From", "f") {
		b.WriteString("From: <sip:kemi@" + string(uri.Host) + ">;tag=" + tag[:8] + "\r\n")
	}
	if !has("To", "t") {
		b.WriteString("To: <" + ruri + ">\r\n")
	}
	if !has("Call-ID", "i") {
		b.WriteString("Call-ID: " + tag + "@kemi\r\n")
	}
	if !has("CSeq") {
		b.WriteString("CSeq: 10 " + strings.ToUpper(method) + "\r\n")
	}
	if !has("Max-Forwards") {
		b.WriteString("Max-Forwards: 70\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	req := []byte(b.String())
	var m sip.Msg
	if err := m.Parse(req); err != nil {
		return tmError("the request does not parse: " + err.Error())
	}
	t := &Trans{tm: tm, id: tm.nextID.Add(1), method: m.Method(), req: req, uac: true, done: u.Done}
	t.branches = t.branchArr[:0]
	t.pkt = transport.Packet{Local: local}
	if local != nil {
		t.pkt.Proto = local.Proto
	}
	t.created = time.Now()
	t.ruri = []byte(ruri)
	t.lifeEnd = t.created.Add(t.lifetime())
	t.callID, t.cseq = callIDOf(req, &m)
	t.mu.Lock()
	defer t.mu.Unlock()
	tm.track(t)
	w := tm.worker()
	if w == nil {
		t.remove()
		return tmError("no worker for the request")
	}
	defer tm.putWorker(w)
	rc := t.requestCtx(w)
	if rc == nil {
		t.remove()
		return tmError("no context for the request")
	}
	defer func() { rc.Transaction = nil; rc.Finish() }()
	if local != nil {
		rc.SetSendSocket(local)
	}
	if u.NextHop != "" {
		if err := rc.SetDstURI([]byte(u.NextHop)); err != nil {
			t.remove()
			return tmError("next hop " + strconv.Quote(u.NextHop) + ": " + err.Error())
		}
	}
	if !t.branchOut(rc) {
		t.remove()
		return tmError("not sent to " + ruri)
	}
	return nil
}
