package pv

import (
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// KSR.pvx: the second KEMI namespace of Kamailio's pv module — the
// $xavp/$xavu/$xavi functions, $var, $shv and $avp by name, the static
// branch and evalx — with Kamailio 5.6's results, its quirks included
// where a script can see them (xavp_getd's dicts, xavp_child_rm's 1 for
// nothing removed, avp_is_null removing the value it looks at). Where
// Kamailio 5.6 crashes or returns what its stack held (xavp_getd_p1 of an
// item with a value of its own, xavp_get_keys of one, evalx into a
// read-only variable), kemi returns null, an empty array or -1.

// nullMode is what a getter returns for nothing: null (get), "" (gete) or
// "<null>" (getw), Kamailio's SR_KEMI_XVAL_NULL_*.
type nullMode uint8

const (
	nullNone nullMode = iota
	nullEmpty
	nullPrint
)

func (m nullMode) of(v router.Value) router.Value {
	if v.Kind != router.Null {
		return v
	}
	switch m {
	case nullEmpty:
		return router.StrValue("")
	case nullPrint:
		return router.StrValue("<null>")
	}
	return v
}

// getters are the get, gete and getw faces of a getter.
func getters(prefix string, f func(c *router.Ctx, name string) router.Value) []dispatch.Export {
	var out []dispatch.Export
	for i, sfx := range []string{"get", "gete", "getw"} {
		m := nullMode(i)
		out = append(out, dispatch.Export{KSR: "pvx", Name: prefix + sfx, Ret: dispatch.XVal, Native: dispatch.NoNative,
			Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return m.of(f(c, n)) })})
	}
	return out
}

// childGetters are the child_get, child_gete and child_getw faces.
func childGetters(prefix string, f func(c *router.Ctx, name, key string) router.Value) []dispatch.Export {
	var out []dispatch.Export
	for i, sfx := range []string{"child_get", "child_gete", "child_getw"} {
		m := nullMode(i)
		out = append(out, dispatch.Export{KSR: "pvx", Name: prefix + sfx, Ret: dispatch.XVal, Native: dispatch.NoNative,
			Fn: dispatch.VSS(func(c *router.Ctx, n, k string) router.Value { return m.of(f(c, n, k)) })})
	}
	return out
}

// itemValue is item idx of name as Kamailio's ki_xavp_get_xval gives
// it: its own value, or for an item of fields "<<xavp:name>>" (Kamailio
// prints the list's address).
func itemValue(c *router.Ctx, k router.XKind, name string, idx int) router.Value {
	v, list, ok := c.XValue(k, name, idx)
	switch {
	case !ok:
		return router.Value{}
	case list:
		return router.StrValue("<<xavp:" + name + ">>")
	}
	return v
}

// childValue is key of the most recent item of name; null when that item
// has a value of its own. XAVUs and XAVIs look their names up as theirs.
func childValue(c *router.Ctx, k router.XKind, name, key string) router.Value {
	if _, list, ok := c.XValue(k, name, 0); !ok || !list {
		return router.Value{}
	}
	return c.XGet(k, name, 0, key, 0)
}

func isNull(v router.Value) int {
	if v.Kind == router.Null {
		return 1
	}
	return -1
}

