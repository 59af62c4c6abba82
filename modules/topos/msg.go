package topos

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/internal/wire"
)

// The directions of a request in its dialog.
const (
	downstream = 0 // from the caller (the From tag is the dialog's a_tag)
	upstream   = 1
)

// The dialog record's iflags.
const iflagDlgOn = 2

// What an update of a record writes (Kamailio's TPS_DBU_*).
const (
	dbuContact = 1 << iota
	dbuRplAttrs
	dbuARR
	dbuBRR
	dbuTime
)

// The headers topos carries from a message received to the same message
// sent: the request's dialog key, the reply's branch.
const (
	hdrXUID    = "P-SR-XUID"
	hdrXBranch = "P-SR-XBranch"
)

// tdata is what topos knows of a message, or read of its records
// (Kamailio's tps_data_t). The Record-Route lists are "<uri>,<uri>".
type tdata struct {
	aUUID, bUUID, aCallID                string
	aRR, bRR, sRR                        string
	aContact, bContact                   string
	asContact, bsContact                 string
	aTag, bTag                           string
	aURI, bURI, rURI, aSrcAddr, bSrcAddr string
	xVia1, xVia2, xVbranch1, xVia, xTag  string
	xRR, yRR, xURI                       string
	sMethod, sCSeq, xContext             string
	iflags, direction, expires           int
	method                               sip.Method
}

var errNoContact = errors.New("bad SIP message or missing Contact header")

// pack reads the Vias and Record-Routes of a message as Kamailio's
// tps_pack_message does: x_via1 the top Via, x_via2 the others;
// s_rr the proxy's own Record-Route(s) (two with r2=on), a_rr the others,
// b_rr all of them; as_contact and bs_contact the proxy's addresses on
// each side.
func (m *Module) pack(msg *sip.Msg) *tdata {
	td := &tdata{expires: -1}
	rrUpdate := m.rrUpdate && !(msg.IsRequest() && len(msg.To().Tag) == 0)
	it := msg.Vias()
	var v sip.Via
	var lower []string
	for i := 1; it.Next(&v); i++ {
		if i == 1 {
			td.xVia1, td.xVbranch1 = string(v.Raw), string(v.Branch)
		} else {
			lower = append(lower, string(v.Raw))
		}
	}
	td.xVia2 = strings.Join(lower, ",")

	var rr []string
	ai := msg.Addrs(sip.HdrRecordRoute)
	var na sip.NameAddr
	for ai.Next(&na) {
		rr = append(rr, "<"+string(na.URI.Raw)+">")
	}
	isReq := msg.IsRequest()
	if len(rr) > 0 {
		td.bRR = strings.Join(rr, ",")
	}
	if (isReq || rrUpdate) && len(rr) > 0 {
		u1 := rr[0][1 : len(rr[0])-1]
		td.bsContact = u1
		r2 := strings.Contains(u1, ";r2=on")
		if !r2 {
			td.asContact = u1
		} else if len(rr) > 1 {
			td.asContact = rr[1][1 : len(rr[1])-1]
		}
		own := 1
		if r2 {
			own = 2
		}
		switch {
		case len(rr) > own:
			td.sRR, td.aRR = strings.Join(rr[:own], ","), strings.Join(rr[own:], ",")
		case isReq:
			td.sRR = strings.Join(rr, ",")
		default: // a reply (rr_update) with the proxy's own only
			td.aRR = strings.Join(rr, ",")
		}
		if !rrUpdate {
			td.bRR = ""
		}
	}
	td.xRR = td.aRR
	if !isReq {
		if c := msg.StatusCode(); c >= 180 && c < 199 {
			td.yRR = td.bRR // early dialogs; not 199
		}
	}
	td.method = msg.CSeqMethod()
	td.xContext = m.contextOf(msg.CallID())
	return td
}

