package cfg

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tIP // 10.0.0.1, 10.0.0.0/8
	tStr
	tPVar
	tOp // punctuation and operators
)

type token struct {
	kind tokKind
	text string // the identifier, operator, pvar name, or the string's value
	num  int64
	off  int
}

type lexer struct {
	src *Source
	b   []byte
	off int
	err error
}

func (l *lexer) errAt(off int, msg string) {
	if l.err == nil {
		l.err = &Error{l.src.Pos(off), msg}
	}
}

// skip passes whitespace and comments.
func (l *lexer) skip() {
	b := l.b
	for l.off < len(b) {
		c := b[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.off++
		case c == '#':
			for l.off < len(b) && b[l.off] != '\n' {
				l.off++
			}
		case c == '/' && l.off+1 < len(b) && b[l.off+1] == '/':
			for l.off < len(b) && b[l.off] != '\n' {
				l.off++
			}
		case c == '/' && l.off+1 < len(b) && b[l.off+1] == '*':
			end := strings.Index(string(b[l.off+2:]), "*/")
			if end < 0 {
				l.errAt(l.off, "unclosed /* comment")
				l.off = len(b)
				return
			}
			l.off += end + 4
		default:
			return
		}
	}
}

var ops3 = []string{"=~", "!~", "==", "!=", "<<", ">>", "<=", ">=", "&&", "||", "+=", ":=", "=>"}

func (l *lexer) next() token {
	l.skip()
	b := l.b
	start := l.off
	if l.off >= len(b) {
		return token{kind: tEOF, off: start}
	}
	c := b[l.off]
	if t, ok := l.ipv6(start); ok {
		return t
	}
	switch {
	case isWordByte(c) && !(c >= '0' && c <= '9'):
		for l.off < len(b) && (isWordByte(b[l.off]) || b[l.off] == '.') {
			l.off++
		}
		return token{kind: tIdent, text: string(b[start:l.off]), off: start}
	case c >= '0' && c <= '9':
		for l.off < len(b) && (isWordByte(b[l.off])) {
			l.off++
		}
		if l.off+1 < len(b) && b[l.off] == '.' && b[l.off+1] >= '0' && b[l.off+1] <= '9' {
			return l.ip(start)
		}
		s := string(b[start:l.off])
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			l.errAt(start, "bad number "+s)
		}
		return token{kind: tInt, text: s, num: n, off: start}
	case c == '"' || c == '\'':
		var sb strings.Builder
		l.off++
		for {
			if l.off >= len(b) {
				l.errAt(start, "unterminated string")
				return token{kind: tEOF, off: start}
			}
			ch := b[l.off]
			if ch == c {
				l.off++
				break
			}
			if ch == '\\' && l.off+1 < len(b) {
				l.off++
				switch e := b[l.off]; e {
				case 'n':
					sb.WriteByte('\n')
				case 'r':
					sb.WriteByte('\r')
				case 't':
					sb.WriteByte('\t')
				case '\\', '"', '\'':
					sb.WriteByte(e)
				default:
					sb.WriteByte('\\')
					sb.WriteByte(e)
				}
				l.off++
				continue
			}
			sb.WriteByte(ch)
			l.off++
		}
		return token{kind: tStr, text: sb.String(), off: start}
	case c == '@' && l.off+1 < len(b) && isWordByte(b[l.off+1]):
		// A select, @via[1].params["node"]: the pseudo-variable $sel(...).
		l.off++
		for l.off < len(b) {
			ch := b[l.off]
			if ch == '"' {
				if e := strings.IndexByte(string(b[l.off+1:]), '"'); e >= 0 {
					l.off += e + 2
					continue
				}
			}
			if !isWordByte(ch) && ch != '.' && ch != '[' && ch != ']' && ch != '*' && ch != '-' {
				break
			}
			l.off++
		}
		return token{kind: tPVar, text: "$sel(" + string(b[start+1:l.off]) + ")", off: start}
	case c == '$':
		n := PVLen(b[l.off:])
		if n <= 1 {
			l.errAt(start, "bad pseudo-variable")
			l.off++
			return token{kind: tOp, text: "$", off: start}
		}
		l.off += n
		return token{kind: tPVar, text: string(b[start:l.off]), off: start}
	}
	for _, op := range ops3 {
		if strings.HasPrefix(string(b[l.off:min(l.off+2, len(b))]), op) {
			l.off += 2
			return token{kind: tOp, text: op, off: start}
		}
	}
	l.off++
	return token{kind: tOp, text: string(c), off: start}
}

