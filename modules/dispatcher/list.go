package dispatcher

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// The state bits of a destination's flags, Kamailio's.
const (
	stInactive = 1  // not used until probing finds it answering
	stTrying   = 2  // a request to it failed; probing_threshold of them make it inactive
	stDisabled = 4  // set so by the operator (RPC, list flags)
	stProbing  = 8  // OPTIONS are sent to it every ds_ping_interval
	stNoDNS    = 16 // its host is not resolved (no address to match)
	stAll      = 31
)

// skipped reports whether a destination of these flags is left out of
// the selection: inactive or disabled.
func skipped(flags int) bool { return flags&(stInactive|stDisabled) != 0 }

// attrs are a destination's attributes (the list's fifth column):
// "duid=gw1;weight=50;maxload=20;socket=udp:10.0.0.1:5060;...".
type attrs struct {
	body, duid, socket, sockname, pingFrom, obproxy string
	maxload, weight, rweight, cc                    int
	latency                                         int // the initial latency estimate, ms; -1 unset
}

// dest is one destination of a set. Its state (flags, counters, load)
// changes at run time under the set's lock.
type dest struct {
	uri      string
	host     string
	port     int           // 0 when the URI has none
	proto    sip.Transport // the URI's transport parameter, TransportOther when none
	addr     netip.Addr    // resolved at load; invalid with stNoDNS or when unresolved
	priority int
	attrs    attrs
	sock     *transport.Listener // the socket requests to it leave from, nil for the usual

	flags    int
	msgCount int // failed probes (trying) or answered probes (inactive), toward the thresholds
	dload    int // calls routed to it by call load (algorithm 10)
	lat      latency
}

// latency is the probes' round-trip time of a destination
// (ds_ping_latency_stats): min/max/average in ms, a weighted moving
// estimate, the count, and the timeouts.
type latency struct {
	start              time.Time
	min, max           int
	average, stdev, m2 float64
	estimate           float64
	count, timeout     int
}

// init starts the statistics from one latency counted count times (the
// latency attribute: 10000, so that it moves slowly).
func (l *latency) init(ms, count int) {
	l.stdev, l.m2 = 0, 0
	l.min, l.max = ms, ms
	l.average, l.estimate = float64(ms), float64(ms)
	l.count = count
}

// update adds a probe's round trip, as Kamailio's latency_stats_update:
// a running mean and deviation (Welford), the estimate an exponentially
// weighted average once 10 are counted.
func (l *latency) update(ms int, alpha float64) {
	if l.count < 2097152 {
		l.count++
	} else {
		l.m2 -= l.m2 / float64(max(l.count, 1))
	}
	if l.count == 1 {
		l.init(ms, 1)
	}
	if l.count > 10 && l.count < 10000 && l.stdev < 0.5 {
		l.count = 10000
	}
	l.min, l.max = min(l.min, ms), max(l.max, ms)
	if l.count > 1 {
		delta := float64(ms) - l.average
		l.average += delta / float64(max(l.count, 1))
		l.m2 += delta * (float64(ms) - l.average)
		l.stdev = math.Sqrt(l.m2 / float64(max(l.count-1, 1)))
	}
	if l.count < 10 {
		l.estimate = l.average
	} else {
		l.estimate = l.estimate*alpha + float64(ms)*(1-alpha)
	}
}

// set is a destination set: its destinations, the highest priority first
// (within a priority, the last one listed first, as Kamailio orders them),
// and the rotation state of the algorithms that keep one.
type set struct {
	id    int
	mu    sync.Mutex
	dests []*dest
	last  int // round robin
	wlast int
	// wlist and rwlist are the weight (algorithm 9) and relative weight
	// (11) distributions: a hundred destination indexes, shuffled.
	wlist, rwlist [100]int
	rwlast        int
}

// list is the destination sets of one load, replaced whole by a reload.
type list struct {
	sets map[int]*set
	ids  []int // ascending
}

func (l *list) set(id int) *set {
	if l == nil {
		return nil
	}
	return l.sets[id]
}

// row is one destination as read from the file or the table.
type row struct {
	where    string // file:line or table row, for errors
	set      int
	uri      string
	flags    int
	priority int
	attrs    string
}

