package router

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// The {s.*} transformations, as Kamailio 5.6's pv module computes them
// (pv_trans.c); cmd/kemi's TestKamailioTransformations compares them.
// An integer is read as its decimal text.

// strMap adds a transformation without parameters that writes a string
// from the value's text; false is a failure (Null).
func strMap(name string, f func(dst, in []byte) ([]byte, bool)) {
	simple(name, func() transform {
		b := newBuf()
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return Value{}
			}
			var tmp [24]byte
			out, ok := f((*c.tbuf(b))[:0], view(v, &tmp))
			if !ok {
				return Value{}
			}
			*c.tbuf(b) = out
			return BytesValue(out)
		}
	})
}

// withParams adds a transformation whose parameters are kinds (see
// tscan.params); run gets them and the value's text.
func withParams(name, kinds string, run func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool)) {
	withChecked(name, kinds, nil, run)
}

// withChecked is withParams with a check of the parameters when the
// script is loaded.
func withChecked(name, kinds string, check func(sc *tscan, ps []tparam) error, run func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool)) {
	transNames[name] = func(sc *tscan) (transform, error) {
		ps, err := sc.params(kinds)
		if err == nil && check != nil {
			err = check(sc, ps)
		}
		if err != nil {
			return nil, err
		}
		b := newBuf()
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return Value{}
			}
			var tmp [24]byte
			out, ok := run(c, ps, (*c.tbuf(b))[:0], view(v, &tmp))
			if !ok {
				return Value{}
			}
			*c.tbuf(b) = out
			return BytesValue(out)
		}, nil
	}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func init() {
	simple("s.len", func() transform {
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return v
			}
			var tmp [24]byte
			return IntValue(int64(len(view(v, &tmp))))
		}
	})
	simple("s.int", func() transform {
		return func(c *Ctx, v Value) Value {
			if v.Kind != Str {
				return v
			}
			var tmp [24]byte
			n, ok := atoi(view(v, &tmp)) // the whole text, as Kamailio's str2sint: "42abc" is none
			if !ok {
				return Value{}
			}
			return IntValue(n)
		}
	})
	for _, name := range []string{"s.md5", "s.sha256", "s.sha384", "s.sha512"} {
		strMap(name, func(dst, in []byte) ([]byte, bool) { return appendHash(dst, name, in), true })
	}
	strMap("s.rmws", func(dst, in []byte) ([]byte, bool) {
		for _, c := range in {
			if !isWS(c) {
				dst = append(dst, c)
			}
		}
		return dst, true
	})
	// an integer keeps its type when it is shorter than two bytes: Kamailio
	// changes nothing then
	keepShortInt := func(name string, f func(dst, in []byte) []byte) {
		simple(name, func() transform {
			b := newBuf()
			return func(c *Ctx, v Value) Value {
				var tmp [24]byte
				in := view(v, &tmp)
				if v.Kind == Null || v.Kind == Int && len(in) < 2 {
					return v
				}
				out := f((*c.tbuf(b))[:0], in)
				*c.tbuf(b) = out
				return BytesValue(out)
			}
		})
	}
	keepShortInt("s.unquote", func(dst, in []byte) []byte {
		if n := len(in); n >= 2 && in[0] == in[n-1] && (in[0] == '"' || in[0] == '\'') {
			return append(dst, in[1:n-1]...)
		}
		return append(dst, in...)
	})
	keepShortInt("s.unbracket", func(dst, in []byte) []byte {
		if n := len(in); n >= 2 {
			switch string([]byte{in[0], in[n-1]}) {
			case "()", "[]", "{}", "<>":
				return append(dst, in[1:n-1]...)
			}
		}
		return append(dst, in...)
	})
	strMap("s.tolower", func(dst, in []byte) ([]byte, bool) {
		for _, c := range in {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst, true
	})
	strMap("s.toupper", func(dst, in []byte) ([]byte, bool) {
		for _, c := range in {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst, true
	})
	strMap("s.numeric", func(dst, in []byte) ([]byte, bool) {
		for _, c := range in {
			if c >= '0' && c <= '9' {
				dst = append(dst, c)
			}
		}
		return dst, true
	})
	strMap("s.encode.hexa", func(dst, in []byte) ([]byte, bool) { return hex.AppendEncode(dst, in), true })
	strMap("s.decode.hexa", func(dst, in []byte) ([]byte, bool) {
		out, err := hex.AppendDecode(dst, in[:len(in)&^1]) // an odd last digit is left out
		return out, err == nil
	})
	b64 := func(name string, enc *base64.Encoding, trim bool) {
		strMap("s.encode."+name, func(dst, in []byte) ([]byte, bool) {
			out := enc.AppendEncode(dst, in)
			if trim {
				for i := 0; i < 2 && len(out) > 1 && out[len(out)-1] == '='; i++ {
					out = out[:len(out)-1]
				}
			}
			return out, true
		})
		strMap("s.decode."+name, func(dst, in []byte) ([]byte, bool) {
			if trim && len(in)%4 != 0 {
				padded := append(make([]byte, 0, len(in)+3), in...)
				for len(padded)%4 != 0 {
					padded = append(padded, '=')
				}
				in = padded
			}
			out, err := enc.AppendDecode(dst, in)
			return out, err == nil && (len(out) > 0 || len(in) == 0)
		})
	}
	b64("base64", base64.StdEncoding, false)
	b64("base64t", base64.StdEncoding, true)
	b64("base64url", base64.URLEncoding, false)
	b64("base64urlt", base64.URLEncoding, true)
	strMap("s.escape.common", func(dst, in []byte) ([]byte, bool) {
		for _, c := range in {
			switch c {
			case '\'', '"', '\\':
				dst = append(dst, '\\', c)
			case 0:
				dst = append(dst, '\\', '0')
			default:
				dst = append(dst, c)
			}
		}
		return dst, true
	})
	strMap("s.unescape.common", func(dst, in []byte) ([]byte, bool) {
		for i := 0; i < len(in); i++ {
			if in[i] == '\\' && i+1 < len(in) {
				switch in[i+1] {
				case '\'', '"', '\\':
					dst = append(dst, in[i+1])
					i++
					continue
				case '0':
					dst = append(dst, 0)
					i++
					continue
				}
			}
			dst = append(dst, in[i])
		}
		return dst, true
	})
	strMap("s.escape.user", func(dst, in []byte) ([]byte, bool) { return escapeKeep(dst, in, "-_.!~*'()&=+$,;?") })
	strMap("s.escape.param", func(dst, in []byte) ([]byte, bool) { return escapeKeep(dst, in, "-_.!~*'()[]/:&+$") })
	strMap("s.unescape.user", unescapePrintable)
	strMap("s.unescape.param", unescapePrintable)
	strMap("s.escape.csv", func(dst, in []byte) ([]byte, bool) {
		dst = append(dst, '"')
		for _, c := range in {
			if c == '"' {
				dst = append(dst, '"')
			}
			dst = append(dst, c)
		}
		return append(dst, '"'), true
	})
	strMap("s.urlencode.param", func(dst, in []byte) ([]byte, bool) {
		const hexd = "0123456789abcdef"
		for _, c := range in {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
				dst = append(dst, c)
			} else {
				dst = append(dst, '%', hexd[c>>4], hexd[c&15])
			}
		}
		return dst, true
	})
	strMap("s.urldecode.param", func(dst, in []byte) ([]byte, bool) {
		for i := 0; i < len(in); i++ {
			switch in[i] {
			case '%':
				if i+2 < len(in) {
					dst = append(dst, hexToChar(in[i+1])<<4|hexToChar(in[i+2]))
				}
				i += 2 // a '%' without two bytes after it is dropped, as Kamailio does
			case '+':
				dst = append(dst, ' ')
			default:
				dst = append(dst, in[i])
			}
		}
		return dst, true
	})
	trim := func(name string, left, right bool) {
		strMap(name, func(dst, in []byte) ([]byte, bool) {
			for left && len(in) > 0 && isWS(in[0]) {
				in = in[1:]
			}
			for right && len(in) > 0 && isWS(in[len(in)-1]) {
				in = in[:len(in)-1]
			}
			return append(dst, in...), true
		})
	}
	trim("s.trim", true, true)
	trim("s.ltrim", true, false)
	trim("s.rtrim", false, true)

	prefixes := func(name string, quote bool) {
		transNames[name] = func(sc *tscan) (transform, error) {
			var max *tparam
			if sc.comma() {
				p, err := sc.num()
				if err != nil {
					return nil, err
				}
				max = &p
			}
			if err := sc.close(); err != nil {
				return nil, err
			}
			b := newBuf()
			return func(c *Ctx, v Value) Value {
				if v.Kind == Null {
					return v
				}
				var tmp [24]byte
				in := view(v, &tmp)
				n := len(in)
				if max != nil {
					m, ok := max.num(c)
					if !ok {
						return Value{}
					}
					if m > 0 && m < int64(n) {
						n = int(m)
					}
				}
				if n*(n/2+3) > trMax { // Kamailio's bound, against an output of n² bytes
					return Value{}
				}
				out := (*c.tbuf(b))[:0]
				for i := 1; i <= n; i++ {
					if i > 1 {
						out = append(out, ',')
					}
					if quote {
						out = append(out, '\'')
					}
					out = append(out, in[:i]...)
					if quote {
						out = append(out, '\'')
					}
				}
				*c.tbuf(b) = out
				return BytesValue(out)
			}, nil
		}
	}
	prefixes("s.prefixes", false)
	prefixes("s.prefixes.quoted", true)

	withChecked("s.substr", "nn", func(sc *tscan, ps []tparam) error {
		if ps[1].pv == nil && ps[1].n < 0 {
			return sc.errorf("s.substr: the length is negative")
		}
		return nil
	}, func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
		i, ok1 := ps[0].num(c)
		j, ok2 := ps[1].num(c)
		if !ok1 || !ok2 || j < 0 {
			return nil, false
		}
		n := int64(len(in))
		if i >= 0 {
			if i >= n {
				return nil, false
			}
			if i+j >= n {
				j = 0
			}
		} else {
			if i = -i; i > n {
				return nil, false
			}
			if i < j {
				j = 0
			}
			i = n - i
		}
		if j == 0 {
			return append(dst, in[i:]...), true
		}
		return append(dst, in[i:i+j]...), true
	})
	transNames["s.select"] = func(sc *tscan) (transform, error) {
		if !sc.comma() {
			return nil, sc.errorf("s.select wants an index and a separator")
		}
		idx, err := sc.num()
		if err != nil {
			return nil, err
		}
		sc.ws()
		if !sc.comma() || sc.i >= len(sc.s) {
			return nil, sc.errorf("s.select wants a separator after the index")
		}
		sep := sc.s[sc.i]
		sc.i++
		if sep == '\\' {
			switch sc.peek() {
			case '\\':
			case 'n':
				sep = '\n'
			case 'r':
				sep = '\r'
			case 't':
				sep = '\t'
			default:
				return nil, sc.errorf("s.select: the separator's escape is not \\\\, \\n, \\r or \\t")
			}
			sc.i++
		}
		if err := sc.close(); err != nil {
			return nil, err
		}
		b := newBuf()
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return v
			}
			i, ok := idx.num(c)
			if !ok {
				return Value{}
			}
			var tmp [24]byte
			out := c.result(b, selectField(view(v, &tmp), i, sep))
			return out
		}, nil
	}
	strip := func(name string, tail bool) {
		withParams(name, "n", func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
			i, ok := ps[0].num(c)
			switch {
			case !ok:
				return nil, false
			case i <= 0:
				return append(dst, in...), true
			case i >= int64(len(in)):
				return dst, true
			case tail:
				return append(dst, in[:int64(len(in))-i]...), true
			}
			return append(dst, in[i:]...), true
		})
	}
	strip("s.strip", false)
	strip("s.striptail", true)
	withParams("s.stripto", "s", func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
		var tmp [24]byte
		to, ok := ps[0].str(c, &tmp)
		if !ok {
			return nil, false
		}
		if len(to) == 0 {
			return append(dst, in...), true
		}
		if i := bytes.IndexByte(in, to[0]); i >= 0 {
			return append(dst, in[i:]...), true
		}
		return dst, true
	})
	withParams("s.replace", "ss", func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
		var t1, t2 [24]byte
		old, ok1 := ps[0].str(c, &t1)
		repl, ok2 := ps[1].str(c, &t2)
		if !ok1 || !ok2 {
			return nil, false
		}
		out := appendReplace(dst, in, old, repl)
		return out, len(out) <= trMax
	})
	withChecked("s.rm", "s", func(_ *tscan, ps []tparam) error {
		if ps[0].pv == nil {
			ps[0].s = string(unescapeRm([]byte(ps[0].s))) // once, at load
		}
		return nil
	}, func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
		var tmp [24]byte
		old, ok := ps[0].str(c, &tmp)
		if !ok {
			return nil, false
		}
		return appendReplace(dst, in, old, nil), true
	})
	withParams("s.ftime", "s", func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
		var tmp [24]byte
		format, ok := ps[0].str(c, &tmp)
		secs, err := strconv.ParseUint(string(in), 10, 32)
		if !ok || err != nil {
			return nil, false
		}
		return appendStrftime(dst, string(format), time.Unix(int64(secs), 0)), true
	})
	transNames["s.count"] = func(sc *tscan) (transform, error) {
		ps, err := sc.params("m")
		if err != nil {
			return nil, err
		}
		return func(c *Ctx, v Value) Value {
			var t1, t2 [24]byte
			ch, ok := ps[0].str(c, &t1)
			if v.Kind == Null || !ok || len(ch) == 0 {
				return Value{}
			}
			return IntValue(int64(bytes.Count(view(v, &t2), ch[:1])))
		}, nil
	}
	around := func(name string, last, after bool) {
		withParams(name, "m", func(c *Ctx, ps []tparam, dst, in []byte) ([]byte, bool) {
			var tmp [24]byte
			ch, ok := ps[0].str(c, &tmp)
			if !ok || len(ch) == 0 {
				return nil, false
			}
			i := bytes.IndexByte(in, ch[0])
			if last {
				i = bytes.LastIndexByte(in, ch[0])
			}
			switch {
			case i < 0 && after:
				return dst, true
			case i < 0:
				return append(dst, in...), true
			case after:
				return append(dst, in[i+1:]...), true
			}
			return append(dst, in[:i]...), true
		})
	}
	transNames["re.subst"] = compileReSubst
	around("s.before", false, false)
	around("s.after", false, true)
	around("s.rbefore", true, false)
	around("s.rafter", true, true)
}

