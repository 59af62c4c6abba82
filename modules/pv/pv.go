// Package pv provides the common pseudo-variables ($ru, $fu, $si,
// $var(x), $avp(x), $hdr(Name), ...) and the KSR.pv functions that read
// and write them, like Kamailio's pv module and core KSR.pv.
package pv

import (
	"errors"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	registerClasses()
	registerShv()
	registerBranches()
	dispatch.Register(dispatch.ModuleInfo{Name: "pv", Core: true,
		Params: []dispatch.Param{
			{Name: "shvset", Kind: dispatch.Str, Multi: true, Default: "-",
				Doc: "a shared variable and its first value, `name=i:1` (an int) or `name=s:text`: `$shv(name)`, `KSR.pvx.shv_get`"},
			{Name: "varset", Kind: dispatch.Str, Multi: true, Default: "-",
				Doc: "a `$var` and the value each worker starts it with, `name=i:1` or `name=s:text`"},
		},
		New: func() dispatch.Module { return &Module{shv: &shvTable{vars: map[string]*shvar{}}} }})
}

// Module is the pv module: its state is the shared variables ($shv)
// and the first values of $vars (varset).
type Module struct {
	shv  *shvTable
	vars []router.XField
}

// Exports are KSR.pv and KSR.pvx.
func (m *Module) Exports() []dispatch.Export {
	return append(m.pvExports(), m.pvxExports()...)
}

func (m *Module) pvExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "get", Ret: dispatch.XVal, Fn: dispatch.VS(get)},
		{Name: "gete", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return get(c, n).Or("") })},
		{Name: "getw", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, n string) router.Value { return get(c, n).Or("<<null>>") })},
		{Name: "geti", Ret: dispatch.Int, Value: true, Fn: dispatch.FS(func(c *router.Ctx, n string) int {
			i, _ := get(c, n).Int64()
			return int(i)
		})},
		{Name: "getvs", Ret: dispatch.XVal, Fn: dispatch.VSS(func(c *router.Ctx, n, def string) router.Value {
			return get(c, n).Or(def)
		})},
		{Name: "getvn", Ret: dispatch.XVal, Fn: dispatch.VSI(func(c *router.Ctx, n string, def int) router.Value {
			if v := get(c, n); v.Kind != router.Null {
				return v
			}
			return router.IntValue(int64(def))
		})},
		{Name: "sets", Ret: dispatch.Bool, Fn: dispatch.FSS(func(c *router.Ctx, n, v string) int { return set(c, n, router.StrValue(v)) })},
		{Name: "seti", Ret: dispatch.Bool, Fn: dispatch.FSI(func(c *router.Ctx, n string, v int) int { return set(c, n, router.IntValue(int64(v))) })},
		{Name: "unset", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, n string) int { return set(c, n, router.Value{}) })},
		{Name: "is_null", Ret: dispatch.Bool, Fn: dispatch.FS(func(c *router.Ctx, n string) int {
			if get(c, n).Kind == router.Null {
				return 1
			}
			return -1
		})},
		// the native pv_isset and pv_unset name the variable as written
		{Name: "pv_isset", NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int {
			return dispatch.Result(get(c, n).Kind != router.Null)
		})},
		{Name: "pv_unset", NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, n string) int {
			set(c, n, router.Value{})
			return 1
		})},
	}
}

func get(c *router.Ctx, name string) router.Value {
	pv, err := c.W.PV(name)
	if err != nil {
		c.Log().Error("pv: "+err.Error(), "route", c.Route)
		return router.Value{}
	}
	return pv.Get(c)
}