// readFile reads a dispatcher.list: "setid uri [flags [priority [attrs]]]",
// # starts a comment.
func readFile(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: list_file: %w", err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		where := path + ":" + strconv.Itoa(n)
		fs := strings.Fields(line)
		for i, f := range fs { // a # ends the line's fields
			if strings.HasPrefix(f, "#") {
				fs = fs[:i]
				break
			}
		}
		if len(fs) < 2 {
			return nil, fmt.Errorf("dispatcher: %s: want \"setid uri [flags [priority [attrs]]]\"", where)
		}
		r := row{where: where, uri: strings.SplitN(fs[1], "#", 2)[0]}
		nums := []*int{&r.set, &r.flags, &r.priority}
		for i, p := range nums {
			j := i
			if i > 0 {
				j = i + 1
			}
			if j >= len(fs) {
				break
			}
			if *p, err = strconv.Atoi(fs[j]); err != nil || *p < 0 {
				return nil, fmt.Errorf("dispatcher: %s: %q is not a number", where, fs[j])
			}
		}
		if len(fs) > 4 {
			r.attrs = fs[4]
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// readTable reads the dispatcher table of a version 1 to 4 schema.
func (m *Module) readTable() ([]row, error) {
	c := &m.conf
	d, err := db.Open(c.dbURL)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	defer d.Close()
	ctx := context.Background()
	var version int
	if err := d.QueryRow(ctx, "SELECT table_version FROM version WHERE table_name = ?", c.table).Scan(&version); err != nil {
		return nil, fmt.Errorf("dispatcher: table %s: version: %w", c.table, err)
	}
	if version < 1 || version > 4 {
		return nil, fmt.Errorf("dispatcher: table %s: version %d, want 1 to 4 (Kamailio 5.6's is 4)", c.table, version)
	}
	cols := []string{c.setCol, c.uriCol, c.flagsCol, c.prioCol, c.attrsCol}[:version+1]
	nextra := 0
	if version == 4 {
		cols = append(cols, c.extraCols...)
		nextra = len(c.extraCols)
	}
	rs, err := d.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+c.table)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: table %s: %w", c.table, err)
	}
	defer rs.Close()
	var rows []row
	for n := 1; rs.Next(); n++ {
		r := row{where: fmt.Sprintf("table %s row %d", c.table, n)}
		var a *string
		extra := make([]*string, nextra)
		dest := []any{&r.set, &r.uri, &r.flags, &r.priority, &a}[:len(cols)-nextra]
		for i := range extra {
			dest = append(dest, &extra[i])
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, fmt.Errorf("dispatcher: %s: %w", r.where, err)
		}
		if a != nil {
			r.attrs = *a
		}
		// ds_db_extra_attrs: name=column, appended to attrs when not empty.
		for i, v := range extra {
			if v != nil && *v != "" {
				if r.attrs != "" && !strings.HasSuffix(r.attrs, ";") {
					r.attrs += ";"
				}
				r.attrs += c.extraNames[i] + "=" + *v + ";"
			}
		}
		rows = append(rows, r)
	}
	return rows, rs.Err()
}

// parseAttrs reads a destination's attributes as Kamailio does: names
// case-insensitive, a weight out of 1-100 ignored.
func parseAttrs(s string, none bool) (attrs, error) {
	a := attrs{latency: -1}
	if s == "" {
		if !none {
			return a, nil
		}
		s = "none=yes"
	}
	s = strings.TrimSuffix(s, ";")
	a.body = s
	for _, p := range strings.Split(s, ";") {
		name, val, _ := strings.Cut(p, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		num := func() int { n, _ := strconv.Atoi(val); return n }
		switch strings.ToLower(name) {
		case "duid":
			a.duid = val
		case "cc":
			a.cc = num()
		case "weight":
			if a.weight = num(); a.weight < 1 || a.weight > 100 {
				a.weight = 0
			}
		case "rweight":
			if a.rweight = num(); a.rweight < 1 || a.rweight > 100 {
				a.rweight = 0
			}
		case "latency":
			if n, err := strconv.Atoi(val); err == nil {
				a.latency = n
			}
		case "maxload":
			a.maxload = num()
		case "socket":
			a.socket = val
		case "sockname":
			a.sockname = val
		case "ping_from":
			a.pingFrom = val
		case "obproxy":
			a.obproxy = val
		}
	}
	return a, nil
}

// newDest makes a destination of a row; a URI without a scheme gets
// "sip:", as Kamailio fixes it.
func (m *Module) newDest(r row) (*dest, error) {
	uri := r.uri
	var u sip.URI
	if err := sip.ParseURI([]byte(uri), &u); err != nil || u.Scheme == sip.SchemeOther || len(u.Host) == 0 {
		uri = "sip:" + r.uri
		if err := sip.ParseURI([]byte(uri), &u); err != nil || len(u.Host) == 0 {
			return nil, fmt.Errorf("bad uri %q", r.uri)
		}
	}
	a, err := parseAttrs(r.attrs, m.conf.attrsNone)
	if err != nil {
		return nil, err
	}
	d := &dest{uri: uri, host: string(u.Host), port: u.Port, proto: sip.ParseTransport(u.TransportParam()),
		priority: r.priority, attrs: a, flags: r.flags}
	if a.latency >= 0 {
		d.lat.init(a.latency, 10000)
	}
	if r.flags&stNoDNS == 0 {
		if d.addr, err = resolve(d.host); err != nil {
			return nil, fmt.Errorf("could not resolve %s (missing no-probing flag?!?)", d.host)
		}
	}
	return d, nil
}

// build makes a list of rows: a row that fails is skipped with a warning
// (ds_load_mode 1: the load fails).
func (m *Module) build(rows []row, resolveSock bool) (*list, error) {
	l := &list{sets: map[int]*set{}}
	for _, r := range rows {
		d, err := m.newDest(r)
		if err == nil && resolveSock {
			err = m.bindSocket(d)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", r.where, err)
			if m.conf.loadMode == 1 {
				return nil, fmt.Errorf("dispatcher: %w", err)
			}
			m.log().Warn("dispatcher: destination skipped: " + err.Error())
			continue
		}
		s := l.sets[r.set]
		if s == nil {
			s = &set{id: r.set}
			l.sets[r.set] = s
			l.ids = append(l.ids, r.set)
		}
		s.dests = append(s.dests, d)
	}
	l.order()
	return l, nil
}

// order sorts the sets by id and their destinations as Kamailio indexes
// them: the highest priority first, within one the last listed first;
// then the weight distributions.
func (l *list) order() {
	sort.Ints(l.ids)
	for _, s := range l.sets {
		ds := s.dests
		for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
			ds[i], ds[j] = ds[j], ds[i]
		}
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].priority > ds[j].priority })
		s.initWeights()
		s.initRelWeights()
	}
}

