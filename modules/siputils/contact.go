package siputils

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// contactExports are the Contact encoding functions (encode_contact,
// contact_param_encode and their decoders) and is_first_hop_mode.
func (m *Module) contactExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "encode_contact", Ret: dispatch.Int, Fn: dispatch.FSS(m.encodeContact)},
		{Name: "decode_contact", Ret: dispatch.Int, Fn: dispatch.F0(m.decodeContact)},
		{Name: "decode_contact_header", Ret: dispatch.Int, Fn: dispatch.F0(m.decodeContactHeader)},
		{Name: "contact_param_encode", Ret: dispatch.Int, Fn: dispatch.FSS(contactParamEncode)},
		{Name: "contact_param_decode", Ret: dispatch.Int, Fn: dispatch.FS(contactParamDecode)},
		{Name: "contact_param_decode_ruri", Ret: dispatch.Int, Fn: dispatch.FS(contactParamDecodeRURI)},
		{Name: "contact_param_rm", Ret: dispatch.Int, Fn: dispatch.FS(contactParamRm)},
		{Name: "is_first_hop_mode", Native: "is_first_hop", Ret: dispatch.Int, Fn: dispatch.FI(isFirstHopMode)},
	}
}

// firstContacts calls f with each URI of the first Contact header (the
// header Kamailio's encode and decode functions edit); false when the
// message has none.
func firstContacts(c *router.Ctx, f func(u *sip.URI) bool) bool {
	it := c.Msg.Contacts()
	var ct sip.Contact
	first := -1
	for it.Next(&ct) {
		if first < 0 {
			first = it.Header()
		}
		if it.Header() != first {
			break
		}
		if !ct.Star && !f(&ct.URI) {
			return true
		}
	}
	return first >= 0
}

// allContacts calls f with each URI of every Contact header.
func allContacts(c *router.Ctx, f func(u *sip.URI) bool) {
	it := c.Msg.Contacts()
	var ct sip.Contact
	for it.Next(&ct) {
		if !ct.Star && !f(&ct.URI) {
			return
		}
	}
}

// encodeURI is encode_contact's form of a URI:
// sip:prefix*user*password*host*port*transport@public, the separator
// contact_flds_separator; the URI's other parameters are dropped, as
// Kamailio drops them.
func (m *Module) encodeURI(u *sip.URI, prefix, public string) []byte {
	colon := bytes.IndexByte(u.Raw, ':')
	out := append([]byte(nil), u.Raw[:colon+1]...)
	out = append(out, prefix...)
	for _, f := range [][]byte{u.User, u.Password, u.Host, u.PortText, u.TransportParam()} {
		out = append(append(out, m.sep), f...)
	}
	return append(append(out, '@'), public...)
}

// decodeURI undoes encodeURI: the fields between the scheme and '@' back
// into user:password@host:port;transport=..., what follows the public
// address's host kept.
func (m *Module) decodeURI(uri []byte) ([]byte, error) {
	colon := bytes.IndexByte(uri, ':')
	at := bytes.IndexByte(uri, '@')
	if colon < 0 || at < colon {
		return nil, errors.New("not an encoded URI: want scheme:prefix*user*password*host*port*transport@address")
	}
	f := bytes.Split(uri[colon+1:at], []byte{m.sep})
	if len(f) != 6 {
		return nil, errors.New("not an encoded URI: want 6 fields before '@'")
	}
	user, pass, host, port, proto := f[1], f[2], f[3], f[4], f[5]
	if len(host) == 0 {
		return nil, errors.New("encoded URI without a host")
	}
	if len(pass) > 0 && len(user) == 0 {
		return nil, errors.New("encoded URI with a password and no user")
	}
	rest := at
	for rest < len(uri) && uri[rest] != ';' && uri[rest] != '>' {
		rest++
	}
	out := append([]byte(nil), uri[:colon+1]...)
	if len(user) > 0 {
		out = append(out, user...)
		if len(pass) > 0 {
			out = append(append(out, ':'), pass...)
		}
		out = append(out, '@')
	}
	out = append(out, host...)
	if len(port) > 0 {
		out = append(append(out, ':'), port...)
	}
	if len(proto) > 0 {
		out = append(append(out, ";transport="...), proto...)
	}
	return append(out, uri[rest:]...), nil
}

func (m *Module) encodeContact(c *router.Ctx, prefix, public string) int {
	rc := 1
	if !firstContacts(c, func(u *sip.URI) bool {
		if err := c.Msg.Replace(u.Raw, m.encodeURI(u, prefix, public)); err != nil {
			rc = logErr(c, "encode_contact", err)
		}
		return rc == 1
	}) {
		c.Log().Error("siputils: encode_contact: no Contact header", "route", c.Route)
		return -1
	}
	return rc
}

