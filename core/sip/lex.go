package sip

// Scanning helpers shared by the header parsers. Header values may hold
// folded lines (CRLF followed by a space or tab), read in place, so linear
// white space here includes CR and LF.

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipLWS(b []byte, i int) int {
	for i < len(b) && isLWS(b[i]) {
		i++
	}
	return i
}

func trimLWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isLWS(b[i]) {
		i++
	}
	for j > i && isLWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// tokenChar marks the characters of RFC 3261's token.
var tokenChar = [256]bool{}

func init() {
	for c := 'a'; c <= 'z'; c++ {
		tokenChar[c] = true
		tokenChar[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		tokenChar[c] = true
	}
	for _, c := range "-.!%*_+`'~" {
		tokenChar[c] = true
	}
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

// scanToken returns the end of the token starting at i.
func scanToken(b []byte, i int) int {
	for i < len(b) && tokenChar[b[i]] {
		i++
	}
	return i
}

// parseUint reads a decimal number of at most max; ok is false for an empty
// field, a non-digit or a value over max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
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
	for i < len(b) {
		switch b[i] {
		case ',':
			return i, true
		case '"':
			i = skipQuoted(b, i)
			if i < 0 {
				return len(b), false
			}
			continue
		case '<':
			j := indexByteFrom(b, i+1, '>')
			if j < 0 {
				return len(b), false
			}
			i = j
		}
		i++
	}
	return i, true
}

func indexByteFrom(b []byte, i int, c byte) int {
	for ; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
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
	for i < len(b) && b[i] != '=' && b[i] != ';' && !isLWS(b[i]) {
		i++
	}
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
			for i < len(b) && b[i] != ';' && !isLWS(b[i]) {
				i++
			}
		}
		value = b[vs:i]
	}
	// anything up to the next ';' that is not a parameter is skipped
	for i < len(b) && b[i] != ';' {
		i++
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

// Unquote strips the quotes of a quoted string; other values come back as
// they are. Escapes inside stay (they are rare and the bytes stay valid).
func Unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}
