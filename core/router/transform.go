package router

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kemi-sip/kemi/core/sip"
)

type transform func(c *Ctx, v Value) Value

// transBufs counts the scratch buffers transformations have reserved;
// each worker grows its own set to match.
var transBufs atomic.Int64

// tbuf is the worker's scratch buffer i.
func (c *Ctx) tbuf(i int) *[]byte {
	w := c.W
	for len(w.tbufs) <= i {
		w.tbufs = append(w.tbufs, nil)
	}
	return &w.tbufs[i]
}

// splitTransforms takes "$(name(arg){t1}{t2})" apart into "$name(arg)" and
// the transformations; other names come back as they are.
func splitTransforms(name string) (string, []string, error) {
	if !strings.HasPrefix(name, "$(") || !strings.HasSuffix(name, ")") {
		return name, nil, nil
	}
	inner := name[2 : len(name)-1]
	depth, cut := 0, -1
	for i := 0; i < len(inner) && cut < 0; i++ {
		switch inner[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '{', '[':
			if depth == 0 {
				cut = i
			}
		}
	}
	if cut < 0 {
		return name, nil, nil
	}
	base := inner[:cut]
	if inner[cut] == '[' { // an index: the classes that take one read it
		end := strings.IndexByte(inner[cut:], ']')
		if end < 0 {
			return "", nil, errBad("unclosed '['")
		}
		cut += end + 1
		base = inner[:cut]
	}
	var trans []string
	rest := inner[cut:]
	for len(rest) > 0 {
		if rest[0] != '{' {
			return "", nil, errBad("expected '{' at " + strconv.Quote(rest))
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return "", nil, errBad("unclosed '{'")
		}
		trans = append(trans, rest[1:end])
		rest = rest[end+1:]
	}
	return "$" + base, trans, nil
}

