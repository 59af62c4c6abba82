package ipops

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kemi-sip/kemi/core/router"
)

// The most records a query keeps, as Kamailio.
const (
	maxAddrs = 32
	maxSRV   = 32
	maxNAPTR = 32
	maxText  = 64 // SRV targets and NAPTR fields are cut there
)

// results are one worker's query results, by container name.
type results struct {
	dns   map[string]*dnsItem
	srv   map[string][]net.SRV
	naptr map[string][]naptr
}

type dnsItem struct {
	addrs      []netip.Addr
	ipv4, ipv6 bool
}

type naptr struct {
	order, pref                      uint16
	flags, services, regex, replaced string
}

// of is the results of c's worker.
func (m *Module) of(c *router.Ctx) *results {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.results[c.W]
	if r == nil {
		r = &results{dns: map[string]*dnsItem{}, srv: map[string][]net.SRV{}, naptr: map[string][]naptr{}}
		m.results[c.W] = r
	}
	return r
}

func moduleOf(c *router.Ctx) *Module {
	m, _ := c.Env().Module("ipops").(*Module)
	return m
}

// lookupTimeout bounds one lookup through the system's resolver, and
// dnsTimeout one datagram of kemi's own queries: a name server that does
// not answer holds the worker no longer.
const (
	lookupTimeout = 5 * time.Second
	dnsTimeout    = 2 * time.Second
)

// dnsQuery is dns_query: the addresses of host into the container pvid
// ($dns(pvid=>addr[i]), type, ipv4, ipv6, count). -2 for a name too
// long, -4 when it does not resolve.
func (m *Module) dnsQuery(c *router.Ctx, host, pvid string) int {
	if len(host) > 255 {
		return -2
	}
	r := m.of(c)
	it := &dnsItem{}
	r.dns[pvid] = it
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			c.Log().Error("ipops: unable to resolve "+host+": "+err.Error(), "route", c.Route)
			return -4
		}
		addrs = ips
	}
	for _, a := range addrs {
		if len(it.addrs) == maxAddrs {
			c.Log().Warn(fmt.Sprintf("ipops: more than %d addresses for %s - truncating", maxAddrs, host), "route", c.Route)
			break
		}
		a = a.Unmap()
		if a.Is4() {
			it.ipv4 = true
		} else {
			it.ipv6 = true
		}
		it.addrs = append(it.addrs, a)
	}
	return 1
}

// srvQuery is srv_query: the SRV records of name, by priority and
// weight (RFC 2782's random choice by weight), into $srvquery(pvid=>...).
func (m *Module) srvQuery(c *router.Ctx, name, pvid string) int {
	if name == "" {
		return -2
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	_, recs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
	var out []net.SRV
	if err == nil {
		for i, s := range recs {
			if i == maxSRV {
				break
			}
			t := strings.TrimSuffix(s.Target, ".")
			if len(t) > maxText {
				t = t[:maxText]
			}
			out = append(out, net.SRV{Target: t, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
		}
	}
	m.of(c).srv[pvid] = out
	return 1
}

// naptrQuery is naptr_query: the NAPTR records of name, by order and
// preference, into $naptrquery(pvid=>...).
func (m *Module) naptrQuery(c *router.Ctx, name, pvid string) int {
	if name == "" {
		return -2
	}
	recs, err := lookupNAPTR(name)
	if err != nil {
		c.Log().Debug("ipops: naptr_query "+name+": "+err.Error(), "route", c.Route)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].order != recs[j].order {
			return recs[i].order < recs[j].order
		}
		return recs[i].pref < recs[j].pref
	})
	if len(recs) > maxNAPTR {
		recs = recs[:maxNAPTR]
	}
	m.of(c).naptr[pvid] = recs
	return 1
}

// lookupNAPTR asks the system's name servers (/etc/resolv.conf) for the
// NAPTR records of name (the standard library has no NAPTR lookup).
func lookupNAPTR(name string) ([]naptr, error) {
	return lookupNAPTRAt(systemServers(), name)
}

// lookupNAPTRAt asks servers (host:port) in turn.
func lookupNAPTRAt(servers []string, name string) ([]naptr, error) {
	var out []naptr
	err := query(servers, name, typeNAPTR, func(data, msg []byte) {
		if r, ok := parseNAPTR(data, msg); ok {
			out = append(out, r)
		}
	})
	return out, err
}

// lookupDNS is the addresses of host as Kamailio's own resolver finds
// them: DNS only (no /etc/hosts), the A records, else the AAAA records.
func lookupDNS(host string) ([]netip.Addr, error) {
	servers := systemServers()
	var out []netip.Addr
	add := func(data, _ []byte) {
		if a, ok := netip.AddrFromSlice(data); ok {
			out = append(out, a.Unmap())
		}
	}
	err := query(servers, host, dnsmessage.TypeA, add)
	if len(out) == 0 {
		err = query(servers, host, dnsmessage.TypeAAAA, add)
	}
	if len(out) == 0 && err == nil {
		err = fmt.Errorf("no address for %s", host)
	}
	return out, err
}

const typeNAPTR = dnsmessage.Type(35)

// systemServers are the name servers of /etc/resolv.conf, host:port.
func systemServers() []string {
	var out []string
	for _, s := range nameServers() {
		out = append(out, net.JoinHostPort(s, "53"))
	}
	return out
}

// query asks servers (host:port) in turn for the records of type qt of
// name, and gives each one's RDATA (and the whole message, for
// compressed names) to f.
func query(servers []string, name string, qt dnsmessage.Type, f func(data, msg []byte)) error {
	if len(servers) == 0 {
		return fmt.Errorf("no name server in /etc/resolv.conf")
	}
	fqdn := name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	qn, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return err
	}
	id := uint16(time.Now().UnixNano())
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qn, Type: qt, Class: dnsmessage.ClassINET}}}
	pkt, err := q.Pack()
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ { // a lost datagram is asked again, as resolv.conf's attempts:2
		for _, s := range servers {
			if lastErr = ask(s, pkt, id, qt, f); lastErr == nil {
				return nil
			}
		}
	}
	return lastErr
}

