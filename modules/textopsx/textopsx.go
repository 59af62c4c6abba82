// Package textopsx is Kamailio's textopsx module: applying the pending
// changes to the message (msg_apply_changes), replacing it, changing a
// reply's status, removing the body or all but some header fields,
// shell-pattern matching, editing the values of comma-separated header
// fields (append_hf_value, remove_hf_value, include_hf_value, ...), and
// iterators over the header fields and over the lines of the body.
package textopsx

import (
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

var _ dispatch.Module = Module{}

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "textopsx", New: func() dispatch.Module { return Module{} }})
	// $hfitname(it), $hfitbody(it): the header field iterator it is on;
	// $blitval(it): the body line.
	router.RegisterPV("hfitname", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value { return hfField(c, pv.Arg, true) }})
	router.RegisterPV("hfitbody", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value { return hfField(c, pv.Arg, false) }})
	router.RegisterPV("blitval", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value { return blValue(c, pv.Arg) }})
}

// Module is the textopsx module; its only state is per request (the
// iterators).
type Module struct{}

// Exports are KSR.textopsx.
func (Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "msg_apply_changes", Ret: dispatch.Int, Fn: dispatch.F0(applyChanges)},
		{Name: "msg_set_buffer", Ret: dispatch.Int, Fn: dispatch.FS(setBuffer)},
		{Name: "change_reply_status", Ret: dispatch.Int, Fn: dispatch.FIS(changeStatus)},
		{Name: "change_reply_status_code", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, code int) int {
			return changeStatus(c, code, "")
		})},
		{Name: "remove_body", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if len(c.Msg.Body()) == 0 {
				return -1
			}
			return edited(c, "remove_body", c.Msg.SetBody(nil))
		})},
		{Name: "keep_hf", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return keepHF(c, "") })},
		{Name: "keep_hf_re", Native: "keep_hf", Ret: dispatch.Int, Fn: dispatch.FS(keepHF)},
		{Name: "fnmatch", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, v, pat string) int {
			return dispatch.Result(Fnmatch(pat, v, false))
		})},
		{Name: "fnmatch_ex", Native: "fnmatch", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, v, pat, flags string) int {
			return dispatch.Result(Fnmatch(pat, v, strings.ContainsAny(flags, "iI")))
		})},

		{Name: "append_hf_value", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opAppend, hf, v, false) })},
		{Name: "insert_hf_value", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opInsert, hf, v, false) })},
		{Name: "remove_hf_value", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, hf string) int { return hfValue(c, opRemove, hf, "", false) })},
		{Name: "remove_hf_value2", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, param string) int {
			return hfValue(c, opRemove, withParam(hf, param), "", true)
		})},
		{Name: "assign_hf_value", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opAssign, hf, v, false) })},
		{Name: "assign_hf_value2", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opAssign, hf, v, true) })},
		{Name: "include_hf_value", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opInclude, hf, v, false) })},
		{Name: "exclude_hf_value", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int { return hfValue(c, opExclude, hf, v, false) })},
		{Name: "hf_value_exists", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, hf, v string) int {
			return hfValue(c, opExists, strings.ReplaceAll(hf, "_", "-"), v, false)
		})},

		{Name: "hf_iterator_start", Ret: dispatch.Int, Fn: dispatch.FS(hfStart)},
		{Name: "hf_iterator_end", Ret: dispatch.Int, Fn: dispatch.FS(hfEnd)},
		{Name: "hf_iterator_next", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int { return hfStep(c, n, 1) })},
		{Name: "hf_iterator_prev", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int { return hfStep(c, n, -1) })},
		{Name: "hf_iterator_rm", Ret: dispatch.Int, Fn: dispatch.FS(hfRemove)},
		{Name: "hf_iterator_append", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, text string) int { return hfAdd(c, n, text, true) })},
		{Name: "hf_iterator_insert", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, text string) int { return hfAdd(c, n, text, false) })},
		{Name: "hf_iterator_hname", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return hfField(c, n, true) })},
		{Name: "hf_iterator_hbody", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return hfField(c, n, false) })},

		{Name: "bl_iterator_start", Ret: dispatch.Int, Fn: dispatch.FS(blStart)},
		{Name: "bl_iterator_end", Ret: dispatch.Int, Fn: dispatch.FS(blEnd)},
		{Name: "bl_iterator_next", Ret: dispatch.Int, Fn: dispatch.FS(blNext)},
		{Name: "bl_iterator_value", Ret: dispatch.XVal, Fn: dispatch.VS(blValue)},
		{Name: "bl_iterator_rm", Ret: dispatch.Int, Fn: dispatch.FS(blRemove)},
		{Name: "bl_iterator_append", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, text string) int { return blAdd(c, n, text, true) })},
		{Name: "bl_iterator_insert", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, n, text string) int { return blAdd(c, n, text, false) })},
	}
}