// resolve is the address of host: an IP literal ([v6] too), else the
// first address DNS gives.
func resolve(host string) (netip.Addr, error) {
	host = strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("no address for %s", host)
	}
	return ips[0].Unmap(), nil
}

// bindSocket finds the socket the attributes name (sockname, socket), else
// ds_default_sockname / ds_default_socket.
func (m *Module) bindSocket(d *dest) error {
	if m.env == nil {
		return nil
	}
	switch {
	case d.attrs.sockname != "":
		if d.sock = m.socketNamed(d.attrs.sockname); d.sock == nil {
			return fmt.Errorf("non-local socket name <%s>", d.attrs.sockname)
		}
	case d.attrs.socket != "":
		if d.sock = m.env.Socket(d.attrs.socket); d.sock == nil {
			return fmt.Errorf("non-local socket <%s>", d.attrs.socket)
		}
	default:
		d.sock = m.defaultSock
	}
	return nil
}

// initWeights fills the weight distribution (algorithm 9): each
// destination's weight in percent, the rest to the last one, shuffled.
// The first destination without a weight means none is used.
func (s *set) initWeights() {
	if len(s.dests) == 0 || s.dests[0].attrs.weight == 0 {
		return
	}
	t := 0
fill:
	for j, d := range s.dests {
		for k := 0; k < d.attrs.weight; k++ {
			if t >= 100 {
				break fill
			}
			s.wlist[t] = j
			t++
		}
	}
	for ; t < 100; t++ {
		s.wlist[t] = len(s.dests) - 1
	}
	rand.Shuffle(100, func(i, j int) { s.wlist[i], s.wlist[j] = s.wlist[j], s.wlist[i] })
}

// initRelWeights fills the relative weight distribution (algorithm 11)
// over the destinations in use: each one's share of the sum of their
// rweights, the rest to the last one, shuffled. s.mu is held or s is new.
func (s *set) initRelWeights() {
	if len(s.dests) < 2 {
		return
	}
	sum := 0
	for _, d := range s.dests {
		if !skipped(d.flags) {
			sum += d.attrs.rweight
		}
	}
	if sum == 0 {
		return
	}
	t := 0
	for j, d := range s.dests {
		if skipped(d.flags) {
			continue
		}
		for k := 0; k < d.attrs.rweight*100/sum; k++ {
			s.rwlist[t] = j
			t++
		}
	}
	last := len(s.dests) - 1
	if t > 0 {
		last = s.rwlist[t-1]
	}
	for ; t < 100; t++ {
		s.rwlist[t] = last
	}
	rand.Shuffle(100, func(i, j int) { s.rwlist[i], s.rwlist[j] = s.rwlist[j], s.rwlist[i] })
}
