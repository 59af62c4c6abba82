package textops

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/hdr"
)

// The editing functions of textops: replace* and subst* change the
// message (from its first header field on), its header fields or its
// body; the body's Content-Length follows a body change.

// editExports are the editing functions' KSR exports.
func (m *Module) editExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "replace", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, whole, re, with, false) })},
		{Name: "replace_all", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, whole, re, with, true) })},
		{Name: "replace_hdrs", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, headers, re, with, true) })},
		{Name: "replace_body", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, body, re, with, false) })},
		{Name: "replace_body_all", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, body, re, with, true) })},
		{Name: "replace_body_atonce", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, with string) int { return replaceRe(c, body, re, with, true) })},
		{Name: "replace_str", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, old, with, mode string) int { return replaceStr(c, whole, old, with, mode) })},
		{Name: "replace_hdrs_str", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, old, with, mode string) int { return replaceStr(c, headers, old, with, mode) })},
		{Name: "replace_body_str", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, old, with, mode string) int { return replaceStr(c, body, old, with, mode) })},
		{Name: "subst", Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, expr string) int { return m.subst(c, whole, expr) })},
		{Name: "subst_body", Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, expr string) int { return m.subst(c, body, expr) })},
		{Name: "subst_hf", Ret: dispatch.Int, Raw: true, Fn: dispatch.FSSS(m.substHF)},
		{Name: "subst_uri", Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, expr string) int { return m.substURI(c, expr, false) })},
		{Name: "subst_user", Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, expr string) int { return m.substURI(c, expr, true) })},
		{Name: "search_append", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, txt string) int { return searchAppend(c, whole, re, txt) })},
		{Name: "search_append_body", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, txt string) int { return searchAppend(c, body, re, txt) })},
		{Name: "search_str", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, re string) int {
			r := compile(c, re)
			return dispatch.Result(r != nil && r.MatchString(s))
		})},
		{Name: "is_privacy", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, v string) int {
			for k := 0; ; k++ {
				i := hdr.Index(c.Msg, "Privacy", k)
				if i < 0 {
					return -1
				}
				for _, p := range strings.FieldsFunc(string(c.Msg.Header(i).Value), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
					if strings.EqualFold(p, v) {
						return 1
					}
				}
			}
		})},
		{Name: "is_audio_on_hold", Ret: dispatch.Int, Fn: dispatch.F0(audioOnHold)},
		{Name: "set_reply_body", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, text, ctype string) int {
			if !c.Msg.IsRequest() {
				return -1
			}
			c.SetReplyBody([]byte(text), ctype)
			return 1
		})},
		{Name: "remove_hf_match", Ret: dispatch.Int, Fn: dispatch.FSSS(removeHFMatch)},
		{Name: "regex_substring", Native: dispatch.NoNative, Ret: dispatch.Int, Fn: dispatch.FSSIIS(regexSubstring)},
		// The native form: its input and regex may hold variables, its
		// last parameter names one.
		{Name: "regex_substring", NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FSSIIS(func(c *router.Ctx, in, re string, i, n int, dst string) int {
			return regexSubstring(c, format(c, in), format(c, re), i, n, dst)
		})},
	}
}

// region is the part of the message an edit works on.
type region int

const (
	whole   region = iota // the header fields and the body
	headers               // the header fields
	body                  // the body
)

// text is the region's bytes and their offset in the message.
func text(m *sip.Msg, r region) ([]byte, int) {
	b := m.Bytes()
	start := bytes.IndexByte(b, '\n') + 1 // after the first line
	bodyOff := m.Offset(m.Body())
	if bodyOff < 0 {
		bodyOff = len(b)
	}
	switch r {
	case headers:
		return b[start:bodyOff], start
	case body:
		// A body changed already is changed further (SetBody replaces it
		// whole, from this).
		return append([]byte(nil), m.EditedBody()...), bodyOff
	}
	return b[start:], start
}