func set(c *router.Ctx, name string, v router.Value) int {
	pv, err := c.W.PV(name)
	if err == nil {
		err = pv.Set(c, v)
	}
	if err != nil {
		c.Log().Error("pv: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

func str(b []byte) router.Value {
	if b == nil {
		return router.Value{}
	}
	return router.BytesValue(b)
}

// msgGet makes a read-only class from a function of the message.
func msgGet(f func(c *router.Ctx) router.Value) router.PVClass {
	return router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value { return f(c) }}
}

func ruri(c *router.Ctx) *sip.URI {
	if !c.Msg.IsRequest() {
		return nil
	}
	u, err := c.RURI()
	if err != nil {
		return nil
	}
	return u
}

func addr(na *sip.NameAddr, f func(na *sip.NameAddr) []byte) router.Value {
	if na == nil {
		return router.Value{}
	}
	return router.NonEmpty(f(na))
}

var errNeedStr = errors.New("needs a string value")

func valueBytes(v router.Value, buf *[]byte) []byte {
	*buf = v.AppendTo((*buf)[:0])
	return *buf
}

func registerClasses() {
	reg := router.RegisterPV
	reg("sel", router.PVClass{Arg: true, Parse: parseSel, Get: getSel})
	reg("ru", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if !c.Msg.IsRequest() {
				return router.Value{}
			}
			return str(c.RURIText())
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error {
			if v.Kind != router.Str {
				return errNeedStr
			}
			return c.SetRURI(valueBytes(v, &c.W.Scratch))
		},
	})
	reg("rU", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if u := ruri(c); u != nil {
				return router.NonEmpty(u.User)
			}
			return router.Value{}
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error {
			var b [128]byte
			return c.RewriteRURI(v.AppendTo(b[:0]), nil)
		},
	})
	reg("rd", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if u := ruri(c); u != nil {
				return router.NonEmpty(u.Host)
			}
			return router.Value{}
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error {
			var b [128]byte
			h := v.AppendTo(b[:0])
			if len(h) == 0 {
				return errors.New("$rd cannot be empty")
			}
			return c.RewriteRURI(nil, h)
		},
	})
	reg("rp", msgGet(func(c *router.Ctx) router.Value {
		if u := ruri(c); u != nil {
			if u.Port == 0 {
				if u.Scheme == sip.SchemeSIPS {
					return router.IntValue(5061)
				}
				return router.IntValue(5060)
			}
			return router.IntValue(int64(u.Port))
		}
		return router.Value{}
	}))
	reg("rz", msgGet(func(c *router.Ctx) router.Value {
		if u := ruri(c); u != nil {
			return str(u.SchemeName)
		}
		return router.Value{}
	}))
	reg("ou", msgGet(func(c *router.Ctx) router.Value {
		if !c.Msg.IsRequest() {
			return router.Value{}
		}
		return str(c.Msg.RURIText())
	}))
	reg("du", router.PVClass{
		Get: func(c *router.Ctx, _ *router.PV) router.Value {
			if !c.DstSet() {
				return router.Value{}
			}
			return str(c.DstURI())
		},
		Set: func(c *router.Ctx, _ *router.PV, v router.Value) error {
			if v.Kind == router.Null {
				return c.SetDstURI(nil)
			}
			return c.SetDstURI(valueBytes(v, &c.W.Scratch))
		},
	})
	reg("fu", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.From(), func(n *sip.NameAddr) []byte { return n.URI.Raw })
	}))
	reg("fU", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.From(), func(n *sip.NameAddr) []byte { return n.URI.User })
	}))
	reg("fd", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.From(), func(n *sip.NameAddr) []byte { return n.URI.Host })
	}))
	reg("fn", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.From(), func(n *sip.NameAddr) []byte { return n.Display })
	}))
	reg("ft", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.From(), func(n *sip.NameAddr) []byte { return n.Tag })
	}))
	reg("tu", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.To(), func(n *sip.NameAddr) []byte { return n.URI.Raw })
	}))
	reg("tU", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.To(), func(n *sip.NameAddr) []byte { return n.URI.User })
	}))
	reg("td", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.To(), func(n *sip.NameAddr) []byte { return n.URI.Host })
	}))
	reg("tn", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.To(), func(n *sip.NameAddr) []byte { return n.Display })
	}))
	reg("tt", msgGet(func(c *router.Ctx) router.Value {
		return addr(c.Msg.To(), func(n *sip.NameAddr) []byte { return n.Tag })
	}))
	reg("ci", msgGet(func(c *router.Ctx) router.Value { return router.NonEmpty(c.Msg.CallID()) }))
	reg("cs", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(c.Msg.CSeq())) }))
	reg("rm", msgGet(func(c *router.Ctx) router.Value {
		if c.Msg.IsRequest() {
			return str(c.Msg.MethodName())
		}
		return str(c.Msg.CSeqMethodName())
	}))
	reg("rs", msgGet(func(c *router.Ctx) router.Value {
		if c.Msg.IsRequest() {
			return router.Value{}
		}
		return router.IntValue(int64(c.Msg.StatusCode()))
	}))
	reg("rr", msgGet(func(c *router.Ctx) router.Value {
		if c.Msg.IsRequest() {
			return router.Value{}
		}
		return str(c.Msg.Reason())
	}))
	// $mt: 1 for a request, 2 for a reply.
	reg("mt", msgGet(func(c *router.Ctx) router.Value {
		if c.Msg.IsRequest() {
			return router.IntValue(1)
		}
		return router.IntValue(2)
	}))
	reg("snd", sndClass(true))
	reg("sndto", sndClass(true))
	reg("sndfrom", sndClass(false))
	reg("si", msgGet(func(c *router.Ctx) router.Value { return str(c.SrcIP()) }))
	reg("sp", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(c.Src().Port())) }))
	// $su: the source as a SIP URI, sip:IP:PORT with ;transport= when not UDP.
	reg("su", msgGet(func(c *router.Ctx) router.Value {
		src := c.Src()
		if !src.IsValid() {
			return router.Value{}
		}
		s := "sip:" + src.String()
		if p := c.ProtoName(); p != "udp" {
			s += ";transport=" + p
		}
		return router.StrValue(s)
	}))
	reg("Ri", msgGet(func(c *router.Ctx) router.Value {
		if c.Pkt == nil || c.Pkt.Local == nil {
			return router.Value{}
		}
		return router.StrValue(c.Pkt.Local.IP)
	}))
	reg("Rp", msgGet(func(c *router.Ctx) router.Value {
		if c.Pkt == nil || c.Pkt.Local == nil {
			return router.Value{}
		}
		return router.IntValue(int64(c.Pkt.Local.Addr.Port()))
	}))
	reg("pr", msgGet(func(c *router.Ctx) router.Value { return router.StrValue(c.ProtoName()) }))
	reg("proto", msgGet(func(c *router.Ctx) router.Value { return router.StrValue(c.ProtoName()) }))
	reg("ua", msgGet(func(c *router.Ctx) router.Value { return router.NonEmpty(c.Msg.UserAgent()) }))
	reg("ct", msgGet(func(c *router.Ctx) router.Value {
		v, ok := c.Msg.Get(sip.HdrContact)
		if !ok {
			return router.Value{}
		}
		return str(v)
	}))
	reg("mb", msgGet(func(c *router.Ctx) router.Value { return str(c.Msg.Bytes()) }))
	// $mbu: the message as it would be sent now, the script's changes in.
	reg("mbu", msgGet(func(c *router.Ctx) router.Value { return str(c.Msg.AppendTo(nil)) }))
	reg("ml", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(len(c.Msg.Bytes()))) }))
	reg("rb", msgGet(func(c *router.Ctx) router.Value { return router.NonEmpty(c.Msg.Body()) }))
	reg("cl", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(len(c.Msg.Body()))) }))
	reg("Ts", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(time.Now().Unix()) }))
	reg("null", msgGet(func(c *router.Ctx) router.Value { return router.Value{} }))
	reg("rc", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(c.RC)) }))
	reg("retcode", msgGet(func(c *router.Ctx) router.Value { return router.IntValue(int64(c.RC)) }))
	reg("hdr", router.PVClass{Arg: true, Parse: parseHdr, Indexed: true, Get: getHdr})
	reg("hdrc", router.PVClass{Arg: true, Parse: parseHdr, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		h := hdrOf(c, pv)
		n := 0
		for i := h.next(c.Msg, -1); i >= 0; i = h.next(c.Msg, i) {
			n++
		}
		return router.IntValue(int64(n))
	}})
	reg("var", router.PVClass{Arg: true,
		Get: func(c *router.Ctx, pv *router.PV) router.Value { return c.W.Var(pv.Arg) },
		Set: func(c *router.Ctx, pv *router.PV, v router.Value) error { c.W.SetVar(pv.Arg, v); return nil },
	})
	for name, k := range map[string]router.XKind{"xavp": router.XAVP, "xavu": router.XAVU, "xavi": router.XAVI} {
		reg(name, router.PVClass{Arg: true, Parse: parseXAVP(k), Get: getXAVP, Set: setXAVP})
	}
	reg("avp", router.PVClass{Arg: true, Parse: parseAVP, Indexed: true, Get: getAVP,
		// Kamailio's pv_set_avp: $null deletes the last value added, all of
		// them with [*]; a value is added, the others deleted first with
		// [*] (a number index is not looked at).
		Set: func(c *router.Ctx, pv *router.PV, v router.Value) error {
			name := avpName(c, pv)
			if pv.All {
				c.DelAVP(name)
			}
			if v.Kind == router.Null {
				c.DelAVPAt(name, 0)
				return nil
			}
			c.AddAVP(name, v)
			return nil
		},
	})
}

