package sip

// Scheme is a URI scheme.
type Scheme uint8

const (
	SchemeOther Scheme = iota
	SchemeSIP
	SchemeSIPS
	SchemeTEL
)

// URI is a parsed sip:, sips:, tel: or other absolute URI. Every field is a
// view into Raw. A tel: URI keeps its number in User; another scheme keeps
// everything after "scheme:" in Opaque.
type URI struct {
	Raw         []byte
	Scheme      Scheme
	SchemeName  []byte
	User        []byte
	Password    []byte
	HasPassword bool
	Host        []byte
	PortText    []byte
	Port        int    // 0 when absent
	Params      []byte // after the first ';' of the host part, up to '?'
	Headers     []byte // after '?'
	Opaque      []byte

	hostPort []byte
}

// ParseURI parses b into u. It does not allocate; u points into b.
func ParseURI(b []byte, u *URI) error {
	if scanWhile(b, 0, cURI) < len(b) {
		*u = URI{Raw: b}
		return errURI("invalid character in URI")
	}
	return parseValidURI(b, u)
}

// parseValidURI is ParseURI for bytes already checked to be URI bytes, as
// the scan for a name-addr's '>' does.
func parseValidURI(b []byte, u *URI) error {
	*u = URI{Raw: b}
	if len(b) == 0 {
		return errURI("empty URI")
	}
	colon := scanWhile(b, 0, cToken) // the scheme's characters are token characters
	if colon == 0 || colon >= len(b) || b[colon] != ':' {
		return errURI("URI without scheme")
	}
	scheme := b[:colon]
	if !isSchemeName(scheme) {
		return errURI("invalid URI scheme")
	}
	u.SchemeName = scheme
	rest := b[colon+1:]
	switch {
	case equalFold(scheme, "sip"):
		u.Scheme = SchemeSIP
	case equalFold(scheme, "sips"):
		u.Scheme = SchemeSIPS
	case equalFold(scheme, "tel"):
		u.Scheme = SchemeTEL
		return u.parseTel(rest)
	default:
		if len(rest) == 0 {
			return errURI("empty URI after scheme")
		}
		u.Opaque = rest
		return nil
	}
	return u.parseSIP(rest)
}