// ask sends the query pkt to server and reads the records of type qt of
// its answer.
func ask(server string, pkt []byte, id uint16, qt dnsmessage.Type, f func(data, msg []byte)) error {
	conn, err := net.DialTimeout("udp", server, dnsTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(dnsTimeout))
	if _, err := conn.Write(pkt); err != nil {
		return err
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		return err
	}
	if h.ID != id {
		return fmt.Errorf("a reply of another query")
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return fmt.Errorf("%s", h.RCode)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return err
	}
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			return nil
		}
		if err != nil {
			return err
		}
		if rh.Type != qt {
			p.SkipAnswer()
			continue
		}
		r, err := p.UnknownResource()
		if err != nil {
			return err
		}
		f(r.Data, buf[:n])
	}
}

// nameServers are the name servers of /etc/resolv.conf.
func nameServers() []string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// matchIP is dns_sys_match_ip (sys: the addresses the system's resolver
// gives, /etc/hosts included) and dns_int_match_ip (Kamailio's own
// resolver: DNS only, the A records else the AAAA records): 1 when host
// has the address ip; -3 for an ip that is not one, -4 when host does not
// resolve.
func matchIP(host, ip string, sys bool) int {
	want, ok := str2ip(ip)
	if !ok {
		return -3
	}
	var addrs []netip.Addr
	if a, ok := str2ip(host); ok && !sys {
		addrs = []netip.Addr{a} // resolvehost takes an address as it is
	} else if sys {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		var err error
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return -4
		}
	} else {
		var err error
		if addrs, err = lookupDNS(host); err != nil {
			return -4
		}
	}
	for _, a := range addrs {
		if a.Unmap() == want {
			return 1
		}
	}
	return -1
}

