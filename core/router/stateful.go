package router

import (
	"errors"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Transaction is the stateful side of a request, set on the context by tm
// once it made one (t_newtran, t_relay): replies the script sends then go
// out through it, so that a retransmission of the request gets them again.
type Transaction interface {
	Reply(c *Ctx, code int, reason string, headers, body []byte) error
}

// TM is what tm keeps on a request context: the routes named by t_on_*
// before the transaction exists, and the transaction while routes run in
// its context. Whoever runs a route with T set holds the transaction's
// lock, so tm's functions called from the script use it as it is.
type TM struct {
	T               Transaction
	OnReply         string // onreply_route / reply callback
	OnFailure       string
	OnBranch        string
	OnBranchFailure string
	BranchIdx       int // $T_branch_idx
	ReplyCode       int // $T_reply_code: the reply a failure/onreply route runs for
	// Key is tm's matching key of the request, 0 until computed.
	Key uint64
	// Precheck is the key t_precheck_trans marked as in progress, 0 if none.
	Precheck uint64
	// Contacts t_load_contacts sorted for serial forking, highest q first;
	// t_next_contacts takes them a q-value group at a time.
	Contacts []Branch
}

func (t *TM) reset() {
	contacts := t.Contacts[:0]
	*t = TM{Contacts: contacts}
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

// OnSend runs onsend_route / ksr_onsend_route, when the script has one,
// before a request leaves; false when the route dropped it.
func (c *Ctx) OnSend() bool {
	w := c.W
	if !w.hasOnSend {
		return true
	}
	prevKind, prevRoute, prevDrop := c.Kind, c.Route, c.Drop
	c.Kind, c.Route, c.Drop = RouteOnSend, RouteOnSend.String(), false
	_, err := w.runner.Run(c, RouteOnSend, "")
	dropped := c.Drop || err != nil
	if err != nil {
		w.env.Stats.ScriptErrors.Add(1)
		w.env.Log.Error("script error", "route", c.Route, "err", err.Error())
	}
	c.Kind, c.Route, c.Drop = prevKind, prevRoute, prevDrop
	return !dropped
}

// RR is what rr keeps on a request: the Record-Route this proxy adds when
// the request is forwarded, and what loose_route found.
type RR struct {
	Want        bool   // record_route was called
	Params      []byte // add_rr_param: ";nat=yes"
	FromTag     []byte // append_fromtag: the From tag to write as ftag
	Preset      []byte // record_route_preset: the address written instead of ours
	RouteParams []byte // the parameters of our Route that loose_route took
}

// RRMark is a saved state of RR, for a branch_route's changes.
type RRMark struct {
	want   bool
	params int
}

// Mark saves the state of the Record-Route to add.
func (r *RR) Mark() RRMark { return RRMark{r.Want, len(r.Params)} }

// Restore returns to a saved state.
func (r *RR) Restore(m RRMark) { r.Want, r.Params = m.want, r.Params[:m.params] }

func (r *RR) reset() {
	r.Want = false
	r.Params, r.FromTag, r.Preset, r.RouteParams = r.Params[:0], r.FromTag[:0], r.Preset[:0], r.RouteParams[:0]
}

// appendRecordRoute writes the Record-Route value for a request that came
// in on l: <sip:address;lr;ftag=...;params>.
func (c *Ctx) appendRecordRoute(dst []byte) []byte {
	r := &c.RR
	dst = append(dst, "Record-Route: <sip:"...)
	if len(r.Preset) > 0 {
		dst = append(dst, r.Preset...)
	} else {
		l := c.Pkt.Local
		if l.Advertise != "" {
			dst = append(dst, l.Advertise...)
		} else {
			dst = l.Addr.AppendTo(dst)
		}
		switch l.Proto {
		case sip.TransportTCP:
			dst = append(dst, ";transport=tcp"...)
		case sip.TransportTLS:
			dst = append(dst, ";transport=tls"...)
		}
	}
	dst = append(dst, ";lr"...)
	if len(r.FromTag) > 0 {
		dst = append(append(dst, ";ftag="...), r.FromTag...)
	}
	dst = append(dst, r.Params...)
	return append(dst, '>')
}
