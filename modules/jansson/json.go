package jansson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// value is a JSON value as libjansson keeps it: objects keep their keys
// in the order they were added, integers and reals are told apart by
// their text.
type value struct {
	kind  kind
	str   string   // a string
	i     int64    // an integer
	f     float64  // a real
	items []*value // an array
	keys  []string // an object's keys, in order
	vals  []*value // and their values
}

type kind uint8

const (
	kNull kind = iota
	kTrue
	kFalse
	kInt
	kReal
	kString
	kArray
	kObject
)

func (v *value) get(key string) *value {
	if v == nil || v.kind != kObject {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// set replaces the value of key, or adds it last.
func (v *value) set(key string, x *value) {
	for i, k := range v.keys {
		if k == key {
			v.vals[i] = x
			return
		}
	}
	v.keys, v.vals = append(v.keys, key), append(v.vals, x)
}

// decode reads a JSON text as libjansson's json_loads with
// JSON_REJECT_DUPLICATES: an object or an array at the top, no key twice
// in an object, valid UTF-8, nothing after it.
func decode(s string) (*value, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("invalid UTF-8")
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') && t != json.Delim('[') {
		return nil, errors.New("'[' or '{' expected")
	}
	v, err := decodeFrom(d, t)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("end of file expected")
	}
	return v, nil
}

func decodeFrom(d *json.Decoder, t json.Token) (*value, error) {
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			v := &value{kind: kObject}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				if v.get(k) != nil {
					return nil, fmt.Errorf("duplicate object key %q", k)
				}
				vt, err := d.Token()
				if err != nil {
					return nil, err
				}
				val, err := decodeFrom(d, vt)
				if err != nil {
					return nil, err
				}
				v.keys, v.vals = append(v.keys, k), append(v.vals, val)
			}
			_, err := d.Token() // }
			return v, err
		case '[':
			v := &value{kind: kArray}
			for d.More() {
				it, err := d.Token()
				if err != nil {
					return nil, err
				}
				val, err := decodeFrom(d, it)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, val)
			}
			_, err := d.Token() // ]
			return v, err
		}
	case string:
		return &value{kind: kString, str: x}, nil
	case bool:
		if x {
			return &value{kind: kTrue}, nil
		}
		return &value{kind: kFalse}, nil
	case nil:
		return &value{kind: kNull}, nil
	case json.Number:
		return number(string(x))
	}
	return nil, fmt.Errorf("unexpected %v", t)
}

// number is a JSON number: a real when it has a '.' or an exponent, else
// an integer (one past 64 bits is an error, as libjansson's).
func number(s string) (*value, error) {
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errors.New("real number overflow")
		}
		return &value{kind: kReal, f: f}, nil
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, errors.New("too big integer")
	}
	return &value{kind: kInt, i: i}, nil
}

// encode writes v as libjansson's json_dumps: compact (JSON_COMPACT: no
// spaces) or with ", " and ": " between items.
func encode(v *value, compact bool) string {
	var b bytes.Buffer
	sep, colon := ", ", ": "
	if compact {
		sep, colon = ",", ":"
	}
	var w func(v *value)
	w = func(v *value) {
		switch v.kind {
		case kNull:
			b.WriteString("null")
		case kTrue:
			b.WriteString("true")
		case kFalse:
			b.WriteString("false")
		case kInt:
			b.WriteString(strconv.FormatInt(v.i, 10))
		case kReal:
			b.WriteString(dumpReal(v.f))
		case kString:
			writeString(&b, v.str)
		case kArray:
			b.WriteByte('[')
			for i, it := range v.items {
				if i > 0 {
					b.WriteString(sep)
				}
				w(it)
			}
			b.WriteByte(']')
		case kObject:
			b.WriteByte('{')
			for i, k := range v.keys {
				if i > 0 {
					b.WriteString(sep)
				}
				writeString(&b, k)
				b.WriteString(colon)
				w(v.vals[i])
			}
			b.WriteByte('}')
		}
	}
	w(v)
	return b.String()
}

// dumpReal is libjansson's real in a dump: 17 significant digits, ".0"
// when that reads as an integer, the exponent without '+' or leading
// zeros.
func dumpReal(f float64) string {
	s := strconv.FormatFloat(f, 'g', 17, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		mant, exp := s[:i], s[i+1:]
		neg := strings.HasPrefix(exp, "-")
		exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
		if exp == "" {
			exp = "0"
		}
		if neg {
			exp = "-" + exp
		}
		s = mant + "e" + exp
	}
	return s
}

