// Package jansson is Kamailio's jansson module: a value read from a JSON
// document by a path (jansson_get, KSR.jansson.get), the size of an
// array, a value set or appended at a path, and JSON objects decoded into
// XAVPs and an XAVP encoded as one.
package jansson

import (
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the jansson module; it keeps no state.
type Module struct{}

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "jansson", New: func() dispatch.Module { return &Module{} }})
}

// Exports are KSR.jansson.get and the native functions, whose variable
// parameters are not expanded (the others are, as Kamailio's fixups do).
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	nat := func(name string, f dispatch.Func) dispatch.Export {
		return dispatch.Export{Name: name, NativeOnly: true, Raw: true, Ret: I, Fn: f}
	}
	return []dispatch.Export{
		{Name: "get", Native: dispatch.NoNative, Ret: I, Fn: dispatch.FSSS(get)},
		nat("jansson_get", dispatch.FSSS(func(c *router.Ctx, path, doc, pv string) int {
			return get(c, expand(c, path), expand(c, doc), pv)
		})),
		nat("jansson_get_field", dispatch.FSSS(func(c *router.Ctx, doc, path, pv string) int {
			return get(c, expand(c, path), expand(c, doc), pv)
		})),
		nat("jansson_array_size", dispatch.FSSS(func(c *router.Ctx, path, doc, pv string) int {
			return arraySize(c, expand(c, path), expand(c, doc), pv)
		})),
		nat("jansson_set", dispatch.FSSSS(func(c *router.Ctx, typ, path, val, pv string) int {
			return set(c, expand(c, typ), expand(c, path), expand(c, val), pv, false)
		})),
		nat("jansson_append", dispatch.FSSSS(func(c *router.Ctx, typ, path, val, pv string) int {
			return set(c, expand(c, typ), expand(c, path), expand(c, val), pv, true)
		})),
		nat("jansson_xdecode", dispatch.FSS(func(c *router.Ctx, doc, xavp string) int { return xdecode(c, expand(c, doc), expand(c, xavp)) })),
		nat("jansson_xencode", dispatch.FSS(func(c *router.Ctx, xavp, pv string) int { return xencode(c, expand(c, xavp), pv) })),
	}
}

// expand is a native parameter with its variables given their values.
func expand(c *router.Ctx, s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	f, err := c.W.Format(s)
	if err != nil {
		return s
	}
	return string(f.Append(nil, c))
}

// writable is the variable name names, nil (logged) when it is not one
// that can be set.
func writable(c *router.Ctx, name string) *router.PV {
	p, err := c.W.PV(name)
	if err != nil || !p.Writable() {
		c.Log().Error("jansson: cannot set "+strconv.Quote(name), "route", c.Route)
		return nil
	}
	return p
}

// toValue is a JSON value as a script value, as Kamailio's jansson_to_val:
// objects and arrays as compact JSON text, true and false as 1 and 0,
// reals as text with 15 digits, integers (as text past 32 bits), null as
// null.
func toValue(v *value) router.Value {
	switch v.kind {
	case kObject, kArray:
		return router.StrValue(encode(v, true))
	case kString:
		return router.StrValue(v.str)
	case kTrue:
		return router.IntValue(1)
	case kFalse:
		return router.IntValue(0)
	case kReal:
		return router.StrValue(strconv.FormatFloat(v.f, 'g', 15, 64))
	case kInt:
		if v.i > 1<<31-1 || v.i < -1<<31 {
			return router.StrValue(strconv.FormatInt(v.i, 10))
		}
		return router.IntValue(v.i)
	}
	return router.Value{}
}

// get is jansson_get: the value at path of the document into pv.
func get(c *router.Ctx, path, doc, pv string) int {
	p := writable(c, pv)
	if p == nil {
		return -1
	}
	root, err := decode(doc)
	if err != nil {
		c.Log().Error("jansson: failed to parse json: "+err.Error(), "route", c.Route)
		return -1
	}
	v := pathGet(root, path)
	if v == nil {
		return -1
	}
	if p.Set(c, toValue(v)) != nil {
		return -1
	}
	return 1
}

