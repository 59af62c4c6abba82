package avpops

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/textopsx"
)

// flags are the letters after the last '/' of a parameter, checked
// against those allowed.
func flags(s, allowed string) (string, error) {
	for _, ch := range strings.ToLower(s) {
		if !strings.ContainsRune(allowed, ch) {
			return "", fmt.Errorf("unknown flag <%c>", ch)
		}
	}
	return strings.ToLower(s), nil
}

// spec is "$avp(x)/flags" split: the AVP and its flags.
type spec struct {
	avp   avpRef
	flags string
}

func parseSpec(s, allowed string) (spec, error) {
	a, f, _ := strings.Cut(s, "/")
	r, err := parseAVP(a)
	if err != nil {
		return spec{}, err
	}
	fl, err := flags(f, allowed)
	return spec{r, fl}, err
}

// delSpec is avp_delete's parameter: an AVP, or the name types matched.
type delSpec struct {
	avp                avpRef
	any                bool
	matchInt, matchStr bool
	all                bool
}

// deleteAVP is avp_delete: the last value of the AVP (all with /g), or
// the first AVP of the types matched (all with /g); 1 when one went.
func (m *Module) deleteAVP(c *router.Ctx, name string) int {
	d, err := cached(m, "avp_delete", name, func(s string) (delSpec, error) {
		n, f, _ := strings.Cut(s, "/")
		var d delSpec
		fl, err := flags(f, "g")
		if err != nil {
			return d, err
		}
		d.all = fl != ""
		if strings.HasPrefix(n, "$") {
			d.avp, err = parseAVP(n)
			return d, err
		}
		if n == "" {
			return d, errors.New("bad param - expected : $avp(name), *, s or i value")
		}
		switch n[0] {
		case 's', 'S':
			d.matchStr = true
		case 'i', 'I':
			d.matchInt = true
		case '*', 'a', 'A':
		default:
			return d, errors.New("bad param - expected : *, s or i AVP flag")
		}
		d.any = true
		return d, nil
	})
	if err != nil {
		return fail(c, "avp_delete", err)
	}
	if !d.any {
		n, ok := d.avp.resolve(c)
		if !ok {
			c.Log().Error("avpops: failed to get dst AVP name", "route", c.Route)
			return -1
		}
		if len(c.AVPValues(n)) == 0 {
			return -1
		}
		if d.all {
			c.DelAVP(n)
		} else {
			c.DelAVPAt(n, 0)
		}
		return 1
	}
	deleted := 0
	for _, e := range c.AVPEntries() {
		nameInt := isNumeric(e.Name)
		if d.matchInt && !nameInt || d.matchStr && nameInt {
			continue
		}
		// Entries are visited from the last added and every one of a
		// name matches alike: the newer ones of this name are gone, and
		// this one is its name's first now.
		c.DelAVPAt(e.Name, 0)
		deleted++
		if !d.all {
			break
		}
	}
	return dispatch.Result(deleted > 0)
}

// copyAVP is avp_copy(src, dst[/flags]): the last value of src (all of
// them with g, the order reversed) added to dst — as an int with n, a
// string with s — and deleted from src with d; 1 when one was copied.
func (m *Module) copyAVP(c *router.Ctx, src, dst string) int {
	s, err := cached(m, "avp_copy1", src, func(s string) (avpRef, error) { return parseAVP(s) })
	if err != nil {
		return fail(c, "avp_copy", err)
	}
	d, err := cached(m, "avp_copy2", dst, func(s string) (spec, error) { return parseSpec(s, "gdns") })
	if err != nil {
		return fail(c, "avp_copy", err)
	}
	from, ok1 := s.resolve(c)
	to, ok2 := d.avp.resolve(c)
	if !ok1 || !ok2 {
		c.Log().Error("avpops: failed to get the AVP names", "route", c.Route)
		return -1
	}
	all, del := strings.Contains(d.flags, "g"), strings.Contains(d.flags, "d")
	rm := &deleter{c: c, name: from}
	n := 0
	for i, v := range c.AVPValues(from) {
		switch {
		case !isInt(v) && strings.Contains(d.flags, "n"):
			x, err := strconv.ParseUint(v.String(), 10, 32)
			if err != nil {
				c.Log().Error("avpops: cannot convert str to int", "route", c.Route)
				return -1
			}
			v = router.IntValue(int64(int32(x)))
		case isInt(v) && strings.Contains(d.flags, "s"):
			v = router.StrValue(strconv.FormatInt(int64(intOf(v)), 10))
		}
		rm.add(to, v)
		n++
		if del {
			rm.remove(i)
		}
		if !all {
			break
		}
	}
	return dispatch.Result(n > 0)
}

