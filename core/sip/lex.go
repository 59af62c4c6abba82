package sip

import "bytes"

// Scanning helpers shared by the header parsers. Header values may hold
// folded lines (CRLF followed by a space or tab), read in place, so linear
// white space here includes CR and LF.

// Character classes, one table lookup per byte on the scanning loops.
const (
	cLWS      = 1 << iota // SP HT CR LF
	cToken                // RFC 3261 token
	cHost                 // host name characters
	cURI                  // may appear unescaped in a URI (as kemi accepts it)
	cElemStop             // ends a plain run inside a list element: , " <
	cNameStop             // ends a parameter name: = ; LWS
	cValStop              // ends an unquoted parameter value: ; LWS
	cComma                // ,
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		l := b | 0x20
		alnum := l >= 'a' && l <= 'z' || b >= '0' && b <= '9'
		var k uint8
		switch b {
		case ' ', '\t', '\r', '\n':
			k |= cLWS | cNameStop | cValStop
		case ';':
			k |= cNameStop | cValStop
		case '=':
			k |= cNameStop
		case ',':
			k |= cElemStop | cComma
		case '"', '<':
			k |= cElemStop
		}
		if alnum || b != 0 && indexOf("-.!%*_+`'~", b) {
			k |= cToken
		}
		if alnum || b == '-' || b == '.' || b == '_' {
			k |= cHost
		}
		if c > 0x20 && c < 0x7f && !indexOf(`<>"\`, b) {
			k |= cURI
		}
		class[c] = k
	}
}

func indexOf(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func isLWS(c byte) bool { return class[c]&cLWS != 0 }

func skipLWS(b []byte, i int) int {
	for i < len(b) && class[b[i]]&cLWS != 0 {
		i++
	}
	return i
}

func trimLWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && class[b[i]]&cLWS != 0 {
		i++
	}
	for j > i && class[b[j-1]]&cLWS != 0 {
		j--
	}
	return b[i:j]
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if class[c]&cToken == 0 {
			return false
		}
	}
	return true
}

// scanToken returns the end of the token starting at i.
func scanToken(b []byte, i int) int { return scanWhile(b, i, cToken) }

// scanWhile returns the index of the first byte at or after i not in class k.
func scanWhile(b []byte, i int, k uint8) int {
	for i < len(b) && class[b[i]]&k != 0 {
		i++
	}
	return i
}

// scanTo returns the index of the first byte at or after i in class k.
func scanTo(b []byte, i int, k uint8) int {
	for i < len(b) && class[b[i]]&k == 0 {
		i++
	}
	return i
}

// parseUint reads a decimal number of at most max; ok is false for an empty
// field, a non-digit or a value over max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 { // 19 digits cannot overflow a uint64
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= max
}

// skipQuoted returns the index just past the closing quote of the quoted
// string whose opening quote is at i, or -1 when it is not closed.
func skipQuoted(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// nextElement returns the end of the list element that starts at i: the
// index of the first comma outside quotes and angle brackets, or len(b).
// ok is false for an unclosed quote or bracket.
func nextElement(b []byte, i int) (end int, ok bool) {
	for {
		i = scanTo(b, i, cElemStop)
		if i >= len(b) {
			return i, true
		}
		switch b[i] {
		case ',':
			return i, true
		case '"':
			i = skipQuoted(b, i)
			if i < 0 {
				return len(b), false
			}
		case '<':
			j := indexByteFrom(b, i+1, '>')
			if j < 0 {
				return len(b), false
			}
			i = j + 1
		}
	}
}

// indexShort finds c from offset i in a field expected to be short, where
// a plain loop beats the set-up of bytes.IndexByte.
func indexShort(b []byte, i int, c byte) int {
	for ; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// indexByteFrom is bytes.IndexByte from offset i.
func indexByteFrom(b []byte, i int, c byte) int {
	if i >= len(b) {
		return -1
	}
	j := bytes.IndexByte(b[i:], c)
	if j < 0 {
		return -1
	}
	return i + j
}

// Params walks a ";name=value;name2" parameter list (a URI's or a header's)
// without allocating. Whitespace around ';' and '=' is allowed; quoted values
// keep their quotes (use Unquote).
type Params struct {
	b []byte
	i int
}

// NewParams walks b, which may start with ';'.
func NewParams(b []byte) Params { return Params{b: b} }

// Next returns the next parameter; ok is false at the end.
func (p *Params) Next() (name, value []byte, ok bool) {
	b := p.b
	i := p.i
	for {
		i = skipLWS(b, i)
		if i < len(b) && b[i] == ';' {
			i++
			continue
		}
		break
	}
	if i >= len(b) {
		p.i = i
		return nil, nil, false
	}
	ns := i
	i = scanTo(b, i, cNameStop)
	name = b[ns:i]
	i = skipLWS(b, i)
	if i < len(b) && b[i] == '=' {
		i = skipLWS(b, i+1)
		vs := i
		if i < len(b) && b[i] == '"' {
			if e := skipQuoted(b, i); e > 0 {
				i = e
			} else {
				i = len(b)
			}
		} else {
			i = scanTo(b, i, cValStop)
		}
		value = b[vs:i]
	}
	// anything up to the next ';' that is not a parameter is skipped
	if i < len(b) && b[i] != ';' {
		if j := indexByteFrom(b, i, ';'); j >= 0 {
			i = j
		} else {
			i = len(b)
		}
	}
	p.i = i
	return name, value, true
}

// Param finds a parameter by name, case-insensitively. found reports its
// presence, so that a flag parameter (";lr") is found with an empty value.
func Param(params []byte, name string) (value []byte, found bool) {
	p := NewParams(params)
	for {
		n, v, ok := p.Next()
		if !ok {
			return nil, false
		}
		if equalFold(n, name) {
			return v, true
		}
	}
}

func trimLWSRight(b []byte) []byte {
	j := len(b)
	for j > 0 && class[b[j-1]]&cLWS != 0 {
		j--
	}
	return b[:j]
}
