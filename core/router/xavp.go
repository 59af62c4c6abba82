package router

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
	var found []int
	for i := len(c.xavps) - 1; i >= 0; i-- {
		if c.xavps[i].name == name {
			found = append(found, i)
		}
	}
	if idx < 0 {
		idx += len(found)
	}
	if idx < 0 || idx >= len(found) {
		return nil
	}
	return &c.xavps[found[idx]]
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
		k := 0
		for _, it := range c.xavps {
			if it.name != name {
				c.xavps[k] = it
				k++
			}
		}
		c.xavps = c.xavps[:k]
		return
	}
	it := c.xavpItem(name, idx)
	if it == nil {
		return
	}
	if key == "" {
		i := len(c.xavps) - 1
		for ; i >= 0 && &c.xavps[i] != it; i-- {
		}
		c.xavps = append(c.xavps[:i], c.xavps[i+1:]...)
		return
	}
	k := 0
	for _, f := range it.fields {
		if f.key != key {
			it.fields[k] = f
			k++
		}
	}
	it.fields = it.fields[:k]
}
