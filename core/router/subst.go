package router

import (
	"errors"
	"regexp"
	"strings"
)

// Subst is a parsed sed-like "/re/replacement/flags": the delimiter
// is the first character; \N in the replacement is a group; flags i
// (ignore case) and g (every match). textops' subst functions and re.subst
// run it on the message, avpops' avp_subst on a value (Apply).
type Subst struct {
	re     *regexp.Regexp
	repl   string
	global bool
}

// ParseSubst parses an expression; a regexp that does not compile is an
// error naming the expression.
func ParseSubst(s string) (*Subst, error) {
	bad := errors.New("subst expression " + s + ": want /regexp/replacement/flags")
	if len(s) < 4 {
		return nil, bad
	}
	d := s[0]
	var parts []string
	var cur strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == d:
			cur.WriteByte(d)
			i++
		case s[i] == d:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	if len(parts) != 3 {
		return nil, bad
	}
	compile := RegexpCase
	if strings.Contains(parts[2], "i") {
		compile = Regexp
	}
	re, err := compile(parts[0])
	if err != nil {
		return nil, errors.New("subst expression " + s + ": " + err.Error())
	}
	return &Subst{re: re, repl: parts[1], global: strings.Contains(parts[2], "g")}, nil
}

// expand is the replacement for a match: \0..\9 its groups, \\ a
// backslash.
func (e *Subst) expand(src []byte, m []int) []byte {
	var out []byte
	for i := 0; i < len(e.repl); i++ {
		ch := e.repl[i]
		if ch == '\\' && i+1 < len(e.repl) {
			n := e.repl[i+1]
			if n >= '0' && n <= '9' {
				g := int(n - '0')
				if 2*g+1 < len(m) && m[2*g] >= 0 {
					out = append(out, src[m[2*g]:m[2*g+1]]...)
				}
				i++
				continue
			}
			out = append(out, n)
			i++
			continue
		}
		out = append(out, ch)
	}
	return out
}

// Apply is src with the expression applied, the replacement's
// pseudo-variables first written by pv (nil: none); ok is false when
// nothing matched.
func (e *Subst) Apply(src []byte, pv func(repl string) string) (out []byte, ok bool) {
	x := e
	if pv != nil {
		y := *e
		y.repl = pv(e.repl)
		x = &y
	}
	locs, with := x.Run(src)
	if len(locs) == 0 {
		return nil, false
	}
	prev := 0
	for i, l := range locs {
		out = append(append(out, src[prev:l[0]]...), with[i]...)
		prev = l[1]
	}
	return append(out, src[prev:]...), true
}

// Run applies the expression to src: the matches and their replacements.
func (e *Subst) Run(src []byte) ([][]int, [][]byte) {
	n := 1
	if e.global {
		n = -1
	}
	ms := e.re.FindAllSubmatchIndex(src, n)
	var locs [][]int
	var with [][]byte
	for _, m := range ms {
		locs = append(locs, m[:2])
		with = append(with, e.expand(src, m))
	}
	return locs, with
}