func (m *Module) decodeContact(c *router.Ctx) int {
	if !c.Msg.IsRequest() {
		return -1
	}
	uri, err := m.decodeURI(c.RURIText())
	if err == nil {
		err = c.SetRURI(uri)
	}
	if err != nil {
		return logErr(c, "decode_contact", err)
	}
	return 1
}

func (m *Module) decodeContactHeader(c *router.Ctx) int {
	rc := 1
	if !firstContacts(c, func(u *sip.URI) bool {
		uri, err := m.decodeURI(u.Raw)
		if err == nil {
			err = c.Msg.Replace(u.Raw, uri)
		}
		if err != nil {
			rc = logErr(c, "decode_contact_header", err)
		}
		return rc == 1
	}) {
		c.Log().Error("siputils: decode_contact_header: no Contact header", "route", c.Route)
		return -1
	}
	return rc
}

// contactParamEncode replaces each URI of the first Contact header by
// addr;name=<the URI in unpadded base64url>, in <> where it was bare.
func contactParamEncode(c *router.Ctx, name, addr string) int {
	rc := 1
	firstContacts(c, func(u *sip.URI) bool {
		if len(u.Raw) <= 4 {
			return true
		}
		off := c.Msg.Offset(u.Raw)
		bare := off <= 0 || c.Msg.Bytes()[off-1] != '<'
		var out []byte
		if bare {
			out = append(out, '<')
		}
		out = append(append(append(append(out, addr...), ';'), name...), '=')
		out = base64.RawURLEncoding.AppendEncode(out, u.Raw)
		if bare {
			out = append(out, '>')
		}
		if err := c.Msg.Replace(u.Raw, out); err != nil {
			rc = logErr(c, "contact_param_encode", err)
		}
		return rc == 1
	})
	return rc
}

// paramValue decodes the base64url value of URI parameter name: nil,
// nil when the URI has no such parameter or it has no value.
func paramValue(uri []byte, name string) ([]byte, error) {
	var u sip.URI
	if err := sip.ParseURI(uri, &u); err != nil {
		return nil, err
	}
	v, _ := u.Param(name)
	if len(v) == 0 {
		return nil, nil
	}
	return base64.RawURLEncoding.AppendDecode(nil, bytes.TrimRight(v, "="))
}

// contactParamDecode replaces each Contact URI that has parameter name
// by the URI its value encodes.
func contactParamDecode(c *router.Ctx, name string) int {
	rc := 1
	allContacts(c, func(u *sip.URI) bool {
		uri, err := paramValue(u.Raw, name)
		if err == nil && uri != nil {
			err = c.Msg.Replace(u.Raw, uri)
		}
		if err != nil {
			rc = logErr(c, "contact_param_decode", err)
		}
		return rc == 1
	})
	return rc
}

// contactParamDecodeRURI makes the URI the request URI's parameter name
// encodes the request URI.
func contactParamDecodeRURI(c *router.Ctx, name string) int {
	if !c.Msg.IsRequest() {
		return -1
	}
	uri, err := paramValue(c.RURIText(), name)
	if err == nil && uri != nil {
		err = c.SetRURI(uri)
	}
	if err != nil {
		return logErr(c, "contact_param_decode_ruri", err)
	}
	return 1
}

// contactParamRm removes parameter name from every Contact URI.
func contactParamRm(c *router.Ctx, name string) int {
	rc := 1
	allContacts(c, func(u *sip.URI) bool {
		if err := c.Msg.RemoveURIParam(u, name); err != nil {
			rc = logErr(c, "contact_param_rm", err)
		}
		return rc == 1
	})
	return rc
}

// isFirstHopMode: a request with one Via; a reply whose top Record-Route
// is this proxy's (mode 0: an IP address, and not the reply's source: a
// loop), or that has none.
func isFirstHopMode(c *router.Ctx, mode int) int {
	m := c.Msg
	if m.IsRequest() {
		return dispatch.Result(!m.HasVia2())
	}
	it := m.Addrs(sip.HdrRecordRoute)
	var na sip.NameAddr
	if !it.Next(&na) {
		if it.Err() != nil {
			return -1
		}
		return 1
	}
	u := &na.URI
	var ip netip.Addr
	if mode == 0 {
		a, err := router.ParseAddr(u.Host)
		if err != nil {
			return -1
		}
		ip = a.Unmap()
	}
	if !c.IsMyself(u) {
		return -1
	}
	if mode == 0 && c.Pkt != nil {
		src := c.Pkt.Src
		port := u.Port
		if port == 0 {
			port = 5060
		}
		proto := sip.TransportUDP
		if t := u.TransportParam(); len(t) > 0 {
			proto = sip.ParseTransport(t)
		}
		if src.Addr().Unmap() == ip && int(src.Port()) == port && c.Pkt.Local != nil && c.Pkt.Local.Proto == proto {
			return -1 // from ourselves: a loop
		}
	}
	return 1
}

func logErr(c *router.Ctx, fn string, err error) int {
	c.Log().Error("siputils: "+fn+": "+err.Error(), "route", c.Route)
	return -1
}
