package router

import (
	"slices"
	"strings"
)

// XAVPs, Kamailio's extended AVPs: named lists of items, the most
// recent first. An item has a value of its own ($xavp(name) = v) or is
// a list of fields (key and value, a key may repeat, the most recent
// first): $xavp(name=>key) = v starts a new item, $xavp(name[0]=>key) = v
// adds to the first. They last for the message, and go with its
// transaction. Three lists, as in Kamailio: XAVPs, XAVUs (one item per
// name, one field per key: assigning replaces) and XAVIs (XAVPs whose
// names and keys are compared without case).

// XKind says which of the three lists.
type XKind uint8

const (
	XAVP XKind = iota
	XAVU
	XAVI
)

type xavpField struct {
	key string
	val Value
	buf []byte
}

type xavpItem struct {
	name   string
	fields []xavpField
	// an item with a value of its own (hasVal) has no fields
	val    Value
	buf    []byte
	hasVal bool
}

// xlists are a message's three lists.
type xlists [3][]xavpItem

// Equal compares names or keys as the lists of kind k do.
func (k XKind) Equal(a, b string) bool { return k.eq(a, b) }

func (k XKind) eq(a, b string) bool {
	if k == XAVI {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// XAVPAdd adds key = v: to a new item of name when idx < 0, else to the
// item idx (0 the most recent); false when there is no such item.
func (c *Ctx) XAVPAdd(name string, idx int, key string, v Value) bool {
	return c.XAdd(XAVP, name, idx, key, v)
}

// XAdd is XAVPAdd on the list of kind k. For an XAVU it sets, as
// XSetChild; idx is not used.
func (c *Ctx) XAdd(k XKind, name string, idx int, key string, v Value) bool {
	l := &c.xl[k]
	var it *xavpItem
	switch {
	case k == XAVU:
		c.XSetChild(k, name, key, v)
		return true
	case idx < 0:
		*l = append(*l, xavpItem{name: name})
		it = &(*l)[len(*l)-1]
	default:
		i := c.xIndex(k, name, idx)
		if i < 0 || (*l)[i].hasVal {
			return false
		}
		it = &(*l)[i]
	}
	f := xavpField{key: key}
	f.val = ownValue(v, &f.buf)
	it.fields = append(it.fields, f)
	return true
}

// XSet gives name a value of its own: a new item (the most recent) when
// idx < 0, else item idx's value in place of what it had; an XAVU's one
// item is replaced. False when there is no item idx.
func (c *Ctx) XSet(k XKind, name string, idx int, v Value) bool {
	l := &c.xl[k]
	if k == XAVU {
		if i := c.xIndex(k, name, 0); i >= 0 {
			*l = slices.Delete(*l, i, i+1)
		}
		idx = -1
	}
	if idx < 0 {
		it := xavpItem{name: name, hasVal: true}
		it.val = ownValue(v, &it.buf)
		*l = append(*l, it)
		return true
	}
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return false
	}
	it := &(*l)[i]
	it.fields, it.hasVal = nil, true
	it.val = ownValue(v, &it.buf)
	return true
}

// XValue is item idx of name as a value: its own value, or for an item
// of fields list true (Kamailio prints it <<xavp:...>>); ok false when
// there is no such item.
func (c *Ctx) XValue(k XKind, name string, idx int) (v Value, list, ok bool) {
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return Value{}, false, false
	}
	it := &c.xl[k][i]
	return it.val, !it.hasVal, true
}

// xIndex is where item idx of name is in the list of kind k (0 the most
// recent, -1 the oldest), -1 when there is none.
func (c *Ctx) xIndex(k XKind, name string, idx int) int {
	l := c.xl[k]
	if idx >= 0 {
		for i := len(l) - 1; i >= 0; i-- {
			if k.eq(l[i].name, name) {
				if idx == 0 {
					return i
				}
				idx--
			}
		}
		return -1
	}
	for i := range l {
		if k.eq(l[i].name, name) {
			if idx == -1 {
				return i
			}
			idx++
		}
	}
	return -1
}

// XAVP is the value of field key (its kidx-th, 0 the most recent) of
// item idx of name; Null when there is none.
func (c *Ctx) XAVP(name string, idx int, key string, kidx int) Value {
	return c.XGet(XAVP, name, idx, key, kidx)
}

// XGet is XAVP on the list of kind k.
func (c *Ctx) XGet(k XKind, name string, idx int, key string, kidx int) Value {
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return Value{}
	}
	it := &c.xl[k][i]
	n := 0
	for j := len(it.fields) - 1; j >= 0; j-- {
		if k.eq(it.fields[j].key, key) {
			if n == kidx {
				return it.fields[j].val
			}
			n++
		}
	}
	return Value{}
}

// XAVPFields calls f with the fields of item idx of name, the oldest
// first (the order they were added); false when there is no such item.
func (c *Ctx) XAVPFields(name string, idx int, f func(key string, v Value)) bool {
	return c.XFields(XAVP, name, idx, f)
}

