package golua

import (
	"strconv"
	"strings"
	"unsafe"

	lua "github.com/Shopify/go-lua"
	"github.com/yuin/gopher-lua/pm"
)

// go-lua has no Lua patterns: string.match, gmatch and gsub are missing
// and string.find searches plainly. Routing scripts use them, so they are
// added here on gopher-lua's pattern matcher (package pm), which both Lua
// engines then share: a pattern means the same thing in lua and golua.

const specials = "^$*+?.([%-"

// openPatterns puts find, match, gmatch and gsub into the string table
// (also the strings' metatable __index, so s:match(p) works).
func openPatterns(l *lua.State) {
	l.Global("string")
	for _, f := range []struct {
		name string
		fn   lua.Function
	}{{"find", strFind}, {"match", strMatch}, {"gmatch", strGmatch}, {"gsub", strGsub}} {
		l.PushGoFunction(f.fn)
		l.SetField(-2, f.name)
	}
	l.Pop(1)
}

// bytesOf views s as bytes for pm, which only reads them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// startOffset turns Lua's init argument (1-based, negative from the end)
// into a 0-based offset.
func startOffset(i, n int) int {
	switch {
	case i > 0:
		return i - 1
	case i == 0 || -i > n:
		return 0
	}
	return n + i
}

func findMatches(l *lua.State, p, s string, offset, limit int) []*pm.MatchData {
	mds, err := pm.Find(p, bytesOf(s), offset, limit)
	if err != nil {
		lua.Errorf(l, "%s", "malformed pattern: "+err.Error())
	}
	return mds
}

func strFind(l *lua.State) int     { return find(l, false) }
func strMatch(l *lua.State) int    { return find(l, true) }
func pushNil(l *lua.State) int     { l.PushNil(); return 1 }
func capCount(m *pm.MatchData) int { return m.CaptureLength()/2 - 1 }

func find(l *lua.State, match bool) int {
	s, p := lua.CheckString(l, 1), lua.CheckString(l, 2)
	init := startOffset(lua.OptInteger(l, 3, 1), len(s))
	if init > len(s) {
		return pushNil(l)
	}
	if !match && (l.ToBoolean(4) || !strings.ContainsAny(p, specials)) {
		i := strings.Index(s[init:], p)
		if i < 0 {
			return pushNil(l)
		}
		l.PushInteger(init + i + 1)
		l.PushInteger(init + i + len(p))
		return 2
	}
	mds := findMatches(l, p, s, init, 1)
	if len(mds) == 0 {
		return pushNil(l)
	}
	m := mds[0]
	if match {
		return pushCaptures(l, s, m, true)
	}
	l.PushInteger(m.Capture(0) + 1)
	l.PushInteger(m.Capture(1))
	return 2 + pushCaptures(l, s, m, false)
}

// pushCaptures pushes the captures of m; with none, the whole match when
// whole is set.
func pushCaptures(l *lua.State, s string, m *pm.MatchData, whole bool) int {
	n := capCount(m)
	if n == 0 {
		if whole {
			l.PushString(s[m.Capture(0):m.Capture(1)])
			return 1
		}
		return 0
	}
	for i := 1; i <= n; i++ {
		pushCapture(l, s, m, i)
	}
	return n
}

// pushCapture pushes capture i (1-based): a string, or a position for ().
func pushCapture(l *lua.State, s string, m *pm.MatchData, i int) {
	if m.IsPosCapture(2 * i) {
		l.PushInteger(m.Capture(2 * i))
		return
	}
	l.PushString(s[m.Capture(2*i):m.Capture(2*i+1)])
}

func strGmatch(l *lua.State) int {
	s, p := lua.CheckString(l, 1), lua.CheckString(l, 2)
	pos := 0
	l.PushGoFunction(func(l *lua.State) int {
		if pos <= len(s) {
			mds := findMatches(l, p, s, pos, 1)
			if len(mds) == 0 {
				pos = len(s) + 1
				return 0
			}
			m := mds[0]
			pos = m.Capture(1)
			if m.Capture(1) == m.Capture(0) {
				pos++ // an empty match: go on after it
			}
			return pushCaptures(l, s, m, true)
		}
		return 0
	})
	return 1
}

func strGsub(l *lua.State) int {
	s, p := lua.CheckString(l, 1), lua.CheckString(l, 2)
	switch l.TypeOf(3) {
	case lua.TypeString, lua.TypeNumber, lua.TypeTable, lua.TypeFunction:
	default:
		lua.ArgumentError(l, 3, "string/function/table expected")
	}
	limit := lua.OptInteger(l, 4, -1)
	mds := findMatches(l, p, s, 0, limit)
	var b strings.Builder
	last := 0
	for _, m := range mds {
		start, end := m.Capture(0), m.Capture(1)
		b.WriteString(s[last:start])
		last = end
		whole := s[start:end]
		if l.TypeOf(3) == lua.TypeString || l.TypeOf(3) == lua.TypeNumber {
			repl, _ := l.ToString(3)
			expand(l, &b, repl, s, m)
			continue
		}
		if l.TypeOf(3) == lua.TypeFunction {
			l.PushValue(3)
			n := pushCaptures(l, s, m, true)
			l.Call(n, 1)
		} else {
			if capCount(m) == 0 {
				l.PushString(whole)
			} else {
				pushCapture(l, s, m, 1)
			}
			l.Table(3)
		}
		switch l.TypeOf(-1) {
		case lua.TypeNil:
			b.WriteString(whole)
		case lua.TypeBoolean:
			if l.ToBoolean(-1) {
				lua.Errorf(l, "invalid replacement value (a boolean)")
			}
			b.WriteString(whole)
		case lua.TypeString, lua.TypeNumber:
			v, _ := l.ToString(-1)
			b.WriteString(v)
		default:
			lua.Errorf(l, "%s", "invalid replacement value (a "+lua.TypeNameOf(l, -1)+")")
		}
		l.Pop(1)
	}
	b.WriteString(s[last:])
	l.PushString(b.String())
	l.PushInteger(len(mds))
	return 2
}

// expand writes a string replacement: %0 is the whole match, %1..%9 the
// captures, %% a percent sign.
func expand(l *lua.State, b *strings.Builder, repl, s string, m *pm.MatchData) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(repl) {
			lua.Errorf(l, "invalid use of '%%' in replacement string")
		}
		c = repl[i]
		switch {
		case c == '%':
			b.WriteByte('%')
		case c == '0' || (c == '1' && capCount(m) == 0):
			b.WriteString(s[m.Capture(0):m.Capture(1)])
		case c >= '1' && c <= '9':
			n := int(c - '0')
			if n > capCount(m) {
				lua.Errorf(l, "invalid capture index %%%d", n)
			}
			if m.IsPosCapture(2 * n) {
				b.WriteString(strconv.Itoa(m.Capture(2 * n)))
			} else {
				b.WriteString(s[m.Capture(2*n):m.Capture(2*n+1)])
			}
		default:
			lua.Errorf(l, "invalid use of '%%' in replacement string")
		}
	}
}