// apply makes the changes: a body change sets the body (and its
// Content-Length) whole, others edit the message in place.
func apply(c *router.Ctx, r region, src []byte, off int, locs [][]int, with func(i int) []byte) int {
	if len(locs) == 0 {
		return -1
	}
	m := c.Msg
	if r == body {
		var out []byte
		last := 0
		for i, l := range locs {
			out = append(append(out, src[last:l[0]]...), with(i)...)
			last = l[1]
		}
		out = append(out, src[last:]...)
		return edited(c, "textops", m.SetBody(out))
	}
	for i, l := range locs {
		if err := m.ReplaceAt(off+l[0], l[1]-l[0], with(i)); err != nil {
			return edited(c, "textops", err)
		}
	}
	return 1
}

func edited(c *router.Ctx, fn string, err error) int {
	if err != nil {
		c.Log().Error(fn+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

func replaceRe(c *router.Ctx, r region, re, with string, all bool) int {
	rx := compile(c, re)
	if rx == nil {
		return -1
	}
	src, off := text(c.Msg, r)
	n := 1
	if all {
		n = -1
	}
	return apply(c, r, src, off, rx.FindAllIndex(src, n), func(int) []byte { return []byte(with) })
}

// replaceStr replaces old by with: mode "f" the first, "a" (or "") all.
func replaceStr(c *router.Ctx, r region, old, with, mode string) int {
	if old == "" {
		return -1
	}
	src, off := text(c.Msg, r)
	var locs [][]int
	for i := 0; i <= len(src)-len(old); {
		j := bytes.Index(src[i:], []byte(old))
		if j < 0 {
			break
		}
		locs = append(locs, []int{i + j, i + j + len(old)})
		if strings.Contains(mode, "f") {
			break
		}
		i += j + len(old)
	}
	return apply(c, r, src, off, locs, func(int) []byte { return []byte(with) })
}

// maxSubsts bounds the cache of parsed expressions (ones built from
// message data are parsed on every use past it).
const maxSubsts = 1024

// compileSubst is expr parsed, once per expression.
func (m *Module) compileSubst(c *router.Ctx, expr string) *router.Subst {
	if v, ok := m.substs.Load(expr); ok {
		return v.(*router.Subst)
	}
	e, err := router.ParseSubst(expr)
	if err != nil {
		c.Log().Error("textops: "+err.Error(), "route", c.Route)
		return nil
	}
	if m.nSubsts.Add(1) <= maxSubsts {
		m.substs.Store(strings.Clone(expr), e)
	}
	return e
}

func (m *Module) subst(c *router.Ctx, r region, expr string) int {
	e := m.compileSubst(c, expr)
	if e == nil {
		return -1
	}
	src, off := text(c.Msg, r)
	locs, with := e.Run(src)
	return apply(c, r, src, off, locs, func(i int) []byte { return with[i] })
}

// substHF applies expr to the values of the header fields named hf:
// flags "f" the first, "l" the last, else every one.
func (mod *Module) substHF(c *router.Ctx, hf, expr, flags string) int {
	e := mod.compileSubst(c, expr)
	if e == nil {
		return -1
	}
	m := c.Msg
	var idx []int
	switch {
	case strings.Contains(flags, "f"):
		idx = []int{hdr.Index(m, hf, 0)}
	case strings.Contains(flags, "l"):
		idx = []int{hdr.Index(m, hf, -1)}
	default:
		for k := 0; ; k++ {
			i := hdr.Index(m, hf, k)
			if i < 0 {
				break
			}
			idx = append(idx, i)
		}
	}
	rc := -1
	for _, i := range idx {
		if i < 0 {
			continue
		}
		v := m.Header(i).Value
		locs, with := e.Run(v)
		if len(locs) == 0 {
			continue
		}
		off := m.Offset(v)
		for j, l := range locs {
			if err := m.ReplaceAt(off+l[0], l[1]-l[0], with[j]); err != nil {
				return edited(c, "subst_hf", err)
			}
		}
		rc = 1
	}
	return rc
}

// substURI applies expr to the request URI, or with user to its user part.
func (m *Module) substURI(c *router.Ctx, expr string, user bool) int {
	e := m.compileSubst(c, expr)
	if e == nil || !c.Msg.IsRequest() {
		return -1
	}
	src := c.RURIText()
	if user {
		u, err := c.RURI()
		if err != nil {
			return -1
		}
		src = u.User
	}
	locs, with := e.Run(src)
	if len(locs) == 0 {
		return -1
	}
	var out []byte
	last := 0
	for i, l := range locs {
		out = append(append(out, src[last:l[0]]...), with[i]...)
		last = l[1]
	}
	out = append(out, src[last:]...)
	if user {
		return edited(c, "subst_user", c.RewriteRURI(out, nil))
	}
	return edited(c, "subst_uri", c.SetRURI(out))
}

// searchAppend adds txt after the first match of re.
func searchAppend(c *router.Ctx, r region, re, txt string) int {
	rx := compile(c, re)
	if rx == nil {
		return -1
	}
	src, off := text(c.Msg, r)
	l := rx.FindIndex(src)
	if l == nil {
		return -1
	}
	return apply(c, r, src, off, [][]int{l}, func(int) []byte { return append(append([]byte{}, src[l[0]:l[1]]...), txt...) })
}

// audioOnHold reports whether the SDP body puts the audio on hold: the
// audio stream (or the session) is sendonly or inactive, or its
// connection address is 0.0.0.0.
func audioOnHold(c *router.Ctx) int {
	b := string(c.Msg.Body())
	if b == "" {
		return -1
	}
	inAudio, sessionHold := false, false
	for _, l := range strings.Split(strings.ReplaceAll(b, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "m="):
			inAudio = strings.HasPrefix(l, "m=audio")
		case l == "a=sendonly" || l == "a=inactive":
			if inAudio || sessionHold {
				return 1
			}
			if !inAudio {
				sessionHold = true
			}
		case strings.HasPrefix(l, "c=") && strings.HasSuffix(strings.TrimSpace(l), " 0.0.0.0"):
			return 1
		case inAudio && sessionHold:
			return 1
		}
	}
	return -1
}

// removeHFMatch removes the header fields named hf whose value matches
// val: op "eq" (equal), "ne" (not equal), "in" (contains), "re" (a
// regular expression), as Kamailio's.
func removeHFMatch(c *router.Ctx, hf, op, val string) int {
	m := c.Msg
	var rx *regexp.Regexp
	if op == "re" {
		if rx = compile(c, val); rx == nil {
			return -1
		}
	}
	n := 0
	for k := 0; ; k++ {
		i := hdr.Index(m, hf, k)
		if i < 0 {
			break
		}
		v := string(m.Header(i).Value)
		var hit bool
		switch op {
		case "eq":
			hit = v == val
		case "ne":
			hit = v != val
		case "in":
			hit = strings.Contains(v, val)
		case "re":
			hit = rx.MatchString(v)
		default:
			c.Log().Error("textops: remove_hf_match: operator "+op+": want eq, ne, in or re", "route", c.Route)
			return -1
		}
		if hit && m.RemoveHeader(i) == nil {
			n++
		}
	}
	return dispatch.Result(n > 0)
}

// format expands the pseudo-variables of a native parameter taken raw.
func format(c *router.Ctx, s string) string {
	f, err := c.W.Format(s)
	if err != nil {
		return s
	}
	return string(f.Append(nil, c))
}

// regexSubstring stores group index (of count groups) of re's first
// match in input into the variable dst, as Kamailio's: -2 when re does not
// match, -1 for an empty group or a bad call.
func regexSubstring(c *router.Ctx, input, re string, index, count int, dst string) int {
	if index > count-1 || index < 0 {
		c.Log().Error("textops: regex_substring: the index must be below the count", "route", c.Route)
		return -1
	}
	pv, err := router.ParsePV(dst)
	if err != nil || !pv.Writable() {
		c.Log().Error("textops: regex_substring: "+dst+" is not a variable that can be set", "route", c.Route)
		return -1
	}
	rx, err := router.RegexpCase(re) // case-sensitive, as Kamailio's REG_EXTENDED here
	if err != nil {
		c.Log().Error("textops: regex_substring: "+err.Error(), "route", c.Route)
		return -1
	}
	m := rx.FindStringSubmatchIndex(input)
	if m == nil {
		return -2
	}
	if 2*index+1 >= len(m) || m[2*index] < 0 || m[2*index] == m[2*index+1] {
		return -1
	}
	if err := pv.Set(c, router.StrValue(input[m[2*index]:m[2*index+1]])); err != nil {
		return -1
	}
	return 1
}