// pushto is avp_pushto(dst, src[/g]): the value of src — the last of an
// AVP, or each with g — becomes the request URI (its user, its host),
// the destination URI, or a new branch; each value past the first
// written in the request URI pushes the one before into a branch.
func (m *Module) pushto(c *router.Ctx, dst, src string) int {
	part, err := cached(m, "avp_pushto1", dst, func(s string) (string, error) {
		switch strings.ToLower(s) {
		case "$ru", "$ru/username", "$ru/domain", "$du", "$br":
			return strings.ToLower(s), nil
		}
		return "", fmt.Errorf("bad param 1 <%s>; expected : $ru[/username|/domain], $du or $br", s)
	})
	if err != nil {
		return fail(c, "avp_pushto", err)
	}
	type pushSrc struct {
		avp *avpRef
		pv  string
		all bool
	}
	ps, err := cached(m, "avp_pushto2", src, func(s string) (pushSrc, error) {
		n, f, _ := strings.Cut(s, "/")
		fl, err := flags(f, "g")
		if err != nil {
			return pushSrc{}, err
		}
		if strings.HasPrefix(n, "$avp(") {
			r, err := parseAVP(n)
			return pushSrc{avp: &r, all: fl != ""}, err
		}
		if _, err := router.ParsePV(n); err != nil {
			return pushSrc{}, fmt.Errorf("bad param 2 <%s>: %w", s, err)
		}
		return pushSrc{pv: n}, nil
	})
	if err != nil {
		return fail(c, "avp_pushto", err)
	}
	var vals []router.Value
	if ps.avp != nil {
		name, ok := ps.avp.resolve(c)
		if !ok {
			return -1
		}
		if vals = c.AVPValues(name); len(vals) == 0 {
			return -1
		}
		if !ps.all {
			vals = vals[:1]
		}
	} else {
		pv, err := c.W.PV(ps.pv)
		if err != nil {
			return fail(c, "avp_pushto", err)
		}
		vals = []router.Value{pv.Get(c)}
	}
	for n, v := range vals {
		s := v.String()
		switch part {
		case "$ru", "$ru/username", "$ru/domain":
			if n > 0 && !c.AppendBranch(router.Branch{URI: append([]byte(nil), c.RURIText()...), Q: -1}) {
				c.Log().Error("avpops: append_branch action failed", "route", c.Route)
				return -1
			}
			var err error
			switch part {
			case "$ru":
				err = c.SetRURI([]byte(s))
			case "$ru/username":
				err = c.RewriteRURI([]byte(s), nil)
			default:
				err = c.RewriteRURI(nil, []byte(s))
			}
			if err != nil {
				c.Log().Error("avpops: SET_XXXX_T action failed: "+err.Error(), "route", c.Route)
				return -1
			}
		case "$du":
			if isInt(v) {
				return -1
			}
			if err := c.SetDstURI([]byte(s)); err != nil {
				c.Log().Error("avpops: changing dst uri failed", "route", c.Route)
				return -1
			}
		case "$br":
			if isInt(v) {
				return -1
			}
			if !c.AppendBranch(router.Branch{URI: []byte(s), Q: -1}) {
				c.Log().Error("avpops: append_branch action failed", "route", c.Route)
				return -1
			}
		}
	}
	return 1
}

// The operators of avp_check and avp_op.
const (
	opEq = iota + 1
	opNe
	opLt
	opLe
	opGt
	opGe
	opRe
	opFm
	opAnd
	opOr
	opXor
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opNot
)

// opValue is "operator/value[/flags]": the operator, the value — a
// variable, an integer (i:N, hex too), a string (s:S or as written) —
// and the flags.
type opValue struct {
	op    int
	pv    string
	avp   *avpRef
	val   router.Value
	re    *regexp.Regexp
	flags string
}