// compileReSubst reads {re.subst,/re/replacement/flags} — the expression up
// to the '}' that closes the transformation, or a pseudo-variable holding
// one — textops' transformation in Kamailio. No match leaves the value as
// it is.
func compileReSubst(sc *tscan) (transform, error) {
	if !sc.comma() {
		return nil, sc.errorf("re.subst wants an expression")
	}
	var expr *Subst
	var p tparam
	if sc.peek() == '$' {
		var err error
		if p, err = sc.pvParam(); err != nil {
			return nil, err
		}
	} else {
		start, depth := sc.i, 0
		for ; sc.i < len(sc.s); sc.i++ {
			if c := sc.s[sc.i]; c == '{' {
				depth++
			} else if c == '}' {
				if depth == 0 {
					break
				}
				depth--
			}
		}
		if sc.i >= len(sc.s) || sc.i == start {
			return nil, sc.errorf("re.subst wants an expression")
		}
		var err error
		if expr, err = ParseSubst(sc.s[start:sc.i]); err != nil {
			return nil, sc.errorf(err.Error())
		}
	}
	if err := sc.close(); err != nil {
		return nil, err
	}
	b := newBuf()
	return func(c *Ctx, v Value) Value {
		var tmp, ptmp [24]byte
		in := view(v, &tmp)
		if len(in) == 0 {
			return Value{}
		}
		e := expr
		if e == nil {
			text, ok := p.str(c, &ptmp)
			if !ok {
				return Value{}
			}
			var err error
			if e, err = ParseSubst(string(text)); err != nil {
				return Value{}
			}
		}
		out, ok := e.Apply(in, nil)
		if !ok {
			out = in
		}
		return c.result(b, out)
	}, nil
}