// linkMsg is tps_storage_link_msg: the call's identity and the contact
// of the side the message comes from.
func (m *Module) linkMsg(msg *sip.Msg, td *tdata, dir int) error {
	td.aCallID = string(bytes.TrimSpace(msg.CallID()))
	td.aTag, td.bTag = string(msg.From().Tag), string(msg.To().Tag)
	if dir == downstream {
		td.xTag = td.aTag
	} else {
		td.xTag = td.bTag
	}
	td.xVia = td.xVia2
	td.sMethod = string(msg.CSeqMethodName())
	td.sCSeq = strconv.FormatUint(uint64(msg.CSeq()), 10)
	h := msg.NextHeader(sip.HdrContact, -1)
	if h < 0 {
		if td.method != sip.MethodINVITE && td.method != sip.MethodSUBSCRIBE {
			return nil
		}
		if c := msg.StatusCode(); !msg.IsRequest() && (c < 200 || c >= 400) {
			return nil
		}
		return errNoContact
	}
	uri, err := singleContact(msg)
	if err != nil {
		return err
	}
	if msg.IsRequest() == (dir == downstream) {
		td.aContact = uri
	} else {
		td.bContact = uri
	}
	if td.method == sip.MethodSUBSCRIBE {
		if e := msg.Expires(); e >= 0 {
			td.expires = e
		}
	}
	return nil
}

// singleContact is the URI of the first Contact header, which must hold
// one contact.
func singleContact(msg *sip.Msg) (string, error) {
	h := msg.NextHeader(sip.HdrContact, -1)
	if h < 0 {
		return "", errNoContact
	}
	var c sip.Contact
	it := msg.Contacts()
	if !it.Next(&c) || c.Star || it.Header() != h {
		return "", errors.New("bad Contact header")
	}
	first := string(c.URI.Raw)
	var c2 sip.Contact
	if it.Next(&c2) && it.Header() == h {
		return "", errors.New("bad Contact header: more than one contact")
	}
	return first, nil
}

// fillContact is tps_storage_fill_contact: the Contact the proxy writes
// for one side — its own address (from its Record-Route on that side)
// with the side's letter and the uid in the user part (contact_mode 0)
// or in the cparam_name parameter (1).
func (m *Module) fillContact(msg *sip.Msg, td *tdata, uid string, dir int) error {
	sv := td.asContact
	letter := "a"
	if dir == downstream {
		sv, letter = td.bsContact, "b"
	}
	if sv == "" {
		return nil
	}
	var pu sip.URI
	if err := sip.ParseURI([]byte(sv), &pu); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteByte('<')
	if i := strings.IndexByte(sv, ':'); i >= 0 {
		b.WriteString(sv[:i+1])
	} else {
		b.WriteString(sv)
	}
	host := string(pu.Host)
	if m.contactHost != "" {
		host = m.contactHost
	}
	hostPart := func() {
		b.WriteString(host)
		if len(pu.PortText) > 0 {
			b.WriteByte(':')
			b.Write(pu.PortText)
		}
		if t, ok := sip.Param(pu.Params, "transport"); ok && len(t) > 0 {
			b.WriteString(";transport=")
			b.Write(t)
		}
	}
	if m.contactMode == 1 {
		var user []byte
		if dir == downstream {
			c, err := singleContact(msg)
			if err != nil {
				return err
			}
			var cu sip.URI
			if err := sip.ParseURI([]byte(c), &cu); err != nil {
				return err
			}
			user = cu.User
		} else {
			ru, err := msg.RURI()
			if err != nil || len(ru.User) == 0 {
				return errors.New("no user in the request URI")
			}
			user = ru.User
		}
		b.Write(user)
		if !(dir == downstream && len(user) == 0) {
			b.WriteByte('@')
		}
		hostPart()
		b.WriteString(";" + m.cparamName + "=" + letter + uid)
	} else {
		b.WriteString(letter + uid + "@")
		hostPart()
	}
	b.WriteByte('>')
	if dir == downstream {
		td.bUUID, td.bsContact = letter+uid, b.String()
	} else {
		td.aUUID, td.asContact = letter+uid, b.String()
	}
	return nil
}

