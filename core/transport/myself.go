package transport

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/sip"
)

// Myself is the set of host:port pairs that name this proxy: the listen
// addresses (every interface address for a wildcard listen) and the
// aliases. It is read-only once built.
type Myself struct {
	hosts  []selfHost
	checks []func(host []byte) bool // hosts a module knows (domain's register_myself)
}

// AddCheck makes every host for which f is true this proxy, on any port
// (the domain module's register_myself). Modules call it when they start,
// before the proxy serves.
func (m *Myself) AddCheck(f func(host []byte) bool) { m.checks = append(m.checks, f) }

type selfHost struct {
	host []byte // lower case, IPv6 without brackets
	port int    // 0: any port
}

// NewMyself builds the set from the listeners and alias values
// ("host[:port]").
func NewMyself(ls []*Listener, aliases []string) *Myself {
	m := &Myself{}
	for _, l := range ls {
		ip := l.Addr.Addr()
		if ip.IsUnspecified() {
			for _, a := range interfaceAddrs() {
				m.add(a.String(), int(l.Addr.Port()))
			}
		} else {
			m.add(ip.String(), int(l.Addr.Port()))
		}
		if l.Advertise != "" {
			m.add(l.Advertised())
		}
	}
	for _, a := range aliases {
		a = strings.TrimSpace(a)
		if i := strings.IndexByte(a, ':'); i > 0 && !strings.Contains(a[:i], ".") && !strings.HasPrefix(a, "[") {
			switch strings.ToLower(a[:i]) { // proto:host[:port]
			case "udp", "tcp", "tls", "sctp", "ws", "wss":
				a = a[i+1:]
			}
		}
		h, p := splitHostPort(a)
		m.add(h, p)
	}
	return m
}

func (m *Myself) add(host string, port int) {
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, h := range m.hosts {
		if string(h.host) == host && h.port == port {
			return
		}
	}
	m.hosts = append(m.hosts, selfHost{[]byte(host), port})
}

func interfaceAddrs() []netip.Addr {
	var out []netip.Addr
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// Advertised is the host and port the listener writes in headers: its
// advertise address (the listener's port when it names none), else its
// own.
func (l *Listener) Advertised() (string, int) {
	if l.Advertise == "" {
		return l.IP, int(l.Addr.Port())
	}
	h, p := splitHostPort(l.Advertise)
	if p == 0 {
		p = int(l.Addr.Port())
	}
	return h, p
}

func splitHostPort(s string) (string, int) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return s, 0
		}
		p, _ := strconv.Atoi(strings.TrimPrefix(s[end+1:], ":"))
		return s[1:end], p
	}
	if strings.Count(s, ":") == 1 {
		h, ps, _ := strings.Cut(s, ":")
		p, _ := strconv.Atoi(ps)
		return h, p
	}
	return s, 0
}

// Is reports whether host:port names this proxy. Port 0 stands for the
// default SIP port (5060, or 5061 when tls).
func (m *Myself) Is(host []byte, port int, tls bool) bool {
	if port == 0 {
		port = 5060
		if tls {
			port = 5061
		}
	}
	return m.isHost(host, port)
}

// IsHost reports whether host names this proxy on any port, as
// Kamailio's check_self with port 0 (KSR.is_myself("127.0.0.1")).
func (m *Myself) IsHost(host []byte) bool { return m.isHost(host, 0) }

// isHost matches host against the proxy's names on port (0: any).
func (m *Myself) isHost(host []byte, port int) bool {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	for i := range m.hosts {
		h := &m.hosts[i]
		if (port == 0 || h.port == 0 || h.port == port) && sip.EqualFold(host, h.host) {
			return true
		}
	}
	for _, f := range m.checks {
		if f(host) {
			return true
		}
	}
	return false
}

// IsURI reports whether a SIP URI's host:port names this proxy.
func (m *Myself) IsURI(u *sip.URI) bool {
	return m.Is(u.Host, u.Port, u.Scheme == sip.SchemeSIPS)
}

// IsIP reports whether ip is one of this proxy's addresses, on any port.
func (m *Myself) IsIP(ip netip.Addr) bool {
	var b [64]byte
	s := ip.Unmap().AppendTo(b[:0])
	for i := range m.hosts {
		if sip.EqualFold(s, m.hosts[i].host) {
			return true
		}
	}
	return false
}
