// Package ipops is Kamailio's ipops module: tests of IP addresses (is an
// IPv4, IPv6, IPv6 reference, RFC 1918 private, in a subnet list, the
// same address), their IANA type, host name to address matching, and DNS
// queries (addresses, SRV, NAPTR) into pseudo-variables: $dns, $srvquery,
// $naptrquery, and the host's own names, $HN.
package ipops

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the ipops module of one proxy: the DNS query results of each
// worker (Kamailio keeps them per process: a worker reads what it queried).
type Module struct {
	mu      sync.Mutex
	results map[*router.Worker]*results
	ttl     int // dns_set_local_ttl: kemi keeps no DNS cache of its own
	host    hostNames
}

var _ dispatch.Initializer = (*Module)(nil)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "ipops",
		New: func() dispatch.Module { return &Module{results: map[*router.Worker]*results{}} },
	})
	router.RegisterPV("dns", router.PVClass{Arg: true, Parse: parseDNSPV, Get: getDNSPV})
	router.RegisterPV("srvquery", router.PVClass{Arg: true, Parse: parseSRVPV, Get: getSRVPV})
	router.RegisterPV("naptrquery", router.PVClass{Arg: true, Parse: parseNAPTRPV, Get: getNAPTRPV})
	router.RegisterPV("HN", router.PVClass{Arg: true, Parse: parseHN, Get: getHN})
}

// Init reads the host's names for $HN.
func (m *Module) Init(*dispatch.Params) error {
	m.host = readHostNames()
	return nil
}

// The kinds of text an address parameter may be, as Kamailio's parser
// tells them.
const (
	ipNone = iota
	ipV4
	ipV6
	ipV6Ref
)

// kind is what s is: an IPv4 address, an IPv6 address (no zone), an IPv6
// reference ("[...]"), or none of them.
func kind(s string) (int, netip.Addr) {
	ref := len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']'
	t := s
	if ref {
		t = s[1 : len(s)-1]
	}
	if strings.ContainsAny(t, "%[] \t") {
		return ipNone, netip.Addr{}
	}
	a, err := netip.ParseAddr(t)
	switch {
	case err != nil:
		return ipNone, netip.Addr{}
	case a.Is4() && !ref:
		return ipV4, a
	case a.Is6() && ref:
		return ipV6Ref, a
	case a.Is6():
		return ipV6, a
	}
	return ipNone, netip.Addr{}
}

// Exports are KSR.ipops and the native functions (is_ipv4 where KEMI says
// is_ip4, ...).
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	is := func(want ...int) func(*router.Ctx, string) int {
		return func(_ *router.Ctx, s string) int {
			k, _ := kind(s)
			for _, w := range want {
				if k == w {
					return 1
				}
			}
			return -1
		}
	}
	return []dispatch.Export{
		{Name: "is_ip", Ret: I, Fn: dispatch.FS(is(ipV4, ipV6, ipV6Ref))},
		{Name: "is_pure_ip", Ret: I, Fn: dispatch.FS(is(ipV4, ipV6))},
		{Name: "is_ip4", Native: "is_ipv4", Ret: I, Fn: dispatch.FS(is(ipV4))},
		{Name: "is_ip6", Native: "is_ipv6", Ret: I, Fn: dispatch.FS(is(ipV6))},
		{Name: "is_ip6_reference", Native: "is_ipv6_reference", Ret: I, Fn: dispatch.FS(is(ipV6Ref))},
		{Name: "ip_type", Ret: I, Value: true, Fn: dispatch.FS(func(_ *router.Ctx, s string) int {
			if k, _ := kind(s); k != ipNone {
				return k
			}
			return -1
		})},
		detailed("detailed_ip_type", ipNone, false), detailed("detailed_ip_type", ipNone, true),
		detailed("detailed_ipv4_type", ipV4, false), detailed("detailed_ipv4_type", ipV4, true),
		detailed("detailed_ipv6_type", ipV6, false), detailed("detailed_ipv6_type", ipV6, true),
		{Name: "compare_ips", Ret: I, Fn: dispatch.FSS(func(_ *router.Ctx, a, b string) int { return compare(a, b, true) })},
		{Name: "compare_pure_ips", Ret: I, Fn: dispatch.FSS(func(_ *router.Ctx, a, b string) int { return compare(a, b, false) })},
		{Name: "is_ip_rfc1918", Ret: I, Fn: dispatch.FS(func(_ *router.Ctx, s string) int { return dispatch.Result(rfc1918(s)) })},
		{Name: "is_in_subnet", Ret: I, Fn: dispatch.FSS(func(_ *router.Ctx, ip, nets string) int { return inSubnets(ip, nets) })},
		{Name: "ip_is_in_subnet", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSS(func(_ *router.Ctx, ip, nets string) int { return inSubnets(ip, nets) })},
		{Name: "dns_sys_match_ip", Ret: I, Fn: dispatch.FSS(func(_ *router.Ctx, host, ip string) int { return matchIP(host, ip, true) })},
		{Name: "dns_int_match_ip", Ret: I, Fn: dispatch.FSS(func(_ *router.Ctx, host, ip string) int { return matchIP(host, ip, false) })},
		{Name: "dns_query", Ret: I, Fn: dispatch.FSS(m.dnsQuery)},
		{Name: "srv_query", Ret: I, Fn: dispatch.FSS(m.srvQuery)},
		{Name: "naptr_query", Ret: I, Fn: dispatch.FSS(m.naptrQuery)},
		{Name: "dns_set_local_ttl", Ret: I, Fn: dispatch.FI(func(_ *router.Ctx, ttl int) int {
			m.mu.Lock()
			m.ttl = ttl
			m.mu.Unlock()
			return 1
		})},
	}
}

