// Package sip parses and builds SIP messages without allocating: a Msg is a
// view over the receive buffer, its headers byte ranges in a fixed array,
// their structured values parsed on first access and cached on the Msg.
package sip

import "bytes"

// Limits protect the proxy from messages that would make it grow without
// bound. Past one of them Parse returns an error. A zero field takes its
// default.
type Limits struct {
	MaxMsgSize   int // bytes in one message
	MaxHeaders   int // header fields, at most MaxHeaders
	MaxHeaderLen int // bytes in one header field, name and folded lines included
}

// MaxHeaders is the size of a message's header index; Limits.MaxHeaders
// can only lower it.
const MaxHeaders = 128

// DefaultLimits are those of a Msg whose Limits are zero: Kamailio's
// buffer (BUF_SIZE, 65 535 bytes) and no limit of one header's own below
// it (Kamailio answers a datagram with a 60 KB header field; so do we).
var DefaultLimits = Limits{MaxMsgSize: 65535, MaxHeaders: MaxHeaders, MaxHeaderLen: 65535}

// span is a byte range [s, e) of the message buffer.
type span struct{ s, e uint32 }

// hdr indexes one header field. It holds no pointers, so the garbage
// collector never scans the index.
type hdr struct {
	typ   HdrType
	name  span // starts the field's first line
	value span
	next  uint32 // byte offset of the line after the field (folds included)
}

// Header is one header field as the caller sees it.
type Header struct {
	Type  HdrType
	Name  []byte
	Value []byte
}

// the headers that may appear once only; a second one is an error, like
// Kamailio's strict parsing, because a proxy that picked either could be
// steered past its own checks.
const singleHdrs = 1<<HdrFrom | 1<<HdrTo | 1<<HdrCallID | 1<<HdrCSeq | 1<<HdrContentLength | 1<<HdrMaxForwards

const mandatoryHdrs = 1<<HdrVia | 1<<HdrFrom | 1<<HdrTo | 1<<HdrCallID | 1<<HdrCSeq

// error texts made once, so that reporting them does not allocate
var dupMsg, missingMsg [hdrTypeCount]string

func init() {
	for t := HdrType(1); t < hdrTypeCount; t++ {
		dupMsg[t] = "duplicate " + hdrNames[t] + " header"
		missingMsg[t] = "missing " + hdrNames[t] + " header"
	}
}

// lazy-cache bits
const (
	cachedExpires = 1 << iota
	cachedAuth
	cachedProxyAuth
	cachedWWWAuth
	cachedProxyAuthn
	cachedContact
)

// Msg is a parsed SIP request or response. It refers to the buffer given to
// Parse and is valid until the next Parse; reuse one Msg per worker.
type Msg struct {
	Limits Limits

	buf     []byte // the message as framed: start line to end of body
	request bool

	method     Method
	methodName span
	ruri       span
	version    span
	code       int
	reason     span

	hdrs    [MaxHeaders]hdr
	nhdrs   int
	first   [hdrTypeCount]uint8 // index of the first field of each type seen
	seen    uint64              // bit t set when a header of type t is present
	hdrsEnd int                 // offset of the empty line ending the headers
	body    span
	extra   int // bytes after the body in the datagram, discarded

	// eagerly parsed: what transaction matching needs
	via1      Via
	via1Hdr   int  // index of the header field holding the top Via
	via1Elem  span // the top via-parm's range, commas excluded
	via1Alone bool // the header field holds no other via-parm
	from, to  NameAddr
	callID    []byte
	cseq      uint32
	cseqMeth  Method
	cseqMName []byte
	maxFwd    int // -1 when absent
	contLen   int // -1 when absent
	replyable bool

	// parsed on first access
	cached    uint32
	ruriURI   URI
	expires   int
	contact   Contact
	contactOK bool
	http      bool // an HTTP/1.x request (IsHTTP)
	auth      [4]Digest
	authErr   [4]error

	edits edits
	err   ParseError
}