// record is tps_storage_record: the records of a request going out, a
// dialog's and its transaction's for an initial one.
func (m *Module) record(msg *sip.Msg, td *tdata, dialog bool, dir int) error {
	var uid string
	switch {
	case !dialog:
		uid = m.nextUID(td.xContext)
	case td.aUUID != "":
		uid = td.aUUID[1:]
	case td.bUUID != "":
		uid = td.bUUID[1:]
	default:
		return errors.New("no dialog key")
	}
	if err := m.fillContact(msg, td, uid, downstream); err != nil {
		return err
	}
	if err := m.fillContact(msg, td, uid, upstream); err != nil {
		return err
	}
	if err := m.linkMsg(msg, td, dir); err != nil {
		return err
	}
	if err := m.st.insertBranch(td); err != nil {
		return err
	}
	if !dialog {
		if td.asContact == "" && td.bsContact == "" {
			m.log.Warn("topos: no local address - do record routing for all initial requests")
		}
		return m.st.insertDialog(td)
	}
	return nil
}

// dialogKey is tps_dlg_message_update: the dialog key of an in-dialog
// request, from the request URI (its user, or its cparam_name parameter).
func (m *Module) dialogKey(msg *sip.Msg, td *tdata) {
	ru, err := msg.RURI()
	if err != nil {
		return
	}
	var key []byte
	if m.contactMode == 1 {
		if len(ru.Params) < 10 {
			return
		}
		v, ok := sip.Param(ru.Params, m.cparamName)
		if !ok {
			return
		}
		key = v
	} else {
		if len(ru.User) < 10 {
			return
		}
		key = ru.User
	}
	switch {
	case bytes.HasPrefix(key, []byte("atpsh-")):
		td.aUUID = string(key)
	case bytes.HasPrefix(key, []byte("btpsh-")):
		td.aUUID, td.bUUID = string(key), string(key)
	}
}

func directionOf(msg *sip.Msg, sd *tdata) int {
	if string(msg.From().Tag) == sd.aTag {
		return downstream
	}
	return upstream
}

// addHeader is tps_add_headers: a header with body after the last one
// (or before the first with first), nothing for an empty body.
func addHeader(w *wire.Msg, name, body string, first bool) {
	if body == "" {
		return
	}
	value := []byte(body)
	if value[len(value)-1] == '\n' {
		value = bytes.TrimRight(value, "\r\n")
	}
	if first {
		w.InsertHeader(name, value)
	} else {
		w.AppendHeader(name, value)
	}
}

// removeHeaders removes every header of type t.
func removeHeaders(w *wire.Msg, t sip.HdrType) {
	for h := w.M.NextHeader(t, -1); h >= 0; h = w.M.NextHeader(t, h) {
		w.RemoveHeader(h)
	}
}

// headerValue is the value of the first header named name.
func headerValue(w *wire.Msg, name string) (int, []byte, bool) {
	h := w.M.NextHeaderNamed([]byte(name), -1)
	if h < 0 {
		return -1, nil, false
	}
	return h, w.M.Header(h).Value, true
}

// reappendRoute is tps_reappend_route: the routes of body as Route
// headers after the last one — each its own, last first, with rev.
func reappendRoute(w *wire.Msg, body string, rev bool) {
	if body == "" || body[0] == 0 {
		return
	}
	if rev {
		c, n := false, 1
		for i := len(body) - 2; i >= 0; i-- {
			if body[i] == ',' {
				c = true
				if n > 0 {
					addHeader(w, "Route", strings.TrimSuffix(body[i+1:i+1+n], ","), false)
				}
				n = 0
			}
			n++
		}
		if c {
			if n > 0 {
				addHeader(w, "Route", strings.TrimSuffix(body[:n], ","), false)
			}
			return
		}
	}
	sb := strings.TrimSuffix(body, ",")
	sb = strings.TrimSpace(strings.Trim(sb, "\x00"))
	addHeader(w, "Route", strings.TrimSuffix(sb, ","), false)
}