// xavExports are the functions the three lists have alike, for prefix
// "xavp_", "xavu_" or "xavi_".
func xavExports(k router.XKind, prefix string) []dispatch.Export {
	native := func(name string) string {
		if k == router.XAVU {
			return dispatch.NoNative // Kamailio has no native xavu_rm, xavu_child_*
		}
		return name
	}
	out := getters(prefix, func(c *router.Ctx, n string) router.Value { return itemValue(c, k, n, 0) })
	out = append(out, childGetters(prefix, func(c *router.Ctx, n, key string) router.Value { return childValue(c, k, n, key) })...)
	childLookup := k
	if k == router.XAVU {
		childLookup = router.XAVP // Kamailio 5.6's ki_xavu_child_is_null looks in the XAVPs
	}
	out = append(out,
		dispatch.Export{KSR: "pvx", Name: prefix + "seti", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { c.XSet(k, n, -1, router.IntValue(int64(int32(v)))); return 1 })},
		dispatch.Export{KSR: "pvx", Name: prefix + "sets", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { c.XSet(k, n, -1, router.StrValue(v)); return 1 })},
		dispatch.Export{KSR: "pvx", Name: prefix + "child_seti", Ret: dispatch.Int, Native: native(prefix + "child_seti"),
			Fn: dispatch.FSSI(func(c *router.Ctx, n, key string, v int) int {
				c.XSetChild(k, n, key, router.IntValue(int64(int32(v))))
				return 1
			})},
		dispatch.Export{KSR: "pvx", Name: prefix + "child_sets", Ret: dispatch.Int, Native: native(prefix + "child_sets"),
			Fn: dispatch.FSSS(func(c *router.Ctx, n, key, v string) int { c.XSetChild(k, n, key, router.StrValue(v)); return 1 })},
		// Kamailio answers 1 whether or not there was something to remove
		dispatch.Export{KSR: "pvx", Name: prefix + "rm", Ret: dispatch.Int, Native: native(prefix + "rm"),
			Fn: dispatch.FS(func(c *router.Ctx, n string) int { c.XDel(k, n, 0, ""); return 1 })},
		dispatch.Export{KSR: "pvx", Name: prefix + "child_rm", Ret: dispatch.Int, Native: native(prefix + "child_rm"),
			Fn: dispatch.FSS(func(c *router.Ctx, n, key string) int {
				if _, list, ok := c.XValue(k, n, 0); ok && list {
					c.XDelField(k, n, 0, key, 0)
				}
				return 1
			})},
		dispatch.Export{KSR: "pvx", Name: prefix + "is_null", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FS(func(c *router.Ctx, n string) int {
				v, list, ok := c.XValue(k, n, 0)
				if ok && list {
					return -1
				}
				return isNull(v)
			})},
		dispatch.Export{KSR: "pvx", Name: prefix + "child_is_null", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSS(func(c *router.Ctx, n, key string) int { return isNull(childValue(c, childLookup, n, key)) })},
	)
	if k != router.XAVU {
		out = append(out,
			dispatch.Export{KSR: "pvx", Name: prefix + "getd", Ret: dispatch.XVal, Native: dispatch.NoNative,
				Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return getd(c, k, n) })},
			dispatch.Export{KSR: "pvx", Name: prefix + "getd_p1", Ret: dispatch.XVal, Native: dispatch.NoNative,
				Fn: dispatch.VSI(func(c *router.Ctx, n string, i int) router.Value { return getdAt(c, k, n, i) })},
			dispatch.Export{KSR: "pvx", Name: prefix + "get_keys", Ret: dispatch.XVal, Native: dispatch.NoNative,
				Fn: dispatch.VSI(func(c *router.Ctx, n string, i int) router.Value { return getKeys(c, k, n, i) })},
		)
	}
	if k != router.XAVI {
		out = append(out,
			dispatch.Export{KSR: "pvx", Name: prefix + "params_explode", Ret: dispatch.Int,
				Fn: dispatch.FSS(func(c *router.Ctx, params, n string) int { return paramsExplode(c, k, params, n) })},
			dispatch.Export{KSR: "pvx", Name: prefix + "params_implode", Ret: dispatch.Int, Raw: true,
				Fn: dispatch.FSS(func(c *router.Ctx, n, pv string) int { return paramsImplode(c, k, n, pv) })},
		)
	}
	return out
}

