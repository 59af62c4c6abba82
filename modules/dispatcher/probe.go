package dispatcher

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/modules/tm"
)

// rctx is what $dsv(code), $dsv(reason) and $dsv(flags) show in the
// dst-down and dst-up event routes: the reply that changed the state
// (flags 1), or Kamailio's codes for none: 820 a request's ds_mark_dst,
// 408 a probe's timeout, 500 a probe that could not be sent.
type rctx struct {
	flags, code int
	reason      string
}

// dsvState is the rctx of the event route running on a context.
type dsvState struct {
	rc  rctx
	set bool
}

func (s *dsvState) Reset() { *s = dsvState{} }

var dsvSlot = router.NewSlot[dsvState]()

func parseDSV(pv *router.PV) error {
	switch pv.Arg {
	case "code", "reason", "flags":
		return nil
	}
	return fmt.Errorf("dispatcher: unknown PV key: %s", pv.Arg)
}

func getDSV(c *router.Ctx, pv *router.PV) router.Value {
	st := dsvSlot.Of(c)
	if !st.set {
		return router.Value{}
	}
	switch pv.Arg {
	case "code":
		return router.IntValue(int64(st.rc.code))
	case "reason":
		if st.rc.reason == "" {
			return router.Value{}
		}
		return router.StrValue(st.rc.reason)
	default:
		return router.IntValue(int64(st.rc.flags))
	}
}

// parseReplyCodes reads ds_ping_reply_codes: "code=404;class=3".
func parseReplyCodes(s string) ([]int, error) {
	var codes []int
	for _, p := range strings.Split(strings.TrimSuffix(s, ";"), ";") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		name, val, _ := strings.Cut(p, "=")
		n, err := strconv.Atoi(strings.TrimSpace(val))
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "code":
			if err == nil && n >= 100 && n < 700 {
				codes = append(codes, n)
			}
		case "class":
			if err == nil && n >= 1 && n < 7 {
				codes = append(codes, n)
			}
		default:
			return nil, fmt.Errorf("dispatcher: ds_ping_reply_codes: %q: want code=N or class=N", p)
		}
	}
	return codes, nil
}

// answered reports whether a probe's final status means the destination
// is up: a 2xx, or a code or class of ds_ping_reply_codes.
func (m *Module) answered(code int) bool {
	if code >= 200 && code <= 299 {
		return true
	}
	for _, c := range m.conf.replyCodes {
		if c >= 100 && c == code || c < 10 && c == code/100 {
			return true
		}
	}
	return false
}

// stateOf is the flags of destination uri in set id; 0 when there is none.
func (m *Module) stateOf(id int, uri string) int {
	s := m.list.Load().set(id)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if strings.EqualFold(d.uri, uri) {
			return d.flags
		}
	}
	return 0
}

// probeAll sends a probe to every destination the probing mode says
// (the ds_ping_interval timer).
func (m *Module) probeAll() {
	if !m.pingActive.Load() {
		return
	}
	l := m.list.Load()
	if l == nil {
		return
	}
	for _, id := range l.ids {
		s := l.sets[id]
		s.mu.Lock()
		var todo []*dest
		for _, d := range s.dests {
			if d.flags&stDisabled == 0 && m.probes(d.flags) {
				d.lat.start = time.Now()
				todo = append(todo, d)
			}
		}
		s.mu.Unlock()
		for _, d := range todo {
			m.probe(id, d)
		}
	}
}

// probes reports whether a destination of these flags gets a probe.
func (m *Module) probes(flags int) bool {
	switch {
	case m.conf.probingMode == probeAll:
		return true
	case m.conf.probingMode != probeInactive:
		return flags&stProbing != 0
	default:
		return flags&stProbing != 0 && flags&stInactive != 0
	}
}

// probe sends the OPTIONS (ds_ping_method) to d through tm; its final
// status updates d's state.
func (m *Module) probe(id int, d *dest) {
	from := m.conf.pingFrom
	if d.attrs.pingFrom != "" {
		from = d.attrs.pingFrom
	}
	hop := m.conf.outboundProxy
	if d.attrs.obproxy != "" {
		hop = d.attrs.obproxy
	}
	socket := ""
	if d.sock != nil {
		socket = d.sock.String()
	}
	uri := d.uri
	err := m.tm.Request(tm.UAC{Method: m.conf.pingMethod, RURI: uri, NextHop: hop, Socket: socket,
		Headers: "From: <" + from + ">;tag=" + strconv.FormatUint(uint64(time.Now().UnixNano()&0xffffffff), 16) + "\r\nTo: <" + uri + ">",
		Done:    func(code int, reply []byte) { m.probed(id, uri, code, reply) }})
	if err != nil {
		m.log().Error("dispatcher: unable to ping ["+uri+"] in group ["+strconv.Itoa(id)+"]: "+err.Error(), "set", id)
		st := stTrying
		if m.conf.probingMode != probeNone {
			st |= stProbing
		}
		if m.stateOf(id, uri)&stDisabled == 0 {
			m.updateState(nil, id, uri, st, rctx{code: 500, reason: "Sending keepalive failed"})
		}
	}
}

