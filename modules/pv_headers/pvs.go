package pv_headers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// module is the proxy's pv_headers module; nil when it is not loaded.
func module(c *router.Ctx) *Module {
	m, _ := c.Env().Module("pv_headers").(*Module)
	return m
}

var errNotLoaded = errors.New("the pv_headers module is not loaded")

// The pseudo-variables: $x_hdr(Name) and $(x_hdr(Name)[i]) the header's
// values in the XAVI; $x_fu, $x_fU, $x_fd, $x_fn, $x_ft and the same of
// To the parts of From and To there; $x_rs and $x_rr a reply's status
// and reason.
func registerPVs() {
	router.RegisterPV("x_hdr", router.PVClass{Arg: true, Indexed: true, Get: getHdr, Set: setHdr})
	for i, name := range []string{"x_fu", "x_fU", "x_fd", "x_fn", "x_ft", "x_tu", "x_tU", "x_td", "x_tn", "x_tt"} {
		part := i % 5
		hdr := "From"
		if i >= 5 {
			hdr = "To"
		}
		cls := router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value { return getURI(c, hdr, part) }}
		if part != 4 { // the tags are read-only
			cls.Set = func(c *router.Ctx, _ *router.PV, v router.Value) error { return setURI(c, hdr, part, v) }
		}
		router.RegisterPV(name, cls)
	}
	router.RegisterPV("x_rs", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if c.Msg.IsRequest() {
				return router.Value{}
			}
			return router.IntValue(int64(c.Msg.StatusCode()))
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error { return setStatus(c, v) },
	})
	router.RegisterPV("x_rr", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if c.Msg.IsRequest() {
				return router.Value{}
			}
			if m := module(c); m != nil {
				if vs := m.values(c, 0, replyReason); len(vs) > 0 && vs[0].Kind == router.Str {
					return vs[0]
				}
			}
			return router.BytesValue(c.Msg.Reason())
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error {
			m := module(c)
			switch {
			case m == nil:
				return errNotLoaded
			case c.Msg.IsRequest():
				return errors.New("set reply: not a reply message")
			case v.Kind == router.Null:
				return errors.New("set reply: value cannot be null")
			}
			if m.set(c, m.brName(c, m.xavi, 0), replyReason, router.StrValue(v.String()), 0, false) < 0 {
				return errors.New("set reply: cannot set reply reason")
			}
			return nil
		},
	})
}

// getHdr is $x_hdr(Name): value 0 (or [i], from the last when negative).
func getHdr(c *router.Ctx, pv *router.PV) router.Value {
	m := module(c)
	if m == nil {
		return router.Value{}
	}
	vals := m.values(c, branch(c), pv.Arg)
	i := pv.Index
	if i < 0 {
		i += len(vals)
	}
	if i < 0 || i >= len(vals) || vals[i].Kind != router.Str {
		return router.Value{}
	}
	return vals[i]
}

// setHdr assigns $x_hdr(Name): without an index a value is added; [i]
// replaces value i; [*] replaces them all with one. $null removes (the
// first value, or with [*] all).
func setHdr(c *router.Ctx, pv *router.PV, v router.Value) error {
	m := module(c)
	if m == nil {
		return errNotLoaded
	}
	br := branch(c)
	root, ok := m.root(c, br)
	if !ok {
		return errors.New("xavi " + m.xavi + " not found")
	}
	name := pv.Arg
	n := m.count(c, root, name)
	idx := pv.Index
	switch {
	case n == 0:
		idx = 0
	case idx < 0:
		idx += n
	}
	if idx < 0 {
		return errors.New("invalid index")
	}
	xn := m.brName(c, m.xavi, br)
	if pv.All && n > 1 {
		// Kamailio removes them all from the XAVI it found
		c.XDelKey(router.XAVI, root, name)
		n = 0
	}
	var val router.Value
	if v.Kind != router.Null {
		val = router.StrValue(v.String())
	}
	var rc int
	switch {
	case v.Kind == router.Null:
		rc = m.set(c, xn, name, router.Value{}, idx, false)
	case idx == 0 && !pv.Indexed:
		rc = m.set(c, xn, name, val, 0, true)
	case pv.All:
		rc = m.set(c, xn, name, val, 0, n == 0)
	default:
		rc = m.set(c, xn, name, val, idx, false)
	}
	if rc < 0 {
		return errors.New("cannot set $x_hdr(" + name + ")")
	}
	return nil
}

// addr is a From or To value taken apart.
type addr struct {
	display, uri, user, host, tag string
	params                        []string // ";name=value" after '>'
	ok                            bool
}