func parseOpValue(s string, ops func(string) int, allowed string, check bool) (opValue, error) {
	name, rest, ok := strings.Cut(s, "/")
	var o opValue
	if !ok || (len(name) != 2 && len(name) != 3) {
		return o, fmt.Errorf("parse error in <%s>", s)
	}
	if o.op = ops(strings.ToLower(name)); o.op == 0 {
		return o, fmt.Errorf("unknown operation <%s>", name)
	}
	if rest == "" {
		return o, fmt.Errorf("parse error in <%s>", s)
	}
	val, fl, _ := strings.Cut(rest, "/")
	var err error
	if o.flags, err = flags(fl, allowed); err != nil {
		return o, err
	}
	switch {
	case strings.HasPrefix(val, "$avp("):
		r, err := parseAVP(val)
		if err != nil {
			return o, err
		}
		o.avp = &r
	case strings.HasPrefix(val, "$"):
		if _, err := router.ParsePV(val); err != nil {
			return o, fmt.Errorf("bad param; expected : $pseudo-variable or int/str value: %w", err)
		}
		o.pv = val
	case len(val) > 2 && (val[:2] == "i:" || val[:2] == "I:"):
		n, err := strconv.ParseInt(val[2:], 0, 64)
		if err != nil {
			return o, fmt.Errorf("value is not int <%s>", val)
		}
		o.val = router.IntValue(int64(int32(n)))
	case !check:
		return o, fmt.Errorf("bad value <%s>: an integer (i:N) or a variable", val)
	case len(val) > 2 && (val[:2] == "s:" || val[:2] == "S:"):
		o.val = router.StrValue(val[2:])
	default:
		o.val = router.StrValue(val)
	}
	if o.op == opRe && o.pv == "" && o.avp == nil {
		if o.re, err = router.Regexp(o.val.String()); err != nil {
			return o, fmt.Errorf("bad re <%s>: %w", o.val.String(), err)
		}
	}
	return o, nil
}

// checkOp is an operator of avp_check, 0 for another.
func checkOp(name string) int {
	switch name {
	case "eq":
		return opEq
	case "ne":
		return opNe
	case "lt":
		return opLt
	case "le":
		return opLe
	case "gt":
		return opGt
	case "ge":
		return opGe
	case "re":
		return opRe
	case "fm":
		return opFm
	}
	return bitOp(name)
}

// opOp is an operator of avp_op, 0 for another.
func opOp(name string) int {
	switch name {
	case "add":
		return opAdd
	case "sub":
		return opSub
	case "mul":
		return opMul
	case "div":
		return opDiv
	case "mod":
		return opMod
	case "not":
		return opNot
	}
	return bitOp(name)
}

func bitOp(name string) int {
	switch name {
	case "and":
		return opAnd
	case "or":
		return opOr
	case "xor":
		return opXor
	}
	return 0
}

// operands are the values an operand gives: every value of an AVP, the
// value of a variable, or the constant.
func (o *opValue) operands(c *router.Ctx) ([]router.Value, bool) {
	switch {
	case o.avp != nil:
		name, ok := o.avp.resolve(c)
		if !ok {
			return nil, false
		}
		vs := c.AVPValues(name)
		return vs, len(vs) > 0
	case o.pv != "":
		pv, err := c.W.PV(o.pv)
		if err != nil {
			return nil, false
		}
		return []router.Value{pv.Get(c)}, true
	}
	return []router.Value{o.val}, true
}

// check is avp_check(name, "op/value[/flags]"): 1 when the value of name
// (each value of an AVP with g) compares as asked with the value (any
// value of an AVP given as the value); strings compare case-insensitively
// for lt/le/gt/ge and with i for eq/ne/fm; re is case-insensitive.
func (m *Module) check(c *router.Ctx, name, op string) int {
	o, err := cached(m, "avp_check", op, func(s string) (opValue, error) { return parseOpValue(s, checkOp, "gi", true) })
	if err != nil {
		return fail(c, "avp_check", err)
	}
	var left []router.Value
	if strings.HasPrefix(name, "$avp(") {
		r, err := cached(m, "avp_check1", name, parseAVP)
		if err != nil {
			return fail(c, "avp_check", err)
		}
		n, ok := r.resolve(c)
		if !ok {
			return -1
		}
		if left = c.AVPValues(n); len(left) == 0 {
			return -1
		}
		if !strings.Contains(o.flags, "g") {
			left = left[:1]
		}
	} else {
		pv, err := c.W.PV(name)
		if err != nil {
			return fail(c, "avp_check", err)
		}
		left = []router.Value{pv.Get(c)}
	}
	right, ok := o.operands(c)
	if !ok {
		return -1
	}
	ci := strings.Contains(o.flags, "i")
	for _, a := range left {
		for _, b := range right {
			if isInt(a) != isInt(b) || a.IsNull() || b.IsNull() {
				c.Log().Error("avpops: value types don't match", "route", c.Route)
				continue
			}
			if compare(c, &o, a, b, ci) {
				return 1
			}
		}
	}
	return -1
}

