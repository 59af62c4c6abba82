package uac

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/rr"
)

// Restore modes (restore_mode).
const (
	restoreNone = iota
	restoreManual
	restoreAuto
)

// reqState is what uac keeps on a request: which of From and To it
// replaced or restored (Kamailio's FL_USE_UAC_FROM/TO) and their original
// text up to the URI's end (and its '>'), which replies to the request get
// back. It goes with the request into its transaction.
type reqState struct {
	from, to         bool
	fromOrig, toOrig []byte
}

var state = router.NewSlot[reqState]()

var _ router.Carrier = (*reqState)(nil)

func (s *reqState) Reset() {
	s.from, s.to = false, false
	s.fromOrig, s.toOrig = s.fromOrig[:0], s.toOrig[:0]
}

// AppendCarried writes the flags and the two originals (16-bit lengths);
// nothing when neither header was touched.
func (s *reqState) AppendCarried(dst []byte) []byte {
	if !s.from && !s.to {
		return dst
	}
	var f byte
	if s.from {
		f |= 1
	}
	if s.to {
		f |= 2
	}
	dst = append(dst, f)
	for _, b := range [...][]byte{s.fromOrig, s.toOrig} {
		dst = append(append(dst, byte(len(b)>>8), byte(len(b))), b...)
	}
	return dst
}

func (s *reqState) RestoreCarried(b []byte) {
	s.Reset()
	if len(b) == 0 {
		return
	}
	s.from, s.to, b = b[0]&1 != 0, b[0]&2 != 0, b[1:]
	for _, f := range [...]*[]byte{&s.fromOrig, &s.toOrig} {
		if len(b) < 2 {
			return
		}
		n := int(b[0])<<8 | int(b[1])
		if 2+n > len(b) {
			return
		}
		*f, b = append((*f)[:0], b[2:2+n]...), b[2+n:]
	}
}

// addr is a From or To header of a message, taken apart.
type addr struct {
	hdr   int    // its index
	value []byte // its value, in the message's buffer
	na    sip.NameAddr
	// head is the value before the URI (display, '<'), uriEnd the end
	// of the URI in value, bodyEnd past the spaces and '>' after it.
	uriStart, uriEnd, bodyEnd int
}

func headerAddr(m *sip.Msg, t sip.HdrType) (*addr, error) {
	i := m.NextHeader(t, -1)
	if i < 0 {
		return nil, errors.New("no " + t.String() + " header")
	}
	a := &addr{hdr: i, value: m.Header(i).Value}
	if err := sip.ParseNameAddr(a.value, &a.na); err != nil {
		return nil, err
	}
	a.uriStart = cap(a.value) - cap(a.na.URI.Raw)
	a.uriEnd = a.uriStart + len(a.na.URI.Raw)
	if a.uriStart < 0 || a.uriEnd > len(a.value) {
		return nil, errors.New("cannot find the URI in " + t.String())
	}
	e := a.uriEnd
	for e < len(a.value) && (a.value[e] == ' ' || a.value[e] == '\t') {
		e++
	}
	if e < len(a.value) && a.value[e] == '>' {
		a.bodyEnd = e + 1
	} else {
		a.bodyEnd = a.uriEnd
	}
	return a, nil
}

// quoted reports whether the URI is in angle brackets, and where '<' is.
func (a *addr) quoted() (int, bool) {
	lt := bytes.LastIndexByte(a.value[:a.uriStart], '<')
	return lt, lt >= 0
}

// replace is replace_uri: the display name (dsp nil: untouched, "":
// removed) and the URI (uri "": untouched) of From (from) or To, and with
// a restore mode the original kept: in a Record-Route parameter for the
// dialog's later requests, and for the replies, which get it back.
func (m *Module) replace(c *router.Ctx, from bool, dsp *string, uri string) int {
	return m.replaceAddr(c, from, dsp, uri, false)
}

// Replace is uac's API for pv_headers (Kamailio's replace_from and
// replace_to with pv_headers' display removal): From (from) or To gets
// display and uri ("": kept); an empty display removes the one there
// with the space after it.
func (m *Module) Replace(c *router.Ctx, from bool, display, uri string) int {
	return m.replaceAddr(c, from, &display, uri, display == "")
}

