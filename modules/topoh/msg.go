package topoh

import (
	"bytes"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/internal/wire"
)

// work is one message being masked or unmasked.
type work = wire.Msg

// encode masks in after prefix, in w.Tmp (valid until the next call).
func (m *Module) encode(w *work, prefix string, in []byte) []byte {
	w.Tmp = m.coder.encode(w.Tmp[:0], prefix, in)
	return w.Tmp
}

func (m *Module) decode(w *work, prefix string, in []byte) ([]byte, bool) {
	out, err := m.coder.decode(w.Tmp[:0], prefix, in)
	w.Tmp = out
	return out, err == nil && len(out) > 0
}

// cookieName is the header and Via parameter topoh leaves on a message
// received, for the same message on its way out: [0] the direction (d
// downstream, u upstream), [1] the kind (i initial, c in-dialog, l local
// in-dialog), [2] where it was (h header, v Via parameter).
const cookieName = "TH"

// received unmasks a message that came in and marks it with the cookie;
// false when there is nothing to do.
func (m *Module) received(w *work) bool {
	msg := &w.M
	var cookie string
	if msg.IsRequest() {
		if len(msg.To().Tag) == 0 {
			cookie = "di"
		} else {
			dir := m.direction(msg)
			if dir < 0 {
				return false
			}
			cookie = "dc"
			if dir == 1 {
				cookie = "uc"
			}
			m.unmaskRURI(w)
			m.unmaskRoute(w)
			m.unmaskReferTo(w)
			if dir == 1 {
				m.unmaskCallID(w)
			}
		}
	} else {
		if !w.HasVia2() && msg.CSeqMethod() != sip.MethodCANCEL {
			return false // a reply to a request of the proxy's own
		}
		c := m.unmaskVia(w)
		m.flipRecordRoute(w, false)
		if len(c) > 0 && c[0] == 'u' {
			cookie = "dc"
		} else {
			cookie = "uc"
			m.unmaskCallID(w)
		}
	}
	// the header after the last one, the Via parameter before the first
	// one of the top Via (Kamailio's places)
	w.At(msg.HeadersEnd(), 0, []byte(cookieName+": "+cookie+"h\r\n"))
	v := msg.TopVia()
	var off int
	switch {
	case len(v.Params) > 0:
		off = msg.Offset(v.Params)
	case len(v.PortText) > 0:
		off = msg.Offset(v.PortText) + len(v.PortText)
	default:
		off = msg.Offset(v.Host) + len(v.Host)
	}
	if off >= 0 {
		w.At(off, 0, []byte(";"+cookieName+"="+cookie+"v"))
	}
	return true
}

// sent masks a message going out; false when it goes as it is.
func (m *Module) sent(w *work, hop router.Hop) bool {
	msg := &w.M
	cookie := "xxx"
	hdr := msg.NextHeaderNamed([]byte(cookieName), -1)
	if hdr >= 0 {
		cookie = string(msg.Header(hdr).Value)
	} else if v, ok := msg.TopVia().Param(cookieName); ok {
		cookie = string(v)
	}
	if cookie == "" {
		cookie = "xxx"
	}
	if cookie[0] != 'x' {
		if hdr >= 0 {
			off, n := msg.HeaderSpan(hdr)
			w.At(off, n, nil)
		}
		if !msg.IsRequest() {
			m.delViaCookie(w)
		}
	}
	if m.events.Run(evSending, msg, nil, &hop) {
		return false
	}
	if msg.IsRequest() {
		down := cookie[0] != 'u'
		local := 0
		if !w.HasVia2() {
			local = 1
			if down && len(cookie) > 1 && cookie[1] == 'l' {
				local = 2 // a request of the proxy's own, downstream in a dialog (dialog's BYE)
			}
		} else if cookie[0] != 'd' && cookie[0] != 'u' {
			local = 1
		}
		if local > 0 {
			if meth := msg.CSeqMethod(); meth == sip.MethodACK || meth == sip.MethodCANCEL || local == 2 {
				m.maskCallID(w)
				return true
			}
			return false // upstream: as it is, the cookie too (Kamailio's)
		}
		m.maskVias(w)
		m.maskContact(w)
		m.maskRecordRoutes(w)
		if len(msg.To().Tag) > 0 {
			if down {
				m.maskCallID(w)
			}
		} else {
			m.updateReplaces(w)
			m.maskCallID(w)
		}
		return true
	}
	switch cookie[len(cookie)-1] {
	case 'x':
		return false
	case 'v': // a reply of the proxy's own: the request said which way
		if cookie[0] == 'u' {
			m.maskCallID(w)
		}
	default:
		m.flipRecordRoute(w, true)
		m.maskContact(w)
		if cookie[0] == 'd' {
			m.maskCallID(w)
		}
	}
	return true
}