func isSchemeName(b []byte) bool {
	c := b[0] | 0x20
	if c < 'a' || c > 'z' {
		return false
	}
	for _, c := range b[1:] {
		l := c | 0x20
		if !(l >= 'a' && l <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (u *URI) parseSIP(r []byte) error {
	// '@' cannot appear unescaped in parameters or headers, so the first one
	// ends the userinfo. The user part itself may hold ';' (user parameters).
	if at := indexByteFrom(r, 0, '@'); at >= 0 {
		ui := r[:at]
		if c := indexShort(ui, 0, ':'); c >= 0 {
			u.User, u.Password, u.HasPassword = ui[:c], ui[c+1:], true
		} else {
			u.User = ui
		}
		r = r[at+1:]
	}
	i := 0
	if len(r) > 0 && r[0] == '[' {
		e := indexShort(r, 1, ']')
		if e < 0 {
			return errURI("unclosed IPv6 reference")
		}
		for _, c := range r[1:e] {
			if !IsHex(c) && c != ':' && c != '.' {
				return errURI("invalid IPv6 reference")
			}
		}
		i = e + 1
	} else {
		i = scanWhile(r, 0, cHost)
		if i < len(r) && r[i] != ':' && r[i] != ';' && r[i] != '?' {
			return errURI("invalid character in URI host")
		}
	}
	u.Host = r[:i]
	if len(u.Host) == 0 {
		return errURI("URI without host")
	}
	if i < len(r) && r[i] == ':' {
		ps := i + 1
		i = ps
		for i < len(r) && r[i] != ';' && r[i] != '?' {
			i++
		}
		u.PortText = r[ps:i]
		p, ok := parseUint(u.PortText, 65535)
		if !ok || p == 0 {
			return errURI("invalid URI port")
		}
		u.Port = int(p)
	}
	u.hostPort = r[:i]
	if i < len(r) && r[i] == ';' {
		ps := i + 1
		for i < len(r) && r[i] != '?' {
			i++
		}
		u.Params = r[ps:i]
	}
	if i < len(r) {
		if r[i] != '?' {
			return errURI("invalid character after URI host")
		}
		u.Headers = r[i+1:]
	}
	return nil
}

func (u *URI) parseTel(r []byte) error {
	i := indexShort(r, 0, ';')
	if i < 0 {
		i = len(r)
	} else {
		u.Params = r[i+1:]
	}
	u.User = r[:i]
	if len(u.User) == 0 {
		return errURI("tel URI without number")
	}
	return nil
}

// The parameters a proxy looks at, read from Params on each call: most
// URIs parsed are never asked for them.

// TransportParam returns the transport parameter.
func (u *URI) TransportParam() []byte { v, _ := u.Param("transport"); return v }

// UserParam returns the user parameter ("phone", "ip").
func (u *URI) UserParam() []byte { v, _ := u.Param("user"); return v }

// Maddr returns the maddr parameter.
func (u *URI) Maddr() []byte { v, _ := u.Param("maddr"); return v }

// LR reports the lr parameter (a loose router).
func (u *URI) LR() bool { _, ok := u.Param("lr"); return ok }

// Param returns a URI parameter by name, case-insensitively.
func (u *URI) Param(name string) ([]byte, bool) { return Param(u.Params, name) }

// HostPort returns "host" or "host:port" as written.
func (u *URI) HostPort() []byte { return u.hostPort }

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// Unhex is the value of the hexadecimal digit c.
func Unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// reserved are RFC 2396's reserved characters: escaped, they stay distinct
// from their plain form when URIs are compared.
func reserved(c byte) bool {
	switch c {
	case ';', '/', '?', ':', '@', '&', '=', '+', '$', ',':
		return true
	}
	return false
}

// escReader yields the characters of a URI component with escapes of
// unreserved characters decoded. An escaped reserved character comes back
// as 256+c so that it matches only its escaped form.
type escReader struct {
	b []byte
	i int
}

func (r *escReader) next() (int, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	c := r.b[r.i]
	if c == '%' && r.i+2 < len(r.b) && IsHex(r.b[r.i+1]) && IsHex(r.b[r.i+2]) {
		d := Unhex(r.b[r.i+1])<<4 | Unhex(r.b[r.i+2])
		r.i += 3
		if reserved(d) {
			return 256 + int(d), true
		}
		return int(d), true
	}
	r.i++
	return int(c), true
}

// equalEscaped compares two URI components after decoding escapes,
// case-sensitively or under ASCII case folding.
func equalEscaped(a, b []byte, fold bool) bool {
	ra, rb := escReader{b: a}, escReader{b: b}
	for {
		ca, oka := ra.next()
		cb, okb := rb.next()
		if oka != okb {
			return false
		}
		if !oka {
			return true
		}
		if ca == cb {
			continue
		}
		if !fold || ca >= 256 || cb >= 256 {
			return false
		}
		la, lb := byte(ca)|0x20, byte(cb)|0x20
		if la != lb || la < 'a' || la > 'z' {
			return false
		}
	}
}

// URIEqual compares two URIs the RFC 3261 §19.1.4 way: userinfo
// case-sensitively, host and parameters case-insensitively, escapes of
// unreserved characters equal to their plain form, a port only equal to the
// same port (sip:a and sip:a:5060 differ), the user, ttl, method, maddr and
// transport parameters compared when either URI has them, other parameters
// only when both do, and headers always. Other schemes compare their text
// case-insensitively.
func URIEqual(a, b *URI) bool {
	if a.Scheme != b.Scheme {
		return false
	}
	if a.Scheme == SchemeOther || a.Scheme == SchemeTEL {
		return EqualFold(a.SchemeName, b.SchemeName) && equalEscaped(a.Raw[len(a.SchemeName):], b.Raw[len(b.SchemeName):], true)
	}
	if !equalEscaped(a.User, b.User, false) || a.HasPassword != b.HasPassword ||
		!equalEscaped(a.Password, b.Password, false) {
		return false
	}
	if !EqualFold(a.Host, b.Host) || a.Port != b.Port {
		return false
	}
	return paramsMatch(a.Params, b.Params) && paramsMatch(b.Params, a.Params) &&
		headersMatch(a.Headers, b.Headers) && headersMatch(b.Headers, a.Headers)
}

// paramsMatch checks each parameter of a against b.
func paramsMatch(a, b []byte) bool {
	p := NewParams(a)
	for {
		n, v, ok := p.Next()
		if !ok {
			return true
		}
		w, found := Param(b, string(n))
		if !found {
			if mustMatchParam(n) {
				return false
			}
			continue
		}
		if !equalEscaped(v, w, true) {
			return false
		}
	}
}

func mustMatchParam(n []byte) bool {
	return equalFold(n, "user") || equalFold(n, "ttl") || equalFold(n, "method") ||
		equalFold(n, "maddr") || equalFold(n, "transport")
}

// headersMatch checks that every "name=value" of a appears in b.
func headersMatch(a, b []byte) bool {
	for i := 0; i < len(a); {
		e := indexByteFrom(a, i, '&')
		if e < 0 {
			e = len(a)
		}
		if !hasHeader(b, a[i:e]) {
			return false
		}
		i = e + 1
	}
	return true
}

func hasHeader(list, h []byte) bool {
	hn, hv := splitHeader(h)
	for i := 0; i < len(list); {
		e := indexByteFrom(list, i, '&')
		if e < 0 {
			e = len(list)
		}
		n, v := splitHeader(list[i:e])
		if equalEscaped(n, hn, true) && equalEscaped(v, hv, false) {
			return true
		}
		i = e + 1
	}
	return false
}

func splitHeader(h []byte) (name, value []byte) {
	if i := indexByteFrom(h, 0, '='); i >= 0 {
		return h[:i], h[i+1:]
	}
	return h, nil
}

// Unescape appends src with %XX escapes decoded to dst.
func Unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '%' && i+2 < len(src) && IsHex(src[i+1]) && IsHex(src[i+2]) {
			c = Unhex(src[i+1])<<4 | Unhex(src[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}