// reinsertContact adds the Contact, except to CANCEL, BYE and PRACK.
func reinsertContact(w *wire.Msg, contact string) {
	switch w.M.CSeqMethod() {
	case sip.MethodCANCEL, sip.MethodBYE, sip.MethodPRACK:
		return
	}
	addHeader(w, "Contact", contact, false)
}

// requestReceived is tps_request_received for an in-dialog request: the
// request URI becomes the contact of the side it goes to, the routes of
// the dialog come back as Route headers, and the dialog key rides along
// in P-SR-XUID.
func (m *Module) requestReceived(w *wire.Msg) {
	msg := &w.M
	md := m.pack(msg)
	m.dialogKey(msg, md)
	l := m.lock(msg.CallID())
	sd, _, err := m.st.loadDialog(md)
	if err != nil {
		l.Unlock()
		return
	}
	dir := downstream
	useBranch := false
	switch meth := msg.CSeqMethod(); {
	case (meth == sip.MethodBYE || meth == sip.MethodINFO || meth == sip.MethodPRACK || meth == sip.MethodUPDATE) && sd.bContact == "":
		// no B-side contact yet: the INVITE's transaction has it
		if meth == sip.MethodBYE || meth == sip.MethodUPDATE {
			dir = directionOf(msg, sd)
		}
		if m.linkMsg(msg, md, dir) != nil {
			l.Unlock()
			return
		}
		md.direction = dir
		if sd, _, err = m.st.loadBranch(msg, md, 1); err != nil {
			l.Unlock()
			return
		}
		useBranch = true
	default:
		dir = directionOf(msg, sd)
		md.direction = dir
	}
	l.Unlock()

	nuri := sd.bContact
	if !useBranch && dir == upstream {
		nuri = sd.aContact
	}
	if useBranch && dir == upstream {
		nuri = sd.aContact
	}
	if nuri != "" {
		w.Replace(msg.RURIText(), []byte(nuri))
	}
	if useBranch && dir == downstream {
		reappendRoute(w, sd.sRR, true)
		reappendRoute(w, sd.yRR, true)
	} else {
		reappendRoute(w, sd.sRR, dir != upstream)
		if dir == upstream {
			reappendRoute(w, sd.aRR, false)
		} else {
			reappendRoute(w, sd.bRR, true)
		}
	}
	addHeader(w, hdrXUID, sd.aUUID, false)
	if m.rrUpdate {
		if m.updateDialog(msg, md, sd, dbuRplAttrs|dbuBRR) != nil {
			return
		}
	}
	if msg.CSeqMethod() == sip.MethodSUBSCRIBE {
		m.updateDialog(msg, md, sd, dbuContact|dbuTime)
	}
}

// responseReceived is tps_response_received: the reply gets back the
// Vias and Record-Routes its request went out without, and its branch
// rides along in P-SR-XBranch.
func (m *Module) responseReceived(w *wire.Msg) {
	msg := &w.M
	md := m.pack(msg)
	l := m.lock(msg.CallID())
	bd, _, err := m.st.loadBranch(msg, md, 0)
	if err != nil {
		l.Unlock()
		return
	}
	sd, _, err := m.st.loadDialog(bd)
	if err != nil {
		l.Unlock()
		return
	}
	md.direction = directionOf(msg, sd)
	if m.updateBranch(msg, md, bd, dbuContact|dbuRplAttrs) != nil {
		l.Unlock()
		return
	}
	mode := dbuRplAttrs
	if m.rrUpdate {
		mode |= dbuBRR | dbuARR
	}
	if m.updateDialog(msg, md, sd, mode) != nil {
		l.Unlock()
		return
	}
	l.Unlock()
	addHeader(w, "Via", bd.xVia, false)
	addHeader(w, "Record-Route", bd.sRR, false)
	addHeader(w, "Record-Route", bd.xRR, false)
	addHeader(w, hdrXBranch, md.xVbranch1, false)
}

