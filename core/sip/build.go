package sip

import (
	"bytes"
	"errors"
	"strconv"
	"unsafe"
)

// Building messages. Replies are written from the request's fields; a
// forwarded message is the received one with edits ("lumps", as Kamailio
// calls them) applied on the way out, the untouched parts copied as they
// are. Everything appends to a caller-supplied buffer.

// Reply describes a reply to build from a request.
type Reply struct {
	Code    int
	Reason  string
	ToTag   []byte // added to To when the request's has none (code > 100)
	Headers []byte // extra header lines, each ending in CRLF
	Body    []byte // its Content-Type goes in Headers

	// The request's source, for RFC 3261 §18.2.1 / RFC 3581: received= is
	// added to the top Via when Source differs from its sent-by host or it
	// asks for rport; rport gets SourcePort. ForceRPort (force_rport()) adds
	// rport=SourcePort to a Via that did not ask for it.
	Source     []byte
	SourcePort int
	ForceRPort bool
}

// AppendReply appends to dst a reply to req: its Via headers (the top one
// with received/rport), From, To (with a tag), Call-ID, CSeq, Record-Route
// for 101-299, the extra headers, Content-Length and the body. req must be
// able to take a reply (CanReply); else dst comes back unchanged.
func AppendReply(dst []byte, req *Msg, r *Reply) []byte {
	if !req.replyable {
		return dst
	}
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(r.Code), 10)
	dst = append(dst, ' ')
	for i := 0; i < len(r.Reason); i++ { // a reason from a script must not add lines
		c := r.Reason[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	dst = append(dst, "\r\n"...)
	for i := req.NextHeader(HdrVia, -1); i >= 0; i = req.NextHeader(HdrVia, i) {
		dst = append(dst, "Via: "...)
		if i == req.via1Hdr {
			v := req.value(i)
			off := int(req.via1Elem.s - req.hdrs[i].value.s)
			dst = append(dst, v[:off]...)
			dst = appendViaReceived(dst, &req.via1, r.Source, r.SourcePort, r.ForceRPort)
			dst = append(dst, v[off+len(req.via1.Raw):]...)
		} else {
			dst = append(dst, req.value(i)...)
		}
		dst = append(dst, "\r\n"...)
	}
	dst = appendHeader(dst, "From: ", req.value(int(req.first[HdrFrom])))
	dst = append(dst, "To: "...)
	dst = append(dst, req.value(int(req.first[HdrTo]))...)
	if len(req.to.Tag) == 0 && len(r.ToTag) > 0 && r.Code > 100 {
		dst = append(dst, ";tag="...)
		dst = append(dst, r.ToTag...)
	}
	dst = append(dst, "\r\n"...)
	dst = appendHeader(dst, "Call-ID: ", req.callID)
	dst = appendHeader(dst, "CSeq: ", req.value(int(req.first[HdrCSeq])))
	if r.Code > 100 && r.Code < 300 {
		for i := req.NextHeader(HdrRecordRoute, -1); i >= 0; i = req.NextHeader(HdrRecordRoute, i) {
			dst = appendHeader(dst, "Record-Route: ", req.value(i))
		}
	}
	dst = append(dst, r.Headers...)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, r.Body...)
}