// fail records a parse error on the message and returns it; the error
// lives in the Msg so that rejecting a flood of bad datagrams does not
// allocate either.
func (m *Msg) fail(kind ErrKind, line int, h HdrType, what string) error {
	m.err = ParseError{Kind: kind, Line: line, Header: h, What: what}
	return &m.err
}

// limits returns the Limits in force: each zero field takes its default.
func (m *Msg) limits() Limits {
	l := m.Limits
	if l.MaxMsgSize <= 0 {
		l.MaxMsgSize = DefaultLimits.MaxMsgSize
	}
	if l.MaxHeaders <= 0 || l.MaxHeaders > MaxHeaders {
		l.MaxHeaders = MaxHeaders
	}
	if l.MaxHeaderLen <= 0 {
		l.MaxHeaderLen = DefaultLimits.MaxHeaderLen
	}
	return l
}

// Parse parses one message from a datagram. Bytes after Content-Length are
// discarded (RFC 3261 §18.3); with no Content-Length the body is the rest of
// the datagram. Leading CRLFs (keepalives) are skipped. On error the Msg
// keeps what was read so far: the transport may still answer 400 through
// TopVia.
func (m *Msg) Parse(b []byte) error {
	m.reset()
	lim := m.limits()
	if len(b) > lim.MaxMsgSize {
		return m.fail(ErrTooLarge, 0, HdrOther, "message larger than the size limit")
	}
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if len(b) == 0 {
		return m.fail(ErrIncomplete, 0, HdrOther, "empty message")
	}
	m.buf = b
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return m.fail(ErrIncomplete, 1, HdrOther, "start line not terminated")
	}
	// A request whose request URI or SIP version is bad is read on, so
	// that it can get its 400 or 505 (RFC 4475 3.1.2.7, 3.1.2.8,
	// 3.1.2.16): the error is returned once the fields a reply copies are
	// known. Any other bad start line ends the parse.
	var startErr ParseError
	if err := m.parseStartLine(trimCR(b[:nl])); err != nil {
		if !m.request || m.methodName.e == 0 {
			return err
		}
		startErr = m.err
	}
	if err := m.indexHeaders(nl+1, &lim); err != nil {
		// A broken header field after those a reply copies still
		// leaves the request answerable.
		perr := m.err
		if m.request && !m.http {
			m.replyable = m.parseEssentials() == nil
		}
		if startErr.Kind != 0 {
			perr = startErr
		}
		m.err = perr
		return &m.err
	}
	if !m.http {
		err := m.parseEssentials()
		m.replyable = err == nil
		if err != nil {
			if startErr.Kind != 0 {
				m.err = startErr
			}
			return &m.err
		}
		if startErr.Kind != 0 {
			m.err = startErr
			return &m.err
		}
		if err := m.parseRest(); err != nil {
			return err
		}
	}
	return m.frameBody()
}

// CanReply reports whether the message, even one that failed to parse,
// has what a reply copies: top Via, From, To, Call-ID and CSeq. A request
// with a bad Content-Length, Max-Forwards or request URI can get its 400.
func (m *Msg) CanReply() bool { return m.replyable }

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

func (m *Msg) reset() {
	m.buf = nil
	m.request = false
	m.method = MethodOther
	m.methodName, m.ruri, m.version, m.reason = span{}, span{}, span{}, span{}
	m.code = 0
	m.nhdrs = 0
	m.seen = 0
	m.hdrsEnd = 0
	m.body = span{}
	m.extra = 0
	m.via1Hdr = -1
	m.callID = nil
	m.cseq, m.cseqMeth, m.cseqMName = 0, MethodOther, nil
	m.maxFwd, m.contLen = -1, -1
	m.cached = 0
	m.replyable = false
	m.contactOK = false
	m.http = false
	m.edits.reset()
}