// delViaCookie removes ";TH=..." from the top Via.
func (m *Module) delViaCookie(w *work) {
	v := w.M.TopVia()
	ps := sip.NewParams(v.Params)
	for {
		n, val, ok := ps.Next()
		if !ok {
			return
		}
		if sip.EqualFold(n, []byte(cookieName)) {
			off := w.M.Offset(n)
			end := off + len(n)
			if val != nil {
				end = w.M.Offset(val) + len(val)
			}
			// from the ';' before the name
			start := bytes.LastIndexByte(w.Bytes()[:off], ';')
			if start >= 0 {
				w.At(start, end-start, nil)
			}
			return
		}
	}
}

// direction is th_route_direction: 0 downstream (no Route, or the first
// Route's ftag is the From tag), 1 upstream, -1 without a From tag.
func (m *Module) direction(msg *sip.Msg) int {
	ftag := msg.From().Tag
	if len(ftag) == 0 {
		return -1
	}
	it := msg.Addrs(sip.HdrRoute)
	var na sip.NameAddr
	if !it.Next(&na) {
		if it.Err() != nil {
			return -1
		}
		return 0
	}
	v, ok := sip.Param(na.URI.Params, "ftag")
	if !ok {
		return 0
	}
	if !bytes.Equal(v, ftag) {
		return 1
	}
	return 0
}

func (m *Module) maskVias(w *work) {
	it := w.M.Vias()
	var v sip.Via
	for i := 1; it.Next(&v); i++ {
		if i > 1 {
			w.Replace(v.Raw, m.encode(w, m.viaPrefix, v.Raw))
		}
	}
}

// unmaskVia unmasks the Vias below the top one and returns the cookie of
// the second (the request's direction when it went out).
func (m *Module) unmaskVia(w *work) []byte {
	var cookie []byte
	it := w.M.Vias()
	var v sip.Via
	for i := 1; it.Next(&v); i++ {
		if i == 1 {
			continue
		}
		if m.uriPrefixCheck && !bytes.EqualFold(v.Host, []byte(m.ip)) {
			continue
		}
		val, ok := v.Param(m.vparamName)
		if !ok {
			return cookie
		}
		if len(val) <= len(m.vparamPrefix) || !bytes.HasPrefix(val, []byte(m.vparamPrefix)) {
			continue
		}
		out, ok := m.decode(w, m.vparamPrefix, val)
		if !ok {
			return cookie
		}
		if i == 2 {
			var dv sip.Via
			if sip.ParseVia(out, &dv) != nil {
				return cookie
			}
			c, found := dv.Param(cookieName)
			if !found {
				return cookie
			}
			cookie = append([]byte(nil), c...)
		}
		w.Replace(v.Raw, out)
	}
	return cookie
}

func (m *Module) maskCallID(w *work) {
	if !m.callIDMasked {
		return
	}
	id := w.M.CallID()
	w.Replace(id, m.encode(w, m.callidPrefix, id))
}

func (m *Module) unmaskCallID(w *work) {
	if !m.callIDMasked {
		return
	}
	id := w.M.CallID()
	if len(id) < len(m.callidPrefix) || !bytes.EqualFold(id[:len(m.callidPrefix)], []byte(m.callidPrefix)) {
		return
	}
	if out, ok := m.decode(w, m.callidPrefix, id); ok {
		w.Replace(id, out)
	}
}

// maskContact masks the first Contact's URI, in brackets.
func (m *Module) maskContact(w *work) {
	it := w.M.Contacts()
	var c sip.Contact
	if !it.Next(&c) || c.Star {
		return
	}
	uri := c.URI.Raw
	off := w.M.Offset(uri)
	if off < 0 {
		return
	}
	enc := m.encode(w, m.uriPrefix, uri)
	if off > 0 && w.Bytes()[off-1] == '<' {
		w.Replace(uri, enc)
	} else {
		w.Replace(uri, []byte("<"), enc, []byte(">"))
	}
}

func (m *Module) maskRecordRoutes(w *work) {
	it := w.M.Addrs(sip.HdrRecordRoute)
	var na sip.NameAddr
	for i := 1; it.Next(&na); i++ {
		if i > 1 {
			w.Replace(na.URI.Raw, m.encode(w, m.uriPrefix, na.URI.Raw))
		}
	}
}