func (m *Module) replaceAddr(c *router.Ctx, from bool, dsp *string, uri string, dropSpace bool) int {
	t, name, param := sip.HdrTo, "to", m.rrTo
	if from {
		t, name, param = sip.HdrFrom, "from", m.rrFrom
	}
	st := state.Of(c)
	if c.Kind == router.RouteRequest && (from && st.from || !from && st.to) {
		c.Log().Error("uac: called uac_replace_"+name+"() multiple times on the message", "route", c.Route)
		return -1
	}
	if m.restoreMode == restoreAuto && uri != "" && len(c.Msg.To().Tag) != 0 {
		c.Log().Error("uac: decline "+name+" replacing in sequential request in auto mode (has TO tag)", "route", c.Route)
		return -1
	}
	a, err := headerAddr(c.Msg, t)
	if err != nil {
		c.Log().Error("uac: failed to find/parse "+name+" hdr: "+err.Error(), "route", c.Route)
		return -1
	}
	orig := a.value[:a.bodyEnd]
	if m.restoreAVP(from) != "" {
		c.AddAVP(m.restoreAVP(from), router.StrValue(string(orig)))
	}
	oldURI := a.na.URI.Raw
	// The new text from the value's start to the URI's end.
	var head []byte
	tail := ""
	switch lt, q := a.quoted(); {
	case dsp == nil:
		head = a.value[:a.uriStart]
	case q:
		d := bytes.TrimSpace(a.value[:lt])
		if len(d) > 0 { // the old display goes, the new one in its place
			ds := cap(a.value) - cap(d)
			rest := ds + len(d)
			if dropSpace && rest < lt && a.value[rest] == ' ' {
				rest++
			}
			head = append(append(append(head, a.value[:ds]...), *dsp...), a.value[rest:a.uriStart]...)
		} else if *dsp != "" {
			head = append(append(append(head, a.value[:lt]...), *dsp+" "...), a.value[lt:a.uriStart]...)
		} else {
			head = a.value[:a.uriStart]
		}
	case *dsp != "":
		head = append(append(head, a.value[:a.uriStart]...), *dsp+" <"...)
		tail = ">"
	default:
		head = a.value[:a.uriStart]
	}
	newURI := oldURI
	if uri != "" {
		newURI = []byte(uri)
	}
	if dsp != nil || uri != "" {
		text := append(append(append([]byte{}, head...), newURI...), tail...)
		if err := c.Msg.Replace(a.value[:a.uriEnd], text); err != nil {
			c.Log().Error("uac: replace_"+name+": "+err.Error(), "route", c.Route)
			return -1
		}
	}
	if uri == "" || m.restoreMode == restoreNone {
		return 1
	}
	if m.rr == nil || !m.rr.AppendFromTag() {
		c.Log().Error("uac: 'append_fromtag' RR param is not enabled! - required by AUTO restore mode", "route", c.Route)
		return -1
	}
	rr.AddParam(c, ";"+param+"="+m.encode(oldURI, newURI))
	if from {
		st.from, st.fromOrig = true, append(st.fromOrig[:0], orig...)
	} else {
		st.to, st.toOrig = true, append(st.toOrig[:0], orig...)
	}
	return 1
}

func (m *Module) restoreAVP(from bool) string {
	if from {
		return m.restoreFromAVP
	}
	return m.restoreToAVP
}

// encode is the Record-Route parameter of a replacement: the old and the
// new URI xor'ed (the longer one's tail as it is), xor'ed with
// restore_passwd, in Kamailio's base64 with '-' for padding.
func (m *Module) encode(oldURI, newURI []byte) string {
	long, short := oldURI, newURI
	if len(newURI) >= len(oldURI) {
		long, short = newURI, oldURI
	}
	buf := append([]byte{}, long...)
	for i := range short {
		buf[i] ^= short[i]
	}
	m.xorPasswd(buf)
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	out := make([]byte, 0, (len(buf)+2)/3*4)
	for i := 0; i < len(buf); i += 3 {
		left := min(len(buf)-i-1, 2)
		block := 0
		for j, r := 0, 16; j <= left; j, r = j+1, r-8 {
			block += int(buf[i+j]) << r
		}
		out = append(out, enc[block>>18&0x3f], enc[block>>12&0x3f])
		if left > 0 {
			out = append(out, enc[block>>6&0x3f])
		} else {
			out = append(out, '-')
		}
		if left > 1 {
			out = append(out, enc[block&0x3f])
		} else {
			out = append(out, '-')
		}
	}
	return string(out)
}

func (m *Module) xorPasswd(b []byte) {
	if p := m.passwd; p != "" {
		for i := range b {
			b[i] ^= p[i%len(p)]
		}
	}
}