func (m *Msg) parseStartLine(line []byte) error {
	if bytes.IndexByte(line, 0) >= 0 {
		return m.fail(ErrMalformed, 1, HdrOther, "NUL byte in start line")
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return m.fail(ErrMalformed, 1, HdrOther, "bad start line")
	}
	if bytes.HasPrefix(line, []byte("SIP/")) {
		return m.parseStatusLine(line, sp1)
	}
	m.request = true
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 == sp1 {
		return m.fail(ErrMalformed, 1, HdrOther, "bad request line")
	}
	meth, uri, ver := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !isToken(meth) {
		return m.fail(ErrMalformed, 1, HdrOther, "bad method")
	}
	m.methodName = m.span(meth)
	m.method = ParseMethod(meth)
	m.ruri = m.span(uri)
	m.version = m.span(ver)
	// a request URI is one token: LWS inside it, or <>, makes it invalid
	if len(uri) == 0 || bytes.IndexByte(uri, ' ') >= 0 || bytes.IndexByte(uri, '\t') >= 0 {
		return m.fail(ErrMalformed, 1, HdrOther, "bad request URI")
	}
	if equalFold(ver, "HTTP/1.1") || equalFold(ver, "HTTP/1.0") {
		// An HTTP request on a SIP stream, for the xhttp module, as
		// Kamailio's parser takes it: the start line and header fields.
		m.http = true
		return nil
	}
	return m.checkVersion(ver)
}

func (m *Msg) checkVersion(ver []byte) error {
	if len(ver) < 5 || !equalFold(ver[:4], "sip/") {
		return m.fail(ErrMalformed, 1, HdrOther, "bad SIP version")
	}
	if string(ver[4:]) != "2.0" {
		return m.fail(ErrVersion, 1, HdrOther, "unsupported SIP version")
	}
	return nil
}

func (m *Msg) parseStatusLine(line []byte, sp1 int) error {
	ver := line[:sp1]
	m.version = m.span(ver)
	if err := m.checkVersion(ver); err != nil {
		return err
	}
	rest := line[sp1+1:]
	if len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return m.fail(ErrMalformed, 1, HdrOther, "bad status code")
	}
	code, ok := parseUint(rest[:3], 999)
	if !ok || code < 100 {
		return m.fail(ErrMalformed, 1, HdrOther, "bad status code")
	}
	m.code = int(code)
	if len(rest) > 4 {
		m.reason = m.span(rest[4:])
	} else {
		m.reason = m.span(rest[3:])
	}
	return nil
}

// span returns the range of sub, a view into m.buf.
func (m *Msg) span(sub []byte) span {
	s := cap(m.buf) - cap(sub)
	return span{uint32(s), uint32(s + len(sub))}
}

// bytes returns the view of s. Views keep the buffer's capacity so that
// span can map them back; callers must not append to them.
func (m *Msg) bytes(s span) []byte { return m.buf[s.s:s.e] }

// indexHeaders records every header field in one pass, up to the empty
// line. Folded lines extend the field in place.
func (m *Msg) indexHeaders(pos int, lim *Limits) error {
	b := m.buf
	line := 2
	maxHdrs := lim.MaxHeaders
	nul := indexByteFrom(b, pos, 0) // checked line by line only when there is one
	for {
		nl := -1
		if pos < len(b) {
			nl = bytes.IndexByte(b[pos:], '\n')
		}
		if nl < 0 {
			return m.fail(ErrIncomplete, line, HdrOther, "headers not terminated by an empty line")
		}
		end := pos + nl
		le := end
		if le > pos && b[le-1] == '\r' {
			le--
		}
		if le == pos {
			m.hdrsEnd = pos
			m.body.s = uint32(end + 1)
			return nil
		}
		if nul >= 0 && nul < le {
			if hasBareNUL(b[pos:le]) {
				return m.fail(ErrMalformed, line, HdrOther, "NUL byte in header")
			}
			nul = indexByteFrom(b, le, 0)
		}
		if c := b[pos]; c == ' ' || c == '\t' {
			if err := m.foldLine(pos, le, end, line, lim); err != nil {
				return err
			}
		} else if err := m.addHeader(pos, le, end, line, maxHdrs, lim); err != nil {
			return err
		}
		line++
		pos = end + 1
	}
}