// uriType is th_get_uri_type: 2 a masked URI (its value returned), 1 a
// URI to mask, 0 one to leave (the proxy's own; r2 says it has r2=on).
func (m *Module) uriType(u *sip.URI) (typ int, val []byte, r2 bool) {
	if bytes.EqualFold(u.Host, []byte(m.ip)) {
		if v, ok := sip.Param(u.Params, m.uparamName); ok {
			return 2, v, false
		}
		if !m.maskIsMe {
			return 0, nil, false
		}
	}
	if m.env != nil && m.env.Myself != nil && m.env.Myself.IsURI(u) {
		v, ok := sip.Param(u.Params, "r2")
		return 0, nil, ok && bytes.EqualFold(v, []byte("on"))
	}
	return 1, nil, false
}

// flipRecordRoute is th_flip_record_route: on a reply received (out
// false) masked Record-Routes are unmasked; on a reply sent, those before
// the proxy's own (its second with r2) are masked.
func (m *Module) flipRecordRoute(w *work, out bool) {
	it := w.M.Addrs(sip.HdrRecordRoute)
	var na sip.NameAddr
	act := 0
	if out {
		act = 2
	}
	for it.Next(&na) {
		typ, val, r2 := m.uriType(&na.URI)
		if typ == 0 && out {
			if !r2 {
				return
			}
			if act--; act == 0 {
				return
			}
			typ = 1
		}
		switch {
		case typ == 1 && out && act != 0:
			w.Replace(na.URI.Raw, m.encode(w, m.uriPrefix, na.URI.Raw))
		case typ == 2 && !out:
			if dec, ok := m.decode(w, m.uparamPrefix, val); ok {
				w.Replace(na.URI.Raw, dec)
			}
		}
	}
}

// maskedValue is the masked URI's parameter value, when u is one.
func (m *Module) maskedValue(raw []byte, u *sip.URI) ([]byte, bool) {
	if m.uriPrefixCheck && (len(raw) < len(m.uriPrefix) || !bytes.EqualFold(raw[:len(m.uriPrefix)], []byte(m.uriPrefix))) {
		return nil, false
	}
	v, ok := sip.Param(u.Params, m.uparamName)
	return v, ok && len(v) > 0
}

func (m *Module) unmaskRoute(w *work) {
	it := w.M.Addrs(sip.HdrRoute)
	var na sip.NameAddr
	for i := 1; it.Next(&na); i++ {
		if i == 1 {
			continue
		}
		if v, ok := m.maskedValue(na.URI.Raw, &na.URI); ok {
			if dec, ok := m.decode(w, m.uparamPrefix, v); ok {
				w.Replace(na.URI.Raw, dec)
			}
		}
	}
}

func (m *Module) unmaskRURI(w *work) {
	raw := w.M.RURIText()
	var u sip.URI
	if sip.ParseURI(raw, &u) != nil {
		return
	}
	if v, ok := m.maskedValue(raw, &u); ok {
		if dec, ok := m.decode(w, m.uparamPrefix, v); ok {
			w.Replace(raw, dec)
		}
	}
}

func (m *Module) unmaskReferTo(w *work) {
	if w.M.CSeqMethod() != sip.MethodREFER {
		return
	}
	h := w.M.NextHeaderNamed([]byte("Refer-To"), -1)
	if h < 0 {
		return
	}
	var na sip.NameAddr
	if sip.ParseNameAddr(w.M.Header(h).Value, &na) != nil {
		return
	}
	raw := na.URI.Raw
	if v, ok := m.maskedValue(raw, &na.URI); ok {
		if dec, ok := m.decode(w, m.uparamPrefix, v); ok {
			if q := bytes.IndexByte(raw, '?'); q >= 0 {
				raw = raw[:q] // the headers of the URI stay
			}
			w.Replace(raw, dec)
		}
	}
}

// updateReplaces masks the Call-ID of a Replaces header of an INVITE, or
// unmasks it when it was masked (a transfer across the proxy).
func (m *Module) updateReplaces(w *work) {
	if !m.callIDMasked || w.M.CSeqMethod() != sip.MethodINVITE {
		return
	}
	h := w.M.NextHeaderNamed([]byte("Replaces"), -1)
	if h < 0 {
		return
	}
	val := bytes.TrimSpace(w.M.Header(h).Value)
	id := val
	if i := bytes.IndexByte(val, ';'); i >= 0 {
		id = val[:i]
	}
	if len(id) > len(m.callidPrefix) && bytes.HasPrefix(id, []byte(m.callidPrefix)) {
		if dec, ok := m.decode(w, m.callidPrefix, id); ok {
			w.Replace(id, dec)
		}
		return
	}
	w.Replace(id, m.encode(w, m.callidPrefix, id))
}
