// Package hdr exports KSR.hdr: add, remove and read header fields of the
// current message, as Kamailio's core KSR.hdr functions.
package hdr

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "hdr", Core: true, New: func() dispatch.Module { return Module{} }})
}

// Module is the hdr module; it keeps no state.
type Module struct{}

// Exports are KSR.hdr.
func (Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "append", Ret: dispatch.Int, Fn: dispatch.FS(Append), Native: "append_hf"},
		{Name: "append_hf", Ret: dispatch.Int, Fn: dispatch.FS(Append)}, // the older name
		{Name: "insert", Ret: dispatch.Int, Fn: dispatch.FS(Insert), Native: "insert_hf"},
		{Name: "append_after", Ret: dispatch.Int, Fn: dispatch.FSS(appendAfter)},
		{Name: "insert_before", Ret: dispatch.Int, Fn: dispatch.FSS(insertBefore)},
		{Name: "remove", Ret: dispatch.Int, Fn: dispatch.FS(Remove)},
		{Name: "rmappend", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, rm, add string) int {
			Remove(c, rm)
			return Append(c, add)
		})},
		{Name: "rminsert", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, rm, add string) int {
			Remove(c, rm)
			return Insert(c, add)
		})},
		{Name: "is_present", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			if Index(c.Msg, name, 0) >= 0 {
				return 1
			}
			return -1
		})},
		{Name: "match_content", Ret: dispatch.Bool, Fn: dispatch.FSSSS(matchContent)},
		{Name: "get", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return get(c, n, 0) })},
		{Name: "gete", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return get(c, n, 0).Or("") })},
		{Name: "getw", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return get(c, n, 0).Or("<<null>>") })},
		{Name: "get_idx", Ret: dispatch.XVal, Fn: dispatch.VSI(get)},
		{Name: "gete_idx", Ret: dispatch.XVal, Fn: dispatch.VSI(func(c *router.Ctx, n string, i int) router.Value { return get(c, n, i).Or("") })},
		{Name: "getw_idx", Ret: dispatch.XVal, Fn: dispatch.VSI(func(c *router.Ctx, n string, i int) router.Value { return get(c, n, i).Or("<<null>>") })},
		{Name: "append_to_reply", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, line string) int {
			if !validLine(line) {
				return -1
			}
			c.AddReplyHeader([]byte(line))
			return 1
		})},
	}
}

// Index is the index of the idx-th header field named name (counted from
// 0; a negative idx counts from the last), -1 when there is none.
func Index(m *sip.Msg, name string, idx int) int {
	n := []byte(name)
	t := sip.ClassifyHeader(n)
	next := func(after int) int {
		if t != sip.HdrOther {
			return m.NextHeader(t, after)
		}
		return m.NextHeaderNamed(n, after)
	}
	if idx >= 0 {
		i := next(-1)
		for ; i >= 0 && idx > 0; idx-- {
			i = next(i)
		}
		return i
	}
	var ring [16]int // the last few, for a negative index
	count := 0
	for i := next(-1); i >= 0; i = next(i) {
		ring[count%len(ring)] = i
		count++
	}
	k := count + idx
	if k < 0 || -idx > len(ring) {
		return -1
	}
	return ring[k%len(ring)]
}

// get is the body of the idx-th header field named name, null when none.
func get(c *router.Ctx, name string, idx int) router.Value {
	i := Index(c.Msg, name, idx)
	if i < 0 {
		return router.Value{}
	}
	return router.BytesValue(c.Msg.Header(i).Value)
}

// matchContent compares the bodies of the headers named name with val,
// without regard to case: op "eq", "ne", "sw" (starts with) or "in"
// (contains); which is "f" (the first header decides), "l" (the last),
// "a" (all must match) or "o" (one is enough). No such header: false
// (the core's hdr.match_content).
func matchContent(c *router.Ctx, name, op, val, which string) int {
	op = strings.ToLower(op)
	if op != "eq" && op != "ne" && op != "sw" && op != "in" {
		c.Log().Error("hdr.match_content: operator "+strconv.Quote(op)+": want eq, ne, sw or in", "route", c.Route)
		return -1
	}
	match := func(b []byte) bool {
		switch op {
		case "eq":
			return bytes.EqualFold(b, []byte(val))
		case "ne":
			return !bytes.EqualFold(b, []byte(val))
		case "sw":
			return len(b) >= len(val) && bytes.EqualFold(b[:len(val)], []byte(val))
		}
		return containsFold(b, val)
	}
	mode := byte(0)
	if which != "" {
		mode = which[0] | 0x20
	}
	if mode != 'f' && mode != 'l' && mode != 'a' && mode != 'o' {
		c.Log().Error("hdr.match_content: index "+strconv.Quote(which)+": want f, l, a or o", "route", c.Route)
		return -1
	}
	matched := false
	for i := 0; ; i++ {
		h := Index(c.Msg, name, i)
		if h < 0 {
			break
		}
		matched = match(bytes.TrimSpace(c.Msg.Header(h).Value))
		switch {
		case mode == 'f', mode == 'a' && !matched, mode == 'o' && matched:
			return dispatch.Result(matched)
		}
	}
	return dispatch.Result(matched)
}

// containsFold reports whether s is in b, without regard to ASCII case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}

// validLine checks a header line from a script: "Name: value", an
// optional CRLF at the end.
func validLine(line string) bool {
	colon := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ':' {
			colon = i
			break
		}
	}
	return colon > 0
}

func edit(c *router.Ctx, fn string, err error) int {
	if err != nil {
		c.Log().Error("hdr."+fn+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// Append adds a header line after the last header.
func Append(c *router.Ctx, line string) int {
	if !validLine(line) {
		return edit(c, "append", errLine)
	}
	return edit(c, "append", c.Msg.AppendHeader([]byte(line)))
}

// Insert adds a header line before the first header.
func Insert(c *router.Ctx, line string) int {
	if !validLine(line) {
		return edit(c, "insert", errLine)
	}
	return edit(c, "insert", c.Msg.InsertHeader([]byte(line)))
}

func appendAfter(c *router.Ctx, line, after string) int {
	i := Index(c.Msg, after, 0)
	if i < 0 || !validLine(line) {
		return -1
	}
	return edit(c, "append_after", c.Msg.AppendHeaderAfter(i, []byte(line)))
}

func insertBefore(c *router.Ctx, line, before string) int {
	i := Index(c.Msg, before, 0)
	if i < 0 || !validLine(line) {
		return -1
	}
	return edit(c, "insert_before", c.Msg.InsertHeaderBefore(i, []byte(line)))
}

// Remove removes every header field named name; 1 when any was, else -1.
func Remove(c *router.Ctx, name string) int {
	n := 0
	for i := Index(c.Msg, name, 0); i >= 0; i = Index(c.Msg, name, n) {
		if err := c.Msg.RemoveHeader(i); err != nil {
			return edit(c, "remove", err)
		}
		n++
	}
	if n == 0 {
		return -1
	}
	return 1
}

var errLine = errors.New(`header line must be "Name: value"`)
