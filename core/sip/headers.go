package sip

// Parsers of structured header values. Each takes one value (one list
// element for list headers), fills a caller-owned struct with views into
// it, and does not allocate.

// Via is one via-parm: "SIP/2.0/UDP host:port;branch=...;rport".
type Via struct {
	Raw           []byte
	Protocol      []byte // "SIP"
	Version       []byte // "2.0"
	TransportName []byte
	Transport     Transport
	Host          []byte
	PortText      []byte
	Port          int // 0 when absent
	Params        []byte
	Branch        []byte
	Received      []byte
	RPort         []byte // the value of rport, empty when it has none
	HasRPort      bool

	rportEnd int // offset in Raw just past the rport parameter
	// paramsAt is the offset in Raw of the first parameter's ';' (past
	// the sent-by when there is none): where Kamailio puts received=
	paramsAt int
}

// parseVia parses the via-parm at the start of b and returns where it
// ended: at a comma that starts the next one, or at the end of b. Lists
// are walked with it directly, without splitting them first.
func parseVia(b []byte, v *Via) (int, error) {
	// the fields a via-parm may lack; the others are always set on success
	v.PortText, v.Port, v.Params, v.Branch, v.Received, v.RPort, v.HasRPort = nil, 0, nil, nil, nil, nil, false
	i := skipLWS(b, 0)
	start := i
	var part [3][]byte
	for k := 0; k < 3; k++ {
		if k > 0 {
			i = skipLWS(b, i)
			if i >= len(b) || b[i] != '/' {
				return i, headerError("bad sent-protocol")
			}
			i = skipLWS(b, i+1)
		}
		e := scanToken(b, i)
		if e == i {
			return i, headerError("bad sent-protocol")
		}
		part[k] = b[i:e]
		i = e
	}
	v.Protocol, v.Version, v.TransportName = part[0], part[1], part[2]
	v.Transport = parseTransport(v.TransportName)
	if i >= len(b) || !isLWS(b[i]) {
		return i, headerError("no space before sent-by")
	}
	i = skipLWS(b, i)
	hs := i
	if i < len(b) && b[i] == '[' {
		e := indexShort(b, i, ']')
		if e < 0 {
			return i, headerError("unclosed IPv6 reference")
		}
		i = e + 1
	} else {
		i = scanWhile(b, i, cHost)
	}
	v.Host = b[hs:i]
	if len(v.Host) == 0 {
		return i, headerError("empty host")
	}
	end := i
	j := skipLWS(b, i)
	if j < len(b) && b[j] == ':' {
		j = skipLWS(b, j+1)
		e := j
		for e < len(b) && b[e] >= '0' && b[e] <= '9' {
			e++
		}
		p, ok := parseUint(b[j:e], 65535)
		if !ok || p == 0 {
			return j, headerError("bad port")
		}
		v.PortText, v.Port = b[j:e], int(p)
		end = e
		j = skipLWS(b, e)
	}
	ps := j
	v.paramsAt = end - start
	if ps < len(b) && b[ps] == ';' {
		v.paramsAt = ps - start
	}
	for j < len(b) && b[j] != ',' {
		if b[j] != ';' {
			return j, headerError("unexpected text after sent-by")
		}
		j = skipLWS(b, j+1)
		ns := j
		j = scanToken(b, j)
		name := b[ns:j]
		if len(name) == 0 {
			return j, headerError("bad parameter")
		}
		end = j
		j = skipLWS(b, j)
		var val []byte
		if j < len(b) && b[j] == '=' {
			j = skipLWS(b, j+1)
			vs := j
			switch {
			case j < len(b) && b[j] == '"':
				j = skipQuoted(b, j)
				if j < 0 {
					return len(b), headerError("unclosed quote")
				}
			case j < len(b) && b[j] == '[':
				j = indexShort(b, j, ']')
				if j < 0 {
					return len(b), headerError("unclosed IPv6 reference")
				}
				j++
			default:
				j = scanTo(b, j, cValStop|cComma)
			}
			val = b[vs:j]
			end = j
			j = skipLWS(b, j)
		}
		switch len(name) {
		case 5:
			if equalFold(name, "rport") {
				v.RPort, v.HasRPort = val, true
				v.rportEnd = end - start
			}
		case 6:
			if equalFold(name, "branch") {
				v.Branch = val
			}
		case 8:
			if equalFold(name, "received") {
				v.Received = val
			}
		}
	}
	if ps < end {
		v.Params = b[ps:end]
	}
	v.Raw = b[start:end]
	return j, nil
}

