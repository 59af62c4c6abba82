package dispatcher

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// isFromList is ds_is_from_list: whether the request's source (or uri's
// address) is a destination of set (-1: any set) as mode says (no port,
// no transport, in use only). With set -1 the matching set goes to
// setid_pvname, and the destination's attributes to attrs_pvname.
func (m *Module) isFromList(c *router.Ctx, id int, uri string, mode int) int {
	var ip netip.Addr
	var port int
	var proto sip.Transport
	if uri == "" {
		src := c.Src()
		ip, port = src.Addr().Unmap(), int(src.Port())
		if c.Pkt != nil {
			proto = c.Pkt.Proto
		}
	} else {
		var u sip.URI
		if err := sip.ParseURI([]byte(uri), &u); err != nil || len(u.Host) == 0 {
			m.errorf(c, "bad uri ["+uri+"]")
			return -1
		}
		port, proto = u.Port, sip.ParseTransport(u.TransportParam())
		var err error
		if ip, err = resolve(string(u.Host)); err != nil {
			m.errorf(c, "could not resolve "+string(u.Host))
			return -1
		}
	}
	l := m.list.Load()
	if l == nil {
		return -1
	}
	ids := l.ids
	if id != -1 {
		ids = []int{id}
	}
	for _, sid := range ids {
		s := l.sets[sid]
		if s == nil {
			continue
		}
		s.mu.Lock()
		var hit *dest
		for _, d := range s.dests {
			if d.addr.IsValid() && d.addr == ip &&
				(mode&matchNoPort != 0 || d.port == 0 || d.port == port) &&
				(mode&matchNoProto != 0 || d.proto == proto) &&
				(mode&matchActive == 0 || !skipped(d.flags)) {
				hit = d
				break
			}
		}
		s.mu.Unlock()
		if hit == nil {
			continue
		}
		if id == -1 && m.conf.setidPV != "" {
			if pv, err := c.W.PV(m.conf.setidPV); err == nil {
				pv.Set(c, router.IntValue(int64(sid)))
			}
		}
		if m.conf.attrsPV != "" && hit.attrs.body != "" {
			if pv, err := c.W.PV(m.conf.attrsPV); err == nil {
				pv.Set(c, router.StrValue(hit.attrs.body))
			}
		}
		return 1
	}
	return -1
}

// RPCs are the dispatcher.* commands.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "dispatcher.reload", Doc: "Reload dispatcher destination sets", Fn: func([]any) (any, error) {
			if err := m.Reload(); err != nil {
				if strings.Contains(err.Error(), "ongoing") {
					return nil, dispatch.RPCErrorf(500, "Ongoing reload")
				}
				m.log().Error(err.Error())
				return nil, dispatch.RPCErrorf(500, "Reload Failed")
			}
			return "Ok. Dispatcher successfully reloaded.", nil
		}},
		{Name: "dispatcher.list", Doc: "Return the content of dispatcher sets: dispatcher.list [short|full]", Fn: m.rpcList},
		{Name: "dispatcher.set_state", Doc: "Set the state of a destination by address: dispatcher.set_state STATE GROUP ADDRESS|all", Fn: func(p []any) (any, error) {
			return m.rpcSetState(p, false)
		}},
		{Name: "dispatcher.set_duid_state", Doc: "Set the state of a destination by duid", Fn: func(p []any) (any, error) {
			return m.rpcSetState(p, true)
		}},
		{Name: "dispatcher.ping_active", Doc: "Manage setting on/off the pinging (keepalive) of destinations", Fn: func(p []any) (any, error) {
			old := 0
			if m.pingActive.Load() {
				old = 1
			}
			if len(p) == 0 {
				return map[string]any{"OldPingState": old}, nil
			}
			v, err := dispatch.ParamInt(p, 0, "state")
			if err != nil {
				return nil, err
			}
			m.pingActive.Store(v != 0)
			return map[string]any{"NewPingState": v, "OldPingState": old}, nil
		}},
		{Name: "dispatcher.add", Doc: "Add a destination address in memory: dispatcher.add GROUP ADDRESS [FLAGS [PRIORITY [ATTRS]]]", Fn: m.rpcAdd},
		{Name: "dispatcher.remove", Doc: "Remove a destination address from memory: dispatcher.remove GROUP ADDRESS", Fn: m.rpcRemove},
		{Name: "dispatcher.hash", Doc: "Compute the hash of the values: dispatcher.hash NSLOTS VAL1 [VAL2]", Fn: func(p []any) (any, error) {
			n, err := dispatch.ParamInt(p, 0, "slots")
			if err != nil {
				return nil, err
			}
			v1, err := dispatch.ParamStr(p, 1, "value")
			if err != nil {
				return nil, err
			}
			var v2 []byte
			if len(p) > 2 {
				s, err := dispatch.ParamStr(p, 2, "value")
				if err != nil {
					return nil, err
				}
				v2 = []byte(s)
			}
			h := hash([]byte(v1), v2)
			slot := uint32(0)
			if n > 0 {
				slot = h % uint32(n)
			}
			return map[string]any{"hashid": h, "slot": slot}, nil
		}},
	}
}

