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
	ruriQ := c.RURIQ()
	all := make([]router.Branch, 0, len(bs)+1)
	all = append(all, router.Branch{URI: clone(c.RURIText()), Dst: clone(c.DstURI()), Path: clone(c.Path()), Q: ruriQ, Flags: c.BFlags, Instance: clone(c.Instance())})
	for _, b := range bs {
		all = append(all, cloneBranch(b))
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

// cloneBranch copies a branch out of the context's buffers.
func cloneBranch(b router.Branch) router.Branch {
	return router.Branch{URI: clone(b.URI), Dst: clone(b.Dst), Path: clone(b.Path), Q: b.Q, Flags: b.Flags, Instance: clone(b.Instance)}
}

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
	// One contact per +sip.instance; the others are its other flows, for
	// t_next_contact_flow (RFC 5626).
	group := make([]router.Branch, 0, n)
	var flows []router.Branch
	for _, b := range cs[:n] {
		if len(b.Instance) > 0 && slices.ContainsFunc(group, func(g router.Branch) bool { return string(g.Instance) == string(b.Instance) }) {
			flows = append(flows, b)
			continue
		}
		group = append(group, b)
	}
	if err := c.UseBranch(group[0]); err != nil {
		c.Log().Error("tm: t_next_contacts: "+err.Error(), "route", c.Route)
		return -1
	}
	c.ClearBranches()
	for _, b := range group[1:] {
		c.AppendBranch(b)
	}
	state(c).flows = append(state(c).flows[:0], flows...)
	if t := current(c); t != nil {
		t.flows = append([]router.Branch(nil), flows...)
	}
	rest := cs[n:]
	state(c).contacts = append(state(c).contacts[:0], rest...)
	if t := current(c); t != nil {
		t.contacts = append([]router.Branch(nil), rest...)
	}
	return 1
}

// nextContactFlow is t_next_contact_flow in a branch failure route: the
// next flow (another contact of the same +sip.instance that
// t_next_contacts kept back) of the failed branch becomes the request URI
// ($du, path); -2 when there is none.
func (tm *Module) nextContactFlow(c *router.Ctx) int {
	t := current(c)
	idx := state(c).branchIdx
	if t == nil || idx < 0 || idx >= len(t.branches) {
		return -1
	}
	inst := t.branches[idx].instance
	if len(inst) == 0 {
		return -2
	}
	i := slices.IndexFunc(t.flows, func(b router.Branch) bool { return string(b.Instance) == string(inst) })
	if i < 0 {
		return -2
	}
	f := t.flows[i]
	t.flows = slices.Delete(t.flows, i, i+1)
	if err := c.UseBranch(f); err != nil {
		c.Log().Error("tm: t_next_contact_flow: "+err.Error(), "route", c.Route)
		return -1
	}
	c.ClearBranches()
	return 1
}