// decode reverses encode's base64; nil for a string that is not one.
func decode(s []byte) []byte {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '-'; i-- {
		n++
	}
	size := len(s)*6/8 - n
	if len(s) == 0 || size <= 0 {
		return nil
	}
	val := func(c byte) int {
		switch {
		case c >= 'A' && c <= 'Z':
			return int(c - 'A')
		case c >= 'a' && c <= 'z':
			return int(c-'a') + 26
		case c >= '0' && c <= '9':
			return int(c-'0') + 52
		case c == '+':
			return 62
		case c == '/':
			return 63
		}
		return -1
	}
	out := make([]byte, size)
	end := len(s) - n
	for i, idx := 0, 0; i < end; idx += 3 {
		block := 0
		for j := 0; j < 4 && i < end; j++ {
			v := val(s[i])
			i++
			if v < 0 {
				return nil
			}
			block += v << (18 - 6*j)
		}
		for j, r := 0, 16; j < 3 && idx+j < size; j, r = j+1, r-8 {
			out[idx+j] = byte(block >> r)
		}
	}
	return out
}

// restore is restore_uri: when the Route loose_route took has the
// parameter (vsf for From, vst for To), the header it names in this
// direction gets its URI back; 1 restored, -1 not.
func (m *Module) restore(c *router.Ctx, fromParam bool) int {
	param := m.rrTo
	if fromParam {
		param = m.rrFrom
	}
	val, ok := rr.RouteParam(c, param)
	if !ok {
		return -1
	}
	enc := decode(val)
	if enc == nil {
		c.Log().Error("uac: failed to decode uri", "route", c.Route)
		return -1
	}
	rr.AddParam(c, ";"+param+"="+string(val))
	m.xorPasswd(enc)
	down, _ := rr.Downstream(c)
	from := !(fromParam && !down || !fromParam && down)
	t := sip.HdrTo
	if from {
		t = sip.HdrFrom
	}
	a, err := headerAddr(c.Msg, t)
	if err != nil {
		c.Log().Error("uac: failed to find/parse "+t.String()+" hdr", "route", c.Route)
		return -1
	}
	old := a.na.URI.Raw
	if len(enc) < len(old) {
		c.Log().Error("uac: new URI ["+string(enc)+"] shorter than old URI ["+string(old)+"]", "route", c.Route)
		return -1
	}
	for i := range old {
		enc[i] ^= old[i]
		if enc[i] == 0 {
			enc = enc[:i]
			break
		}
	}
	if len(enc) == 0 {
		c.Log().Error("uac: new URI got 0 len", "route", c.Route)
		return -1
	}
	for i, ch := range enc {
		if ch < 0x20 || ch > 0x7e {
			c.Log().Warn("uac: invalid char found in the new uri at pos "+strconv.Itoa(i)+" - skipping the update (URI values altered by an end point?)", "route", c.Route)
			return -1
		}
	}
	orig := a.value[:a.bodyEnd]
	if m.restoreAVP(from) != "" {
		c.AddAVP(m.restoreAVP(from), router.StrValue(string(orig)))
	}
	if err := c.Msg.Replace(old, enc); err != nil {
		return -1
	}
	st := state.Of(c)
	if from {
		st.from, st.fromOrig = true, append(st.fromOrig[:0], orig...)
	} else {
		st.to, st.toOrig = true, append(st.toOrig[:0], orig...)
	}
	return 1
}

// onLooseRoute is the auto mode's rr callback: both headers restored
// when their parameters are there.
func (m *Module) onLooseRoute(c *router.Ctx, _ []byte) {
	m.restore(c, true)
	m.restore(c, false)
}

// onReply puts the original From and To of the request into a reply
// received for it: the text up to the URI's end (and '>') replaced, the
// tag kept.
func (m *Module) onReply(c *router.Ctx, carried []byte) {
	kept := state.Carried(carried)
	if len(kept) == 0 {
		return
	}
	var st reqState
	st.RestoreCarried(kept)
	for _, h := range [...]struct {
		on   bool
		t    sip.HdrType
		orig []byte
	}{{st.from, sip.HdrFrom, st.fromOrig}, {st.to, sip.HdrTo, st.toOrig}} {
		if !h.on || len(h.orig) == 0 {
			continue
		}
		a, err := headerAddr(c.Msg, h.t)
		if err != nil {
			c.Log().Error("uac: failed to find/parse " + h.t.String() + " hdr in a reply")
			continue
		}
		if err := c.Msg.Replace(a.value[:a.bodyEnd], h.orig); err != nil {
			c.Log().Error("uac: failed to restore " + h.t.String() + ": " + err.Error())
		}
	}
}
