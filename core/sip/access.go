package sip

import "errors"

// Accessors. Every []byte returned is a view into the parsed buffer, valid
// until the next Parse; do not append to it.

// Bytes returns the message as framed (start line to end of body).
func (m *Msg) Bytes() []byte { return m.buf }

// IsRequest reports whether the message is a request.
func (m *Msg) IsRequest() bool { return m.request }

// Method returns the request method (MethodOther for an extension method
// and for responses; use CSeqMethod for those).
func (m *Msg) Method() Method { return m.method }

// MethodName returns the request method as written.
func (m *Msg) MethodName() []byte { return m.bytes(m.methodName) }

// RURIText returns the request URI as written.
func (m *Msg) RURIText() []byte { return m.bytes(m.ruri) }

// RURI returns the request URI, parsed with the message; an error for a
// response.
func (m *Msg) RURI() (*URI, error) {
	if !m.request {
		return nil, errNotRequest
	}
	if m.http {
		return nil, errHTTP
	}
	return &m.ruriURI, nil
}

var errHTTP = errors.New("sip: an HTTP request has no SIP URI")

// IsHTTP reports whether the message is an HTTP/1.x request (received on
// a SIP stream, for the xhttp module): only its start line, header fields
// and body are read; the request URI is its path (RURIText).
func (m *Msg) IsHTTP() bool { return m.http }

// Version returns "SIP/2.0" as written.
func (m *Msg) Version() []byte { return m.bytes(m.version) }

// StatusCode returns a response's status code, 0 for a request.
func (m *Msg) StatusCode() int { return m.code }

// Reason returns a response's reason phrase.
func (m *Msg) Reason() []byte { return m.bytes(m.reason) }

// NumHeaders returns how many header fields the message has.
func (m *Msg) NumHeaders() int { return m.nhdrs }

// Header returns header field i (0 ≤ i < NumHeaders) in message order.
func (m *Msg) Header(i int) Header {
	h := &m.hdrs[i]
	return Header{Type: h.typ, Name: m.bytes(h.name), Value: m.bytes(h.value)}
}

// Has reports whether a header of type t is present.
func (m *Msg) Has(t HdrType) bool { return t != HdrOther && m.seen&(1<<t) != 0 }

// Get returns the value of the first header of type t.
func (m *Msg) Get(t HdrType) ([]byte, bool) {
	if !m.Has(t) {
		return nil, false
	}
	return m.value(int(m.first[t])), true
}

// NextHeader returns the index of the next header field of type t after
// index after (-1 to start), or -1.
func (m *Msg) NextHeader(t HdrType, after int) int {
	if !m.Has(t) {
		return -1
	}
	i := after + 1
	if f := int(m.first[t]); i < f {
		i = f
	}
	for ; i < m.nhdrs; i++ {
		if m.hdrs[i].typ == t {
			return i
		}
	}
	return -1
}

// NextHeaderNamed returns the index of the next header field named name
// (case-insensitively, compact forms matching their long names) after
// index after, or -1.
func (m *Msg) NextHeaderNamed(name []byte, after int) int {
	if t := ClassifyHeader(name); t != HdrOther {
		return m.NextHeader(t, after)
	}
	for i := after + 1; i < m.nhdrs; i++ {
		if h := &m.hdrs[i]; h.typ == HdrOther && EqualFold(m.bytes(h.name), name) {
			return i
		}
	}
	return -1
}

// Body returns the body, bounded by Content-Length.
func (m *Msg) Body() []byte { return m.bytes(m.body) }

// ContentLength returns the Content-Length value, -1 when absent.
func (m *Msg) ContentLength() int { return m.contLen }

// Discarded returns how many bytes followed the body in the datagram.
func (m *Msg) Discarded() int { return m.extra }

// ContentType returns the Content-Type value.
func (m *Msg) ContentType() []byte { v, _ := m.Get(HdrContentType); return v }

// TopVia returns the topmost via-parm. It is nil only when Parse failed
// before reading it.
func (m *Msg) TopVia() *Via {
	if m.via1Hdr < 0 {
		return nil
	}
	return &m.via1
}

// From returns the From header. It, To, Call-ID and the CSeq accessors
// are valid after a successful Parse, or after a failed one that CanReply.
func (m *Msg) From() *NameAddr { return &m.from }

// To returns the To header.
func (m *Msg) To() *NameAddr { return &m.to }

// CallID returns the Call-ID value.
func (m *Msg) CallID() []byte { return m.callID }

// CSeq returns the CSeq number.
func (m *Msg) CSeq() uint32 { return m.cseq }

// CSeqMethod returns the CSeq method.
func (m *Msg) CSeqMethod() Method { return m.cseqMeth }