// appendHash writes the hex digest of in by the s.* transformation name.
func appendHash(dst []byte, name string, in []byte) []byte {
	switch name {
	case "s.md5":
		sum := md5.Sum(in)
		return hex.AppendEncode(dst, sum[:])
	case "s.sha256":
		sum := sha256.Sum256(in)
		return hex.AppendEncode(dst, sum[:])
	case "s.sha384":
		sum := sha512.Sum384(in)
		return hex.AppendEncode(dst, sum[:])
	}
	sum := sha512.Sum512(in)
	return hex.AppendEncode(dst, sum[:])
}

// trMax bounds what a transformation that can grow its value writes, as
// Kamailio's buffer does (64 KB).
const trMax = 65535

// selectField is the i-th field of in split at sep, from the end when i
// is negative (-1 the last); "" when there are fewer.
func selectField(in []byte, i int64, sep byte) []byte {
	if i < 0 {
		for j := -i - 1; ; j-- {
			k := bytes.LastIndexByte(in, sep)
			if j == 0 {
				return in[k+1:]
			}
			if k < 0 {
				return nil
			}
			in = in[:k]
		}
	}
	for ; ; i-- {
		k := bytes.IndexByte(in, sep)
		if i == 0 {
			if k < 0 {
				return in
			}
			return in[:k]
		}
		if k < 0 {
			return nil
		}
		in = in[k+1:]
	}
}