// writeString writes a JSON string as libjansson does: \" \\ and the
// control characters escaped (\b \f \n \r \t, else \u00XX), the rest as
// it is.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(b, `\u%04X`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// pathGet finds the value at path ("a.b[0].c", "[1].x") in root; nil when
// there is none.
func pathGet(root *value, path string) *value {
	cur := root
	toks, ok := splitPath(path)
	if !ok {
		return nil
	}
	for _, t := range toks {
		if cur == nil {
			return nil
		}
		if t.index {
			n, ok := index(t.s)
			if !ok || cur.kind != kArray || n >= len(cur.items) {
				return nil
			}
			cur = cur.items[n]
		} else {
			cur = cur.get(t.s)
		}
	}
	return cur
}

// token is a step of a path: an object key, or an array index.
type token struct {
	s     string
	index bool
	last  bool
}

// splitPath reads a path: keys separated by '.', indexes in brackets; a
// path may start with an index. Anything after a ']' but '.' or '[' is an
// error.
func splitPath(path string) ([]token, bool) {
	if path == "" {
		return nil, true // the root
	}
	var out []token
	p := path
	inIndex := false
	if strings.HasPrefix(p, "[") {
		inIndex, p = true, p[1:]
	}
	for {
		if inIndex {
			if p == "" {
				return out, true // "a[" is "a", as libjansson's walk ends there
			}
			i := strings.IndexByte(p, ']')
			if i < 0 {
				return nil, false
			}
			out = append(out, token{s: p[:i], index: true})
			p = p[i+1:]
			if p == "" {
				return out, true
			}
			switch p[0] {
			case '.':
				p, inIndex = p[1:], false
			case '[':
				p = p[1:]
			default:
				return nil, false
			}
			continue
		}
		i := strings.IndexAny(p, ".[")
		if i < 0 {
			if p != "" || len(out) == 0 { // a trailing '.' ends the walk
				out = append(out, token{s: p, last: true})
			}
			return out, true
		}
		out = append(out, token{s: p[:i]})
		inIndex = p[i] == '['
		p = p[i+1:]
	}
}

// index reads an array index as C's strtol(s, &end, 0) with nothing left
// after: decimal, 0x hex or 0 octal; a negative one is out of any array.
func index(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return int(n), true
}

// pathSet puts x at path in root (jansson_set; with appendTo, adds it to
// the array there or merges it into the object there): the objects on
// the way are made, arrays are not.
func pathSet(root *value, path string, x *value, appendTo bool) error {
	toks, ok := splitPath(path)
	switch {
	case !ok:
		return errors.New("invalid JSON path")
	case len(toks) == 0 && appendTo:
		return appendInto(root, x) // "" appends to the root
	case len(toks) == 0:
		return errors.New("invalid JSON path")
	}
	cur := root
	var parent *value
	saved := -1
	for i, t := range toks {
		if t.index {
			if cur.kind != kArray {
				return errors.New("array expected")
			}
			n, ok := index(t.s)
			if !ok || n >= len(cur.items) {
				return errors.New("array index out of bound")
			}
			parent, cur, saved = cur, cur.items[n], n
			continue
		}
		if i == len(toks)-1 && t.last {
			return setLast(cur, t.s, x, appendTo, parent, saved)
		}
		if t.s == "" {
			if i == 0 && len(toks) > 1 && toks[1].index {
				continue // "[0]..." after an empty key
			}
			return errors.New("empty token")
		}
		next := cur.get(t.s)
		if next == nil {
			if cur.kind != kObject {
				return errors.New("object expected")
			}
			if i+1 < len(toks) && toks[i+1].index {
				return errors.New("new array is not allowed")
			}
			next = &value{kind: kObject}
			cur.set(t.s, next)
		}
		parent, cur, saved = cur, next, -1
	}
	// The path ended in an index: that element is replaced, even by
	// jansson_append (as libjansson's path code does).
	if saved >= 0 && parent != nil && parent.kind == kArray {
		parent.items[saved] = x
		return nil
	}
	return errors.New("invalid JSON path")
}

func setLast(cur *value, key string, x *value, appendTo bool, parent *value, saved int) error {
	if appendTo {
		if key != "" {
			return appendInto(cur.get(key), x)
		}
		return appendInto(cur, x)
	}
	if key != "" {
		if cur.kind != kObject {
			return errors.New("JSON object expected")
		}
		cur.set(key, x)
		return nil
	}
	if saved >= 0 && parent != nil && parent.kind == kArray {
		parent.items[saved] = x
		return nil
	}
	return errors.New("invalid JSON path")
}

// appendInto adds x to the array t, or merges the object x into the
// object t.
func appendInto(t, x *value) error {
	switch {
	case t != nil && t.kind == kArray:
		t.items = append(t.items, x)
	case t != nil && t.kind == kObject && x.kind == kObject:
		for i, k := range x.keys {
			t.set(k, x.vals[i])
		}
	default:
		return errors.New("JSON array or object expected")
	}
	return nil
}