// foldLine extends the last header field with a continuation line.
func (m *Msg) foldLine(pos, le, end, line int, lim *Limits) error {
	if m.nhdrs == 0 {
		return m.fail(ErrMalformed, line, HdrOther, "continuation line before the first header")
	}
	h := &m.hdrs[m.nhdrs-1]
	text := m.buf[pos:le]
	if v := trimLWS(text); len(v) > 0 {
		vs := uint32(cap(m.buf) - cap(v))
		if h.value.s == h.value.e {
			h.value.s = vs
		}
		h.value.e = vs + uint32(len(v))
	}
	h.next = uint32(end + 1)
	if int(h.value.e-h.name.s) > lim.MaxHeaderLen {
		return m.fail(ErrHeaderTooLong, line, h.typ, "header longer than the length limit")
	}
	return nil
}

// hasBareNUL reports a NUL byte that is not a quoted-pair ("\\" NUL is
// legal inside a quoted string, RFC 4475 §3.1.1.3).
func hasBareNUL(b []byte) bool {
	for {
		k := bytes.IndexByte(b, 0)
		if k < 0 {
			return false
		}
		if k == 0 || b[k-1] != '\\' {
			return true
		}
		b = b[k+1:]
	}
}

func (m *Msg) addHeader(pos, le, end, line, maxHdrs int, lim *Limits) error {
	b := m.buf[:le]
	if le-pos > lim.MaxHeaderLen {
		return m.fail(ErrHeaderTooLong, line, HdrOther, "header longer than the length limit")
	}
	ne := scanWhile(b, pos, cToken)
	colon := ne
	for colon < le && (b[colon] == ' ' || b[colon] == '\t') {
		colon++
	}
	if colon >= le || b[colon] != ':' {
		switch {
		case bytes.IndexByte(b[pos:], ':') < 0:
			return m.fail(ErrMalformed, line, HdrOther, "header without colon")
		case b[pos] == ':':
			return m.fail(ErrMalformed, line, HdrOther, "header name empty")
		}
		return m.fail(ErrMalformed, line, HdrOther, "invalid character in header name")
	}
	if ne == pos {
		return m.fail(ErrMalformed, line, HdrOther, "header name empty")
	}
	t := classifyToken(b[pos:ne])
	if m.nhdrs >= maxHdrs {
		return m.fail(ErrTooManyHdrs, line, t, "more headers than the limit")
	}
	vs := colon + 1
	for vs < le && (b[vs] == ' ' || b[vs] == '\t') {
		vs++
	}
	ve := le
	for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
		ve--
	}
	if t != HdrOther {
		bit := uint64(1) << t
		if m.seen&bit == 0 {
			m.first[t] = uint8(m.nhdrs)
			m.seen |= bit
		} else if singleHdrs&bit != 0 {
			return m.fail(ErrDuplicate, line, t, dupMsg[t])
		}
	}
	m.hdrs[m.nhdrs] = hdr{
		typ:   t,
		name:  span{uint32(pos), uint32(ne)},
		value: span{uint32(vs), uint32(ve)},
		next:  uint32(end + 1),
	}
	m.nhdrs++
	return nil
}

// frameBody bounds the body by Content-Length.
func (m *Msg) frameBody() error {
	avail := len(m.buf) - int(m.body.s)
	if m.seen&(1<<HdrContentLength) == 0 {
		m.body.e = uint32(len(m.buf))
		return nil
	}
	h := &m.hdrs[m.first[HdrContentLength]]
	n, ok := parseUint(m.bytes(h.value), uint64(m.limits().MaxMsgSize))
	if !ok {
		return m.fail(ErrContentLength, m.lineOf(int(m.first[HdrContentLength])), HdrContentLength, "bad Content-Length")
	}
	m.contLen = int(n)
	if m.contLen > avail {
		return m.fail(ErrContentLength, m.lineOf(int(m.first[HdrContentLength])), HdrContentLength, "Content-Length larger than the body received")
	}
	m.body.e = m.body.s + uint32(m.contLen)
	m.extra = avail - m.contLen
	m.buf = m.buf[:m.body.e]
	return nil
}