// detailed is a detailed_ip_type export: the KEMI function, or (native)
// its native face, whose second parameter names a variable and is not
// expanded (the first is, as Kamailio's fixup does).
func detailed(name string, family int, native bool) dispatch.Export {
	if !native {
		return dispatch.Export{Name: name, Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, s, pv string) int {
			return detailedType(c, family, s, pv)
		})}
	}
	return dispatch.Export{Name: name, NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, pv string) int {
		f, err := c.W.Format(s)
		if err != nil {
			c.Log().Error("ipops: "+name+": "+err.Error(), "route", c.Route)
			return -1
		}
		return detailedType(c, family, string(f.Append(nil, c)), pv)
	})}
}

// compare is compare_ips (refs true: an IPv6 reference counts as its
// address) and compare_pure_ips: the same address of the same family.
func compare(a, b string, refs bool) int {
	ka, x := kind(a)
	kb, y := kind(b)
	if ka == ipNone || kb == ipNone {
		return -1
	}
	if refs {
		ka, kb = min(ka, ipV6), min(kb, ipV6)
	} else if ka == ipV6Ref || kb == ipV6Ref {
		return -1
	}
	return dispatch.Result(ka == kb && x == y)
}

// rfc1918 reports whether s is an IPv4 address of 10/8, 172.16/12 or
// 192.168/16.
func rfc1918(s string) bool {
	k, a := kind(s)
	if k != ipV4 {
		return false
	}
	for _, p := range privateNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var privateNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}

// inSubnets is is_in_subnet: 1 when ip (an address, not a reference) is
// one of the comma-separated addresses or in one of the networks
// ("10.0.0.0/8, 192.0.2.1"), else -1. A mask is read as C's atoi reads
// it (no digits: 0).
func inSubnets(ip, nets string) int {
	k, a := kind(ip)
	if k != ipV4 && k != ipV6 {
		return -1
	}
	for _, n := range strings.Split(nets, ",") {
		n = strings.Trim(n, " ")
		if n == "" {
			continue
		}
		mask := -1
		if i := strings.LastIndexByte(n, '/'); i > 0 {
			mask = atoi(n[i+1:])
			n = n[:i]
		}
		nk, na := kind(n)
		if nk != k {
			continue
		}
		if mask == -1 {
			if na == a {
				return 1
			}
			continue
		}
		if mask < 0 || mask > a.BitLen() {
			continue
		}
		p1, _ := a.Prefix(mask)
		p2, _ := na.Prefix(mask)
		if p1 == p2 {
			return 1
		}
	}
	return -1
}

