// Package outbound is Kamailio's outbound module: what an edge proxy of
// RFC 5626 needs (its section 5). A request that uses outbound — a
// REGISTER with one Via and a reg-id in its Contact, another request whose
// top Route is this proxy with ";ob", or one with "Supported: outbound",
// one Via and ";ob" in its Contact — gets a flow token in the user part of
// the Path (path's add_path*) or the Record-Route (rr's record_route) this
// proxy writes. The token names the flow the request came on: transport,
// this proxy's socket, the client's address; a request routed back to this
// proxy by it (loose_route) goes out on that flow — the client's own TCP,
// TLS or WebSocket connection, or its NAT binding — forced, whatever its
// request URI says.
//
// The token is Kamailio's, byte for byte: an HMAC-SHA1-80 of the flow,
// then the transport (and 0x80 for IPv6), this proxy's address and port,
// the client's address and port, in base64. With the same
// flow_token_secret, kemi reads Kamailio's tokens and Kamailio kemi's.
package outbound

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/netip"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the outbound module of one proxy: the flow token key and the
// flags that force outbound on or off.
type Module struct {
	key             []byte
	force, forceNot int // message flags, -1: none
}

var _ dispatch.Initializer = (*Module)(nil)

func init() {
	i, s := dispatch.Int, dispatch.Str
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "outbound",
		KSR: "-",
		Params: []dispatch.Param{
			p("force_outbound_flag", i, "-1", "a message flag: set, the request uses outbound whatever it says"),
			p("force_no_outbound_flag", i, "-1", "a message flag: set, the request does not use outbound"),
			p("flow_token_secret", s, "", "the key of the flow tokens (its SHA-1); none: a random key, tokens die with the process"),
		},
		New: func() dispatch.Module { return &Module{force: -1, forceNot: -1} },
	})
}

// Exports: none (Kamailio's outbound is an API for path and rr).
func (*Module) Exports() []dispatch.Export { return nil }

// Init reads the parameters and makes the key.
func (m *Module) Init(p *dispatch.Params) error {
	m.force, m.forceNot = p.Int("force_outbound_flag", -1), p.Int("force_no_outbound_flag", -1)
	for _, f := range []int{m.force, m.forceNot} {
		if f < -1 || f > 63 {
			return fmt.Errorf("outbound: flag %d out of range (0-63)", f)
		}
	}
	if secret := p.Str("flow_token_secret", ""); secret != "" {
		k := sha1.Sum([]byte(secret))
		m.key = k[:]
	} else {
		m.key = make([]byte, sha1.Size)
		rand.Read(m.key)
	}
	return nil
}

// Flow is what a token names: the transport, this proxy's socket address
// and the client's.
type Flow struct {
	Proto      sip.Transport
	Local, Src netip.AddrPort
}

const macLen = 10 // HMAC-SHA1-80

// Encode is the flow token of f.
func (m *Module) Encode(f Flow) string {
	b := make([]byte, macLen, 47)
	proto := byte(f.Proto)
	if f.Local.Addr().Unmap().Is6() {
		proto |= 0x80
	}
	b = append(b, proto)
	for _, ap := range []netip.AddrPort{f.Local, f.Src} {
		a := ap.Addr().Unmap()
		if f.Local.Addr().Unmap().Is6() {
			a16 := a.As16()
			b = append(b, a16[:]...)
		} else {
			a4 := a.As4()
			b = append(b, a4[:]...)
		}
		b = append(b, byte(ap.Port()>>8), byte(ap.Port()))
	}
	copy(b, m.mac(b[macLen:]))
	return base64.StdEncoding.EncodeToString(b)
}

func (m *Module) mac(flow []byte) []byte {
	h := hmac.New(sha1.New, m.key)
	h.Write(flow)
	return h.Sum(nil)[sha1.Size-macLen:]
}

// Decode reads a flow token: 0 and the flow, -2 when token is no flow
// token (not base64 of the right length), -1 when it is one that fails
// its HMAC (Kamailio's answers).
func (m *Module) Decode(token []byte) (Flow, int) {
	var f Flow
	if len(token) == 0 {
		return f, -2
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(token)))
	n, err := base64.StdEncoding.Decode(b, token)
	if err != nil || (n != 23 && n != 47) {
		return f, -2
	}
	b = b[:n]
	if !hmac.Equal(b[:macLen], m.mac(b[macLen:])) {
		return f, -1
	}
	proto, rest := b[macLen], b[macLen+1:]
	size := 4
	if proto&0x80 != 0 {
		size = 16
	}
	if len(rest) != 2*(size+2) {
		return f, -1
	}
	f.Proto = sip.Transport(proto & 0x7f)
	read := func(r []byte) netip.AddrPort {
		a, _ := netip.AddrFromSlice(r[:size])
		return netip.AddrPortFrom(a, uint16(r[size])<<8|uint16(r[size+1]))
	}
	f.Local, f.Src = read(rest), read(rest[size+2:])
	return f, 0
}

// FlowOf is the flow a request came on.
func FlowOf(c *router.Ctx) (Flow, bool) {
	if c.Pkt == nil || c.Pkt.Local == nil {
		return Flow{}, false
	}
	return Flow{Proto: c.Pkt.Proto, Local: c.Pkt.Local.Addr, Src: c.Src()}, true
}

// Use says whether a request uses outbound (use_outbound): 0 no; 1 yes,
// its own flow; 2 yes, and its top Route holds the token of another flow
// than the one it came on (to be copied). route is the request's top Route
// as it came (nil: none; rr keeps the one loose_route took off).
func (m *Module) Use(c *router.Ctx, route *sip.URI) int {
	msg := c.Msg
	if !msg.IsRequest() {
		return 0
	}
	if m.force >= 0 && c.Flags&(1<<m.force) != 0 {
		return 1
	}
	if m.forceNot >= 0 && c.Flags&(1<<m.forceNot) != 0 {
		return 0
	}
	oneVia := !msg.HasVia2()
	var ct sip.Contact
	it := msg.Contacts()
	hasContact := it.Next(&ct)
	if msg.Method() == sip.MethodREGISTER {
		_, regID := sip.Param(ct.Params, "reg-id")
		if oneVia && hasContact && regID {
			return 1
		}
		return 0
	}
	if route != nil {
		if !c.IsMyself(route) {
			return 0
		}
		if _, ob := route.Param("ob"); ob {
			if f, r := m.Decode(route.User); r == 0 && f.Src != c.Src() {
				return 2
			}
			return 1
		}
	}
	if msg.Has(sip.HdrSupported) && !msg.HasToken(sip.HdrSupported, "outbound") {
		return 0
	}
	if oneVia && hasContact {
		if _, ob := ct.URI.Param("ob"); ob {
			return 1
		}
	}
	return 0
}
