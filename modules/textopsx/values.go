package textopsx

import (
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/hdr"
)

// The *_hf_value functions see the header fields named NAME as one list
// of comma-separated values, and address them as Kamailio's textopsx
// does: NAME[IDX].PARAM, IDX counting values from 1 (negative: from the
// last, * every one), PARAM a parameter of the value. The *_hf_value2
// forms take each header field as one value whose parameters are
// separated by commas (the Authorization format).
type hfOp int

const (
	opAppend hfOp = iota
	opInsert
	opRemove
	opAssign
	opInclude
	opExclude
	opExists
)

// spec is a parsed NAME[IDX].PARAM.
type spec struct {
	name  string
	idx   int  // 1-based; negative from the last; 0 when not given
	all   bool // [*]
	param string
}

func parseSpec(s string) (spec, bool) {
	var sp spec
	name, rest, _ := strings.Cut(s, ".")
	sp.param = rest
	if i := strings.IndexByte(name, '['); i >= 0 {
		if !strings.HasSuffix(name, "]") {
			return sp, false
		}
		idx := name[i+1 : len(name)-1]
		name = name[:i]
		if idx == "*" {
			sp.all = true
		} else {
			n, err := strconv.Atoi(idx)
			if err != nil || n == 0 {
				return sp, false
			}
			sp.idx = n
		}
	}
	sp.name = strings.TrimSpace(name)
	return sp, sp.name != ""
}

// withParam joins remove_hf_value2's header and parameter arguments.
func withParam(hf, param string) string {
	if param == "" {
		return hf
	}
	return hf + "." + param
}

// field is one header field of the list: its index and its values.
type field struct {
	hdr     int
	values  []string
	changed bool
}

// fields reads the header fields named name and their values.
func fields(m *sip.Msg, name string, whole bool) []field {
	var fs []field
	for k := 0; ; k++ {
		i := hdr.Index(m, name, k)
		if i < 0 {
			return fs
		}
		v := string(m.Header(i).Value)
		f := field{hdr: i}
		if whole {
			f.values = []string{strings.TrimSpace(v)}
		} else {
			f.values = splitValues(v)
		}
		fs = append(fs, f)
	}
}