// getAVP is $avp(x), its last value; $(avp(x)[n]) the n-th from the last
// (0 the last), from the first with n < 0 (-1 the first); $(avp(x)[*])
// all of them, the last first, joined by ", ".
func getAVP(c *router.Ctx, pv *router.PV) router.Value {
	name := avpName(c, pv)
	if !pv.Indexed {
		return c.AVP(name)
	}
	vals := c.AVPValues(name)
	if pv.All {
		if len(vals) == 0 {
			return router.Value{}
		}
		var b []byte
		for i, v := range vals {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = v.AppendTo(b)
		}
		return router.StrValue(string(b))
	}
	i := pv.Index
	if i < 0 {
		i += len(vals)
	}
	if i < 0 || i >= len(vals) {
		return router.Value{}
	}
	return vals[i]
}

// parseAVP accepts $avp(name), $avp(s:name), $avp(i:n) and
// $avp($var(x)), the name a variable holds when it is used.
func parseAVP(pv *router.PV) error {
	name, ok := router.AVPKey(pv.Arg)
	if !ok {
		v, err := router.ParsePV(pv.Arg)
		if err != nil {
			return err
		}
		pv.Data = v
		return nil
	}
	pv.Data = name
	return nil
}

// avpName is the name a $avp stands for.
func avpName(c *router.Ctx, pv *router.PV) string {
	if v, ok := pv.Data.(*router.PV); ok {
		return v.Get(c).String()
	}
	return pv.Data.(string)
}