// CSeqMethodName returns the CSeq method as written.
func (m *Msg) CSeqMethodName() []byte { return m.cseqMName }

// MaxForwards returns the Max-Forwards value, -1 when absent.
func (m *Msg) MaxForwards() int { return m.maxFwd }

// Expires returns the Expires header's value in seconds, -1 when absent or
// not a number.
func (m *Msg) Expires() int {
	if m.cached&cachedExpires == 0 {
		m.expires = -1
		if v, ok := m.Get(HdrExpires); ok {
			if n, ok := parseUint(v, 1<<32-1); ok {
				m.expires = int(n)
			}
		}
		m.cached |= cachedExpires
	}
	return m.expires
}

// UserAgent returns the User-Agent value.
func (m *Msg) UserAgent() []byte { v, _ := m.Get(HdrUserAgent); return v }

// Event returns the event package of the Event header and its parameters.
func (m *Msg) Event() (pkg, params []byte) {
	v, ok := m.Get(HdrEvent)
	if !ok {
		return nil, nil
	}
	e := scanToken(v, 0)
	return v[:e], trimLWS(v[e:])
}

// Contact returns the first Contact, parsed on first call; nil when there
// is none.
func (m *Msg) Contact() (*Contact, error) {
	if m.cached&cachedContact == 0 {
		m.cached |= cachedContact
		it := m.Contacts()
		m.contactOK = it.Next(&m.contact)
		if it.Err() != nil {
			return nil, it.Err()
		}
	}
	if !m.contactOK {
		return nil, nil
	}
	return &m.contact, nil
}

// digest kinds cached on the message
var digestHdrs = [4]HdrType{HdrAuthorization, HdrProxyAuthorization, HdrWWWAuthenticate, HdrProxyAuthenticate}

func (m *Msg) digest(k int) (*Digest, error) {
	bit := uint32(cachedAuth) << k
	if m.cached&bit == 0 {
		m.cached |= bit
		m.auth[k], m.authErr[k] = Digest{}, nil
		if v, ok := m.Get(digestHdrs[k]); ok {
			m.authErr[k] = wrapHdr(digestHdrs[k], ParseDigest(v, &m.auth[k]))
		}
	}
	if m.authErr[k] != nil {
		return nil, m.authErr[k]
	}
	if m.auth[k].Scheme == nil {
		return nil, nil
	}
	return &m.auth[k], nil
}

// Authorization returns the first Authorization header's credentials
// (nil when absent). Use DigestFor to pick one by realm.
func (m *Msg) Authorization() (*Digest, error) { return m.digest(0) }

// ProxyAuthorization is Authorization for Proxy-Authorization.
func (m *Msg) ProxyAuthorization() (*Digest, error) { return m.digest(1) }

// WWWAuthenticate returns the first WWW-Authenticate challenge.
func (m *Msg) WWWAuthenticate() (*Digest, error) { return m.digest(2) }

// ProxyAuthenticate returns the first Proxy-Authenticate challenge.
func (m *Msg) ProxyAuthenticate() (*Digest, error) { return m.digest(3) }

// DigestFor parses into d the first header of type t whose realm is realm
// (case-sensitively, as RFC 2617 compares realms) and returns its index for
// Header and RemoveHeader; -1 when no header has it. An empty realm takes
// the first header.
func (m *Msg) DigestFor(t HdrType, realm []byte, d *Digest) (int, error) {
	for i := m.NextHeader(t, -1); i >= 0; i = m.NextHeader(t, i) {
		if err := ParseDigest(m.value(i), d); err != nil {
			return -1, wrapHdr(t, err)
		}
		if len(realm) == 0 || string(d.Realm) == string(realm) {
			return i, nil
		}
	}
	return -1, nil
}

// ListIter walks the elements of a list header (Via, Contact, Route,
// Record-Route, Path, Allow, Supported, ...) across all its fields, split
// on commas outside quotes and angle brackets. Empty elements are skipped.
type ListIter struct {
	m   *Msg
	t   HdrType
	h   int    // the header field being walked
	v   []byte // its value
	i   int    // the position in v
	err error
}

// List returns an iterator over the elements of headers of type t.
func (m *Msg) List(t HdrType) ListIter { return ListIter{m: m, t: t, h: -1} }

// nextStart moves to the start of the next element, past commas and white
// space, on to the next header field as needed; false at the end.
func (it *ListIter) nextStart() bool {
	if it.err != nil {
		return false
	}
	for {
		if it.i >= len(it.v) {
			it.h = it.m.NextHeader(it.t, it.h)
			if it.h < 0 {
				return false
			}
			it.v, it.i = it.m.value(it.h), 0
		}
		for it.i < len(it.v) && (it.v[it.i] == ',' || isLWS(it.v[it.i])) {
			it.i++
		}
		if it.i < len(it.v) {
			return true
		}
	}
}