func parseAddr(s string) addr {
	var na sip.NameAddr
	if err := sip.ParseNameAddr([]byte(s), &na); err != nil {
		return addr{}
	}
	a := addr{uri: string(na.URI.Raw), user: string(na.URI.User), host: string(na.URI.Host), tag: string(na.Tag), ok: true}
	if lt := strings.IndexByte(s, '<'); lt >= 0 {
		a.display = strings.TrimSpace(s[:lt]) // quotes kept, as Kamailio's
	}
	if gt := strings.IndexByte(s, '>'); gt >= 0 {
		for _, p := range strings.Split(s[gt+1:], ";")[1:] {
			a.params = append(a.params, strings.TrimSpace(p))
		}
	}
	return a
}

// getURI reads a part of From or To as the XAVI has them: the URI, its
// user, its host, the display name, the tag.
func getURI(c *router.Ctx, hdr string, part int) router.Value {
	m := module(c)
	if m == nil {
		return router.Value{}
	}
	vs := m.values(c, branch(c), hdr)
	if len(vs) == 0 || vs[0].Kind != router.Str {
		return router.Value{}
	}
	a := parseAddr(vs[0].String())
	if !a.ok {
		return router.Value{}
	}
	var s string
	switch part {
	case 0:
		s = a.uri
	case 1:
		s = a.user
	case 2:
		s = a.host
	case 3:
		s = a.display
	case 4:
		s = a.tag
	}
	if s == "" {
		return router.Value{}
	}
	return router.StrValue(s)
}

// setURI changes a part of From or To in the XAVI, as Kamailio's
// pvh_merge_uri writes the value again: display, <uri>, then the
// parameters as name=value.
func setURI(c *router.Ctx, hdr string, part int, v router.Value) error {
	m := module(c)
	if m == nil {
		return errNotLoaded
	}
	vs := m.values(c, branch(c), hdr)
	if len(vs) == 0 || vs[0].Kind != router.Str {
		return errors.New("no " + hdr + " header collected")
	}
	cur := vs[0].String()
	a := parseAddr(cur)
	if !a.ok {
		return errors.New("cannot parse " + hdr + ": " + cur)
	}
	nv := v.String()
	var b strings.Builder
	if part == 0 && strings.Contains(nv, "<") {
		b.WriteString(nv)
	} else {
		switch {
		case part == 3:
			b.WriteString(nv + " ")
		case a.display != "":
			b.WriteString(a.display + " ")
		}
		b.WriteByte('<')
		scheme, rest, _ := strings.Cut(a.uri, ":")
		switch part {
		case 0:
			b.WriteString(nv)
		case 1:
			b.WriteString(scheme + ":" + nv + strings.TrimPrefix(rest, a.user))
		case 2:
			at := strings.IndexByte(rest, '@')
			if at < 0 {
				return errors.New("invalid uri: " + a.uri)
			}
			b.WriteString(scheme + ":" + rest[:at+1] + nv + strings.TrimPrefix(rest[at+1:], a.host))
		case 3:
			b.WriteString(a.uri)
		}
		b.WriteByte('>')
		for _, p := range a.params {
			name, val, _ := strings.Cut(p, "=")
			b.WriteString(";" + name + "=" + val)
		}
	}
	if m.set(c, m.brName(c, m.xavi, branch(c)), hdr, router.StrValue(b.String()), 0, false) < 0 {
		return errors.New("cannot set " + hdr)
	}
	return nil
}

// setStatus is $x_rs = code on a reply: a 1xx or 2xx is not changed into
// another class, nor a reply made one.
func setStatus(c *router.Ctx, v router.Value) error {
	if c.Msg.IsRequest() {
		return errors.New("set reply: not a reply message")
	}
	if v.Kind == router.Null {
		return errors.New("set reply: value cannot be null")
	}
	code, err := strconv.Atoi(v.String())
	if err != nil || code < 100 || code > 699 {
		return errors.New("set reply: wrong status code: " + v.String())
	}
	cur := c.Msg.StatusCode()
	if (code < 300 || cur < 300) && code/100 != cur/100 {
		return errors.New("set reply: 1xx or 2xx replies cannot be changed or set to")
	}
	line := c.Msg.Bytes()
	i := strings.IndexByte(string(line[:min(len(line), 64)]), ' ')
	if i < 0 {
		return errors.New("set reply: no status code")
	}
	return c.Msg.ReplaceAt(i+1, 3, []byte(strconv.Itoa(code)))
}