// atoi reads a number as C's atoi: spaces, a sign, digits; 0 when none.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for _, ch := range []byte(s) {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int(ch-'0')
	}
	if neg {
		return -n
	}
	return n
}

// ipv4Types and ipv6Types are the IANA special-purpose ranges, the first
// that holds an address naming its type (Kamailio's tables, in their
// order; an IPv4 address in none is PUBLIC).
var ipv4Types = ranges(
	"255.255.255.255/32 BROADCAST", "203.0.113.0/24 TEST-NET", "198.51.100.0/24 TEST-NET",
	"192.88.99.0/24 6TO4-RELAY", "192.0.2.0/24 TEST-NET", "192.0.0.0/24 RESERVED",
	"192.0.0.0/29 6TO4-RELAY", "192.168.0.0/16 PRIVATE", "169.254.0.0/16 LINK-LOCAL",
	"198.18.0.0/15 RESERVED", "172.16.0.0/12 PRIVATE", "100.64.0.0/10 SHARED",
	"127.0.0.0/8 LOOPBACK", "10.0.0.0/8 PRIVATE", "0.0.0.0/8 PRIVATE",
	"240.0.0.0/4 RESERVED", "224.0.0.0/4 MULTICAST")

var ipv6Types = ranges(
	"::/128 UNSPECIFIED", "::1/128 LOOPBACK", "::ffff:0:0/96 IPV4MAP", "100::/64 DISCARD",
	"2001:2::/48 BMWG", "2001::/32 TEREDO", "2001:db8::/32 DOCUMENTATION", "2001:10::/28 ORCHID",
	"2002::/16 6TO4", "fec0::/10 RESERVED", "fe80::/10 LINK-LOCAL-UNICAST", "fe00::/9 RESERVED",
	"::/8 RESERVED", "100::/8 RESERVED", "ff00::/8 MULTICAST", "200::/7 RESERVED",
	"fc00::/7 UNIQUE-LOCAL-UNICAST", "400::/6 RESERVED", "f800::/6 RESERVED", "800::/5 RESERVED",
	"f000::/5 RESERVED", "e000::/4 RESERVED", "1000::/4 RESERVED", "c000::/3 RESERVED",
	"2000::/3 GLOBAL-UNICAST", "4000::/3 RESERVED", "6000::/3 RESERVED", "8000::/3 RESERVED",
	"a000::/3 RESERVED")

type ipRange struct {
	p    netip.Prefix
	name string
}

func ranges(rs ...string) []ipRange {
	out := make([]ipRange, len(rs))
	for i, r := range rs {
		p, name, _ := strings.Cut(r, " ")
		out[i] = ipRange{netip.MustParsePrefix(p), name}
	}
	return out
}

// detailedType is detailed_ip_type and its IPv4 and IPv6 forms: the IANA
// type of the address into the variable pv; -1 for text that is not an
// address of the family.
func detailedType(c *router.Ctx, family int, s, pv string) int {
	s = strings.TrimSpace(s)
	k := family
	if k == ipNone {
		k, _ = kind(s)
	}
	var name string
	switch k {
	case ipV4:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return -1
		}
		name = "PUBLIC"
		for _, r := range ipv4Types {
			if r.p.Contains(a) {
				name = r.name
				break
			}
		}
	case ipV6, ipV6Ref:
		if strings.HasPrefix(s, "[") {
			s = strings.TrimSuffix(s[1:], "]")
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return -1
		}
		if a.Is4() {
			return -1
		}
		for _, r := range ipv6Types {
			if r.p.Contains(a) {
				name = r.name
				break
			}
		}
		if name == "" {
			return -1
		}
	default:
		return -1
	}
	p, err := c.W.PV(pv)
	if err != nil || !p.Writable() {
		c.Log().Error("ipops: "+strconv.Quote(pv)+" is not a writable variable", "route", c.Route)
		return -1
	}
	if err := p.Set(c, router.StrValue(name)); err != nil {
		return -1
	}
	return 1
}
