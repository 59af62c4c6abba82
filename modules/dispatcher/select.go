package dispatcher

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// The algorithms of ds_select*.
const (
	algHashCallID   = 0
	algHashFrom     = 1
	algHashTo       = 2
	algHashRURI     = 3
	algRoundRobin   = 4
	algHashAuthUser = 5
	algRandom       = 6
	algHashPV       = 7
	algSerial       = 8
	algWeight       = 9
	algCallLoad     = 10
	algRelWeight    = 11
	algParallel     = 12
	algLatency      = 13
)

// Where the selected destination goes (the update mode).
const (
	setDstURI = 0 // $du
	setRURI   = 1 // the request URI's host and port
	setXAVP   = 2 // nowhere: the XAVPs only
)

// The flags parameter's bits.
const (
	flagHashUserOnly = 1 // hash over the URI's user part only
	flagFailover     = 2 // keep the other destinations in XAVPs for ds_next_dst
)

// The match modes of ds_is_from_list.
const (
	matchNoPort  = 1
	matchNoProto = 2
	matchActive  = 4
)

// hash is Kamailio's ds_get_hash of x and y (y nil: x alone): the core
// hash, never 0.
func hash(x, y []byte) uint32 {
	if h := sip.CoreHash(x, y); h != 0 {
		return h
	}
	return 1
}

// uriKeys are the parts of a URI hashed: the user, and unless flags say
// user only, host[:port] (the port when not the scheme's default).
func uriKeys(u *sip.URI, flags int) (k1, k2 []byte) {
	k1 = u.User
	if k1 == nil {
		k1 = []byte{}
	}
	if flags&flagHashUserOnly != 0 {
		return k1, nil
	}
	def := 5060
	if u.Scheme == sip.SchemeSIPS {
		def = 5061
	}
	if len(u.PortText) > 0 && u.Port != def {
		return k1, []byte(string(u.Host) + ":" + string(u.PortText))
	}
	return k1, u.Host
}

// hashOf is the hash the algorithm alg takes over c's message; ok false
// when the message has not what it needs. auth is false for algorithm 5
// without credentials (round robin then).
func (m *Module) hashOf(c *router.Ctx, alg int) (h uint32, auth, ok bool) {
	msg := c.Msg
	switch alg {
	case algHashCallID:
		id := bytes.TrimSpace(msg.CallID())
		if len(id) == 0 {
			return 0, false, false
		}
		return hash(id, nil), true, true
	case algHashFrom, algHashTo:
		na := msg.From()
		if alg == algHashTo {
			na = msg.To()
		}
		if len(na.URI.Host) == 0 {
			return 0, false, false
		}
		k1, k2 := uriKeys(&na.URI, m.conf.flags)
		return hash(k1, k2), true, true
	case algHashRURI:
		u, err := c.RURI()
		if err != nil || len(u.Host) == 0 {
			return 0, false, false
		}
		k1, k2 := uriKeys(u, m.conf.flags)
		return hash(k1, k2), true, true
	case algHashAuthUser:
		for _, t := range []sip.HdrType{sip.HdrProxyAuthorization, sip.HdrAuthorization} {
			v, found := msg.Get(t)
			if !found {
				continue
			}
			var d sip.Digest
			if sip.ParseDigest(v, &d) != nil {
				continue
			}
			user, _, _ := bytes.Cut(d.Username, []byte("@"))
			if user = bytes.TrimSpace(user); len(user) == 0 {
				return 0, false, true
			}
			return hash(user, nil), true, true
		}
		return 0, false, true
	case algHashPV:
		if m.conf.hashPV == "" {
			return 0, false, false
		}
		f, err := c.W.Format(m.conf.hashPV)
		if err != nil {
			return 0, false, false
		}
		s := bytes.TrimSpace(f.Append(nil, c))
		if len(s) == 0 {
			return 0, false, false
		}
		return hash(s, nil), true, true
	}
	return 0, false, false
}

// selection is what one ds_select* call builds: the destinations for the
// XAVPs, in order, and how many.
type selection struct {
	limit uint32
	mode  int // the update mode of the next set (0 once one was applied)
	done  bool
	recs  []record
}

// record is one destination kept for failover.
type record struct {
	set *set
	d   *dest
	alg int
}