// Next returns the next element; false at the end or on error.
func (it *ListIter) Next() ([]byte, bool) {
	if !it.nextStart() {
		return nil, false
	}
	// a plain token (Allow, Supported, ...) needs no quote or bracket check
	v, i := it.v, it.i
	if e := scanWhile(v, i, cToken); e > i {
		k := e
		for k < len(v) && (v[k] == ' ' || v[k] == '\t') {
			k++
		}
		if k == len(v) || v[k] == ',' {
			it.i = k
			return v[i:e], true
		}
	}
	e, ok := nextElement(it.v, it.i)
	if !ok {
		it.err = headerError(hdrNames[it.t] + ": unbalanced quote or bracket")
		return nil, false
	}
	el := trimLWSRight(it.v[it.i:e])
	it.i = e
	return el, true
}

// Err returns the error that stopped the iteration, if any.
func (it *ListIter) Err() error { return it.err }

// Header returns the index of the header field the last element came from.
func (it *ListIter) Header() int { return it.h }

// ViaIter walks every via-parm, top first.
type ViaIter struct{ ListIter }

// Vias returns an iterator over all via-parms.
func (m *Msg) Vias() ViaIter { return ViaIter{m.List(HdrVia)} }

// HasVia2 reports a second via-parm, in the top Via header or another:
// the message has passed a proxy (Kamailio's msg->via2).
func (m *Msg) HasVia2() bool {
	it := m.Vias()
	var v Via
	n := 0
	for n < 2 && it.Next(&v) {
		n++
	}
	return n == 2
}

// Next parses the next via-parm into v. The top one was parsed with the
// message and is copied.
func (it *ViaIter) Next(v *Via) bool {
	m := it.m
	if it.h < 0 && m.via1Hdr >= 0 && it.err == nil {
		*v = m.via1
		it.h = m.via1Hdr
		it.v = m.value(it.h)
		it.i = int(m.via1Elem.e - m.hdrs[it.h].value.s)
		return true
	}
	if !it.nextStart() {
		return false
	}
	n, err := parseVia(it.v[it.i:], v)
	if err != nil {
		it.err = wrapHdr(HdrVia, err)
		return false
	}
	it.i += n
	return true
}

// AddrIter walks name-addr list headers: Route, Record-Route, Path, ...
type AddrIter struct{ ListIter }

// Addrs returns an iterator over the addresses in headers of type t.
func (m *Msg) Addrs(t HdrType) AddrIter { return AddrIter{m.List(t)} }

// Next parses the next address into na.
func (it *AddrIter) Next(na *NameAddr) bool {
	if !it.nextStart() {
		return false
	}
	n, err := parseNameAddr(it.v[it.i:], na)
	if err != nil {
		it.err = wrapHdr(it.t, err)
		return false
	}
	it.i += n
	return true
}

// ContactIter walks the Contact values; "*" comes back with Star set.
type ContactIter struct{ AddrIter }

// Contacts returns an iterator over all Contact values.
func (m *Msg) Contacts() ContactIter { return ContactIter{m.Addrs(HdrContact)} }

// Next parses the next Contact into c.
func (it *ContactIter) Next(c *Contact) bool {
	if !it.nextStart() {
		return false
	}
	if rest := it.v[it.i:]; rest[0] == '*' {
		if k := skipLWS(rest, 1); k == len(rest) || rest[k] == ',' {
			*c = Contact{Star: true, Expires: -1, Q: -1}
			it.i += k
			return true
		}
	}
	if !it.AddrIter.Next(&c.NameAddr) {
		return false
	}
	if err := c.readParams(); err != nil {
		it.err = wrapHdr(HdrContact, err)
		return false
	}
	return true
}

// HasToken reports whether a token list header (Allow, Supported, Require,
// Proxy-Require, ...) holds tok, case-insensitively.
func (m *Msg) HasToken(t HdrType, tok string) bool {
	it := m.List(t)
	for {
		el, ok := it.Next()
		if !ok {
			return false
		}
		if equalFold(el, tok) {
			return true
		}
	}
}

// HeaderSpan is where header field i (0 ≤ i < NumHeaders) lies in the
// message: its offset and length, from its name to the end of its last
// line, the line end included.
func (m *Msg) HeaderSpan(i int) (off, n int) {
	h := &m.hdrs[i]
	return int(h.name.s), int(h.next - h.name.s)
}

// HeadersEnd is the offset of the empty line that ends the headers.
func (m *Msg) HeadersEnd() int { return m.hdrsEnd }
