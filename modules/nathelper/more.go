package nathelper

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// moreExports are the functions that add the source to a Contact in other
// forms (add_contact_alias_addr, add_rcv_param, set_contact_alias_trim,
// set_alias_to_pv), handle_ruri_alias_mode, and the SDP fixes.
func (m *Module) moreExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "add_contact_alias_addr", Native: "add_contact_alias", Ret: dispatch.Int, Fn: dispatch.FSSS(addContactAliasAddr)},
		{Name: "set_contact_alias_trim", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return contactAlias(c, true) })},
		{Name: "set_contact_alias", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, trim int) int { return contactAlias(c, trim != 0) })},
		{Name: "handle_ruri_alias_mode", Native: "handle_ruri_alias", Ret: dispatch.Int, Fn: dispatch.FI(handleRURIAlias)},
		{Name: "set_alias_to_pv", Ret: dispatch.Int, Fn: dispatch.FS(setAliasToPV)},
		{Name: "add_rcv_param", Ret: dispatch.Int, Fn: dispatch.FI(addRcvParam)},
		{Name: "add_rcv_param", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return addRcvParam(c, 0) })},
		{Name: "fix_nated_sdp", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, level int) int { return m.fixNatedSDP(c, level, "") })},
		{Name: "fix_nated_sdp_ip", Native: "fix_nated_sdp", Ret: dispatch.Int, Fn: dispatch.FIS(m.fixNatedSDP)},
	}
}

// transportNumber is Kamailio's number of a transport name in an alias
// (udp 1 ... wss 6); 0 for none it knows.
func transportNumber(name string) int {
	if t := sip.ParseTransport([]byte(name)); t >= sip.TransportUDP && t <= sip.TransportWSS {
		return int(t) // sip's numbers are Kamailio's
	}
	return 0
}

// transportName is the name of an alias's transport number; "" for none.
func transportName(n int) string {
	if n < int(sip.TransportUDP) || n > int(sip.TransportWSS) {
		return ""
	}
	return strings.ToLower(sip.Transport(n).String())
}