// lineOf returns the line number of header field i, for error messages
// raised after indexing.
func (m *Msg) lineOf(i int) int {
	return 1 + bytes.Count(m.buf[:m.hdrs[i].name.s], []byte{'\n'})
}

// parseEssentials reads what every message needs and a reply copies: top
// Via, From, To, Call-ID, CSeq; a reply can be made when it returns nil
// (a reply with a bad one of these copied in would not parse at the
// sender: FuzzParse checks that every 400 does).
func (m *Msg) parseEssentials() error {
	if m.seen&(1<<HdrVia) != 0 {
		if err := m.parseTopVia(); err != nil {
			return err
		}
	}
	if missing := mandatoryHdrs &^ m.seen; missing != 0 {
		for t := HdrType(1); t < hdrTypeCount; t++ {
			if missing&(1<<t) != 0 {
				return m.fail(ErrMissing, 0, t, missingMsg[t])
			}
		}
	}
	i := int(m.first[HdrFrom])
	if err := ParseNameAddr(m.value(i), &m.from); err != nil {
		return m.fail(ErrBadHeader, m.lineOf(i), HdrFrom, detail("bad From header", err))
	}
	i = int(m.first[HdrTo])
	if err := ParseNameAddr(m.value(i), &m.to); err != nil {
		return m.fail(ErrBadHeader, m.lineOf(i), HdrTo, detail("bad To header", err))
	}
	i = int(m.first[HdrCallID])
	m.callID = m.value(i)
	if len(m.callID) == 0 || scanTo(m.callID, 0, cLWS) < len(m.callID) {
		return m.fail(ErrBadHeader, m.lineOf(i), HdrCallID, "bad Call-ID header")
	}
	i = int(m.first[HdrCSeq])
	num, meth, err := ParseCSeq(m.value(i))
	if err != nil {
		return m.fail(ErrBadHeader, m.lineOf(i), HdrCSeq, detail("bad CSeq header", err))
	}
	m.cseq, m.cseqMName, m.cseqMeth = num, meth, ParseMethod(meth)
	return nil
}

// parseRest checks, once a message can be answered, its request URI, its
// CSeq method against the request's, and Max-Forwards.
func (m *Msg) parseRest() error {
	if m.request {
		// routing always needs it, and RFC 4475 wants <sip:...> here rejected
		if err := ParseURI(m.bytes(m.ruri), &m.ruriURI); err != nil {
			return m.fail(ErrMalformed, 1, HdrOther, detail("bad request URI", err))
		}
		if string(m.cseqMName) != string(m.bytes(m.methodName)) {
			i := int(m.first[HdrCSeq])
			return m.fail(ErrCSeqMethod, m.lineOf(i), HdrCSeq, "CSeq method does not match the request method")
		}
	}
	if m.seen&(1<<HdrMaxForwards) != 0 {
		i := int(m.first[HdrMaxForwards])
		n, ok := parseUint(m.value(i), 255)
		if !ok {
			return m.fail(ErrBadHeader, m.lineOf(i), HdrMaxForwards, "bad Max-Forwards header")
		}
		m.maxFwd = int(n)
	}
	return nil
}

func (m *Msg) parseTopVia() error {
	i := int(m.first[HdrVia])
	v := m.value(i)
	n, err := parseVia(v, &m.via1)
	if err == nil && n < len(v) && v[n] != ',' {
		err = headerError("unexpected text after via-parm")
	}
	if err != nil {
		return m.fail(ErrBadHeader, m.lineOf(i), HdrVia, detail("bad Via header", err))
	}
	m.via1Hdr = i
	m.via1Elem = m.span(m.via1.Raw)
	rest := v[n:]
	for len(rest) > 0 && (rest[0] == ',' || isLWS(rest[0])) {
		rest = rest[1:]
	}
	m.via1Alone = len(rest) == 0
	return nil
}

func (m *Msg) value(i int) []byte { return m.bytes(m.hdrs[i].value) }