// dictOf is item idx of name as Kamailio's ki_xav_dict makes it: an entry
// per key, the most recent key first, each an array of the key's values,
// the most recent first. Nil for an item with a value of its own or
// without fields.
func dictOf(c *router.Ctx, k router.XKind, name string, idx int) []router.Node {
	var entries []router.Node
	c.XEachField(k, name, idx, func(key string, v router.Value) {
		for i := range entries {
			if k.Equal(entries[i].Key, key) {
				entries[i].Items = append(entries[i].Items, router.Node{Val: v})
				return
			}
		}
		entries = append(entries, router.Node{Key: key, Array: true, Items: []router.Node{{Val: v}}})
	})
	return entries
}

// dict makes a dict of entries, a key set twice keeping its first place
// and its last value (a table filled in that order).
func dict(entries []router.Node) router.Node {
	d := router.Node{Dict: true}
	for _, e := range entries {
		found := false
		for i := range d.Items {
			if d.Items[i].Key == e.Key {
				d.Items[i], found = e, true
				break
			}
		}
		if !found {
			d.Items = append(d.Items, e)
		}
	}
	return d
}

func tree(c *router.Ctx, n router.Node) router.Value {
	c.Tree = n
	return router.Value{Kind: router.Tree}
}

// getd is xavp_getd: every item of name as dicts, the way Kamailio 5.6
// links them. Its C code chains the first entry of each item's dict to
// the first entry of the previous one (cutting what followed that), and
// the engines make one dict of each entry of the chain with the entries
// after it: one item of keys a, b gives [{a, b}, {b}]; two items give
// [{a1, b2, c2}, {b2, c2}, {c2}] for the first's a and the second's b, c
// (the later value of a key wins). kemi returns what Kamailio does.
func getd(c *router.Ctx, k router.XKind, name string) router.Value {
	n := c.XCount(k, name)
	if n == 0 {
		return router.Value{}
	}
	var chain []router.Node
	last := -1 // where the previous item's first entry is in chain
	for i := 0; i < n; i++ {
		e := dictOf(c, k, name, i)
		if last >= 0 {
			chain = chain[:last+1]
		}
		chain = append(chain, e...)
		if len(e) > 0 {
			last = len(chain) - len(e)
		}
	}
	arr := router.Node{Array: true}
	for i := range chain {
		arr.Items = append(arr.Items, dict(chain[i:]))
	}
	return tree(c, arr)
}

// getdAt is xavp_getd_p1: item idx (from the oldest when negative) as a
// dict; null when there is none or it has no fields.
func getdAt(c *router.Ctx, k router.XKind, name string, idx int) router.Value {
	if idx < 0 {
		idx += c.XCount(k, name)
		if idx < 0 {
			return router.Value{}
		}
	}
	e := dictOf(c, k, name, idx)
	if len(e) == 0 {
		return router.Value{}
	}
	return tree(c, dict(e))
}

// getKeys is xavp_get_keys: the keys of item idx, the most recent first.
func getKeys(c *router.Ctx, k router.XKind, name string, idx int) router.Value {
	keys, _, ok := c.XKeys(k, name, idx)
	if !ok {
		return router.Value{}
	}
	arr := router.Node{Array: true, Items: make([]router.Node, len(keys))}
	for i, key := range keys {
		arr.Items[i].Val = router.StrValue(key)
	}
	return tree(c, arr)
}

// paramsExplode makes an item of name from "a=1;b=2" (Kamailio's
// parse_params: values may be quoted; a trailing ';' is allowed).
func paramsExplode(c *router.Ctx, k router.XKind, params, name string) int {
	if params == "" || name == "" {
		return -1
	}
	fields, ok := parseParams(strings.TrimSuffix(params, ";"))
	if !ok {
		c.Log().Error("pvx: "+name+": cannot parse the parameters", "params", params)
		return -1
	}
	c.XAddItem(k, name, fields)
	return 1
}

