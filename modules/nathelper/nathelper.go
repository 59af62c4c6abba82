// Package nathelper helps with clients behind NAT, like Kamailio's
// nathelper module (without the media relay control, which rtpproxy and
// rtpengine do): nat_uac_test tells whether a client is behind NAT,
// fix_nated_register keeps the address a REGISTER came from, the Contact
// alias functions carry it through a dialog.
package nathelper

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "nathelper",
		Params: []dispatch.Param{
			{Name: "received_avp", Kind: dispatch.Str},
			{Name: "natping_interval", Kind: dispatch.Int, Default: "accepted; keepalive pings are not sent yet"},
			{Name: "ping_nated_only", Kind: dispatch.Int, Default: "accepted; keepalive pings are not sent yet"},
			{Name: "sipping_bflag", Kind: dispatch.Int, Default: "accepted; keepalive pings are not sent yet"},
			{Name: "sipping_from", Kind: dispatch.Str, Default: "accepted; keepalive pings are not sent yet"},
			{Name: "sipping_method", Kind: dispatch.Str, Default: "accepted; keepalive pings are not sent yet"},
			{Name: "nortpproxy_str", Kind: dispatch.Str, Default: "a=nortpproxy:yes"},
			{Name: "sdp_oldmediaip", Kind: dispatch.Int, Default: "1"},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Module is the nathelper module of one proxy.
type Module struct {
	receivedAVP string // the AVP fix_nated_register fills, without "$avp()"
	noRTPProxy  string // nortpproxy_str: the line fix_nated_sdp's level 4 adds
	oldMediaIP  bool   // sdp_oldmediaip: fix_nated_sdp keeps the old addresses
}

var _ dispatch.Initializer = (*Module)(nil)

// Init reads received_avp; the pinging parameters are accepted and
// unused (kemi does not ping).
func (m *Module) Init(p *dispatch.Params) error {
	m.noRTPProxy = p.Str("nortpproxy_str", "a=nortpproxy:yes")
	m.oldMediaIP = p.Int("sdp_oldmediaip", 1) != 0
	if a := p.Str("received_avp", ""); a != "" {
		name, ok := router.AVPName(a)
		if !ok {
			return fmt.Errorf("nathelper: received_avp %q: want $avp(name)", a)
		}
		m.receivedAVP = name
	}
	return nil
}

// Exports are KSR.nathelper.
func (m *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "nat_uac_test", Ret: dispatch.Int, Fn: dispatch.FI(natUACTest)},
		{Name: "fix_nated_register", Ret: dispatch.Int, Fn: dispatch.F0(m.fixNatedRegister)},
		{Name: "fix_nated_contact", Ret: dispatch.Int, Fn: dispatch.F0(fixNatedContact)},
		{Name: "set_contact_alias", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return contactAlias(c, false) })},
		{Name: "add_contact_alias", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return contactAlias(c, false) })},
		{Name: "handle_ruri_alias", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return handleRURIAlias(c, 0) })},
		{Name: "is_rfc1918", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, ip string) int {
			return dispatch.Result(private([]byte(ip)))
		})},
	}, m.moreExports()...)
}

// private reports an RFC 1918, RFC 6598 (shared, 100.64/10) or IPv6 ULA
// address.
func private(host []byte) bool {
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	ip, err := router.ParseAddr(host)
	if err != nil {
		return false
	}
	if ip.Is4() {
		b := ip.As4()
		if b[0] == 100 && b[1]&0xc0 == 64 {
			return true
		}
	}
	return ip.IsPrivate()
}

// The tests of nat_uac_test, by flag.
const (
	testContactPrivate = 1 << iota // the Contact URI's host is private
	testViaReceived                // the top Via's host differs from the source address
	testViaPrivate                 // the top Via's host is private
	testSDPPrivate                 // an SDP c= address is private
	testViaPort                    // the top Via's port differs from the source port
	testSourcePrivate              // the source address is private
	testWebSocket                  // the request came over a WebSocket
	testContactPort                // the Contact URI's port differs from the source port
)

// natUACTest runs the tests flags selects; 1 when one of them says the
// client is behind NAT.
func natUACTest(c *router.Ctx, flags int) int {
	m := c.Msg
	src := c.Src()
	v := m.TopVia()
	if flags&testContactPrivate != 0 || flags&testContactPort != 0 {
		if ct, err := m.Contact(); err == nil && ct != nil && !ct.Star {
			if flags&testContactPrivate != 0 && private(ct.URI.Host) {
				return 1
			}
			if flags&testContactPort != 0 && port(ct.URI.Port) != int(src.Port()) {
				return 1
			}
		}
	}
	if v != nil {
		if flags&testViaReceived != 0 && sip.ViaNeedsReceived(&sip.Via{Host: v.Host}, c.SrcIP()) {
			return 1
		}
		if flags&testViaPrivate != 0 && private(v.Host) {
			return 1
		}
		if flags&testViaPort != 0 && port(v.Port) != int(src.Port()) {
			return 1
		}
	}
	if flags&testSDPPrivate != 0 && sdpPrivate(m.Body()) {
		return 1
	}
	if flags&testSourcePrivate != 0 && private(c.SrcIP()) {
		return 1
	}
	if flags&testWebSocket != 0 && (c.Proto() == sip.TransportWS || c.Proto() == sip.TransportWSS) {
		return 1
	}
	return -1
}

func port(p int) int {
	if p == 0 {
		return 5060
	}
	return p
}

func sdpPrivate(body []byte) bool {
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, []byte("c=")) { // c=IN IP4 10.0.0.5
			if i := bytes.LastIndexByte(line, ' '); i > 0 && private(line[i+1:]) {
				return true
			}
		}
	}
	return false
}