// splitValues splits a header field's value at the commas outside quotes
// and angle brackets.
func splitValues(v string) []string {
	var out []string
	quote, angle, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; {
		case ch == '\\' && quote:
			i++
		case ch == '"':
			quote = !quote
		case quote:
		case ch == '<':
			angle = true
		case ch == '>':
			angle = false
		case ch == ',' && !angle:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// ref is the position of one value: field f, value v.
type ref struct{ f, v int }

func refs(fs []field) []ref {
	var r []ref
	for f := range fs {
		for v := range fs[f].values {
			r = append(r, ref{f, v})
		}
	}
	return r
}

// selected are the values sp addresses; def is the index when none is
// given.
func (sp spec) selected(all []ref, def int) []ref {
	if sp.all {
		return all
	}
	n := sp.idx
	if n == 0 {
		n = def
	}
	if n < 0 {
		n += len(all) + 1
	}
	if n < 1 || n > len(all) {
		return nil
	}
	return all[n-1 : n]
}

func hfValue(c *router.Ctx, op hfOp, hfSpec, value string, whole bool) int {
	sp, ok := parseSpec(hfSpec)
	if !ok {
		c.Log().Error("textopsx: bad header field "+strconv.Quote(hfSpec)+" (NAME[IDX].PARAM)", "route", c.Route)
		return -1
	}
	m := c.Msg
	fs := fields(m, sp.name, whole)
	all := refs(fs)
	sep := byte(';')
	if whole {
		sep = ','
	}
	switch op {
	case opExists:
		for _, r := range all {
			if strings.EqualFold(fs[r.f].values[r.v], value) {
				return 1
			}
		}
		return -1
	case opInclude:
		for _, r := range all {
			if strings.EqualFold(fs[r.f].values[r.v], value) {
				return 1
			}
		}
		if len(fs) == 0 {
			return edited(c, "include_hf_value", m.AppendHeader([]byte(sp.name+": "+value)))
		}
		last := &fs[len(fs)-1]
		last.values, last.changed = append(last.values, value), true
	case opExclude:
		found := false
		for _, r := range all {
			if strings.EqualFold(fs[r.f].values[r.v], value) {
				fs[r.f].values[r.v], fs[r.f].changed, found = "\x00", true, true
			}
		}
		if !found {
			return -1
		}
	case opAppend, opInsert:
		if sp.idx == 0 && !sp.all {
			line := []byte(sp.name + ": " + value)
			if op == opAppend {
				return edited(c, "append_hf_value", m.AppendHeader(line))
			}
			return edited(c, "insert_hf_value", m.InsertHeader(line))
		}
		sel := sp.selected(all, 1)
		if len(sel) == 0 {
			if len(all) == 0 && (sp.idx == 1 || sp.idx == -1) {
				return edited(c, "append_hf_value", m.AppendHeader([]byte(sp.name+": "+value)))
			}
			return -1
		}
		for _, r := range sel {
			f := &fs[r.f]
			if op == opAppend {
				f.values[r.v] += ", " + value
			} else {
				f.values[r.v] = value + ", " + f.values[r.v]
			}
			f.changed = true
		}
	case opRemove, opAssign:
		sel := sp.selected(all, 1)
		if len(sel) == 0 {
			return -1
		}
		for _, r := range sel {
			f := &fs[r.f]
			switch {
			case sp.param != "" && op == opRemove:
				f.values[r.v] = setParam(f.values[r.v], sp.param, "", sep, true)
			case sp.param != "":
				f.values[r.v] = setParam(f.values[r.v], sp.param, value, sep, false)
			case op == opRemove:
				f.values[r.v] = "\x00"
			default:
				f.values[r.v] = value
			}
			f.changed = true
		}
	}
	return writeFields(c, fs)
}

// writeFields writes the changed fields back: their values joined, a
// field whose values were all removed ("\x00") removed.
func writeFields(c *router.Ctx, fs []field) int {
	m := c.Msg
	for _, f := range fs {
		if !f.changed {
			continue
		}
		var kept []string
		for _, v := range f.values {
			if v != "\x00" {
				kept = append(kept, v)
			}
		}
		var err error
		if len(kept) == 0 {
			err = m.RemoveHeader(f.hdr)
		} else {
			err = m.Replace(m.Header(f.hdr).Value, []byte(strings.Join(kept, ", ")))
		}
		if edited(c, "hf_value", err) < 0 {
			return -1
		}
	}
	return 1
}

// setParam sets (or with remove, removes) the parameter name of value,
// whose parameters are separated by sep; an empty v is the name alone.
func setParam(value, name, v string, sep byte, remove bool) string {
	parts := strings.Split(value, string(sep))
	first := 1
	if sep == ',' {
		// Authorization format: "Digest a=1, b=2": the scheme is part of
		// the first parameter.
		first = 0
	}
	for i := first; i < len(parts); i++ {
		p := strings.TrimSpace(parts[i])
		if i == 0 {
			if sp := strings.IndexByte(p, ' '); sp >= 0 {
				p = strings.TrimSpace(p[sp+1:])
			}
		}
		pn, _, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(pn), name) {
			continue
		}
		if remove {
			return strings.Join(append(parts[:i:i], parts[i+1:]...), string(sep))
		}
		prefix := parts[i][:strings.Index(parts[i], p)]
		parts[i] = prefix + param(name, v)
		return strings.Join(parts, string(sep))
	}
	if remove {
		return value
	}
	if sep == ',' {
		return value + ", " + param(name, v)
	}
	return value + ";" + param(name, v)
}

func param(name, v string) string {
	if v == "" {
		return name
	}
	return name + "=" + v
}

// Iterators: up to four per request for the header fields and four for
// the lines of the body, each known by its name.
const maxIterators = 4

type hfIter struct {
	name string
	pos  int // the header field's index; -1 before the first
}

type blIter struct {
	name  string
	lines []blLine
	pos   int // -1 before the first
}

// blLine is a line of the body with its line end, what the script added
// before and after it, and whether it removed it.
type blLine struct {
	text, before, after string
	gone                bool
}

type iterators struct {
	hf []hfIter
	bl []blIter
}

func (it *iterators) Reset() { it.hf, it.bl = it.hf[:0], it.bl[:0] }

var iters = router.NewSlot[iterators]()

func hfFind(c *router.Ctx, name string) *hfIter {
	it := iters.Of(c)
	for i := range it.hf {
		if it.hf[i].name == name {
			return &it.hf[i]
		}
	}
	return nil
}

func hfStart(c *router.Ctx, name string) int {
	if h := hfFind(c, name); h != nil {
		h.pos = -1
		return 1
	}
	it := iters.Of(c)
	if len(it.hf) == maxIterators {
		c.Log().Error("textopsx.hf_iterator_start: four iterators are in use", "route", c.Route)
		return -1
	}
	it.hf = append(it.hf, hfIter{name: name, pos: -1})
	return 1
}

func hfEnd(c *router.Ctx, name string) int {
	it := iters.Of(c)
	for i := range it.hf {
		if it.hf[i].name == name {
			it.hf = append(it.hf[:i], it.hf[i+1:]...)
			return 1
		}
	}
	return -1
}

func hfStep(c *router.Ctx, name string, d int) int {
	h := hfFind(c, name)
	if h == nil {
		return -1
	}
	n := h.pos + d
	if n < 0 || n >= c.Msg.NumHeaders() {
		if d > 0 {
			h.pos = c.Msg.NumHeaders()
		}
		return -1
	}
	h.pos = n
	return 1
}

// hfAt is the header field an iterator is on, -1 when none.
func hfAt(c *router.Ctx, name string) int {
	h := hfFind(c, name)
	if h == nil || h.pos < 0 || h.pos >= c.Msg.NumHeaders() {
		return -1
	}
	return h.pos
}

func hfRemove(c *router.Ctx, name string) int {
	i := hfAt(c, name)
	if i < 0 {
		return -1
	}
	return edited(c, "hf_iterator_rm", c.Msg.RemoveHeader(i))
}

func hfAdd(c *router.Ctx, name, text string, after bool) int {
	i := hfAt(c, name)
	if i < 0 {
		return -1
	}
	if after {
		return edited(c, "hf_iterator_append", c.Msg.AppendHeaderAfter(i, []byte(text)))
	}
	return edited(c, "hf_iterator_insert", c.Msg.InsertHeaderBefore(i, []byte(text)))
}

func hfField(c *router.Ctx, name string, hname bool) router.Value {
	i := hfAt(c, name)
	if i < 0 {
		return router.Value{}
	}
	h := c.Msg.Header(i)
	if hname {
		return router.BytesValue(h.Name)
	}
	return router.BytesValue(h.Value)
}

func blFind(c *router.Ctx, name string) *blIter {
	it := iters.Of(c)
	for i := range it.bl {
		if it.bl[i].name == name {
			return &it.bl[i]
		}
	}
	return nil
}

func blStart(c *router.Ctx, name string) int {
	b := blFind(c, name)
	if b == nil {
		it := iters.Of(c)
		if len(it.bl) == maxIterators {
			c.Log().Error("textopsx.bl_iterator_start: four iterators are in use", "route", c.Route)
			return -1
		}
		it.bl = append(it.bl, blIter{name: name})
		b = &it.bl[len(it.bl)-1]
	}
	b.lines, b.pos = b.lines[:0], -1
	body := string(c.Msg.EditedBody()) // with the changes made so far
	for body != "" {
		i := strings.IndexByte(body, '\n')
		if i < 0 {
			i = len(body) - 1
		}
		b.lines = append(b.lines, blLine{text: body[:i+1]})
		body = body[i+1:]
	}
	return 1
}

func blEnd(c *router.Ctx, name string) int {
	it := iters.Of(c)
	for i := range it.bl {
		if it.bl[i].name == name {
			it.bl = append(it.bl[:i], it.bl[i+1:]...)
			return 1
		}
	}
	return -1
}

func blNext(c *router.Ctx, name string) int {
	b := blFind(c, name)
	if b == nil {
		return -1
	}
	for b.pos+1 < len(b.lines) {
		b.pos++
		if !b.lines[b.pos].gone {
			return 1
		}
	}
	b.pos = len(b.lines)
	return -1
}

func blAt(c *router.Ctx, name string) *blIter {
	b := blFind(c, name)
	if b == nil || b.pos < 0 || b.pos >= len(b.lines) {
		return nil
	}
	return b
}

// blValue is the line the iterator is on, without its line end.
func blValue(c *router.Ctx, name string) router.Value {
	b := blAt(c, name)
	if b == nil {
		return router.Value{}
	}
	return router.StrValue(strings.TrimRight(b.lines[b.pos].text, "\r\n"))
}

func blRemove(c *router.Ctx, name string) int {
	b := blAt(c, name)
	if b == nil {
		return -1
	}
	b.lines[b.pos].gone = true
	return blWrite(c, b)
}

// blAdd adds text after (or before) the line the iterator is on.
func blAdd(c *router.Ctx, name, text string, after bool) int {
	b := blAt(c, name)
	if b == nil {
		return -1
	}
	if l := &b.lines[b.pos]; after {
		l.after += text
	} else {
		l.before += text
	}
	return blWrite(c, b)
}

// blWrite sets the body to the iterator's lines as changed.
func blWrite(c *router.Ctx, b *blIter) int {
	var sb strings.Builder
	for _, l := range b.lines {
		sb.WriteString(l.before)
		if !l.gone {
			sb.WriteString(l.text)
		}
		sb.WriteString(l.after)
	}
	return edited(c, "bl_iterator", c.Msg.SetBody([]byte(sb.String())))
}