// str2ip reads an address as Kamailio's str2ipbuf and str2ip6buf do: an
// IPv6 address of hex groups (in brackets or not) when the text starts
// with '[' or has a ':'; else digits and exactly three dots, each part
// taken modulo 256 ("256.1.1.1" is 0.1.1.1; an empty part is 0).
func str2ip(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' || strings.IndexByte(s, ':') >= 0 {
		if s[0] == '[' {
			if !strings.HasSuffix(s, "]") {
				return netip.Addr{}, false
			}
			s = s[1 : len(s)-1]
		}
		if strings.Trim(s, "0123456789abcdefABCDEF:") != "" { // hex groups only: no embedded IPv4, no zone
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
	var b [4]byte
	i := 0
	for _, ch := range []byte(s) {
		switch {
		case ch == '.':
			if i++; i > 3 {
				return netip.Addr{}, false
			}
		case ch >= '0' && ch <= '9':
			b[i] = b[i]*10 + ch - '0'
		default:
			return netip.Addr{}, false
		}
	}
	if i < 3 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(b), true
}

// dnsPV is a parsed $dns(pvid=>key[index]), $srvquery(...) or
// $naptrquery(...).
type dnsPV struct {
	pvid, key string
	idx       int
	idxPV     string // an index in a variable
}

// parseQueryPV reads "pvid=>key[index]"; keys without an index are given
// by noIndex.
func parseQueryPV(arg string, keys []string, noIndex func(string) bool) (*dnsPV, error) {
	pvid, rest, ok := strings.Cut(arg, "=>")
	pvid, rest = strings.TrimSpace(pvid), strings.TrimSpace(rest)
	if !ok || pvid == "" || rest == "" {
		return nil, fmt.Errorf("ipops: %q: want name=>key", arg)
	}
	d := &dnsPV{pvid: pvid, key: rest}
	if i := strings.IndexByte(rest, '['); i >= 0 && strings.HasSuffix(rest, "]") {
		d.key = strings.TrimSpace(rest[:i])
		ix := strings.TrimSpace(rest[i+1 : len(rest)-1])
		if strings.HasPrefix(ix, "$") {
			d.idxPV = ix
		} else {
			n, err := strconv.Atoi(ix)
			if err != nil {
				return nil, fmt.Errorf("ipops: invalid index [%s] in [%s]", ix, arg)
			}
			d.idx = n
		}
	}
	for _, k := range keys {
		if k == d.key {
			return d, nil
		}
	}
	if noIndex != nil && noIndex(d.key) {
		return d, nil
	}
	return nil, fmt.Errorf("ipops: unknown key %q in %q", d.key, arg)
}

// index is the record a PV reads, counting from the end when negative;
// false when there is none.
func (d *dnsPV) index(c *router.Ctx, count int) (int, bool) {
	i := d.idx
	if d.idxPV != "" {
		p, err := c.W.PV(d.idxPV)
		if err != nil {
			return 0, false
		}
		v := p.Get(c)
		if v.Kind != router.Int {
			return 0, false
		}
		i = int(v.I)
	}
	if i < 0 {
		i += count
	}
	return i, i >= 0 && i < count
}

func parseDNSPV(pv *router.PV) error {
	d, err := parseQueryPV(pv.Arg, []string{"addr", "type", "ipv4", "ipv6", "count"}, nil)
	pv.Data = d
	return err
}

func getDNSPV(c *router.Ctx, pv *router.PV) router.Value {
	d, m := pv.Data.(*dnsPV), moduleOf(c)
	if m == nil {
		return router.Value{}
	}
	it := m.of(c).dns[d.pvid]
	if it == nil {
		it = &dnsItem{}
	}
	i, ok := d.index(c, len(it.addrs))
	if !ok {
		return router.Value{}
	}
	switch d.key {
	case "addr":
		return router.StrValue(it.addrs[i].String())
	case "type":
		if it.addrs[i].Is4() {
			return router.IntValue(4)
		}
		return router.IntValue(6)
	case "ipv4":
		return router.IntValue(int64(b2i(it.ipv4)))
	case "ipv6":
		return router.IntValue(int64(b2i(it.ipv6)))
	}
	return router.IntValue(int64(len(it.addrs)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseSRVPV(pv *router.PV) error {
	d, err := parseQueryPV(pv.Arg, []string{"port", "priority", "target", "weight"}, func(k string) bool { return k == "count" })
	pv.Data = d
	return err
}

func getSRVPV(c *router.Ctx, pv *router.PV) router.Value {
	d, m := pv.Data.(*dnsPV), moduleOf(c)
	if m == nil {
		return router.Value{}
	}
	recs := m.of(c).srv[d.pvid]
	if d.key == "count" {
		return router.IntValue(int64(len(recs)))
	}
	i, ok := d.index(c, len(recs))
	if !ok {
		return router.Value{}
	}
	r := recs[i]
	switch d.key {
	case "port":
		return router.IntValue(int64(r.Port))
	case "priority":
		return router.IntValue(int64(r.Priority))
	case "weight":
		return router.IntValue(int64(r.Weight))
	}
	return router.StrValue(r.Target)
}

func parseNAPTRPV(pv *router.PV) error {
	d, err := parseQueryPV(pv.Arg, []string{"order", "pref", "flags", "services", "regex", "replace"}, func(k string) bool { return k == "count" })
	pv.Data = d
	return err
}

func getNAPTRPV(c *router.Ctx, pv *router.PV) router.Value {
	d, m := pv.Data.(*dnsPV), moduleOf(c)
	if m == nil {
		return router.Value{}
	}
	recs := m.of(c).naptr[d.pvid]
	if d.key == "count" {
		return router.IntValue(int64(len(recs)))
	}
	i, ok := d.index(c, len(recs))
	if !ok {
		return router.Value{}
	}
	r := recs[i]
	switch d.key {
	case "order":
		return router.IntValue(int64(r.order))
	case "pref":
		return router.IntValue(int64(r.pref))
	case "flags":
		return router.StrValue(r.flags)
	case "services":
		return router.StrValue(r.services)
	case "regex":
		return router.StrValue(r.regex)
	}
	return router.StrValue(r.replaced)
}

// hostNames are $HN(n), $HN(f), $HN(d) and $HN(i): the host name up to
// its first dot, whole, after it, and its first address.
type hostNames struct{ name, full, domain, ip string }

func readHostNames() hostNames {
	full, err := os.Hostname()
	if err != nil || full == "" {
		return hostNames{}
	}
	h := hostNames{name: full, full: full}
	if n, d, ok := strings.Cut(full, "."); ok {
		h.name, h.domain = n, d
	}
	// Kamailio's own resolver: DNS, not /etc/hosts.
	if ips, err := lookupDNS(full); err == nil && len(ips) > 0 {
		h.ip = ips[0].String()
	}
	return h
}

func parseHN(pv *router.PV) error {
	switch pv.Arg {
	case "n", "f", "d", "i":
		return nil
	}
	return fmt.Errorf("ipops: unknown host PV name %s", pv.Arg)
}

func getHN(c *router.Ctx, pv *router.PV) router.Value {
	m := moduleOf(c)
	if m == nil {
		return router.Value{}
	}
	v := map[string]string{"n": m.host.name, "f": m.host.full, "d": m.host.domain, "i": m.host.ip}[pv.Arg]
	if v == "" {
		return router.Value{}
	}
	return router.StrValue(v)
}

// parseNAPTR reads NAPTR RDATA (RFC 3403): order, preference, three
// character strings and a domain name (possibly compressed in msg).
func parseNAPTR(d, msg []byte) (naptr, bool) {
	if len(d) < 4 {
		return naptr{}, false
	}
	r := naptr{order: uint16(d[0])<<8 | uint16(d[1]), pref: uint16(d[2])<<8 | uint16(d[3])}
	p := 4
	str := func() (string, bool) {
		if p >= len(d) || p+1+int(d[p]) > len(d) {
			return "", false
		}
		s := string(d[p+1 : p+1+int(d[p])])
		p += 1 + int(d[p])
		if len(s) > maxText {
			s = s[:maxText]
		}
		return s, true
	}
	var ok bool
	for _, f := range []*string{&r.flags, &r.services, &r.regex} {
		if *f, ok = str(); !ok {
			return naptr{}, false
		}
	}
	name, ok := readName(d[p:], msg)
	if !ok {
		return naptr{}, false
	}
	if len(name) > maxText {
		name = name[:maxText]
	}
	r.replaced = name
	return r, true
}

// readName reads a domain name from b, following compression pointers
// into msg (at most 16); the root is "".
func readName(b, msg []byte) (string, bool) {
	var labels []string
	for hops := 0; hops < 16; {
		if len(b) == 0 {
			return "", false
		}
		l := int(b[0])
		switch {
		case l == 0:
			return strings.Join(labels, "."), true
		case l&0xc0 == 0xc0:
			if len(b) < 2 {
				return "", false
			}
			off := (l&0x3f)<<8 | int(b[1])
			if off >= len(msg) {
				return "", false
			}
			b = msg[off:]
			hops++
		case 1+l > len(b):
			return "", false
		default:
			labels = append(labels, string(b[1:1+l]))
			b = b[1+l:]
		}
	}
	return "", false
}