// compare is one comparison of ops_check_avp.
func compare(c *router.Ctx, o *opValue, a, b router.Value, ci bool) bool {
	if isInt(a) {
		x, y := intOf(a), intOf(b)
		switch o.op {
		case opEq:
			return x == y
		case opNe:
			return x != y
		case opLt:
			return x < y
		case opLe:
			return x <= y
		case opGt:
			return x > y
		case opGe:
			return x >= y
		case opAnd:
			return x&y != 0
		case opOr:
			return x|y != 0
		case opXor:
			return x^y != 0
		}
		return false
	}
	x, y := a.String(), b.String()
	switch o.op {
	case opEq:
		return ci && strings.EqualFold(x, y) || !ci && x == y
	case opNe:
		return !(ci && strings.EqualFold(x, y) || !ci && x == y)
	case opLt, opLe, opGt, opGe:
		r := strings.Compare(strings.ToLower(x), strings.ToLower(y))
		switch o.op {
		case opLt:
			return r < 0
		case opLe:
			return r <= 0
		case opGt:
			return r > 0
		}
		return r >= 0
	case opRe:
		re := o.re
		if re == nil {
			var err error
			if re, err = router.Regexp(y); err != nil {
				c.Log().Error("avpops: bad re <"+y+">", "route", c.Route)
				return false
			}
		}
		return re.MatchString(x)
	case opFm:
		return textopsx.Fnmatch(y, x, ci)
	}
	return false
}

// avps is "src[/dst[/flags]]" of avp_op and avp_subst.
type avps struct {
	src, dst avpRef
	hasDst   bool
	flags    string
}

func parseAVPs(s, allowed string) (avps, error) {
	parts := strings.SplitN(s, "/", 3)
	var a avps
	var err error
	if a.src, err = parseAVP(parts[0]); err != nil {
		return a, err
	}
	if len(parts) > 1 && parts[1] != "" {
		if a.dst, err = parseAVP(parts[1]); err != nil {
			return a, err
		}
		a.hasDst = true
	}
	if len(parts) > 2 {
		a.flags, err = flags(parts[2], allowed)
	}
	return a, err
}

func (a avps) names(c *router.Ctx) (src, dst string, ok bool) {
	if src, ok = a.src.resolve(c); !ok {
		return
	}
	dst = src
	if a.hasDst {
		dst, ok = a.dst.resolve(c)
	}
	return
}

// op is avp_op("src[/dst]", "op/value[/flags]"): each integer value of
// src combined with the value by the operator, the result added to dst
// (src when not given); with d each value of src used is deleted.
// Division and modulo by 0 give 0; not is the complement of the value.
// An AVP given as the value gives each of its integer values in turn,
// each combined with the result of the one before, as Kamailio's
// ops_op_avp does.
func (m *Module) op(c *router.Ctx, name, op string) int {
	a, err := cached(m, "avp_op1", name, func(s string) (avps, error) { return parseAVPs(s, "") })
	if err != nil {
		return fail(c, "avp_op", err)
	}
	o, err := cached(m, "avp_op2", op, func(s string) (opValue, error) { return parseOpValue(s, opOp, "gd", false) })
	if err != nil {
		return fail(c, "avp_op", err)
	}
	src, dst, ok := a.names(c)
	if !ok {
		return -1
	}
	var srcInts []int
	vals := c.AVPValues(src)
	for i, v := range vals {
		if isInt(v) {
			srcInts = append(srcInts, i)
		}
	}
	if len(vals) == 0 || len(srcInts) == 0 && o.op != opNot {
		return -1
	}
	right, ok := o.operands(c)
	if !ok {
		return -1
	}
	var rights []int32
	for _, v := range right {
		if !isInt(v) {
			if o.avp == nil {
				c.Log().Error("avpops: dst value is str", "route", c.Route)
				return -1
			}
			continue
		}
		rights = append(rights, intOf(v))
	}
	if len(rights) == 0 {
		return -1
	}
	if len(srcInts) == 0 { // not, on an AVP of strings only: one result from the value
		srcInts = []int{-1}
	}
	rm := &deleter{c: c, name: src}
	del := strings.Contains(o.flags, "d")
	for _, i := range srcInts {
		var x int32
		if i >= 0 {
			x = intOf(vals[i])
		}
		for _, y := range rights {
			var r int32
			switch o.op {
			case opAdd:
				r = x + y
			case opSub:
				r = x - y
			case opMul:
				r = x * y
			case opDiv, opMod:
				if y == 0 {
					c.Log().Error("avpops: division by 0", "route", c.Route)
				} else if o.op == opDiv {
					r = x / y
				} else {
					r = x % y
				}
			case opAnd:
				r = x & y
			case opOr:
				r = x | y
			case opXor:
				r = x ^ y
			case opNot:
				r = ^y
			}
			rm.add(dst, router.IntValue(int64(r)))
			x = r
		}
		if del && i >= 0 {
			rm.remove(i)
		}
	}
	return 1
}