// ParseVia parses one via-parm ("SIP/2.0/UDP host:port;params"), all of
// b; the parts of v point into b.
func ParseVia(b []byte, v *Via) error {
	n, err := parseVia(b, v)
	if err == nil && skipLWS(b, n) < len(b) {
		return headerError("unexpected text after via-parm")
	}
	return err
}

// Param returns a Via parameter by name.
func (v *Via) Param(name string) ([]byte, bool) { return Param(v.Params, name) }

// NameAddr is the value of From, To, Contact, Route, Record-Route, Path and
// similar headers: an optional display name, a URI, header parameters.
type NameAddr struct {
	Raw     []byte
	Display []byte // without quotes
	URI     URI
	Params  []byte // header parameters (after the URI), ';' included
	Tag     []byte
}

// ParseNameAddr parses a name-addr ("Bob" <sip:b@h>;tag=1) or an addr-spec
// (sip:b@h;tag=1, where the parameters belong to the header).
func ParseNameAddr(b []byte, na *NameAddr) error {
	b = trimLWS(b)
	n, err := parseNameAddr(b, na)
	if err == nil && n < len(b) {
		return headerError("unexpected text after address")
	}
	return err
}

// parseNameAddr parses the address at the start of b and returns where it
// ended: at a comma outside quotes and brackets that starts the next list
// element, or at the end of b.
func parseNameAddr(b []byte, na *NameAddr) (int, error) {
	na.Raw, na.Display, na.Params, na.Tag = nil, nil, nil, nil // ParseURI clears na.URI
	i := skipLWS(b, 0)
	start := i
	if i >= len(b) || b[i] == ',' {
		na.URI = URI{}
		return i, headerError("empty address")
	}
	var uri []byte
	var j int // just past the URI part
	if b[i] == '"' {
		q := skipQuoted(b, i)
		if q < 0 {
			return len(b), headerError("unclosed quote in display name")
		}
		na.Display = b[i+1 : q-1]
		i = skipLWS(b, q)
		if i >= len(b) || b[i] != '<' {
			return i, headerError("display name without <URI>")
		}
	} else {
		i = scanTo(b, i, cElemStop)
		if i < len(b) && b[i] == '"' {
			return i, headerError("quote inside display name")
		}
	}
	if i < len(b) && b[i] == '<' {
		if b[start] != '"' {
			na.Display = trimLWS(b[start:i])
		}
		// one scan finds the '>' and checks the URI's bytes
		gt := scanWhile(b, i+1, cURI)
		if gt >= len(b) {
			return len(b), headerError("unclosed <URI>")
		}
		if b[gt] != '>' {
			return gt, errURI("invalid character in URI")
		}
		uri, j = b[i+1:gt], gt+1
	} else {
		// addr-spec: the URI ends at the first ';' past the userinfo.
		e := start
		if at := indexShort(b[:i], start, '@'); at >= 0 {
			e = at
		}
		e = scanTo(b[:i], e, cValStop)
		uri, j = b[start:e], e
		if scanWhile(uri, 0, cURI) < len(uri) {
			return j, errURI("invalid character in URI")
		}
	}
	if err := parseValidURI(uri, &na.URI); err != nil {
		return j, err
	}
	// header parameters, up to the next element
	ps := skipLWS(b, j)
	end := j
	for k := ps; ; {
		k = scanTo(b, k, cElemStop)
		if k < len(b) && b[k] == '"' {
			if k = skipQuoted(b, k); k < 0 {
				return len(b), headerError("unclosed quote in parameter")
			}
			continue
		}
		if k < len(b) && b[k] == '<' {
			return k, headerError("unexpected < after address")
		}
		if p := trimLWSRight(b[ps:k]); len(p) > 0 {
			if p[0] != ';' {
				return ps, headerError("unexpected text after address")
			}
			na.Params = p
			na.Tag, _ = Param(p, "tag")
			end = ps + len(p)
		}
		na.Raw = b[start:end]
		return k, nil
	}
}

// Param returns a header parameter by name.
func (na *NameAddr) Param(name string) ([]byte, bool) { return Param(na.Params, name) }

// Contact is one Contact value with its registration parameters read.
type Contact struct {
	NameAddr
	Star    bool // the value is "*" (remove all bindings)
	Expires int  // -1 when absent
	Q       int  // q-value times 1000; -1 when absent
}