// escapeKeep writes in with every byte but letters, digits and keep as
// %xx; a byte outside 32..126 fails, as Kamailio's escape_user.
func escapeKeep(dst, in []byte, keep string) ([]byte, bool) {
	const hexd = "0123456789abcdef"
	for _, c := range in {
		switch {
		case c < 32 || c > 126:
			return nil, false
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', bytes.IndexByte([]byte(keep), c) >= 0:
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hexd[c>>4], hexd[c&15])
		}
	}
	return dst, true
}

// unescapePrintable decodes %xx, which must be a printable byte, as
// Kamailio's unescape_user.
func unescapePrintable(dst, in []byte) ([]byte, bool) {
	for i := 0; i < len(in); i++ {
		if in[i] != '%' {
			dst = append(dst, in[i])
			continue
		}
		if i+2 >= len(in) || !sip.IsHex(in[i+1]) || !sip.IsHex(in[i+2]) {
			return nil, false
		}
		c := sip.Unhex(in[i+1])<<4 | sip.Unhex(in[i+2])
		if c < 32 || c > 126 {
			return nil, false
		}
		dst = append(dst, c)
		i += 2
	}
	return dst, true
}

// hexToChar is Kamailio's hex_to_char, which does not check its digit:
// a malformed escape of s.urldecode.param decodes as Kamailio's does
// (sip.Unhex differs on bytes that are neither digits nor letters).
func hexToChar(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// appendReplace writes in with each old replaced by repl, left to right;
// it stops past trMax.
func appendReplace(dst, in, old, repl []byte) []byte {
	if len(old) == 0 {
		return append(dst, in...)
	}
	for len(dst) <= trMax {
		i := bytes.Index(in, old)
		if i < 0 {
			return append(dst, in...)
		}
		dst = append(append(dst, in[:i]...), repl...)
		in = in[i+len(old):]
	}
	return dst
}

// unescapeRm reads \n, \r, \t and \\ in s.rm's constant, as Kamailio.
func unescapeRm(s []byte) []byte {
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			out = append(out, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			out = append(out, s[i])
		}
	}
	return out
}