// stateLetters are the FLAGS dispatcher.list shows: A active, I
// inactive, D disabled, T trying; then P probing or X.
func stateLetters(flags int) string {
	b := []byte{'A', 'X'}
	switch {
	case flags&stInactive != 0:
		b[0] = 'I'
	case flags&stDisabled != 0:
		b[0] = 'D'
	case flags&stTrying != 0:
		b[0] = 'T'
	}
	if flags&stProbing != 0 {
		b[1] = 'P'
	}
	return string(b)
}

func (m *Module) rpcList(p []any) (any, error) {
	mode := "normal"
	if len(p) > 0 {
		if s, err := dispatch.ParamStr(p, 0, "mode"); err == nil {
			mode = strings.ToLower(s)
		}
	}
	l := m.list.Load()
	if l == nil || len(l.ids) == 0 {
		return nil, dispatch.RPCErrorf(500, "No Destination Sets")
	}
	var records []any
	for _, id := range l.ids {
		s := l.sets[id]
		s.mu.Lock()
		var targets []any
		for _, d := range s.dests {
			e := map[string]any{"URI": d.uri, "FLAGS": stateLetters(d.flags), "PRIORITY": d.priority}
			if mode == "full" {
				ip := ""
				if d.addr.IsValid() {
					ip = d.addr.String()
				}
				e["HOST"], e["IPADDR"], e["PORT"], e["PROTOID"] = d.host, ip, d.port, int(d.proto)
			}
			if mode != "short" && d.attrs.body != "" {
				a := d.attrs
				e["ATTRS"] = map[string]any{"BODY": a.body, "DUID": a.duid, "MAXLOAD": a.maxload, "WEIGHT": a.weight,
					"RWEIGHT": a.rweight, "SOCKET": a.socket, "SOCKNAME": a.sockname, "OBPROXY": a.obproxy}
			}
			if m.conf.pingLatency {
				e["LATENCY"] = map[string]any{"AVG": d.lat.average, "STD": d.lat.stdev, "EST": d.lat.estimate,
					"MAX": d.lat.max, "TIMEOUT": d.lat.timeout}
			}
			if m.loads.on {
				e["RUNTIME"] = map[string]any{"DLGLOAD": d.dload}
			}
			targets = append(targets, map[string]any{"DEST": e})
		}
		s.mu.Unlock()
		records = append(records, map[string]any{"SET": map[string]any{"ID": id, "TARGETS": targets}})
	}
	return map[string]any{"NRSETS": len(l.ids), "RECORDS": records}, nil
}