// sourceURI writes sip:ip:port[;transport=x] of where the message came from.
func sourceURI(dst []byte, c *router.Ctx) []byte {
	dst = append(dst, "sip:"...)
	dst = c.Src().AppendTo(dst)
	if p := c.Proto(); p != sip.TransportUDP {
		dst = append(dst, ";transport="...)
		dst = append(dst, c.ProtoName()...)
	}
	return dst
}

// fixNatedRegister keeps the address a REGISTER came from in received_avp,
// for registrar to save as the contact's received address.
func (m *Module) fixNatedRegister(c *router.Ctx) int {
	if m.receivedAVP == "" {
		return 1 // Kamailio does nothing without received_avp
	}
	var b [80]byte
	c.AddAVP(m.receivedAVP, router.BytesValue(sourceURI(b[:0], c)))
	return 1
}

// contactURI is the first Contact's URI, nil when there is none to fix.
func contactURI(c *router.Ctx) *sip.URI {
	ct, err := c.Msg.Contact()
	if err != nil || ct == nil || ct.Star || len(ct.URI.Host) == 0 {
		return nil
	}
	return &ct.URI
}

// fixNatedContact writes the source address into the Contact URI.
func fixNatedContact(c *router.Ctx) int {
	u := contactURI(c)
	if u == nil {
		return -1
	}
	var b [64]byte
	hp := c.Src().AppendTo(b[:0])
	if err := c.Msg.Replace(u.HostPort(), hp); err != nil {
		c.Log().Error("nathelper: fix_nated_contact: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// protoNumber is Kamailio's number of a transport in an alias.
func protoNumber(p sip.Transport) int { return max(transportNumber(p.String()), int(sip.TransportUDP)) }

// contactAlias adds ;alias=ip~port~proto to the Contact URI when it
// differs from where the message came from, so that requests to that
// contact go back through the NAT binding (handle_ruri_alias); with trim,
// an alias the URI has is replaced (set_contact_alias_trim), else kept.
func contactAlias(c *router.Ctx, trim bool) int {
	u := contactURI(c)
	if u == nil {
		return -1
	}
	src := c.Src()
	if _, ok := u.Param("alias"); ok {
		if !trim {
			return 1
		}
		if err := c.Msg.RemoveURIParam(u, "alias"); err != nil {
			c.Log().Error("nathelper: set_contact_alias: "+err.Error(), "route", c.Route)
			return -1
		}
	}
	if bytes.Equal(u.Host, c.SrcIP()) && port(u.Port) == int(src.Port()) && c.Proto() == sip.TransportUDP {
		return 1 // nothing to carry
	}
	b := append(c.W.Scratch[:0], ";alias="...)
	b = append(b, c.SrcIP()...)
	b = append(b, '~')
	b = strconv.AppendInt(b, int64(src.Port()), 10)
	b = append(b, '~')
	b = strconv.AppendInt(b, int64(protoNumber(c.Proto())), 10)
	c.W.Scratch = b
	m := c.Msg
	end := m.Offset(u.Raw)
	if end < 0 {
		return -1
	}
	end += len(u.Raw) - len(u.Headers)
	if len(u.Headers) > 0 {
		end-- // before '?'
	}
	if err := m.ReplaceAt(end, 0, b); err != nil {
		c.Log().Error("nathelper: set_contact_alias: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// handleRURIAlias turns an alias parameter of the request URI (the first;
// the last with mode 1) into $du and removes it: 1 when done, 2 when the
// URI has no alias, -1 on error.
func handleRURIAlias(c *router.Ctx, mode int) int {
	u, err := c.RURI()
	if err != nil {
		return -1
	}
	var alias []byte
	ps := sip.NewParams(u.Params)
	for {
		n, v, ok := ps.Next()
		if !ok {
			break
		}
		if string(n) == "alias" {
			alias = v
			if mode == 0 {
				break
			}
		}
	}
	if alias == nil {
		return 2
	}
	parts := bytes.Split(alias, []byte("~"))
	if len(parts) != 3 {
		c.Log().Error("nathelper: handle_ruri_alias: bad alias "+strconv.Quote(string(alias)), "route", c.Route)
		return -1
	}
	ip, err := router.ParseAddr(parts[0])
	p, err2 := strconv.Atoi(string(parts[1]))
	pr, err3 := strconv.Atoi(string(parts[2]))
	if err != nil || err2 != nil || err3 != nil || p <= 0 || p > 65535 {
		c.Log().Error("nathelper: handle_ruri_alias: bad alias "+strconv.Quote(string(alias)), "route", c.Route)
		return -1
	}
	du := append([]byte(nil), "sip:"...)
	du = netip.AddrPortFrom(ip, uint16(p)).AppendTo(du)
	switch pr {
	case 2:
		du = append(du, ";transport=tcp"...)
	case 3:
		du = append(du, ";transport=tls"...)
	case 4:
		du = append(du, ";transport=sctp"...)
	case 5, 6:
		du = append(du, ";transport=ws"...)
	}
	if err := c.SetDstURI(du); err != nil {
		return -1
	}
	// The request URI without that ";alias=...".
	raw := c.RURIText()
	i := bytes.Index(raw, append([]byte(";alias="), alias...))
	if mode != 0 {
		i = bytes.LastIndex(raw, append([]byte(";alias="), alias...))
	}
	if i < 0 {
		return 1
	}
	j := i + len(";alias=") + len(alias)
	nu := append(append([]byte(nil), raw[:i]...), raw[j:]...)
	if err := c.SetRURI(nu); err != nil {
		return -1
	}
	return 1
}