func edited(c *router.Ctx, fn string, err error) int {
	if err != nil {
		c.Log().Error("textopsx."+fn+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// applyChanges makes the message what it would be if sent now: the
// pending edits (added and removed header fields, a new body) are
// applied and the result parsed again, so that the rest of the script
// sees them. As in Kamailio, only before a transaction exists.
func applyChanges(c *router.Ctx) int {
	if c.Transaction != nil {
		c.Log().Error("textopsx.msg_apply_changes: the transaction exists already: call it before t_newtran or t_relay", "route", c.Route)
		return -1
	}
	return reparse(c, "msg_apply_changes", c.Msg.AppendTo(nil))
}

// setBuffer replaces the message with data, which must be a request when
// the message is one and a reply when it is a reply.
func setBuffer(c *router.Ctx, data string) int {
	if c.Transaction != nil {
		c.Log().Error("textopsx.msg_set_buffer: the transaction exists already", "route", c.Route)
		return -1
	}
	if (strings.HasPrefix(data, "SIP/2.0 ")) == c.Msg.IsRequest() {
		c.Log().Error("textopsx.msg_set_buffer: a request must be replaced by a request, a reply by a reply", "route", c.Route)
		return -1
	}
	return reparse(c, "msg_set_buffer", []byte(data))
}

// reparse makes b the message; when it does not parse, the message is
// left as it was (Kamailio stops the script with a broken message; kemi
// keeps the one it had and says why).
func reparse(c *router.Ctx, fn string, b []byte) int {
	return edited(c, fn, c.ReplaceMsg(b))
}

// changeStatus changes the status code of the reply being routed, and
// with a reason its reason phrase. Like Kamailio, it does not change the
// class of a provisional or positive reply, nor make one.
func changeStatus(c *router.Ctx, code int, reason string) int {
	m := c.Msg
	if m.IsRequest() {
		c.Log().Error("textopsx.change_reply_status: not a reply", "route", c.Route)
		return -1
	}
	old := m.StatusCode()
	if code < 100 || code > 699 || (code < 300 || old < 300) && code/100 != old/100 {
		c.Log().Error("textopsx.change_reply_status: cannot change "+strconv.Itoa(old)+" to "+strconv.Itoa(code), "route", c.Route)
		return -1
	}
	b := m.Bytes()
	// "SIP/2.0 200 OK": the code is the three digits after the first space.
	sp := strings.IndexByte(string(b[:min(len(b), 16)]), ' ')
	if sp < 0 || edited(c, "change_reply_status", m.ReplaceAt(sp+1, 3, []byte(strconv.Itoa(code)))) < 0 {
		return -1
	}
	if reason == "" {
		return 1
	}
	reason = strings.NewReplacer("\r", " ", "\n", " ").Replace(reason)
	if r := m.Reason(); len(r) > 0 {
		return edited(c, "change_reply_status", m.Replace(r, []byte(reason)))
	}
	return edited(c, "change_reply_status", m.ReplaceAt(sp+4, 0, []byte(" "+reason)))
}

// keepHF removes every header field but the ones a message cannot do
// without and, with re, the ones whose name matches it.
func keepHF(c *router.Ctx, re string) int {
	m := c.Msg
	var keep func([]byte) bool
	if re != "" {
		r, err := router.Regexp(re)
		if err != nil {
			return edited(c, "keep_hf", err)
		}
		keep = r.Match
	}
	for i := 0; i < m.NumHeaders(); i++ {
		h := m.Header(i)
		switch h.Type {
		case sip.HdrVia, sip.HdrFrom, sip.HdrTo, sip.HdrCallID, sip.HdrCSeq, sip.HdrContentLength,
			sip.HdrContentType, sip.HdrMaxForwards, sip.HdrContact, sip.HdrRoute, sip.HdrRecordRoute:
			continue
		}
		if keep != nil && keep(h.Name) {
			continue
		}
		if edited(c, "keep_hf", m.RemoveHeader(i)) < 0 {
			return -1
		}
	}
	return 1
}

// Fnmatch matches s against a shell pattern as Fnmatch(3) without flags
// does: * and ? match any character ('/' and a leading '.' included),
// [...] a set ([!...] or [^...] its complement, a-z a range), \ quotes.
func Fnmatch(pat, s string, fold bool) bool {
	if fold {
		pat, s = strings.ToLower(pat), strings.ToLower(s)
	}
	// Iterative, with one point to come back to for the last '*'.
	p, i, starP, starI := 0, 0, -1, 0
	for i < len(s) {
		if p < len(pat) {
			switch pat[p] {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if n, ok := matchSet(pat[p:], s[i]); n > 0 {
					if ok {
						p += n
						i++
						continue
					}
					goto back
				}
			case '\\':
				if p+1 < len(pat) {
					if pat[p+1] == s[i] {
						p += 2
						i++
						continue
					}
					goto back
				}
			}
			if pat[p] == s[i] {
				p++
				i++
				continue
			}
		}
	back:
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// matchSet matches b against the set that starts pat ("[...]"); n is the
// set's length, 0 when pat has no closing ']' (then '[' is itself).
func matchSet(pat string, b byte) (n int, ok bool) {
	i := 1
	neg := i < len(pat) && (pat[i] == '!' || pat[i] == '^')
	if neg {
		i++
	}
	first := true
	for ; i < len(pat); i++ {
		ch := pat[i]
		if ch == ']' && !first {
			return i + 1, ok != neg
		}
		first = false
		if ch == '\\' && i+1 < len(pat) {
			i++
			ch = pat[i]
		}
		if i+2 < len(pat) && pat[i+1] == '-' && pat[i+2] != ']' {
			if ch <= b && b <= pat[i+2] {
				ok = true
			}
			i += 2
			continue
		}
		if ch == b {
			ok = true
		}
	}
	return 0, false
}