// rpcSetState is dispatcher.set_state and set_duid_state: STATE is
// 0/i (inactive), 1/a (active), 2/d (disabled), 3/t (trying), a second
// letter p for probing.
func (m *Module) rpcSetState(p []any, byDUID bool) (any, error) {
	state, err := dispatch.ParamStr(p, 0, "state")
	if err != nil {
		return nil, err
	}
	grp, err := dispatch.ParamInt(p, 1, "group")
	if err != nil {
		return nil, err
	}
	target, err := dispatch.ParamStr(p, 2, "address")
	if err != nil {
		return nil, err
	}
	if state == "" {
		return nil, dispatch.RPCErrorf(500, "Invalid State Parameter")
	}
	st := 0
	probing := len(state) > 1 && (state[1] == 'p' || state[1] == 'P')
	switch state[0] {
	case '0', 'i', 'I':
		st = stInactive
	case '1', 'a', 'A':
	case '2', 'd', 'D':
		st, probing = stDisabled, false
	case '3', 't', 'T':
		st = stTrying
	default:
		return nil, dispatch.RPCErrorf(500, "Unknown State Value")
	}
	if probing {
		st |= stProbing
	}
	s := m.list.Load().set(int(grp))
	if s == nil {
		return nil, dispatch.RPCErrorf(500, "State Update Failed")
	}
	s.mu.Lock()
	found := false
	for _, d := range s.dests {
		if target == "all" || !byDUID && strings.EqualFold(d.uri, target) || byDUID && strings.EqualFold(d.attrs.duid, target) {
			old := d.flags
			d.flags = d.flags&^stAll | st
			found = true
			if d.attrs.rweight > 0 && skipped(old) != skipped(d.flags) {
				s.initRelWeights()
			}
			if target != "all" {
				break
			}
		}
	}
	s.mu.Unlock()
	if !found && target != "all" {
		return nil, dispatch.RPCErrorf(500, "State Update Failed")
	}
	return "Ok. Dispatcher state updated.", nil
}

// rebuild makes a new list from the current one's destinations (their
// state kept) changed by f, and puts it in place.
func (m *Module) rebuild(f func(sets map[int][]*dest) error) error {
	old := m.list.Load()
	sets := map[int][]*dest{}
	if old != nil {
		for id, s := range old.sets {
			s.mu.Lock()
			for i := len(s.dests) - 1; i >= 0; i-- { // back to the order listed
				d := *s.dests[i]
				sets[id] = append(sets[id], &d)
			}
			s.mu.Unlock()
		}
	}
	if err := f(sets); err != nil {
		return err
	}
	l := &list{sets: map[int]*set{}}
	for id, ds := range sets {
		if len(ds) == 0 {
			continue
		}
		l.sets[id] = &set{id: id, dests: ds}
		l.ids = append(l.ids, id)
	}
	l.order()
	m.list.Store(l)
	return nil
}

func (m *Module) rpcAdd(p []any) (any, error) {
	grp, err := dispatch.ParamInt(p, 0, "group")
	if err != nil {
		return nil, err
	}
	uri, err := dispatch.ParamStr(p, 1, "address")
	if err != nil {
		return nil, err
	}
	r := row{where: "dispatcher.add", set: int(grp), uri: uri}
	if len(p) > 2 {
		f, err := dispatch.ParamInt(p, 2, "flags")
		if err != nil {
			return nil, err
		}
		r.flags = int(f)
	}
	if len(p) > 3 {
		pr, err := dispatch.ParamInt(p, 3, "priority")
		if err != nil {
			return nil, err
		}
		r.priority = int(pr)
	}
	if len(p) > 4 {
		if r.attrs, err = dispatch.ParamStr(p, 4, "attrs"); err != nil {
			return nil, err
		}
	}
	err = m.rebuild(func(sets map[int][]*dest) error {
		d, err := m.newDest(r)
		if err == nil {
			err = m.bindSocket(d)
		}
		if err != nil {
			return err
		}
		sets[r.set] = append(sets[r.set], d)
		return nil
	})
	if err != nil {
		m.log().Error("dispatcher: dispatcher.add: " + err.Error())
		return nil, dispatch.RPCErrorf(500, "Adding dispatcher dst failed")
	}
	return "Ok. Dispatcher destination added.", nil
}

func (m *Module) rpcRemove(p []any) (any, error) {
	grp, err := dispatch.ParamInt(p, 0, "group")
	if err != nil {
		return nil, err
	}
	uri, err := dispatch.ParamStr(p, 1, "address")
	if err != nil {
		return nil, err
	}
	err = m.rebuild(func(sets map[int][]*dest) error {
		ds := sets[int(grp)]
		for i, d := range ds {
			if strings.EqualFold(d.uri, uri) {
				sets[int(grp)] = append(ds[:i], ds[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("%s not in set %d", uri, grp)
	})
	if err != nil {
		return nil, dispatch.RPCErrorf(500, "Removing dispatcher dst failed")
	}
	return "Ok. Dispatcher destination removed.", nil
}