// PVLen is the length of the pseudo-variable that s starts with: $name,
// $name(...) with balanced parentheses, or $(...); 0 when s does not start
// with one. The config lexer and format strings (core/router) share it.
func PVLen[T string | []byte](s T) int {
	if len(s) < 2 || s[0] != '$' {
		return 0
	}
	i := 1
	if s[i] == '(' {
		return balanced(s, i)
	}
	for i < len(s) && (isWordByte(s[i]) || s[i] == '.') {
		i++
	}
	if i == 1 {
		return 0
	}
	if i < len(s) && s[i] == '(' {
		if j := balanced(s, i); j > 0 {
			i = j
		}
	}
	return i
}

// balanced is the end of the parenthesised group starting at i, 0 when it
// is not closed on its line.
func balanced[T string | []byte](b T, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '\n':
			return 0
		}
	}
	return 0
}

// ip lexes an IPv4 address written bare, as Kamailio's grammar allows in
// expressions (src_ip == 10.0.0.1), with an optional /bits netmask.
func (l *lexer) ip(start int) token {
	b := l.b
	for l.off < len(b) && (b[l.off] == '.' || b[l.off] >= '0' && b[l.off] <= '9') {
		l.off++
	}
	if l.off+1 < len(b) && b[l.off] == '/' && b[l.off+1] >= '0' && b[l.off+1] <= '9' {
		l.off++
		for l.off < len(b) && b[l.off] >= '0' && b[l.off] <= '9' {
			l.off++
		}
	}
	s := string(b[start:l.off])
	if _, err := ParseIPLit(s); err != nil {
		l.errAt(start, err.Error())
	}
	return token{kind: tIP, text: s, off: start}
}

// ipv6 lexes an IPv6 address written bare or in brackets, as Kamailio's
// grammar allows in expressions (src_ip == ::1, dst_ip == [2001:db8::1]),
// with an optional /bits netmask; ok false (nothing read) when the text
// at start is not one. A run of hex digits, ':' and '.' with two ':' or
// more that parses as an IPv6 address is one: nothing else in the
// language looks like that.
func (l *lexer) ipv6(start int) (token, bool) {
	b := l.b
	i, bracket := start, false
	if b[i] == '[' {
		i, bracket = i+1, true
	}
	j, colons := i, 0
	for j < len(b) && (b[j] == ':' || b[j] == '.' || b[j] >= '0' && b[j] <= '9' || b[j]|0x20 >= 'a' && b[j]|0x20 <= 'f') {
		if b[j] == ':' {
			colons++
		}
		j++
	}
	if colons < 2 {
		return token{}, false
	}
	addr := string(b[i:j])
	if bracket {
		if j >= len(b) || b[j] != ']' {
			return token{}, false
		}
		j++
	}
	if _, err := netip.ParseAddr(addr); err != nil {
		return token{}, false
	}
	if j+1 < len(b) && b[j] == '/' && b[j+1] >= '0' && b[j+1] <= '9' {
		k := j + 1
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		addr += string(b[j:k])
		j = k
	}
	if j < len(b) && (isWordByte(b[j]) || b[j] == ':') {
		return token{}, false // part of something longer
	}
	if _, err := ParseIPLit(addr); err != nil {
		return token{}, false
	}
	l.off = j
	return token{kind: tIP, text: addr, off: start}, true
}

// ParseIPLit reads an address literal of a config: an address, or a
// network as address/bits.
func ParseIPLit(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("bad network %s", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %s", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