// XFields is XAVPFields on the list of kind k.
func (c *Ctx) XFields(k XKind, name string, idx int, f func(key string, v Value)) bool {
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return false
	}
	for _, x := range c.xl[k][i].fields {
		f(x.key, x.val)
	}
	return true
}

// XAVPDel removes the fields key of item idx of name, or with key ""
// the item; with idx < 0 every item of name.
func (c *Ctx) XAVPDel(name string, idx int, key string) { c.XDel(XAVP, name, idx, key) }

// XDel is XAVPDel on the list of kind k.
func (c *Ctx) XDel(k XKind, name string, idx int, key string) {
	l := &c.xl[k]
	if idx < 0 && key == "" {
		*l = slices.DeleteFunc(*l, func(it xavpItem) bool { return k.eq(it.name, name) })
		return
	}
	i := c.xIndex(k, name, max(idx, 0))
	if i < 0 {
		return
	}
	if key == "" {
		*l = slices.Delete(*l, i, i+1)
		return
	}
	it := &(*l)[i]
	it.fields = slices.DeleteFunc(it.fields, func(f xavpField) bool { return k.eq(f.key, key) })
}

// XDelField removes the kidx-th (0 the most recent) value of key of item
// idx of name: what $xavp(name[idx]=>key[kidx]) = $null does.
func (c *Ctx) XDelField(k XKind, name string, idx int, key string, kidx int) {
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return
	}
	it := &c.xl[k][i]
	n := 0
	for j := len(it.fields) - 1; j >= 0; j-- {
		if k.eq(it.fields[j].key, key) {
			if n == kidx {
				it.fields = slices.Delete(it.fields, j, j+1)
				return
			}
			n++
		}
	}
}

// XAVPs is a copy of a message's XAVPs (XAVUs and XAVIs too) that
// outlives it: tm keeps the request's with its transaction for the routes
// it runs later (failure_route, branch_failure_route), as Kamailio's
// transaction keeps its lists.
type XAVPs struct{ items xlists }

// Len is the number of items kept.
func (x *XAVPs) Len() int { return len(x.items[0]) + len(x.items[1]) + len(x.items[2]) }

// SwapXAVPs exchanges c's XAVPs and x's: a transaction's become the
// context's, and the context's wait in x until the next swap gives them
// back — Kamailio's xavp_set_list, without a copy. Every swap in must be
// swapped back before the context is reset.
func (c *Ctx) SwapXAVPs(x *XAVPs) {
	for k := range x.items {
		c.xl[k], x.items[k] = x.items[k], c.xl[k]
	}
}

// SaveXAVPs copies c's XAVPs into x, reusing x's room.
func (c *Ctx) SaveXAVPs(x *XAVPs) {
	for k := range x.items {
		x.items[k] = copyXAVPs(x.items[k][:0], c.xl[k])
	}
}

// LoadXAVPs makes a copy of x the XAVPs of c.
func (c *Ctx) LoadXAVPs(x *XAVPs) {
	for k := range x.items {
		c.xl[k] = copyXAVPs(c.xl[k][:0], x.items[k])
	}
}

// copyXAVPs appends copies of the items of src to dst, each value in a
// buffer of its own.
func copyXAVPs(dst, src []xavpItem) []xavpItem {
	for _, it := range src {
		n := xavpItem{name: it.name, hasVal: it.hasVal, fields: make([]xavpField, len(it.fields))}
		n.val = ownValue(it.val, &n.buf)
		for i, f := range it.fields {
			n.fields[i].key = f.key
			n.fields[i].val = ownValue(f.val, &n.fields[i].buf)
		}
		dst = append(dst, n)
	}
	return dst
}

// XSetChild sets key = v in the most recent item of name, as Kamailio's
// xavp_set_child_xval ($xavu(name=>key) = v, KSR.pvx.xavp_child_seti):
// the key's most recent value is removed and v added as the most recent
// field; an item with a value of its own is removed first and a new item
// made, as is one when there is none.
func (c *Ctx) XSetChild(k XKind, name, key string, v Value) {
	l := &c.xl[k]
	i := c.xIndex(k, name, 0)
	if i >= 0 && (*l)[i].hasVal {
		*l = slices.Delete(*l, i, i+1)
		i = -1
	}
	if i < 0 {
		*l = append(*l, xavpItem{name: name})
		i = len(*l) - 1
	}
	it := &(*l)[i]
	for j := len(it.fields) - 1; j >= 0; j-- {
		if k.eq(it.fields[j].key, key) {
			it.fields = slices.Delete(it.fields, j, j+1)
			break
		}
	}
	f := xavpField{key: key}
	f.val = ownValue(v, &f.buf)
	it.fields = append(it.fields, f)
}

// XField is a key and its value, for XAddItem.
type XField struct {
	Key string
	Val Value
}

