package dispatcher

import (
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// loads is the call load table of algorithm 10 (ds_hash_size > 0): the
// destination each call went to, by Call-ID, so that the call's end
// takes its load off. A call ends with its BYE or CANCEL
// (ds_load_update), or expires: ds_hash_initexpire seconds after it
// started while unanswered, ds_hash_expire in any case.
type loads struct {
	m       *Module
	mu      sync.Mutex
	on      bool
	calls   map[string]*loadCell
	expire  time.Duration
	initExp time.Duration
}

type loadCell struct {
	set       int
	duid      string
	confirmed bool // a 2xx answered the INVITE
	expire    time.Time
	initExp   time.Time
}

// add records that c's call goes to destination i of set s; false when
// there is no load table or the destination has no duid (then the
// selection goes on as for algorithm 0). s.mu is held.
func (l *loads) add(c *router.Ctx, s *set, id, i int) bool {
	d := s.dests[i]
	if !l.on {
		l.m.errorf(c, "unable to update destination load - classic dispatching (ds_hash_size is 0)")
		return false
	}
	if d.attrs.duid == "" {
		l.m.errorf(c, "dst unique id not set for "+d.uri)
		return false
	}
	now := time.Now()
	l.mu.Lock()
	l.calls[string(c.Msg.CallID())] = &loadCell{set: id, duid: d.attrs.duid, expire: now.Add(l.expire), initExp: now.Add(l.initExp)}
	l.mu.Unlock()
	d.dload++
	return true
}

// take removes the call's cell and returns it.
func (l *loads) take(callID string) *loadCell {
	l.mu.Lock()
	defer l.mu.Unlock()
	cell := l.calls[callID]
	delete(l.calls, callID)
	return cell
}

// unload takes one call off the destination duid of set id.
func (l *loads) unload(id int, duid string) bool {
	s := l.m.list.Load().set(id)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.attrs.duid == duid {
			if d.dload > 0 {
				d.dload--
			}
			return true
		}
	}
	return false
}

// replace moves c's call to the destination duid (ds_next_dst with call
// load): 0 done, -2 when duid is not in the call's set, -1 on other
// errors.
func (l *loads) replace(c *router.Ctx, duid string) int {
	callID := string(c.Msg.CallID())
	l.mu.Lock()
	cell := l.calls[callID]
	l.mu.Unlock()
	if cell == nil {
		l.m.errorf(c, "cannot find load for ("+callID+")")
		return -1
	}
	s := l.m.list.Load().set(cell.set)
	if s == nil {
		return -1
	}
	s.mu.Lock()
	var newD *dest
	for _, d := range s.dests {
		if d.attrs.duid == duid {
			newD = d
		}
	}
	s.mu.Unlock()
	if newD == nil {
		l.m.errorf(c, "new destination address not found for ["+duid+"]")
		return -2
	}
	l.take(callID)
	l.unload(cell.set, cell.duid)
	now := time.Now()
	l.mu.Lock()
	l.calls[callID] = &loadCell{set: cell.set, duid: duid, expire: now.Add(l.expire), initExp: now.Add(l.initExp)}
	l.mu.Unlock()
	s.mu.Lock()
	newD.dload++
	s.mu.Unlock()
	return 0
}

// update is ds_load_update: a BYE or CANCEL ends the call's load, a 2xx
// to its INVITE confirms it.
func (l *loads) update(c *router.Ctx) {
	msg := c.Msg
	if msg.IsRequest() {
		if m := msg.Method(); m == sip.MethodBYE || m == sip.MethodCANCEL {
			l.remove(c)
		}
		return
	}
	if msg.CSeqMethod() == sip.MethodINVITE && msg.StatusCode()/100 == 2 {
		l.mu.Lock()
		if cell := l.calls[string(msg.CallID())]; cell != nil {
			cell.confirmed = true
		}
		l.mu.Unlock()
	}
}

// remove ends c's call load; false when it has none.
func (l *loads) remove(c *router.Ctx) bool {
	cell := l.take(string(c.Msg.CallID()))
	if cell == nil {
		return false
	}
	return l.unload(cell.set, cell.duid)
}

// expireOld takes off the calls past their time (the ds_hash_check_interval
// timer).
func (l *loads) expireOld(now time.Time) {
	type gone struct {
		set  int
		duid string
	}
	var gs []gone
	l.mu.Lock()
	for id, cell := range l.calls {
		if now.After(cell.expire) || !cell.confirmed && now.After(cell.initExp) {
			delete(l.calls, id)
			gs = append(gs, gone{cell.set, cell.duid})
		}
	}
	l.mu.Unlock()
	for _, g := range gs {
		l.unload(g.set, g.duid)
	}
}