// addContactAliasAddr adds ;alias=ip~port~proto, of the given address,
// to the first Contact URI right after its host and port, in <> when it
// had none: 2 when the message has no Contact.
func addContactAliasAddr(c *router.Ctx, ip, port, proto string) int {
	u := contactURI(c)
	if u == nil {
		if _, err := c.Msg.Contact(); err == nil {
			return 2
		}
		return -1
	}
	if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
		c.Log().Error("nathelper: add_contact_alias: "+strconv.Quote(ip)+" is not an IP address", "route", c.Route)
		return -1
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		c.Log().Error("nathelper: add_contact_alias: "+strconv.Quote(port)+" is not a port", "route", c.Route)
		return -1
	}
	pn := transportNumber(proto)
	if pn == 0 {
		c.Log().Error("nathelper: add_contact_alias: "+strconv.Quote(proto)+" is not a transport", "route", c.Route)
		return -1
	}
	m := c.Msg
	off := m.Offset(u.Raw)
	hp := u.HostPort()
	at := m.Offset(hp) + len(hp)
	bare := off <= 0 || m.Bytes()[off-1] != '<'
	b := append(c.W.Scratch[:0], ";alias="...)
	b = append(b, ip...)
	b = append(append(b, '~'), port...)
	b = strconv.AppendInt(append(b, '~'), int64(pn), 10)
	if bare {
		b = append(b, '>')
	}
	c.W.Scratch = b
	if bare {
		if err := m.ReplaceAt(off, 0, []byte{'<'}); err != nil {
			return -1
		}
	}
	if err := m.ReplaceAt(at, 0, b); err != nil {
		c.Log().Error("nathelper: add_contact_alias: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// setAliasToPV writes sip:ip:port;transport=proto of the Contact's alias
// parameter into the pseudo-variable named.
func setAliasToPV(c *router.Ctx, name string) int {
	u := contactURI(c)
	if u == nil {
		return -1
	}
	alias, ok := u.Param("alias")
	if !ok {
		c.Log().Error("nathelper: set_alias_to_pv: the Contact has no alias", "route", c.Route)
		return -1
	}
	f := bytes.Split(alias, []byte("~"))
	n, err := strconv.Atoi(string(f[len(f)-1]))
	if len(f) != 3 || err != nil || len(f[1]) == 0 {
		c.Log().Error("nathelper: set_alias_to_pv: bad alias "+strconv.Quote(string(alias)), "route", c.Route)
		return -1
	}
	uri := "sip:" + string(f[0]) + ":" + string(f[1]) + ";transport=" + transportName(n)
	pv, err := c.W.PV(name)
	if err == nil {
		err = pv.Set(c, router.StrValue(uri))
	}
	if err != nil {
		c.Log().Error("nathelper: set_alias_to_pv: "+name+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// addRcvParam adds ;received="sip:src" to each Contact: as a header
// parameter (uri 0), or as a URI parameter (uri 1, UDP only).
func addRcvParam(c *router.Ctx, uri int) int {
	if uri != 0 && c.Proto() != sip.TransportUDP {
		c.Log().Error("nathelper: add_rcv_param: a received URI parameter is for UDP only", "route", c.Route)
		return -1
	}
	var sb [80]byte
	src := sourceURI(sb[:0], c)
	m := c.Msg
	it := m.Contacts()
	var ct sip.Contact
	for it.Next(&ct) {
		if ct.Star {
			continue
		}
		var at int
		p := append([]byte(nil), ";received="...)
		if uri != 0 {
			at = m.Offset(ct.URI.Raw) + len(ct.URI.Raw)
			p = append(p, src...)
		} else {
			at = m.Offset(ct.Raw) + len(ct.Raw)
			p = append(append(append(p, '"'), src...), '"')
		}
		if err := m.ReplaceAt(at, 0, p); err != nil {
			c.Log().Error("nathelper: add_rcv_param: "+err.Error(), "route", c.Route)
			return -1
		}
	}
	return 1
}

// The levels of fix_nated_sdp.
const (
	sdpAddDirection  = 1 << iota // a=direction:active in each media
	sdpFixMedia                  // the c= addresses
	sdpAddNoRTPProxy             // a=nortpproxy:yes
	sdpFixOrigin                 // the o= address
)

// fixNatedSDP rewrites the SDP body as level asks: the addresses of its
// c=, o= and a=rtcp lines become ip (the source address when ""), each
// old one kept in an a=oldmediaip line; a=direction:active and
// a=nortpproxy:yes are added. 1 when something changed, 2 when nothing
// needed to, -1 on a body that is not such SDP.
func (m *Module) fixNatedSDP(c *router.Ctx, level int, ip string) int {
	body := c.Msg.EditedBody()
	if len(body) == 0 {
		c.Log().Error("nathelper: fix_nated_sdp: no body", "route", c.Route)
		return -1
	}
	if ip == "" {
		ip = string(c.SrcIP())
	}
	text := strings.TrimRight(string(body), "\r\n")
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out, tail []string
	count := 0
	fixes := func(l string) bool {
		return level&(sdpFixMedia|sdpFixOrigin) != 0 && strings.HasPrefix(l, "a=rtcp:") ||
			level&sdpFixMedia != 0 && strings.HasPrefix(l, "c=") ||
			level&sdpFixOrigin != 0 && strings.HasPrefix(l, "o=")
	}
	for i, l := range lines {
		if level&sdpAddDirection != 0 && i > 0 && strings.HasPrefix(l, "m=") && hasMedia(out) {
			out = append(out, "a=direction:active")
		}
		if fixes(l) {
			nl, old, err := replaceSDPAddr(l, ip)
			if err != nil && !strings.HasPrefix(l, "a=rtcp:") {
				c.Log().Error("nathelper: fix_nated_sdp: "+err.Error()+": "+strconv.Quote(l), "route", c.Route)
				return -1
			}
			if err == nil && nl != l {
				l = nl
				count++
				if m.oldMediaIP {
					attr := "a=oldmediaip:"
					if strings.Contains(old, ":") {
						attr = "a=oldmediaip6:"
					}
					tail = append(tail, attr+old)
				}
			}
		}
		out = append(out, l)
	}
	if level&sdpAddDirection != 0 && hasMedia(out) {
		out = append(out, "a=direction:active")
	}
	if level&sdpAddNoRTPProxy != 0 && m.noRTPProxy != "" {
		out = append(out, m.noRTPProxy)
	}
	out = append(out, tail...)
	if level&(sdpAddDirection|sdpAddNoRTPProxy) == 0 && count == 0 {
		return 2
	}
	if err := c.Msg.SetBody([]byte(strings.Join(out, "\r\n") + "\r\n")); err != nil {
		c.Log().Error("nathelper: fix_nated_sdp: "+err.Error(), "route", c.Route)
		return -1
	}
	if count == 0 {
		return 2
	}
	return 1
}

// hasMedia reports whether the lines have an m= line.
func hasMedia(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			return true
		}
	}
	return false
}

// replaceSDPAddr puts ip in place of the address after "IP4"/"IP6" in an
// SDP line, unless it is the null address (on hold) or already ip; it
// returns the line and the old address.
func replaceSDPAddr(l, ip string) (string, string, error) {
	f := strings.Fields(l)
	for i := 0; i+1 < len(f); i++ {
		if f[i] != "IP4" && f[i] != "IP6" {
			continue
		}
		old := f[i+1]
		if old == "0.0.0.0" || old == "::" || old == ip {
			return l, old, nil
		}
		fam := "IP4"
		if strings.Contains(ip, ":") {
			fam = "IP6"
		}
		k := strings.Index(l, f[i]+" "+old)
		if k < 0 {
			return l, old, nil
		}
		return l[:k] + fam + " " + ip + l[k+len(f[i])+1+len(old):], old, nil
	}
	return l, "", errNoIP
}

var errNoIP = errors.New("no IP4 or IP6 address")