// appendStrftime formats t by a C strftime format: the conversions of
// C99 and POSIX a script uses; another is written as it is.
func appendStrftime(dst []byte, format string, t time.Time) []byte {
	pad := func(dst []byte, n, width int, fill byte) []byte {
		s := strconv.Itoa(n)
		for i := len(s); i < width; i++ {
			dst = append(dst, fill)
		}
		return append(dst, s...)
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			dst = append(dst, format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			dst = pad(dst, t.Year(), 4, '0')
		case 'y':
			dst = pad(dst, t.Year()%100, 2, '0')
		case 'C':
			dst = pad(dst, t.Year()/100, 2, '0')
		case 'm':
			dst = pad(dst, int(t.Month()), 2, '0')
		case 'd':
			dst = pad(dst, t.Day(), 2, '0')
		case 'e':
			dst = pad(dst, t.Day(), 2, ' ')
		case 'H':
			dst = pad(dst, t.Hour(), 2, '0')
		case 'I':
			dst = pad(dst, (t.Hour()+11)%12+1, 2, '0')
		case 'M':
			dst = pad(dst, t.Minute(), 2, '0')
		case 'S':
			dst = pad(dst, t.Second(), 2, '0')
		case 'j':
			dst = pad(dst, t.YearDay(), 3, '0')
		case 'u':
			dst = pad(dst, (int(t.Weekday())+6)%7+1, 1, '0')
		case 'w':
			dst = pad(dst, int(t.Weekday()), 1, '0')
		case 'a':
			dst = append(dst, t.Weekday().String()[:3]...)
		case 'A':
			dst = append(dst, t.Weekday().String()...)
		case 'b', 'h':
			dst = append(dst, t.Month().String()[:3]...)
		case 'B':
			dst = append(dst, t.Month().String()...)
		case 'p':
			dst = t.AppendFormat(dst, "PM")
		case 'Z':
			dst = t.AppendFormat(dst, "MST")
		case 'z':
			dst = t.AppendFormat(dst, "-0700")
		case 's':
			dst = strconv.AppendInt(dst, t.Unix(), 10)
		case 'F':
			dst = t.AppendFormat(dst, "2006-01-02")
		case 'T':
			dst = t.AppendFormat(dst, "15:04:05")
		case 'R':
			dst = t.AppendFormat(dst, "15:04")
		case 'D':
			dst = t.AppendFormat(dst, "01/02/06")
		case 'c':
			dst = t.AppendFormat(dst, "Mon Jan _2 15:04:05 2006")
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case '%':
			dst = append(dst, '%')
		default:
			dst = append(dst, '%', format[i])
		}
	}
	return dst
}