// XAddItem adds an item of fields to the list of kind k as the most
// recent of name (an XAVU's replaces the one of name). The fields are
// given the most recent first, as Kamailio lists them; an XAVU keeps the
// most recent value of a key. No fields make an empty item of fields.
func (c *Ctx) XAddItem(k XKind, name string, fields []XField) {
	l := &c.xl[k]
	if k == XAVU {
		*l = slices.DeleteFunc(*l, func(it xavpItem) bool { return k.eq(it.name, name) })
	}
	it := xavpItem{name: name, fields: make([]xavpField, 0, len(fields))}
	for i := len(fields) - 1; i >= 0; i-- {
		if k == XAVU && slices.ContainsFunc(fields[:i], func(f XField) bool { return k.eq(f.Key, fields[i].Key) }) {
			continue
		}
		f := xavpField{key: fields[i].Key}
		f.val = ownValue(fields[i].Val, &f.buf)
		it.fields = append(it.fields, f)
	}
	*l = append(*l, it)
}

// XCount is the number of items of name.
func (c *Ctx) XCount(k XKind, name string) int {
	n := 0
	for _, it := range c.xl[k] {
		if k.eq(it.name, name) {
			n++
		}
	}
	return n
}

// XEachField calls f with the fields of item idx of name the most recent
// first (Kamailio's order); list is false for an item with a value of its
// own (f is not called), ok false when there is no such item.
func (c *Ctx) XEachField(k XKind, name string, idx int, f func(key string, v Value)) (list, ok bool) {
	i := c.xIndex(k, name, idx)
	if i < 0 {
		return false, false
	}
	it := &c.xl[k][i]
	for j := len(it.fields) - 1; j >= 0; j-- {
		f(it.fields[j].key, it.fields[j].val)
	}
	return !it.hasVal, true
}

// XKeys are the keys of item idx of name, each once, in the order of
// their most recent values, the most recent first (Kamailio's
// xavp_get_list_key_names); list and ok as XEachField.
func (c *Ctx) XKeys(k XKind, name string, idx int) (keys []string, list, ok bool) {
	list, ok = c.XEachField(k, name, idx, func(key string, _ Value) {
		if !slices.ContainsFunc(keys, func(s string) bool { return k.eq(s, key) }) {
			keys = append(keys, key)
		}
	})
	return keys, list, ok
}

// XCopy copies item idx of the XAVP src as an item of dst: the most
// recent one when dst has none, else the oldest (Kamailio's xavp_copy);
// with replace, in place of dst's item dstIdx, which must exist. False
// when there is nothing to copy (no item idx, or one without fields) or
// to replace.
func (c *Ctx) XCopy(src string, idx int, dst string, dstIdx int, replace bool) bool {
	l := &c.xl[XAVP]
	i := c.xIndex(XAVP, src, idx)
	if i < 0 || (!(*l)[i].hasVal && len((*l)[i].fields) == 0) {
		return false
	}
	n := copyXAVPs(nil, (*l)[i:i+1])[0]
	n.name = dst
	if replace {
		at := c.xIndex(XAVP, dst, dstIdx)
		if at < 0 {
			return false
		}
		(*l)[at] = n
		return true
	}
	at := c.xIndex(XAVP, dst, -1)
	if at < 0 {
		at = len(*l)
	}
	*l = slices.Insert(*l, at, n)
	return true
}

// XEach calls item for every item of the list of kind k, the most recent
// first, and field for each field of an item of fields, the most recent
// first (what pv_xavp_print logs).
func (c *Ctx) XEach(k XKind, item func(name string, v Value, list bool), field func(name, key string, v Value)) {
	l := c.xl[k]
	for i := len(l) - 1; i >= 0; i-- {
		it := &l[i]
		item(it.name, it.val, !it.hasVal)
		for j := len(it.fields) - 1; j >= 0; j-- {
			field(it.name, it.fields[j].key, it.fields[j].val)
		}
	}
}

// XAppendField adds key = v to the most recent item of name as its
// oldest field (Kamailio's list end: pv_headers keeps a message's headers
// in their order so), making the item when there is none.
func (c *Ctx) XAppendField(k XKind, name, key string, v Value) {
	l := &c.xl[k]
	i := c.xIndex(k, name, 0)
	if i < 0 || (*l)[i].hasVal {
		*l = append(*l, xavpItem{name: name})
		i = len(*l) - 1
	}
	it := &(*l)[i]
	f := xavpField{key: key}
	f.val = ownValue(v, &f.buf)
	it.fields = slices.Insert(it.fields, 0, f)
}

// XSetField replaces the value of the kidx-th field key (0 the most
// recent) of the most recent item of name; v may be Null. False when
// there is no such field.
func (c *Ctx) XSetField(k XKind, name, key string, kidx int, v Value) bool {
	i := c.xIndex(k, name, 0)
	if i < 0 {
		return false
	}
	it := &c.xl[k][i]
	n := 0
	for j := len(it.fields) - 1; j >= 0; j-- {
		if k.eq(it.fields[j].key, key) {
			if n == kidx {
				it.fields[j].val = ownValue(v, &it.fields[j].buf)
				return true
			}
			n++
		}
	}
	return false
}

// XDelKey removes every field key of the most recent item of name.
func (c *Ctx) XDelKey(k XKind, name, key string) {
	c.XDel(k, name, 0, key)
}