// arraySize is jansson_array_size: the size of the array at path.
func arraySize(c *router.Ctx, path, doc, pv string) int {
	p := writable(c, pv)
	if p == nil {
		return -1
	}
	root, err := decode(doc)
	if err != nil {
		return -1
	}
	v := pathGet(root, path)
	if v == nil || v.kind != kArray {
		return -1
	}
	if p.Set(c, router.IntValue(int64(len(v.items)))) != nil {
		return -1
	}
	return 1
}

// set is jansson_set and jansson_append: a value of a type (object/obj,
// array, string/str, integer/int, real, true, false, null) put at path in
// the document the variable pv holds ("{}" when it holds no text), the
// result back into pv.
func set(c *router.Ctx, typ, path, val, pv string, appendTo bool) int {
	p := writable(c, pv)
	if p == nil {
		return -1
	}
	var x *value
	var err error
	switch typ {
	case "object", "obj", "array":
		if x, err = decode(val); err != nil {
			return -1
		}
		if typ == "array" && x.kind != kArray || typ != "array" && x.kind != kObject {
			return -1
		}
	case "string", "str":
		x = &value{kind: kString, str: val}
	case "integer", "int":
		n, perr := strconv.ParseInt(val, 10, 64)
		if perr != nil {
			return -1
		}
		x = &value{kind: kInt, i: n}
	case "real":
		f, perr := strconv.ParseFloat(val, 64)
		if perr != nil {
			return -1
		}
		x = &value{kind: kReal, f: f}
	case "true":
		x = &value{kind: kTrue}
	case "false":
		x = &value{kind: kFalse}
	case "null":
		x = &value{kind: kNull}
	default:
		c.Log().Error("jansson: unrecognized input type "+strconv.Quote(typ), "route", c.Route)
		return -1
	}
	docText := "{}"
	if cur := p.Get(c); cur.Kind == router.Str {
		docText = cur.String()
	}
	root, err := decode(docText)
	if err != nil {
		return -1
	}
	if err := pathSet(root, path, x, appendTo); err != nil {
		c.Log().Error("jansson: "+path+": "+err.Error(), "route", c.Route)
		return -1
	}
	if p.Set(c, toValue(root)) != nil {
		return -1
	}
	return 1
}

// xdecode is jansson_xdecode: an object into an item of the XAVP (each
// member a field), or each object of an array into one; an empty object
// adds no item here (Kamailio adds one without fields).
func xdecode(c *router.Ctx, doc, xavp string) int {
	root, err := decode(doc)
	if err != nil {
		return -1
	}
	objs := []*value{root}
	if root.kind == kArray {
		objs = root.items
	}
	for _, o := range objs {
		if o.kind != kObject {
			return -1
		}
		first := true
		for i, k := range o.keys {
			idx := 0
			if first {
				idx = -1
			}
			c.XAVPAdd(xavp, idx, k, toValue(o.vals[i]))
			first = false
		}
	}
	return 1
}

// xencode is jansson_xencode: the fields of the XAVP's first item as a
// JSON object (the last added first, as Kamailio lists them) into pv.
func xencode(c *router.Ctx, xavp, pv string) int {
	p := writable(c, pv)
	if p == nil {
		return -1
	}
	type field struct {
		k string
		v router.Value
	}
	var fs []field
	if !c.XAVPFields(xavp, 0, func(k string, v router.Value) { fs = append(fs, field{k, v}) }) {
		return -1
	}
	o := &value{kind: kObject}
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		switch f.v.Kind {
		case router.Int:
			o.set(f.k, &value{kind: kInt, i: f.v.I})
		case router.Str:
			o.set(f.k, &value{kind: kString, str: f.v.String()})
		default:
			o.set(f.k, &value{kind: kNull})
		}
	}
	if p.Set(c, router.StrValue(encode(o, false))) != nil {
		return -1
	}
	return 1
}