// subst is avp_subst("src[/dst[/flags]]", "/re/repl/flags"): the string
// values of src (the last that matches; each with g) rewritten into dst,
// or in place when no dst is given; with d the source values are
// deleted. The replacement may hold pseudo-variables. 1 when one was.
func (m *Module) subst(c *router.Ctx, spec, expr string) int {
	a, err := cached(m, "avp_subst1", spec, func(s string) (avps, error) { return parseAVPs(s, "gd") })
	if err != nil {
		return fail(c, "avp_subst", err)
	}
	e, err := cached(m, "avp_subst2", expr, router.ParseSubst)
	if err != nil {
		return fail(c, "avp_subst", err)
	}
	src, dst, ok := a.names(c)
	if !ok {
		return -1
	}
	vals := c.AVPValues(src)
	if len(vals) == 0 {
		return -1
	}
	expand := func(repl string) string {
		if !strings.Contains(repl, "$") {
			return repl
		}
		f, err := c.W.Format(repl)
		if err != nil {
			return repl
		}
		return string(f.Append(nil, c))
	}
	all := strings.Contains(a.flags, "g")
	del := strings.Contains(a.flags, "d") || !a.hasDst
	rm := &deleter{c: c, name: src}
	n := 0
	for i, v := range vals {
		if isInt(v) {
			continue
		}
		out, matched := e.Apply([]byte(v.String()), expand)
		if !matched {
			continue
		}
		rm.add(dst, router.StrValue(string(out)))
		n++
		if del {
			rm.remove(i)
		}
		if !all {
			break
		}
	}
	return dispatch.Result(n > 0)
}

// isSet is is_avp_set("$avp(x)[/flags]"): 1 when the AVP has a value (at
// the index written, $(avp(x)[n])) — a string with s, an int with n, an
// empty string or 0 with e.
func (m *Module) isSet(c *router.Ctx, name string) int {
	type setSpec struct {
		avp   avpRef
		index int
		flags string
	}
	s, err := cached(m, "is_avp_set", name, func(s string) (setSpec, error) {
		n, f, _ := strings.Cut(s, "/")
		fl, err := flags(f, "esng")
		if err != nil {
			return setSpec{}, err
		}
		idx := 0
		if in, ok := strings.CutPrefix(n, "$("); ok && strings.HasSuffix(in, "])") {
			body, ix, _ := strings.Cut(in[:len(in)-2], "[")
			if ix != "*" {
				if idx, err = strconv.Atoi(ix); err != nil {
					return setSpec{}, fmt.Errorf("bad index in <%s>", s)
				}
			}
			n = "$" + body
		}
		r, err := parseAVP(n)
		return setSpec{r, idx, fl}, err
	})
	if err != nil {
		return fail(c, "is_avp_set", err)
	}
	n, ok := s.avp.resolve(c)
	if !ok {
		return -1
	}
	vals := c.AVPValues(n)
	if s.index > 0 {
		if s.index >= len(vals) {
			return -1
		}
		vals = vals[s.index:]
	}
	if len(vals) == 0 {
		return -1
	}
	v := vals[0]
	switch {
	case strings.Contains(s.flags, "g"):
		return 1
	case strings.Contains(s.flags, "s") && isInt(v), strings.Contains(s.flags, "n") && !isInt(v):
		return -1
	case strings.Contains(s.flags, "e"):
		if isInt(v) {
			return dispatch.Result(intOf(v) == 0)
		}
		return dispatch.Result(v.String() == "")
	}
	return 1
}