// probed takes a probe's final status: up (active again, past
// ds_inactive_threshold answers) or trying (inactive past
// ds_probing_threshold failures).
func (m *Module) probed(id int, uri string, code int, reply []byte) {
	if m.conf.pingLatency {
		m.updateLatency(id, uri, code)
	}
	rc := rctx{code: code}
	if reply != nil {
		rc.flags, rc.reason = 1, reasonOf(reply)
	}
	cur := m.stateOf(id, uri)
	if m.conf.probingMode == probeOnlyFlagged && cur&stProbing == 0 {
		return // probing was turned off meanwhile
	}
	if cur&stDisabled != 0 {
		return // disabled meanwhile
	}
	if m.answered(code) {
		st := 0
		if m.conf.probingMode == probeAll || m.conf.probingMode == probeOnlyFlagged && cur&stProbing != 0 {
			st |= stProbing
		}
		m.updateState(nil, id, uri, st, rc)
		return
	}
	st := stTrying
	if m.conf.probingMode != probeNone {
		st |= stProbing
	}
	m.updateState(nil, id, uri, st, rc)
}

// reasonOf is the reason phrase of a reply's status line.
func reasonOf(reply []byte) string {
	line, _, _ := strings.Cut(string(reply), "\r\n")
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// updateState sets the state of destination uri of set id as Kamailio's
// ds_update_state does, then runs event_route[dispatcher:dst-down] or
// [dispatcher:dst-up] when it went out of use or back (on c, or on a
// faked message to uri when c is nil). false when there is no such
// destination.
func (m *Module) updateState(c *router.Ctx, id int, uri string, state int, rc rctx) bool {
	s := m.list.Load().set(id)
	if s == nil {
		return false
	}
	s.mu.Lock()
	var d *dest
	for _, x := range s.dests {
		if strings.EqualFold(x.uri, uri) {
			d = x
			break
		}
	}
	if d == nil {
		s.mu.Unlock()
		return false
	}
	old := d.flags
	d.flags &^= stAll
	init := state
	if state&stTrying != 0 && old&stInactive != 0 {
		// Inactive, now trying: it stays inactive until it is active first.
		state = state&^stTrying | stInactive
	}
	if state&stDisabled != 0 {
		d.flags |= stDisabled
	} else {
		d.flags |= state
	}
	if state&stTrying != 0 {
		d.msgCount++
		if d.msgCount >= m.conf.probingThreshold {
			d.flags = d.flags&^stTrying | stInactive
			d.msgCount = 0
		}
	} else if init&stTrying == 0 && old&stInactive != 0 {
		d.msgCount++
		if d.msgCount < m.conf.inactiveThreshold {
			d.flags |= stInactive // not enough answers yet
			if old&stProbing != 0 {
				d.flags |= stProbing
			}
		} else {
			d.msgCount = 0
		}
	} else {
		d.msgCount = 0
	}
	now := d.flags
	if d.attrs.rweight > 0 && skipped(old) != skipped(now) {
		s.initRelWeights()
	}
	s.mu.Unlock()
	switch {
	case !skipped(old) && skipped(now):
		m.runEvent(c, uri, "dispatcher:dst-down", rc)
	case skipped(old) && !skipped(now):
		m.runEvent(c, uri, "dispatcher:dst-up", rc)
	}
	return true
}

// runEvent runs the event route of a state change: event_route[name], or
// the function event_callback names with name as its argument.
func (m *Module) runEvent(c *router.Ctx, uri, name string, rc rctx) {
	route := name
	if m.conf.eventCallback != "" {
		route = m.conf.eventCallback
	}
	if c == nil {
		m.events.With(m.env, func(w *router.Worker) {
			c := w.EventCtx()
			defer c.Finish()
			c.SetRURI([]byte(uri))
			m.runEvent(c, uri, name, rc)
		})
		return
	}
	if !c.HasRoute(router.RouteEvent, route) {
		return
	}
	st := dsvSlot.Of(c)
	prevSt, prevEv := *st, c.EventName
	st.rc, st.set = rc, true
	if m.conf.eventCallback != "" {
		c.EventName = name
	}
	c.RunKind(router.RouteEvent, route)
	*st, c.EventName = prevSt, prevEv
}

// updateLatency adds a probe's round trip to the destination's latency
// statistics and, with cc=1, moves the relative weights away from the
// congested destinations, as Kamailio's ds_update_latency does.
func (m *Module) updateLatency(id int, uri string, code int) {
	s := m.list.Load().set(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type cc struct {
		congested, normal, totalMS int
		enabled, apply             bool
	}
	st := cc{enabled: true}
	weighted := func(d *dest) int {
		ms := int(d.lat.estimate - d.lat.average)
		if d.attrs.weight <= 0 {
			return 0
		}
		ms = max(ms, 0)
		st.totalMS += ms
		w := max(d.attrs.weight-ms, 0)
		if w == 0 {
			st.congested++
		} else {
			st.normal++
		}
		return w
	}
	for _, d := range s.dests {
		if strings.EqualFold(d.uri, uri) {
			if d.flags&stProbing == 0 {
				if d.attrs.cc == 0 {
					st.enabled = false
				}
				continue
			}
			if code == 408 {
				d.lat.timeout++
			} else {
				d.lat.update(int(time.Since(d.lat.start).Milliseconds()), m.conf.latencyAlpha)
			}
			if d.attrs.cc != 0 && d.attrs.weight > 0 {
				if w := weighted(d); d.attrs.rweight != w {
					st.apply, d.attrs.rweight = true, w
				}
			}
		} else if d.attrs.cc != 0 && d.attrs.weight > 0 {
			weighted(d)
		}
		if d.attrs.cc == 0 {
			st.enabled = false
		}
	}
	if st.enabled && st.congested > 1 && st.normal == 0 {
		for _, d := range s.dests {
			ms := int(d.lat.estimate - d.lat.average)
			if w := (st.totalMS << 4) / max(ms, 1); d.attrs.rweight != w {
				st.apply, d.attrs.rweight = true, w
			}
		}
	}
	if st.enabled && st.apply {
		s.initRelWeights()
	}
}