// transform compiles one transformation: s.len, s.tolower, s.toupper,
// s.substr,offset,length, s.int, uri.user, uri.host, uri.port,
// uri.param,name, param.value,name.
func compileTransform(t string) (transform, error) {
	parts := strings.Split(t, ",")
	name := strings.TrimSpace(parts[0])
	args := parts[1:]
	need := func(n int) error {
		if len(args) != n {
			return errArgs(name, n, len(args))
		}
		return nil
	}
	b := int(transBufs.Add(1) - 1)
	switch name {
	case "s.len":
		return func(c *Ctx, v Value) Value {
			var tmp [24]byte
			return IntValue(int64(len(view(v, &tmp))))
		}, need(0)
	case "s.tolower", "s.toupper":
		upper := name == "s.toupper"
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return v
			}
			var tmp [24]byte
			out := (*c.tbuf(b))[:0]
			for _, ch := range view(v, &tmp) {
				if upper && ch >= 'a' && ch <= 'z' {
					ch -= 'a' - 'A'
				} else if !upper && ch >= 'A' && ch <= 'Z' {
					ch += 'a' - 'A'
				}
				out = append(out, ch)
			}
			*c.tbuf(b) = out
			return BytesValue(out)
		}, need(0)
	case "s.substr":
		if err := need(2); err != nil {
			return nil, err
		}
		off, err1 := strconv.Atoi(strings.TrimSpace(args[0]))
		n, err2 := strconv.Atoi(strings.TrimSpace(args[1]))
		if err1 != nil || err2 != nil || n < 0 {
			return nil, errBad("s.substr wants an offset and a length")
		}
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return v
			}
			var tmp [24]byte
			s := view(v, &tmp)
			start := off
			if start < 0 {
				start += len(s)
			}
			if start < 0 || start > len(s) {
				return Value{}
			}
			end := len(s)
			if n > 0 && start+n < end {
				end = start + n
			}
			out := append((*c.tbuf(b))[:0], s[start:end]...)
			*c.tbuf(b) = out
			return BytesValue(out)
		}, nil
	case "s.int":
		return func(c *Ctx, v Value) Value {
			var tmp [24]byte
			s := view(v, &tmp)
			i := 0
			if i < len(s) && (s[i] == '-' || s[i] == '+') {
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			n, _ := strconv.ParseInt(string(s[:i]), 10, 64)
			return IntValue(n)
		}, need(0)
	case "uri.user", "uri.host", "uri.port", "uri.params", "uri.param":
		var pname string
		if name == "uri.param" {
			if err := need(1); err != nil {
				return nil, err
			}
			pname = strings.TrimSpace(args[0])
		} else if err := need(0); err != nil {
			return nil, err
		}
		return func(c *Ctx, v Value) Value {
			if v.Kind == Null {
				return v
			}
			var tmp [24]byte
			in := append((*c.tbuf(b))[:0], view(v, &tmp)...) // the URI outlives the value it came from
			*c.tbuf(b) = in
			if i := bytes.IndexByte(in, '<'); i >= 0 { // a name-addr: take the URI inside <>
				if j := bytes.IndexByte(in[i:], '>'); j > 0 {
					in = in[i+1 : i+j]
				}
			}
			var u sip.URI
			if sip.ParseURI(in, &u) != nil {
				return Value{}
			}
			switch name {
			case "uri.user":
				return BytesValue(u.User)
			case "uri.host":
				return BytesValue(u.Host)
			case "uri.port":
				if u.Port == 0 {
					return Value{}
				}
				return IntValue(int64(u.Port))
			case "uri.params":
				return BytesValue(u.Params)
			}
			p, ok := u.Param(pname)
			if !ok {
				return Value{}
			}
			return BytesValue(p)
		}, nil
	case "param.value":
		if err := need(1); err != nil {
			return nil, err
		}
		pname := strings.TrimSpace(args[0])
		return func(c *Ctx, v Value) Value {
			var tmp [24]byte
			in := append((*c.tbuf(b))[:0], view(v, &tmp)...)
			*c.tbuf(b) = in
			p, ok := sip.Param(in, pname)
			if !ok {
				return Value{}
			}
			return BytesValue(p)
		}, nil
	}
	transMu.RLock()
	mk := transClasses[name]
	transMu.RUnlock()
	if mk == nil {
		return nil, errBad("unknown transformation")
	}
	fn, err := mk(args)
	if err != nil {
		return nil, err
	}
	return fn, nil
}

// A TransformMaker makes a module's transformation ({sql.val}) from its
// parameters, once, when a script is loaded.
type TransformMaker func(args []string) (func(c *Ctx, v Value) Value, error)

var (
	transMu      sync.RWMutex
	transClasses = map[string]TransformMaker{}
)

// RegisterTransform adds a module's transformation under its full name
// ("sql.val"). A duplicate or a name of the core's panics.
func RegisterTransform(name string, mk TransformMaker) {
	transMu.Lock()
	defer transMu.Unlock()
	if _, dup := transClasses[name]; dup {
		panic("router: transformation {" + name + "} registered twice")
	}
	transClasses[name] = mk
}

type errBad string

func (e errBad) Error() string { return string(e) }

func errArgs(name string, want, got int) error {
	return errBad(name + ": wants " + strconv.Itoa(want) + " parameters, got " + strconv.Itoa(got))
}

// view is a value's string form without a copy: a view into its bytes, or
// the decimal of an int written into tmp.
func view(v Value, tmp *[24]byte) []byte {
	switch v.Kind {
	case Int:
		return strconv.AppendInt(tmp[:0], v.I, 10)
	case Str:
		if v.B != nil {
			return v.B
		}
		return unsafe.Slice(unsafe.StringData(v.S), len(v.S))
	}
	return nil
}

// View is a value's string form without a copy (tmp holds an int's
// digits). The bytes must not be changed.
func View(v Value, tmp *[24]byte) []byte { return view(v, tmp) }
