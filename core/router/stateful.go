package router

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Transaction is the stateful side of a request (Ctx.Transaction): a
// reply sent through it is kept for the request's retransmissions. Whoever
// runs a route with it set holds its lock.
type Transaction interface {
	Reply(c *Ctx, code int, reason string, headers, body []byte) error
}

// ReplyHook is how tm sees replies: it returns true when the reply belongs
// to one of its transactions (and has been handled), false to let the
// proxy forward it statelessly.
type ReplyHook func(c *Ctx) bool

// AtEnd runs f with the context when the worker is done with the message,
// whatever the routes did: tm releases what it locked, tmx what it marked.
// f should be a function value made once (not a closure per call).
func (c *Ctx) AtEnd(f func(*Ctx)) { c.atEnd = append(c.atEnd, f) }

// Finish runs what AtEnd registered; the proxy calls it when it is done
// with a message, tm after a route it ran on a transaction's request.
func (c *Ctx) Finish() {
	for i := len(c.atEnd) - 1; i >= 0; i-- {
		c.atEnd[i](c)
	}
	clear(c.atEnd)
	c.atEnd = c.atEnd[:0]
}

// RequestCtx parses buf (a request a transaction keeps) into the worker's
// second context, for the routes that run on a transaction's request while
// the worker handles a reply or a timer: failure_route, branch_route of a
// new branch. buf must stay unchanged while the context is in use.
func (w *Worker) RequestCtx(buf []byte, p *transport.Packet) (*Ctx, error) {
	m := &w.fmsg
	if err := m.Parse(buf); err != nil {
		return nil, err
	}
	if !m.IsRequest() {
		return nil, errors.New("not a request")
	}
	c := &w.fctx
	c.W = w
	c.reset(m, p)
	return c, nil
}

// fakedPkt is where the faked message comes from: 127.0.0.1:5060 over
// UDP, on no socket. (Kamailio's fmsg.c writes 127.0.0.1 in host byte
// order, so its $si there reads 1.0.0.127 on x86.)
var fakedPkt = transport.Packet{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 5060), Proto: sip.TransportUDP}

// EventCtx is the worker's second context on Kamailio's faked message
// (an OPTIONS from 127.0.0.1, no socket), for an event route a module runs
// outside any message (dispatcher's dst-down after a probe).
func (w *Worker) EventCtx() *Ctx {
	pkt := fakedPkt
	c, err := w.RequestCtx([]byte(fakedMsg), &pkt)
	if err != nil {
		panic("router: the faked message does not parse: " + err.Error())
	}
	c.Kind = RouteEvent
	return c
}

// RunKind runs a named route of kind (failure_route[NAME], a Lua
// callback...) with c, as tm does: the return code, or an error that is
// also logged and counted as a script error.
func (c *Ctx) RunKind(kind RouteKind, name string) (int, error) {
	r := c.W.runner
	if r == nil || !r.Has(kind, name) {
		return -1, errors.New(kind.String() + " " + name + " not found")
	}
	prevKind, prevRoute := c.Kind, c.Route
	c.Kind, c.Route = kind, kind.String()+"["+name+"]"
	rc, err := r.Run(c, kind, name)
	c.Kind, c.Route = prevKind, prevRoute
	if err != nil {
		e := c.W.env
		e.Stats.ScriptErrors.Add(1)
		e.Log.Error("script error", "route", kind.String()+"["+name+"]", "err", err.Error())
	}
	return rc, err
}

// HasRoute reports whether the script defines the route: t_on_* check the
// name they are given, so that a misspelling is an error at the call.
func (c *Ctx) HasRoute(kind RouteKind, name string) bool {
	r := c.W.runner
	return r != nil && r.Has(kind, name)
}

// SendHop is where the message onsend_route runs for goes (snd_ip,
// to_ip, ...); ok false outside onsend_route.
func (c *Ctx) SendHop() (Hop, bool) { return c.sendHop, c.sending }

// SetSendHop makes hop what $sndto(...) and $snd(...) read, as in
// onsend_route (topoh's event routes run with it); on false clears it.
func (c *Ctx) SetSendHop(hop Hop, on bool) { c.sendHop, c.sending = hop, on }

// OnSend runs onsend_route / ksr_onsend_route, when the script has one,
// before a request leaves; false when the route dropped it.
func (c *Ctx) OnSend(hop Hop) bool {
	w := c.W
	if !w.hasOnSend {
		return true
	}
	prevKind, prevRoute, prevDrop := c.Kind, c.Route, c.Drop
	c.Kind, c.Route, c.Drop = RouteOnSend, RouteOnSend.String(), false
	c.sendHop, c.sending = hop, true
	_, err := w.runner.Run(c, RouteOnSend, "")
	c.sending = false
	dropped := c.Drop || err != nil
	if err != nil {
		w.env.Stats.ScriptErrors.Add(1)
		w.env.Log.Error("script error", "route", c.Route, "err", err.Error())
	}
	c.Kind, c.Route, c.Drop = prevKind, prevRoute, prevDrop
	return !dropped
}

// EventWorker is the worker a module runs its routes on outside any
// message (a dialog's timeout, a probe's answer, a connection's end):
// made when first needed, with Rank (negative: not a SIP worker, as
// Kamailio's timer processes), one run at a time, synced with script
// reloads before each.
type EventWorker struct {
	Rank int
	mu   sync.Mutex
	w    *Worker
}

// With runs f on the worker; nothing (logged) when none can be made.
func (e *EventWorker) With(env *Env, f func(w *Worker)) {
	if env == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.w == nil {
		w, err := env.NewWorker(e.Rank)
		if err != nil {
			env.Log.Error("no worker for the event routes: " + err.Error())
			return
		}
		e.w = w
	}
	e.w.Sync()
	f(e.w)
}
