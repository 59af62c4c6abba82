package tm

import (
	"slices"

	"github.com/kemi-sip/kemi/core/router"
)

// loadContacts is t_load_contacts: the request URI (with $du and path)
// and the appended branches, sorted by q for serial forking; the branches
// are cleared. 1 when there were several q-values to order, else -1 and
// nothing changes (parallel forking as usual), as Kamailio does.
func (tm *Module) loadContacts(c *router.Ctx) int {
	bs := c.Branches()
	if len(bs) == 0 {
		return -1
	}
	ruriQ := -1
	all := make([]router.Branch, 0, len(bs)+1)
	all = append(all, router.Branch{URI: clone(c.RURIText()), Dst: clone(c.DstURI()), Path: clone(c.Path()), Q: ruriQ, Flags: c.BFlags})
	for _, b := range bs {
		all = append(all, router.Branch{URI: clone(b.URI), Dst: clone(b.Dst), Path: clone(b.Path), Q: b.Q, Flags: b.Flags})
	}
	same := true
	for _, b := range all[1:] {
		if qOf(b) != qOf(all[0]) {
			same = false
		}
	}
	if same {
		return -1
	}
	slices.SortStableFunc(all, func(a, b router.Branch) int { return qOf(b) - qOf(a) })
	state(c).contacts = append(state(c).contacts[:0], all...)
	c.ClearBranches()
	if t := current(c); t != nil {
		t.contacts = state(c).contacts
	}
	return 1
}

// qOf is a branch's q, 1000 when it has none (RFC 3261: highest).
func qOf(b router.Branch) int {
	if b.Q < 0 {
		return 1000
	}
	return b.Q
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// nextContacts is t_next_contacts: the next group of equal q becomes the
// request URI ($du, path) and branches; -1 when none is left.
func (tm *Module) nextContacts(c *router.Ctx) int {
	cs := state(c).contacts
	if t := current(c); t != nil && len(t.contacts) > 0 && len(cs) == 0 {
		cs = t.contacts
	}
	if len(cs) == 0 {
		return -1
	}
	n := 1
	proportional := state(c).opts.proportional || current(c) != nil && current(c).opts.proportional
	for !proportional && n < len(cs) && qOf(cs[n]) == qOf(cs[0]) {
		n++
	}
	first := cs[0]
	if err := c.SetRURI(first.URI); err != nil {
		c.Log().Error("tm: t_next_contacts: "+err.Error(), "route", c.Route)
		return -1
	}
	c.SetDstURI(first.Dst)
	c.SetPath(first.Path)
	c.BFlags = first.Flags
	c.ClearBranches()
	for _, b := range cs[1:n] {
		c.AppendBranch(b)
	}
	rest := cs[n:]
	state(c).contacts = append(state(c).contacts[:0], rest...)
	if t := current(c); t != nil {
		t.contacts = append([]router.Branch(nil), rest...)
	}
	return 1
}
