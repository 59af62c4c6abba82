package router

import (
	"sync"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// NetEvents runs the event routes of a module that rewrites messages on
// the wire (Env.NetIn, transport.Server.Out): topoh's and topos'
// msg-outgoing, msg-sending, msg-incoming, msg-receiving. A route runs on
// a worker of its own taken from a pool, since messages are sent from
// every goroutine at once and a route may send too; a route the script
// does not have runs event_callback, when set, with the event's name.
type NetEvents struct {
	env      *Env
	callback string
	mode     int
	names    map[int]string // the event route's name by its bit in mode

	once    sync.Once
	has     int // the bits of the events the script has a route (or the callback) for
	workers chan *Worker
}

// NewNetEvents makes the runner of the events named by names (keyed by
// their bit), of which mode says which run.
func NewNetEvents(env *Env, callback string, mode int, names map[int]string) *NetEvents {
	return &NetEvents{env: env, callback: callback, mode: mode, names: names, workers: make(chan *Worker, 8)}
}

// Run runs the event of bit kind on msg, or on Kamailio's faked message
// when msg is nil. pkt, when not nil, is where a received message came
// from ($si, $sp, $proto); hop, when not nil, where a message being sent
// goes ($sndto). It reports whether the route dropped the message.
func (n *NetEvents) Run(kind int, msg *sip.Msg, pkt *transport.Packet, hop *Hop) bool {
	if n == nil || n.mode&kind == 0 || n.env == nil {
		return false
	}
	n.once.Do(n.find)
	if n.has&kind == 0 {
		return false
	}
	w := n.worker()
	if w == nil {
		return false
	}
	defer n.release(w)
	w.Sync()
	var c *Ctx
	if msg != nil {
		p := &transport.Packet{}
		if pkt != nil {
			*p = *pkt
		} else if hop != nil {
			p.Local, p.Proto = hop.Local, hop.Proto
		}
		c = w.Begin(p, msg)
		c.Kind = RouteEvent
	} else {
		c = w.EventCtx()
		if pkt != nil {
			c.Pkt.Src, c.Pkt.Proto, c.Pkt.Local = pkt.Src, pkt.Proto, pkt.Local
		}
	}
	defer c.Finish()
	if hop != nil {
		h := *hop
		if h.Local == nil && n.env.Transport != nil {
			h.Local = n.env.Transport.Listener(h.Proto, h.Addr.Addr().Is4())
		}
		c.SetSendHop(h, true)
		defer c.SetSendHop(Hop{}, false)
	}
	route := n.names[kind]
	if !c.HasRoute(RouteEvent, route) {
		route = n.callback
		c.EventName = n.names[kind]
		defer func() { c.EventName = "" }()
	}
	c.RunKind(RouteEvent, route)
	return c.Drop
}

// find asks the script once which of the routes it has.
func (n *NetEvents) find() {
	w := n.worker()
	if w == nil {
		return
	}
	defer n.release(w)
	c := w.EventCtx()
	defer c.Finish()
	cb := n.callback != "" && c.HasRoute(RouteEvent, n.callback)
	for k, name := range n.names {
		if cb || c.HasRoute(RouteEvent, name) {
			n.has |= k
		}
	}
}

func (n *NetEvents) worker() *Worker {
	select {
	case w := <-n.workers:
		return w
	default:
	}
	w, err := n.env.NewWorker(-20)
	if err != nil {
		n.env.Log.Error("no worker for the event routes: " + err.Error())
		return nil
	}
	return w
}

func (n *NetEvents) release(w *Worker) {
	select {
	case n.workers <- w:
	default:
	}
}
