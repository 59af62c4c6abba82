package router

import "slices"

// XAVPs, Kamailio's extended AVPs: named lists of items, the most
// recent first, each item a list of fields (key and value, a key may
// repeat, the most recent first). $xavp(name=>key) = v starts a new item;
// $xavp(name[0]=>key) = v adds to the first. They last for the message.

type xavpField struct {
	key string
	val Value
	buf []byte
}

type xavpItem struct {
	name   string
	fields []xavpField
}

// XAVPAdd adds key = v: to a new item of name when idx < 0, else to the
// item idx (0 the most recent); false when there is no such item.
func (c *Ctx) XAVPAdd(name string, idx int, key string, v Value) bool {
	var it *xavpItem
	if idx < 0 {
		c.xavps = append(c.xavps, xavpItem{name: name})
		it = &c.xavps[len(c.xavps)-1]
	} else if it = c.xavpItem(name, idx); it == nil {
		return false
	}
	f := xavpField{key: key}
	f.val = ownValue(v, &f.buf)
	it.fields = append(it.fields, f)
	return true
}

// xavpItem is item idx of name (0 the most recent; negative from the
// oldest), nil when there is none.
func (c *Ctx) xavpItem(name string, idx int) *xavpItem {
	if i := c.xavpIndex(name, idx); i >= 0 {
		return &c.xavps[i]
	}
	return nil
}

// xavpIndex is where item idx of name is in c.xavps (0 the most recent,
// -1 the oldest), -1 when there is none.
func (c *Ctx) xavpIndex(name string, idx int) int {
	if idx >= 0 {
		for i := len(c.xavps) - 1; i >= 0; i-- {
			if c.xavps[i].name == name {
				if idx == 0 {
					return i
				}
				idx--
			}
		}
		return -1
	}
	for i := range c.xavps {
		if c.xavps[i].name == name {
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
	it := c.xavpItem(name, idx)
	if it == nil {
		return Value{}
	}
	n := 0
	for i := len(it.fields) - 1; i >= 0; i-- {
		if it.fields[i].key == key {
			if n == kidx {
				return it.fields[i].val
			}
			n++
		}
	}
	return Value{}
}

// XAVPFields calls f with the fields of item idx of name, the oldest
// first (the order they were added); false when there is no such item.
func (c *Ctx) XAVPFields(name string, idx int, f func(key string, v Value)) bool {
	it := c.xavpItem(name, idx)
	if it == nil {
		return false
	}
	for _, x := range it.fields {
		f(x.key, x.val)
	}
	return true
}

// XAVPDel removes the fields key of item idx of name, or with key ""
// the item; with idx < 0 every item of name.
func (c *Ctx) XAVPDel(name string, idx int, key string) {
	if idx < 0 {
		c.xavps = slices.DeleteFunc(c.xavps, func(it xavpItem) bool { return it.name == name })
		return
	}
	i := c.xavpIndex(name, idx)
	if i < 0 {
		return
	}
	if key == "" {
		c.xavps = slices.Delete(c.xavps, i, i+1)
		return
	}
	it := &c.xavps[i]
	it.fields = slices.DeleteFunc(it.fields, func(f xavpField) bool { return f.key == key })
}

// XAVPs is a copy of a message's XAVPs that outlives it: tm keeps the
// request's with its transaction for the routes it runs later
// (failure_route, branch_failure_route), as Kamailio's transaction keeps
// its XAVP list.
type XAVPs struct{ items []xavpItem }

// Len is the number of items kept.
func (x *XAVPs) Len() int { return len(x.items) }

// SaveXAVPs copies c's XAVPs into x, reusing x's room.
func (c *Ctx) SaveXAVPs(x *XAVPs) { x.items = copyXAVPs(x.items[:0], c.xavps) }

// LoadXAVPs makes a copy of x the XAVPs of c.
func (c *Ctx) LoadXAVPs(x *XAVPs) { c.xavps = copyXAVPs(c.xavps[:0], x.items) }

// copyXAVPs appends copies of the items of src to dst, each field's
// value in a buffer of its own.
func copyXAVPs(dst, src []xavpItem) []xavpItem {
	for _, it := range src {
		n := xavpItem{name: it.name, fields: make([]xavpField, len(it.fields))}
		for i, f := range it.fields {
			n.fields[i].key = f.key
			n.fields[i].val = ownValue(f.val, &n.fields[i].buf)
		}
		dst = append(dst, n)
	}
	return dst
}