// route selects from set id with algorithm alg into sel, applying the
// first destination as sel.mode says: 1 selected (2 for parallel forking
// with a failed branch), -1 none.
func (m *Module) route(c *router.Ctx, id, alg int, sel *selection) int {
	l := m.list.Load()
	if l == nil || len(l.ids) == 0 {
		m.errorf(c, "no destination sets")
		return -1
	}
	if sel.mode == setDstURI && !m.conf.forceDst && len(c.DstURI()) > 0 {
		m.errorf(c, "destination already set ["+string(c.DstURI())+"]")
		return -1
	}
	s := l.set(id)
	if s == nil {
		m.errorf(c, "destination set ["+strconv.Itoa(id)+"] not found")
		return -1
	}
	n := len(s.dests)
	if n == 0 {
		return -1
	}
	useDefault := m.conf.useDefault && n != 1
	mod := uint32(n)
	if useDefault {
		mod = uint32(n - 1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var h uint32
	rr, vlast := false, 0
	roundRobin := func() {
		h = uint32(s.last)
		s.last = (s.last + 1) % n
		vlast, rr = s.last, true
	}
	switch alg {
	case algHashCallID, algHashFrom, algHashTo, algHashRURI, algHashPV:
		var ok bool
		if h, _, ok = m.hashOf(c, alg); !ok {
			m.errorf(c, "can't get the hash of algorithm "+strconv.Itoa(alg))
			return -1
		}
	case algHashAuthUser:
		var auth bool
		if h, auth, _ = m.hashOf(c, alg); !auth {
			roundRobin()
		}
	case algRoundRobin:
		roundRobin()
	case algRandom:
		h = rand.Uint32()
	case algSerial, algParallel:
		h = 0
	case algWeight:
		h = uint32(s.wlist[s.wlast])
		s.wlast = (s.wlast + 1) % 100
	case algRelWeight:
		h = uint32(s.rwlist[s.rwlast])
		s.rwlast = (s.rwlast + 1) % 100
	case algCallLoad:
		if !c.Msg.IsRequest() || c.Msg.Method() != sip.MethodINVITE || m.conf.xavpDst == "" {
			alg = algHashCallID // only INVITE starts a call: the first entry
			break
		}
		i := s.leastLoaded()
		if i < 0 {
			return -1
		}
		h = uint32(i)
		if !m.loads.add(c, s, id, i) {
			alg = algHashCallID
		}
	case algLatency:
		return m.routeLatency(c, s, id, sel)
	default:
		m.log().Warn("dispatcher: algorithm " + strconv.Itoa(alg) + " not implemented - using first entry")
	}
	h %= mod
	i := int(h)
	// The selected destination is not used: the next one that is.
	for skipped(s.dests[i].flags) {
		i = (i + 1) % int(mod)
		if i == int(h) {
			if !m.conf.useDefault {
				return -1
			}
			i = n - 1
			if skipped(s.dests[i].flags) {
				return -1
			}
			break
		}
	}
	if sel.mode != setXAVP {
		if !m.push(c, s.dests[i], sel.mode) {
			return -1
		}
		sel.done = true
	}
	if rr && vlast == s.last {
		s.last = (i + 1) % n
	}
	if alg == algParallel {
		if !m.addBranches(c, s, i, sel.mode) {
			return 2
		}
		return 1
	}
	if m.conf.flags&flagFailover == 0 || m.conf.xavpDst == "" {
		return 1
	}
	add := func(j int) {
		if uint32(len(sel.recs)) < sel.limit {
			sel.recs = append(sel.recs, record{s, s.dests[j], alg})
		}
	}
	add(i)
	for _, j := range append(seq(i+1, n), seq(0, i)...) {
		d := s.dests[j]
		if skipped(d.flags) || m.conf.useDefault && j == n-1 {
			continue
		}
		if alg == algCallLoad && d.attrs.maxload != 0 && d.dload >= d.attrs.maxload {
			continue
		}
		add(j)
	}
	if m.conf.useDefault && i != n-1 {
		add(n - 1)
	}
	return 1
}

func seq(from, to int) []int {
	var r []int
	for i := from; i < to; i++ {
		r = append(r, i)
	}
	return r
}

// leastLoaded is the destination in use with the fewest calls and room
// for one more (maxload), -1 when none; s.mu is held.
func (s *set) leastLoaded() int {
	k, t := -1, int(^uint(0)>>1)
	for j, d := range s.dests {
		if !skipped(d.flags) && (d.attrs.maxload == 0 || d.dload < d.attrs.maxload) && d.dload < t {
			k, t = j, d.dload
		}
	}
	return k
}

// routeLatency is algorithm 13: round robin over the destinations in
// use, ordered by priority less a handicap for latency above it (the
// congestion over the average with cc=1); all go to the XAVPs. s.mu is
// held.
func (m *Module) routeLatency(c *router.Ctx, s *set, id int, sel *selection) int {
	n := len(s.dests)
	type ranked struct{ idx, prio int }
	rs := make([]ranked, 0, n)
	z := s.last
	for y := 0; y < n; y++ {
		d := s.dests[z]
		if !skipped(d.flags) {
			lat := int(d.lat.estimate)
			if d.attrs.cc != 0 {
				lat = int(d.lat.estimate - d.lat.average)
			}
			p, handicap := d.priority, 0
			if lat > p && p > 0 {
				handicap = lat / p
			}
			rp := p - handicap
			if rp < 1 && p > 0 {
				rp = 1
			}
			rs = append(rs, ranked{z, rp})
		} else {
			rs = append(rs, ranked{-1, -1})
		}
		if m.conf.useDefault && n != 1 {
			z = (z + 1) % (n - 1)
		} else {
			z = (z + 1) % n
		}
	}
	// Kamailio's bubble sort: stable, the highest first.
	for i := 0; i < n; i++ {
		for j := 1; j < n; j++ {
			if rs[j-1].prio < rs[j].prio {
				rs[j-1], rs[j] = rs[j], rs[j-1]
			}
		}
	}
	first := rs[0].idx
	if m.conf.flags&flagFailover != 0 {
		for _, r := range rs {
			if uint32(len(sel.recs)) >= sel.limit {
				break
			}
			if r.idx < 0 || skipped(s.dests[r.idx].flags) || m.conf.useDefault && r.idx == n-1 {
				continue
			}
			sel.recs = append(sel.recs, record{s, s.dests[r.idx], algLatency})
		}
	}
	s.last = (first + 1) % n
	if first < 0 {
		return -1
	}
	if sel.mode != setXAVP {
		if !m.push(c, s.dests[first], sel.mode) {
			return -1
		}
		sel.done = true
	}
	return 1
}

// push sends the request to d: $du (setDstURI) or the request URI's host
// part (setRURI), with d's socket.
func (m *Module) push(c *router.Ctx, d *dest, mode int) bool {
	return m.pushURI(c, d.uri, d.sock, mode)
}

func (m *Module) pushURI(c *router.Ctx, uri string, sock *transport.Listener, mode int) bool {
	switch mode {
	case setRURI:
		if err := setHostAll(c, uri); err != nil {
			m.errorf(c, "error while setting r-uri domain with: "+uri+": "+err.Error())
			return false
		}
	case setXAVP:
		return true
	default:
		if err := c.SetDstURI([]byte(uri)); err != nil {
			m.errorf(c, "error while setting dst uri with: "+uri+": "+err.Error())
			return false
		}
	}
	if sock != nil {
		c.SetSendSocket(sock)
	}
	return true
}

// setHostAll replaces everything of the request URI after its user part
// (host, port, parameters, headers) with uri without its scheme, as
// Kamailio's SET_HOSTALL action does.
func setHostAll(c *router.Ctx, uri string) error {
	rest := uri
	if len(rest) > 4 && strings.EqualFold(rest[:4], "sip:") {
		rest = rest[4:]
	} else if len(rest) > 5 && strings.EqualFold(rest[:5], "sips:") {
		rest = rest[5:]
	}
	u, err := c.RURI()
	if err != nil {
		return err
	}
	var b []byte
	b = append(b, u.SchemeName...)
	b = append(b, ':')
	if len(u.User) > 0 {
		b = append(b, u.User...)
		if u.HasPassword {
			b = append(append(b, ':'), u.Password...)
		}
		b = append(b, '@')
	}
	b = append(b, rest...)
	return c.SetRURI(b)
}

// addBranches appends a branch for each destination after the selected
// one (algorithm 12): the request URI to each with $du (setDstURI), or
// the request URI's user at each (setRURI); with setXAVP nothing.
func (m *Module) addBranches(c *router.Ctx, s *set, i, mode int) bool {
	if mode == setXAVP {
		return true
	}
	var user []byte
	if mode == setRURI {
		u, err := c.RURI()
		if err != nil {
			return false
		}
		user = u.User
	}
	for _, d := range s.dests[i+1:] {
		b := router.Branch{Q: -1} // (a branch has no socket of its own here)
		if mode == setRURI {
			uri := d.uri
			if len(user) > 0 {
				switch {
				case strings.HasPrefix(d.uri, "sips:"):
					uri = "sips:" + string(user) + "@" + d.uri[5:]
				case strings.HasPrefix(d.uri, "sip:"):
					uri = "sip:" + string(user) + "@" + d.uri[4:]
				default:
					continue
				}
			}
			b.URI = []byte(uri)
		} else {
			b.URI = append([]byte(nil), c.RURIText()...)
			b.Dst = []byte(d.uri)
		}
		if !c.AppendBranch(b) {
			m.errorf(c, "failed to add branch: more than "+strconv.Itoa(router.MaxBranches))
			return false
		}
	}
	return true
}