// requestSent is tps_request_sent: the request leaves with the proxy's
// Via only, no Record-Route, and the proxy's Contact for its dialog.
func (m *Module) requestSent(w *wire.Msg, dialog, local bool) {
	msg := &w.M
	md := m.pack(msg)
	if dialog {
		h, xuid, ok := headerValue(w, hdrXUID)
		if !ok {
			return // not one topos received: nothing to do
		}
		md.aUUID = string(xuid)
		w.RemoveHeader(h)
	}
	l := m.lock(msg.CallID())
	defer l.Unlock()
	var pd, sd *tdata
	dir := downstream
	if dialog {
		if d, found, err := m.st.loadDialog(md); err == nil && found {
			sd, pd = d, d
		} else {
			sd = &tdata{}
		}
		dir = directionOf(msg, sd)
		md.direction = dir
	}
	bd, found, err := m.st.loadBranch(msg, md, 0)
	if err != nil || !found {
		if err := m.record(msg, md, dialog, dir); err != nil {
			m.log.Error("topos: failed to store: " + err.Error())
			return
		}
	} else if pd == nil {
		pd = bd
	}
	if pd == nil {
		pd = md
	}
	if local {
		return // the proxy's own ACK and CANCEL go as they are
	}
	removeHeaders(w, sip.HdrRecordRoute)
	removeHeaders(w, sip.HdrContact)
	removeHeaders(w, sip.HdrVia)
	addHeader(w, "Via", md.xVia1, true)
	if dir == upstream {
		reinsertContact(w, pd.asContact)
	} else {
		reinsertContact(w, pd.bsContact)
	}
	if dialog {
		m.endDialog(md, pd)
		mode := dbuContact
		if m.rrUpdate {
			mode |= dbuARR
		}
		m.updateDialog(msg, md, sd, mode)
	}
}

// responseSent is tps_response_sent: a reply topos saw come in leaves
// with the Record-Routes of the side it goes to and the proxy's Contact.
func (m *Module) responseSent(w *wire.Msg) {
	msg := &w.M
	h, xb, ok := headerValue(w, hdrXBranch)
	if !ok {
		return // a reply of the proxy's own
	}
	md := m.pack(msg)
	md.xVbranch1 = string(xb)
	w.RemoveHeader(h)
	if msg.CSeqMethod() == sip.MethodMESSAGE {
		removeHeaders(w, sip.HdrRecordRoute)
		removeHeaders(w, sip.HdrContact)
		return
	}
	l := m.lock(msg.CallID())
	bd, _, err := m.st.loadBranch(msg, md, 0)
	if err != nil {
		l.Unlock()
		return
	}
	sd, _, err := m.st.loadDialog(bd)
	l.Unlock()
	if err != nil {
		return
	}
	dir := directionOf(msg, sd)
	md.direction = dir
	removeHeaders(w, sip.HdrRecordRoute)
	code := msg.StatusCode()
	hasContact := msg.Has(sip.HdrContact)
	keep := (code >= 300 && code < 400) || // redirects keep their contacts
		(code > 100 && code < 200 && !hasContact) || (code >= 400 && code < 500 && !hasContact)
	if !keep {
		removeHeaders(w, sip.HdrContact)
		if dir == downstream {
			reinsertContact(w, sd.asContact)
		} else {
			reinsertContact(w, sd.bsContact)
		}
	}
	addHeader(w, "Record-Route", bd.xRR, false)
	if m.updateBranch(msg, md, bd, dbuContact) != nil {
		return
	}
	m.updateDialog(msg, md, sd, dbuContact)
}