// readParams reads expires and q from the Contact's parameters, in one walk.
func (c *Contact) readParams() error {
	c.Star, c.Expires, c.Q = false, -1, -1
	p := NewParams(c.Params)
	for {
		n, v, ok := p.Next()
		if !ok {
			return nil
		}
		switch {
		case equalFold(n, "expires"):
			e, ok := parseUint(v, 1<<32-1)
			if !ok {
				return headerError("bad expires")
			}
			c.Expires = int(e)
		case equalFold(n, "q"):
			q, ok := parseQ(v)
			if !ok {
				return headerError("bad q")
			}
			c.Q = q
		}
	}
}

// parseQ reads a qvalue ("0", "0.5", "1.000") as thousandths.
func parseQ(b []byte) (int, bool) {
	if len(b) == 0 || b[0] != '0' && b[0] != '1' {
		return 0, false
	}
	q := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return q, true
	}
	if b[1] != '.' || len(b) > 5 {
		return 0, false
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// Digest holds the parameters of a Digest Authorization,
// Proxy-Authorization, WWW-Authenticate or Proxy-Authenticate value,
// unquoted.
type Digest struct {
	Scheme    []byte
	Username  []byte
	Realm     []byte
	Nonce     []byte
	URI       []byte
	Response  []byte
	Algorithm []byte
	CNonce    []byte
	Opaque    []byte
	QOP       []byte
	NC        []byte
	Stale     []byte
	Domain    []byte
	Params    []byte // everything after the scheme
}

// ParseDigest parses credentials or a challenge. The parameters are split
// on commas outside quotes, never the header.
func ParseDigest(b []byte, d *Digest) error {
	b = trimLWS(b)
	*d = Digest{}
	e := scanToken(b, 0)
	if e == 0 {
		return headerError("missing scheme")
	}
	d.Scheme = b[:e]
	d.Params = trimLWS(b[e:])
	p := d.Params
	for i := 0; i < len(p); {
		i = skipLWS(p, i)
		if i < len(p) && p[i] == ',' {
			i++
			continue
		}
		if i >= len(p) {
			break
		}
		ns := i
		i = scanToken(p, i)
		name := p[ns:i]
		if len(name) == 0 {
			return headerError("bad parameter name")
		}
		i = skipLWS(p, i)
		if i >= len(p) || p[i] != '=' {
			return headerError("parameter without value")
		}
		i = skipLWS(p, i+1)
		var val []byte
		if i < len(p) && p[i] == '"' {
			q := skipQuoted(p, i)
			if q < 0 {
				return headerError("unclosed quote")
			}
			val = p[i+1 : q-1]
			i = q
		} else {
			vs := i
			for i < len(p) && p[i] != ',' && !isLWS(p[i]) {
				i++
			}
			val = p[vs:i]
		}
		d.set(name, val)
		i = skipLWS(p, i)
		if i < len(p) && p[i] != ',' {
			return headerError("text after parameter value")
		}
	}
	return nil
}

func (d *Digest) set(name, val []byte) {
	switch len(name) {
	case 2:
		if equalFold(name, "nc") {
			d.NC = val
		}
	case 3:
		switch {
		case equalFold(name, "uri"):
			d.URI = val
		case equalFold(name, "qop"):
			d.QOP = val
		}
	case 5:
		switch {
		case equalFold(name, "realm"):
			d.Realm = val
		case equalFold(name, "nonce"):
			d.Nonce = val
		case equalFold(name, "stale"):
			d.Stale = val
		}
	case 6:
		switch {
		case equalFold(name, "cnonce"):
			d.CNonce = val
		case equalFold(name, "opaque"):
			d.Opaque = val
		case equalFold(name, "domain"):
			d.Domain = val
		}
	case 8:
		switch {
		case equalFold(name, "username"):
			d.Username = val
		case equalFold(name, "response"):
			d.Response = val
		}
	case 9:
		if equalFold(name, "algorithm") {
			d.Algorithm = val
		}
	}
}

// ParseCSeq parses "4711 INVITE". The number may be up to 2^32-1.
func ParseCSeq(b []byte) (num uint32, method []byte, err error) {
	b = trimLWS(b)
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	n, ok := parseUint(b[:i], 1<<32-1)
	if !ok {
		return 0, nil, headerError("bad number")
	}
	if i >= len(b) || !isLWS(b[i]) {
		return 0, nil, headerError("no method")
	}
	m := trimLWS(b[i:])
	if !isToken(m) {
		return 0, nil, headerError("bad method")
	}
	return uint32(n), m, nil
}
