// Package textops tests and edits header fields and text of the message,
// like Kamailio's textops module: is_present_hf, remove_hf, search,
// has_body, the string comparisons.
package textops

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/hdr"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "textops", New: func() dispatch.Module { return &Module{} }})
}

// Module is the textops module; it keeps no state.
type Module struct {
	// substs are the subst expressions parsed, by their text: a
	// script's expressions are parsed once, not per message.
	substs  sync.Map
	nSubsts atomic.Int64
}

// Exports are KSR.textops.
func (m *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "is_present_hf", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int {
			return dispatch.Result(hdr.Index(c.Msg, n, 0) >= 0)
		})},
		{Name: "is_present_hf_re", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, re string) int {
			return dispatch.Result(matchNames(c, re, "", false) > 0)
		})},
		{Name: "remove_hf", Ret: dispatch.Int, Fn: dispatch.FS(hdr.Remove)},
		{Name: "remove_hf_re", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, re string) int {
			return dispatch.Result(matchNames(c, re, "", true) > 0)
		})},
		{Name: "remove_hf_exp", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, re, skip string) int {
			return dispatch.Result(matchNames(c, re, skip, true) > 0)
		})},
		{Name: "remove_hf_idx", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, n string, idx int) int {
			i := hdr.Index(c.Msg, n, idx)
			if i < 0 || c.Msg.RemoveHeader(i) != nil {
				return -1
			}
			return 1
		})},
		{Name: "search", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, re string) int {
			return match(c, re, c.Msg.Bytes())
		})},
		{Name: "search_body", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, re string) int {
			return match(c, re, c.Msg.Body())
		})},
		{Name: "search_hf", Ret: dispatch.Int, Fn: dispatch.FSSS(searchHF)},
		{Name: "has_body", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(len(c.Msg.Body()) > 0) })},
		{Name: "has_body_type", Ret: dispatch.Int, Native: "has_body", Fn: dispatch.FS(func(c *router.Ctx, t string) int {
			if len(c.Msg.Body()) == 0 {
				return -1
			}
			ct := c.Msg.ContentType()
			if i := strings.IndexByte(string(ct), ';'); i >= 0 {
				ct = ct[:i]
			}
			return dispatch.Result(sip.EqualFold(trim(ct), []byte(t)))
		})},
		{Name: "cmp_str", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, a, b string) int { return cmp(a, b) })},
		{Name: "cmp_istr", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, a, b string) int {
			return cmp(strings.ToLower(a), strings.ToLower(b))
		})},
		{Name: "starts_with", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, p string) int { return dispatch.Result(strings.HasPrefix(s, p)) })},
		{Name: "ends_with", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, p string) int { return dispatch.Result(strings.HasSuffix(s, p)) })},
		{Name: "str_find", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, p string) int { return pos(strings.Index(s, p)) })},
		{Name: "str_ifind", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, p string) int {
			return pos(strings.Index(strings.ToLower(s), strings.ToLower(p)))
		})},
		{Name: "in_list", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, s, list, sep string) int {
			return inList(s, list, sep, false)
		})},
		{Name: "in_list_prefix", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, s, list, sep string) int {
			return inList(s, list, sep, true)
		})},
		{Name: "set_body", Ret: dispatch.Int, Fn: dispatch.FSS(setBody)},
	}, append(m.editExports(), m.multipartExports()...)...)
}

// cmp is 1 when equal, -1 when not (Kamailio's cmp_str returns the
// position of the difference; scripts only test its sign).
func cmp(a, b string) int { return dispatch.Result(a == b) }

// pos turns a 0-based index into Kamailio's 1-based result (-1: absent).
func pos(i int) int {
	if i < 0 {
		return -1
	}
	return i + 1
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func inList(s, list, sep string, prefix bool) int {
	if sep == "" {
		return -1
	}
	for _, item := range strings.Split(list, sep[:1]) {
		item = strings.TrimSpace(item)
		if item == s || prefix && item != "" && strings.HasPrefix(s, item) {
			return 1
		}
	}
	return -1
}

// compile compiles a regular expression the way Kamailio's textops does
// (case-insensitive), logging a bad one.
func compile(c *router.Ctx, re string) *regexp.Regexp {
	r, err := router.Regexp(re)
	if err != nil {
		c.Log().Error("textops: bad regular expression "+re+": "+err.Error(), "route", c.Route)
	}
	return r
}

func match(c *router.Ctx, re string, b []byte) int {
	r := compile(c, re)
	if r == nil {
		return -1
	}
	return dispatch.Result(r.Match(b))
}

// matchNames counts (and with remove, removes) the header fields whose
// name matches re and not skip.
func matchNames(c *router.Ctx, re, skip string, remove bool) int {
	r := compile(c, re)
	if r == nil {
		return -1
	}
	var sr *regexp.Regexp
	if skip != "" {
		if sr = compile(c, skip); sr == nil {
			return -1
		}
	}
	n := 0
	m := c.Msg
	for i := 0; i < m.NumHeaders(); i++ {
		name := m.Header(i).Name
		if !r.Match(name) || sr != nil && sr.Match(name) {
			continue
		}
		n++
		if remove {
			m.RemoveHeader(i)
		}
	}
	return n
}

// searchHF matches re against the bodies of header fields named name;
// flags "f" checks the first only, "l" the last.
func searchHF(c *router.Ctx, name, re, flags string) int {
	r := compile(c, re)
	if r == nil {
		return -1
	}
	idx := 0
	if strings.Contains(flags, "l") {
		idx = -1
	}
	if strings.ContainsAny(flags, "fl") {
		i := hdr.Index(c.Msg, name, idx)
		return dispatch.Result(i >= 0 && r.Match(c.Msg.Header(i).Value))
	}
	for k := 0; ; k++ {
		i := hdr.Index(c.Msg, name, k)
		if i < 0 {
			return -1
		}
		if r.Match(c.Msg.Header(i).Value) {
			return 1
		}
	}
}

func setBody(c *router.Ctx, body, ctype string) int {
	m := c.Msg
	if err := m.SetBody([]byte(body)); err != nil {
		return -1
	}
	if ctype != "" {
		hdr.Remove(c, "Content-Type")
		m.AppendHeader([]byte("Content-Type: " + ctype))
	}
	return 1
}