func appendHeader(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// ViaNeedsReceived reports whether a via-parm received from source must
// carry received= (RFC 3261 §18.2.1, RFC 3581 §4).
func ViaNeedsReceived(v *Via, source []byte) bool {
	if len(source) == 0 {
		return false
	}
	host := v.Host
	if len(host) > 2 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return v.HasRPort || !EqualFold(host, source)
}

// viaFill says what a via-parm received from source:port lacks: the rport
// value (fillRPort), received= (addReceived) and, forced, rport=port where
// it did not ask for one (addRPort), as Kamailio's force_rport. Replies
// and forwarded requests both write what it says.
func viaFill(v *Via, source []byte, port int, force bool) (fillRPort, addReceived, addRPort bool) {
	return v.HasRPort && len(v.RPort) == 0 && port > 0,
		ViaNeedsReceived(v, source) && len(v.Received) == 0,
		force && !v.HasRPort && port > 0
}

// appendViaReceived appends via-parm v with received= and the rport value
// added as needed, for a reply.
func appendViaReceived(dst []byte, v *Via, source []byte, port int, force bool) []byte {
	fillRPort, addReceived, addRPort := viaFill(v, source, port, force)
	raw := v.Raw
	if fillRPort {
		dst = append(dst, raw[:v.rportEnd]...)
		dst = append(dst, '=')
		dst = strconv.AppendInt(dst, int64(port), 10)
		raw = raw[v.rportEnd:]
	}
	dst = append(dst, raw...)
	// a reply's Via gets them at its end, rport first (Kamailio's)
	if addRPort {
		dst = strconv.AppendInt(append(dst, ";rport="...), int64(port), 10)
	}
	if addReceived {
		dst = append(dst, ";received="...)
		dst = append(dst, source...)
	}
	return dst
}

// ErrTooManyEdits is returned when one message collects more edits than a
// Msg holds.
var ErrTooManyEdits = errors.New("sip: too many edits on one message")

const maxEdits = 32

// edit replaces del bytes at off with the arena bytes ins. Edits at one
// offset apply in prio order, then in the order they were made.
type edit struct {
	off, del uint32
	ins      span
	prio     uint8
	seq      uint8
	kind     uint8
}

const (
	editPlain uint8 = iota
	editRURI
	editBody
	editCL
	editMaxFwd
)

// edits are the pending changes to a message. The arena keeps its
// capacity across messages, so that a worker stops allocating once warm.
type edits struct {
	e     [maxEdits]edit
	n     int
	arena []byte
}

func (ed *edits) reset() {
	ed.n = 0
	ed.arena = ed.arena[:0]
}

// add records an edit whose inserted text is the concatenation of parts.
// An edit of a kind other than editPlain replaces the earlier one of its
// kind.
func (m *Msg) add(kind uint8, off, del int, prio uint8, parts ...[]byte) error {
	ed := &m.edits
	s := len(ed.arena)
	for _, p := range parts {
		ed.arena = append(ed.arena, p...)
	}
	e := edit{off: uint32(off), del: uint32(del), ins: span{uint32(s), uint32(len(ed.arena))}, prio: prio, kind: kind}
	if kind != editPlain {
		for i := 0; i < ed.n; i++ {
			if ed.e[i].kind == kind {
				e.seq = ed.e[i].seq
				ed.e[i] = e
				return nil
			}
		}
	}
	if ed.n == maxEdits {
		ed.arena = ed.arena[:s]
		return ErrTooManyEdits
	}
	e.seq = uint8(ed.n)
	ed.e[ed.n] = e
	ed.n++
	return nil
}

var crlf = []byte("\r\n")

// withCRLF returns the parts of a header line that ends in exactly one CRLF.
func withCRLF(line []byte) ([]byte, []byte) {
	line = trimLWSRight(line)
	return line, crlf
}

// AppendHeader adds a header line ("Name: value") after the last header.
func (m *Msg) AppendHeader(line []byte) error {
	l, e := withCRLF(line)
	return m.add(editPlain, m.hdrsEnd, 0, 2, l, e)
}

// InsertHeader adds a header line before the first header.
func (m *Msg) InsertHeader(line []byte) error {
	l, e := withCRLF(line)
	return m.add(editPlain, int(m.hdrs[0].name.s), 0, 2, l, e)
}

// InsertHeaderBefore adds a header line before header field i.
func (m *Msg) InsertHeaderBefore(i int, line []byte) error {
	l, e := withCRLF(line)
	return m.add(editPlain, int(m.hdrs[i].name.s), 0, 2, l, e)
}

// AppendHeaderAfter adds a header line after header field i.
func (m *Msg) AppendHeaderAfter(i int, line []byte) error {
	l, e := withCRLF(line)
	return m.add(editPlain, int(m.hdrs[i].next), 0, 2, l, e)
}

// RemoveHeader removes header field i (0 ≤ i < NumHeaders), folded lines
// included.
func (m *Msg) RemoveHeader(i int) error {
	h := &m.hdrs[i]
	return m.add(editPlain, int(h.name.s), int(h.next-h.name.s), 0)
}

var errNotRequest = errors.New("sip: the message is not a request")

// SetRURI replaces the request URI; a later call replaces an earlier one.
func (m *Msg) SetRURI(uri []byte) error {
	if !m.request {
		return errNotRequest
	}
	return m.add(editRURI, int(m.ruri.s), int(m.ruri.e-m.ruri.s), 0, uri)
}

var viaName, rrName = []byte("Via: "), []byte("Record-Route: ")

// PushVia adds a via-parm as the new top Via.
func (m *Msg) PushVia(viaParm []byte) error {
	return m.add(editPlain, int(m.hdrs[m.first[HdrVia]].name.s), 0, 1, viaName, viaParm, crlf)
}

// AddRecordRoute adds a Record-Route value ("<sip:proxy;lr>") above the
// existing ones, before the first header: on top, above a pushed Via, as
// Kamailio's rr puts it.
func (m *Msg) AddRecordRoute(value []byte) error {
	return m.add(editPlain, int(m.hdrs[0].name.s), 0, 0, rrName, value, crlf)
}

// RemoveTopVia removes the topmost via-parm, as a proxy does on replies:
// the whole field when it holds one via-parm, else the via-parm and its
// comma.
func (m *Msg) RemoveTopVia() error {
	if m.via1Alone {
		return m.RemoveHeader(m.via1Hdr)
	}
	v := m.value(m.via1Hdr)
	i := int(m.via1Elem.e - m.hdrs[m.via1Hdr].value.s)
	i = skipLWS(v, i)
	if i < len(v) && v[i] == ',' {
		i = skipLWS(v, i+1)
	}
	return m.add(editPlain, int(m.via1Elem.s), i-int(m.via1Elem.s-m.hdrs[m.via1Hdr].value.s), 0)
}

// SetViaReceived adds received= and the rport value to the top Via, as
// ViaNeedsReceived decides, for a request received from source:port; with
// force, rport=port to a Via that did not ask for it (force_rport).
func (m *Msg) SetViaReceived(source []byte, port int, force bool) error {
	fillRPort, addReceived, addRPort := viaFill(&m.via1, source, port, force)
	if fillRPort {
		var num [8]byte
		at := int(m.via1Elem.s) + m.via1.rportEnd
		if err := m.add(editPlain, at, 0, 0, []byte{'='}, strconv.AppendInt(num[:0], int64(port), 10)); err != nil {
			return err
		}
	}
	// as Kamailio: before the first parameter, rport then received
	at := int(m.via1Elem.s) + m.via1.paramsAt
	if addRPort {
		var num [8]byte
		if err := m.add(editPlain, at, 0, 0, []byte(";rport="), strconv.AppendInt(num[:0], int64(port), 10)); err != nil {
			return err
		}
	}
	if addReceived {
		return m.add(editPlain, at, 0, 0, []byte(";received="), source)
	}
	return nil
}

// SetMaxForwards sets Max-Forwards to n, adding the header when absent.
func (m *Msg) SetMaxForwards(n int) error {
	var num [4]byte
	v := strconv.AppendInt(num[:0], int64(n), 10)
	if m.Has(HdrMaxForwards) {
		h := &m.hdrs[m.first[HdrMaxForwards]]
		return m.add(editMaxFwd, int(h.value.s), int(h.value.e-h.value.s), 0, v)
	}
	return m.add(editMaxFwd, m.hdrsEnd, 0, 2, []byte("Max-Forwards: "), v, crlf)
}

// SetBody replaces the body and its Content-Length.
func (m *Msg) SetBody(body []byte) error {
	var num [12]byte
	n := strconv.AppendInt(num[:0], int64(len(body)), 10)
	var err error
	if m.Has(HdrContentLength) {
		h := &m.hdrs[m.first[HdrContentLength]]
		err = m.add(editCL, int(h.value.s), int(h.value.e-h.value.s), 0, n)
	} else {
		err = m.add(editCL, m.hdrsEnd, 0, 3, []byte("Content-Length: "), n, crlf)
	}
	if err != nil {
		return err
	}
	return m.add(editBody, int(m.body.s), int(m.body.e-m.body.s), 0, body)
}

// EditedBody is the body as it will be sent: the one SetBody gave, else
// the received one; so that body edits made one after the other compound.
func (m *Msg) EditedBody() []byte {
	ed := &m.edits
	for i := 0; i < ed.n; i++ {
		if e := &ed.e[i]; e.kind == editBody {
			return ed.arena[e.ins.s:e.ins.e]
		}
	}
	return m.Body()
}

// ResetEdits drops every pending edit.
func (m *Msg) ResetEdits() { m.edits.reset() }

// AppendTo appends the message with its edits applied to dst. An edit that
// falls inside a region another edit deleted is dropped.
func (m *Msg) AppendTo(dst []byte) []byte {
	ed := &m.edits
	e := ed.e[:ed.n]
	for i := 1; i < len(e); i++ { // insertion sort: a handful of edits
		for j := i; j > 0 && editLess(&e[j], &e[j-1]); j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
	pos := 0
	for i := range e {
		x := &e[i]
		if int(x.off) < pos {
			continue
		}
		dst = append(dst, m.buf[pos:x.off]...)
		dst = append(dst, ed.arena[x.ins.s:x.ins.e]...)
		pos = int(x.off + x.del)
	}
	return append(dst, m.buf[pos:]...)
}

// Len is the length AppendTo writes, the edits applied.
func (m *Msg) Len() int {
	ed := &m.edits
	e := ed.e[:ed.n]
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && editLess(&e[j], &e[j-1]); j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
	n, pos := 0, 0
	for i := range e {
		x := &e[i]
		if int(x.off) < pos {
			continue
		}
		n += int(x.off) - pos + int(x.ins.e-x.ins.s)
		pos = int(x.off + x.del)
	}
	return n + len(m.buf) - pos
}

func editLess(a, b *edit) bool {
	if a.off != b.off {
		return a.off < b.off
	}
	if (a.del == 0) != (b.del == 0) { // insert before deleting at one offset
		return a.del == 0
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.seq < b.seq
}

// EditMark is a saved state of a message's edits.
type EditMark struct {
	e     [maxEdits]edit
	n     int
	arena int
}

// MarkEdits saves the edits made so far, for RestoreEdits: tm makes each
// branch of a request from the same edits plus the branch's own.
func (m *Msg) MarkEdits(mk *EditMark) {
	mk.e, mk.n, mk.arena = m.edits.e, m.edits.n, len(m.edits.arena)
}

// RestoreEdits returns the edits to the state MarkEdits saved.
func (m *Msg) RestoreEdits(mk *EditMark) {
	m.edits.e, m.edits.n, m.edits.arena = mk.e, mk.n, m.edits.arena[:mk.arena]
}

// Offset is the position of sub, a slice of the message's bytes (a header
// value, a URI the parser returned), in the message; -1 when it is not one.
func (m *Msg) Offset(sub []byte) int {
	if len(sub) == 0 || len(m.buf) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	if p < base || p+uintptr(len(sub)) > base+uintptr(len(m.buf)) {
		return -1
	}
	return int(p - base)
}

// Replace replaces sub, a slice of the message's bytes, with the given
// bytes; an empty sub at a known offset is an insertion (use ReplaceAt).
func (m *Msg) Replace(sub, with []byte) error {
	off := m.Offset(sub)
	if off < 0 {
		return errors.New("sip: replace: not a part of the message")
	}
	return m.ReplaceAt(off, len(sub), with)
}

// ReplaceAt replaces n bytes at offset off with the given bytes.
func (m *Msg) ReplaceAt(off, n int, with []byte) error {
	if off < 0 || n < 0 || off+n > len(m.buf) {
		return errors.New("sip: replace: out of the message")
	}
	return m.add(editPlain, off, n, 1, with)
}

// RemoveURIParam removes the first ;name[=value] (name compared without
// case) from u, a URI parsed from the message; nothing when u has none.
func (m *Msg) RemoveURIParam(u *URI, name string) error {
	ps := NewParams(u.Params)
	for {
		n, v, ok := ps.Next()
		if !ok {
			return nil
		}
		if !bytes.EqualFold(n, []byte(name)) {
			continue
		}
		start := m.Offset(n)
		if start < 0 {
			return errors.New("sip: remove parameter: the URI is not a part of the message")
		}
		for start > 0 && m.buf[start] != ';' {
			start--
		}
		end := m.Offset(n) + len(n)
		if len(v) > 0 {
			end = m.Offset(v) + len(v)
		}
		return m.ReplaceAt(start, end-start, nil)
	}
}