type hdrSpec struct {
	typ  sip.HdrType
	name []byte
}

func (h *hdrSpec) next(m *sip.Msg, after int) int {
	if h.typ != sip.HdrOther {
		return m.NextHeader(h.typ, after)
	}
	return m.NextHeaderNamed(h.name, after)
}

// parseHdr reads $hdr(Name), or $hdr($var(x)) with the name a variable
// holds when it is read.
func parseHdr(pv *router.PV) error {
	if pv.Arg[0] == '$' {
		v, err := router.ParsePV(pv.Arg)
		if err != nil {
			return err
		}
		pv.Data = v
		return nil
	}
	pv.Data = hdrSpecOf([]byte(pv.Arg))
	return nil
}

func hdrSpecOf(n []byte) *hdrSpec { return &hdrSpec{typ: sip.ClassifyHeader(n), name: n} }

// hdrOf is the header a $hdr or $hdrc names, its name from a variable
// read now when it is given so.
func hdrOf(c *router.Ctx, pv *router.PV) *hdrSpec {
	if v, ok := pv.Data.(*router.PV); ok {
		return hdrSpecOf([]byte(v.Get(c).String()))
	}
	return pv.Data.(*hdrSpec)
}

// getHdr is the body of the first header field of that name, as
// $hdr(Name) in Kamailio.
func getHdr(c *router.Ctx, pv *router.PV) router.Value {
	h := hdrOf(c, pv)
	i := h.next(c.Msg, -1)
	if i < 0 {
		return router.Value{}
	}
	if !pv.Indexed || (pv.Index == 0 && !pv.All) {
		return router.BytesValue(c.Msg.Header(i).Value)
	}
	// $(hdr(Name)[n]): the n-th header field of the name (from the last
	// when negative); [*] all of them joined by "," (Kamailio's)
	var fields []int
	for ; i >= 0; i = h.next(c.Msg, i) {
		fields = append(fields, i)
	}
	if pv.All {
		b := c.W.Scratch[:0]
		for j, f := range fields {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, c.Msg.Header(f).Value...)
		}
		c.W.Scratch = b
		return router.StrValue(string(b))
	}
	n := pv.Index
	if n < 0 {
		n += len(fields)
	}
	if n < 0 || n >= len(fields) {
		return router.Value{}
	}
	return router.BytesValue(c.Msg.Header(fields[n]).Value)
}