// parseParams reads name[=value] parameters separated by ';', as
// Kamailio's parse_params: white space around '=' and after ';', values
// in double or single quotes; no empty names. sip.Params walks SIP
// parameters leniently (it skips what it cannot read); here a list
// Kamailio refuses ("a;;b", "=1", " a = 1") must fail the same way, and
// TestKamailioPVX checks that it does.
func parseParams(s string) ([]router.XField, bool) {
	var out []router.XField
	for s != "" {
		i := 0
		for i < len(s) && !strings.ContainsRune("=; \t\r\n", rune(s[i])) {
			i++
		}
		if i == 0 {
			return nil, false
		}
		f := router.XField{Key: s[:i], Val: router.StrValue("")}
		s = strings.TrimLeft(s[i:], " \t\r\n")
		if strings.HasPrefix(s, "=") {
			s = strings.TrimLeft(s[1:], " \t\r\n")
			if s != "" && (s[0] == '"' || s[0] == '\'') {
				end := strings.IndexByte(s[1:], s[0])
				if end < 0 {
					return nil, false
				}
				f.Val, s = router.StrValue(s[1:end+1]), s[end+2:]
			} else {
				j := 0
				for j < len(s) && !strings.ContainsRune("; \t\r\n", rune(s[j])) {
					j++
				}
				f.Val, s = router.StrValue(s[:j]), s[j:]
			}
			s = strings.TrimLeft(s, " \t\r\n")
		}
		out = append(out, f)
		if s == "" {
			break
		}
		if s[0] != ';' {
			return nil, false
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		if s == "" {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// paramsImplode writes the fields of the most recent item of name as
// "k=v;" (an int as Kamailio prints it, unsigned; an empty string "k;")
// into the variable pv; -1 when there is no such item or nothing to write.
func paramsImplode(c *router.Ctx, k router.XKind, name, pv string) int {
	if name == "" || pv == "" {
		return -1
	}
	var b []byte
	list, ok := c.XEachField(k, name, 0, func(key string, v router.Value) {
		switch {
		case v.Kind == router.Int:
			b = append(append(append(b, key...), '='), strconv.FormatUint(uint64(uint32(v.I)), 10)...)
		case v.Kind == router.Str && v.Empty():
			b = append(b, key...)
		case v.Kind == router.Str:
			b = v.AppendTo(append(append(b, key...), '='))
		default:
			return
		}
		b = append(b, ';')
	})
	if !ok || !list || len(b) == 0 {
		return -1
	}
	return set(c, pv, router.StrValue(string(b))) // -1 (logged) for a read-only one
}

// slistExplode makes an item of name with a field "v" per token of slist
// split at any of the characters of sep, empty tokens left out; mode "t"
// trims them.
func slistExplode(c *router.Ctx, slist, sep, mode, name string) int {
	if slist == "" || sep == "" || name == "" {
		return -1
	}
	var fields []router.XField
	for _, tok := range strings.FieldsFunc(slist, func(r rune) bool { return strings.ContainsRune(sep, r) }) {
		if strings.HasPrefix(mode, "t") {
			tok = strings.Trim(tok, " \t\r\n")
		}
		if tok != "" {
			fields = append(fields, router.XField{Key: "v", Val: router.StrValue(tok)})
		}
	}
	c.XAddItem(router.XAVP, name, fields)
	return 1
}

// xavpCopy is xavp_copy: item idx of src copied as an item of dst, the
// oldest of dst when it has some; with replace (the native 4-parameter
// form) in place of dst's item dstIdx.
func xavpCopy(c *router.Ctx, src string, idx int, dst string, dstIdx int, replace bool) int {
	if !c.XCopy(src, idx, dst, dstIdx, replace) {
		c.Log().Error("pvx: xavp_copy: no item to copy or to replace", "src", src, "index", idx, "dst", dst)
		return -1
	}
	return 1
}

// varToXAVP is pv_var_to_xavp: the XAVP name (its items removed first)
// gets an item with $var(varname) as a field, or with "*" one with every
// $var that is an int or a non-empty string.
func varToXAVP(c *router.Ctx, varname, name string) int {
	c.XDel(router.XAVP, name, -1, "")
	if varname == "*" {
		var fields []router.XField
		c.W.EachVarInOrder(func(n string, v router.Value) {
			if v.Kind == router.Int || (v.Kind == router.Str && !v.Empty()) {
				fields = append(fields, router.XField{Key: n, Val: v})
			}
		})
		if len(fields) > 0 {
			c.XAddItem(router.XAVP, name, fields)
		}
		return 1
	}
	if !c.W.HasVar(varname) {
		c.Log().Error("pvx: pv_var_to_xavp: no $var(" + varname + ")")
		return -1
	}
	c.XAddItem(router.XAVP, name, []router.XField{{Key: varname, Val: c.W.Var(varname)}})
	return 1
}

// xavpToVar is pv_xavp_to_var: every field of every item of name (the
// most recent item first) assigned to the $var of its key.
func xavpToVar(c *router.Ctx, name string) int {
	if _, list, ok := c.XValue(router.XAVP, name, 0); !ok || !list {
		c.Log().Error("pvx: pv_xavp_to_var: no XAVP " + name + " of fields")
		return -1
	}
	for i := 0; i < c.XCount(router.XAVP, name); i++ {
		c.XEachField(router.XAVP, name, i, func(key string, v router.Value) { c.W.SetVar(key, v) })
	}
	return 1
}

// evalx evaluates fmt's pseudo-variables and assigns the text to dst.
func evalx(c *router.Ctx, dst, fmt string) int {
	f, err := c.W.Format(fmt)
	if err != nil {
		c.Log().Error("pvx: evalx: "+err.Error(), "format", fmt)
		return -1
	}
	return set(c, dst, router.StrValue(string(f.Append(nil, c))))
}

// avpExports are the $avp functions by name: avp_rm removes the most
// recent value; avp_is_null, as Kamailio 5.6's, removes it too and then
// says whether another is left.
func avpExports() []dispatch.Export {
	out := getters("avp_", func(c *router.Ctx, n string) router.Value { return c.AVP(n) })
	return append(out,
		dispatch.Export{KSR: "pvx", Name: "avp_seti", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { c.AddAVP(n, router.IntValue(int64(v))); return 1 })},
		dispatch.Export{KSR: "pvx", Name: "avp_sets", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { c.AddAVP(n, router.StrValue(v)); return 1 })},
		dispatch.Export{KSR: "pvx", Name: "avp_rm", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FS(func(c *router.Ctx, n string) int { c.DelAVPAt(n, 0); return 1 })},
		dispatch.Export{KSR: "pvx", Name: "avp_is_null", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FS(func(c *router.Ctx, n string) int { c.DelAVPAt(n, 0); return isNull(c.AVP(n)) })},
	)
}

// pvxExports is KSR.pvx.
func (m *Module) pvxExports() []dispatch.Export {
	out := xavExports(router.XAVP, "xavp_")
	out = append(out, xavExports(router.XAVU, "xavu_")...)
	out = append(out, xavExports(router.XAVI, "xavi_")...)
	out = append(out, avpExports()...)
	return append(out,
		dispatch.Export{KSR: "pvx", Name: "xavp_slist_explode", Ret: dispatch.Int, Fn: dispatch.FSSSS(slistExplode)},
		dispatch.Export{KSR: "pvx", Name: "xavp_copy", Ret: dispatch.Int,
			Fn: dispatch.FSIS(func(c *router.Ctx, src string, idx int, dst string) int { return xavpCopy(c, src, idx, dst, 0, false) })},
		// KSR.pvx.xavp_copy_dst appends as xavp_copy does (Kamailio 5.6
		// passes its index on unused); the native 4-parameter xavp_copy
		// replaces the item at the index.
		dispatch.Export{KSR: "pvx", Name: "xavp_copy_dst", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSISI(func(c *router.Ctx, src string, idx int, dst string, _ int) int {
				return xavpCopy(c, src, idx, dst, 0, false)
			})},
		dispatch.Export{KSR: "pvx", Name: "xavp_copy", NativeOnly: true, Ret: dispatch.Int,
			Fn: dispatch.FSISI(func(c *router.Ctx, src string, idx int, dst string, dstIdx int) int {
				return xavpCopy(c, src, idx, dst, dstIdx, true)
			})},
		dispatch.Export{KSR: "pvx", Name: "pv_var_to_xavp", Ret: dispatch.Int, Fn: dispatch.FSS(varToXAVP)},
		dispatch.Export{KSR: "pvx", Name: "pv_xavp_to_var", Ret: dispatch.Int, Fn: dispatch.FS(xavpToVar)},
		dispatch.Export{KSR: "pvx", Name: "pv_xavp_print", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return printX(c, router.XAVP) })},
		dispatch.Export{KSR: "pvx", Name: "pv_xavu_print", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return printX(c, router.XAVU) })},
		dispatch.Export{KSR: "pvx", Name: "pv_xavi_print", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return printX(c, router.XAVI) })},
		dispatch.Export{KSR: "pvx", Name: "evalx", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FSS(evalx)},
		// the native pv_evalx evaluates its format, then the text that
		// gives, as Kamailio's w_pv_evalx
		dispatch.Export{KSR: "pvx", Name: "pv_evalx", NativeOnly: true, Ret: dispatch.Int, Raw: true,
			Fn: dispatch.FSS(func(c *router.Ctx, dst, fmt string) int {
				f, err := c.W.Format(fmt)
				if err != nil {
					c.Log().Error("pvx: pv_evalx: "+err.Error(), "format", fmt)
					return -1
				}
				return evalx(c, dst, string(f.Append(nil, c)))
			})},
		dispatch.Export{KSR: "pvx", Name: "var_get", Ret: dispatch.XVal, Native: dispatch.NoNative,
			Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return c.W.Var(n) })},
		dispatch.Export{KSR: "pvx", Name: "var_seti", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { c.W.SetVar(n, router.IntValue(int64(v))); return 1 })},
		dispatch.Export{KSR: "pvx", Name: "var_sets", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { c.W.SetVar(n, router.StrValue(v)); return 1 })},
		dispatch.Export{KSR: "pvx", Name: "shv_get", Ret: dispatch.XVal, Native: dispatch.NoNative,
			Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value {
				v, ok := m.shv.get(n)
				if !ok {
					return router.IntValue(0) // Kamailio: "not defined - return value 0"
				}
				return v
			})},
		dispatch.Export{KSR: "pvx", Name: "shv_seti", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { return m.shvSet(c, n, router.IntValue(int64(v))) })},
		dispatch.Export{KSR: "pvx", Name: "shv_sets", Ret: dispatch.Int, Native: dispatch.NoNative,
			Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { return m.shvSet(c, n, router.StrValue(v)) })},
		dispatch.Export{KSR: "pvx", Name: "sbranch_set_ruri", Ret: dispatch.Int, Fn: dispatch.F0(sbranchSetRURI)},
		dispatch.Export{KSR: "pvx", Name: "sbranch_append", Ret: dispatch.Int, Fn: dispatch.F0(sbranchAppend)},
		dispatch.Export{KSR: "pvx", Name: "sbranch_reset", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			c.W.SBranch = router.Branch{}
			return 1
		})},
	)
}

// printX logs the list of kind k, an item a line, at info level.
func printX(c *router.Ctx, k router.XKind) int {
	name := [...]string{"XAVP", "XAVU", "XAVI"}[k]
	var b strings.Builder
	c.XEach(k, func(item string, v router.Value, list bool) {
		b.Reset()
		b.WriteString(item)
		if !list {
			b.WriteString(" = " + v.String())
		} else {
			b.WriteString(" =>")
		}
		c.Log().Info(name+" list: "+b.String(), "route", c.Route)
	}, func(item, key string, v router.Value) {
		c.Log().Info(name+" list:   "+item+"=>"+key+" = "+v.String(), "route", c.Route)
	})
	return 1
}
