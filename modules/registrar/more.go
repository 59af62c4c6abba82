package registrar

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/usrloc"
)

// regState is the registrar's state of one message: set_q_override's q
// and the reply a save(..., 0x02) left for reg_send_reply.
type regState struct {
	q       int
	qSet    bool
	pending bool
	code    int
	reason  string
	hdrs    []byte
}

func (s *regState) Reset() {
	s.qSet, s.pending = false, false
	s.hdrs = s.hdrs[:0]
}

var regSlot = router.NewSlot[regState]()

// fetched is what reg_fetch_contacts loaded into a profile, for $ulc.
type fetched struct {
	aor      string
	contacts []usrloc.Contact
}

// profiles are the $ulc profiles of one worker: as Kamailio's are per
// process, they stay until reg_free_contacts or the next fetch.
type profiles map[string]*fetched

func init() {
	router.RegisterPV("ulc", router.PVClass{Arg: true, Indexed: true, Parse: parseULC, Get: getULC})
}

// moreExports are lookup_to_dset, registered_flags/_action, save_uri,
// set_q_override, reg_send_reply, add_sock_hdr and the contact profiles.
func (reg *Module) moreExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "lookup_to_dset", Ret: dispatch.Int, Fn: dispatch.FSS(reg.lookupToDset)},
		{Name: "lookup_to_dset", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int { return reg.lookupToDset(c, table, "") })},
		{Name: "registered_flags", Native: "registered", Ret: dispatch.Int, Fn: dispatch.FSSI(func(c *router.Ctx, table, uri string, flags int) int {
			return reg.registeredAction(c, table, uri, flags, 0)
		})},
		{Name: "registered_action", Native: "registered", Ret: dispatch.Int, Fn: dispatch.FSSII(reg.registeredAction)},
		{Name: "save_uri", Native: "save", Ret: dispatch.Int, Fn: dispatch.FSIS(func(c *router.Ctx, table string, flags int, uri string) int {
			return reg.saveTo(c, table, flags, uri)
		})},
		{Name: "set_q_override", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, q string) int {
			v, err := router.ParseQ(q)
			if err != nil {
				c.Log().Error("registrar: set_q_override: "+err.Error(), "route", c.Route)
				return -1
			}
			st := regSlot.Of(c)
			st.q, st.qSet = v, true
			return 1
		})},
		{Name: "reg_send_reply", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			st := regSlot.Of(c)
			if !st.pending {
				c.Log().Error("registrar: reg_send_reply: no reply left by save", "route", c.Route)
				return -1
			}
			st.pending = false
			return reg.sl.Send(c, st.code, st.reason, st.hdrs, nil)
		})},
		{Name: "add_sock_hdr", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			if c.Pkt == nil || c.Pkt.Local == nil || !c.Msg.IsRequest() {
				return -1
			}
			if err := c.Msg.AppendHeader([]byte(name + ": " + c.Pkt.Local.String() + "\r\n")); err != nil {
				c.Log().Error("registrar: add_sock_hdr: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		{Name: "reg_fetch_contacts", Ret: dispatch.Int, Fn: dispatch.FSSS(reg.fetchContacts)},
		{Name: "reg_free_contacts", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, profile string) int {
			if ps := reg.profilesOf(c); ps != nil {
				delete(ps, profile)
			}
			return 1
		})},
	}
}

// pend keeps the reply a save with 0x02 did not send, for reg_send_reply.
func pend(c *router.Ctx, code int, reason string, hdrs []byte) {
	st := regSlot.Of(c)
	st.pending, st.code, st.reason = true, code, reason
	st.hdrs = append(st.hdrs[:0], hdrs...)
}

// qOverride is set_q_override's q for this message, or q.
func qOverride(c *router.Ctx, q int) int {
	if st := regSlot.Of(c); st.qSet {
		return st.q
	}
	return q
}

// lookupToDset adds every contact of the AOR as a branch, the request URI
// left as it is (lookup's codes).
// LookupToDset is lookup_to_dset for the modules that fill a request's
// branches (tsilo): the contacts of uri (the request URI when "") in
// table become branches.
func (reg *Module) LookupToDset(c *router.Ctx, table, uri string) int {
	return reg.lookupToDset(c, table, uri)
}

func (reg *Module) lookupToDset(c *router.Ctx, table, uri string) int {
	var list [16]usrloc.Contact
	cs, rc := reg.lookupContacts(c, "lookup_to_dset", table, uri, list[:0])
	if rc < 0 {
		return rc
	}
	bit := methodBit(c.Msg.Method())
	n := 0
	for i := range cs {
		ct := &cs[i]
		if !reg.takes(ct, bit) {
			continue
		}
		c.AppendBranch(router.Branch{URI: []byte(ct.URI), Dst: []byte(contactDst(ct)), Path: []byte(ct.Path), Q: ct.Q, Flags: uint64(ct.CFlags), Instance: []byte(ct.Instance)})
		n++
	}
	if n == 0 {
		return lookupMethodNotOK
	}
	return 1
}

// registeredAction is registered with the match flags (1: the xavp_cfg
// XAVP's match_callid, 2: its match_received, 4: its match_contact must
// be the binding's) and action flags (2: do not fill xavp_rcd with the
// binding found).
func (reg *Module) registeredAction(c *router.Ctx, table, uri string, match, action int) int {
	var list [16]usrloc.Contact
	if uri == "" && !c.Msg.IsRequest() {
		uri = string(c.Msg.To().URI.Raw)
	}
	cs, rc := reg.contactsOf(c, "registered", table, uri, list[:0])
	if rc < 0 {
		return -1
	}
	want := func(key string, bit int) string {
		if match&bit == 0 || reg.xavpCfg == "" {
			return ""
		}
		return c.XAVP(reg.xavpCfg, 0, key, 0).String()
	}
	callID, received, contact := want("match_callid", 1), want("match_received", 2), want("match_contact", 4)
	for i := range cs {
		ct := &cs[i]
		if callID != "" && ct.CallID != callID || received != "" && ct.Received != received || contact != "" && ct.URI != contact {
			continue
		}
		if action&2 == 0 && reg.xavpRcd != "" {
			reg.fillRcd(c, ct)
		}
		return 1
	}
	return -1
}

// fillRcd puts the binding's ruid, received, contact, expires and path
// into the xavp_rcd XAVP.
func (reg *Module) fillRcd(c *router.Ctx, ct *usrloc.Contact) {
	c.XAVPAdd(reg.xavpRcd, -1, "ruid", router.StrValue(ct.RUID))
	if ct.Received != "" {
		c.XAVPAdd(reg.xavpRcd, 0, "received", router.StrValue(ct.Received))
	}
	c.XAVPAdd(reg.xavpRcd, 0, "contact", router.StrValue(ct.URI))
	c.XAVPAdd(reg.xavpRcd, 0, "expires", router.IntValue(ct.Expires-time.Now().Unix()))
	if ct.Path != "" {
		c.XAVPAdd(reg.xavpRcd, 0, "path", router.StrValue(ct.Path))
	}
}

// profilesOf is the worker's $ulc profiles; nil outside a worker.
func (reg *Module) profilesOf(c *router.Ctx) profiles {
	if c.W == nil {
		return nil
	}
	v, _ := reg.fetched.LoadOrStore(c.W, profiles{})
	return v.(profiles)
}

// fetchContacts loads the AOR's bindings into the profile, for
// $ulc(profile=>...): 1, or -1 when it has none.
func (reg *Module) fetchContacts(c *router.Ctx, table, uri, profile string) int {
	d, aor, rc := reg.locate(c, "reg_fetch_contacts", table, uri)
	if rc < 0 {
		return -1
	}
	cs, err := d.Fetch(aor, time.Now(), nil)
	if err != nil {
		c.Log().Error("registrar: reg_fetch_contacts: "+err.Error(), "route", c.Route)
		return -1
	}
	ps := reg.profilesOf(c)
	ps[profile] = &fetched{aor: aor, contacts: cs}
	return dispatch.Result(len(cs) > 0)
}

// ulcRef is a parsed $ulc(profile=>attr).
type ulcRef struct{ profile, attr string }

func parseULC(pv *router.PV) error {
	p, a, ok := strings.Cut(pv.Arg, "=>")
	if !ok || p == "" {
		return errors.New("want $ulc(profile=>attribute)")
	}
	switch a {
	case "aor", "domain", "aorhash", "count", "addr", "path", "received", "expires", "callid", "q", "cseq",
		"flags", "cflags", "user_agent", "socket", "modified", "methods", "ruid", "reg_id", "instance":
	default:
		return errors.New("$ulc: unknown attribute " + strconv.Quote(a))
	}
	pv.Data = ulcRef{p, a}
	return nil
}

func getULC(c *router.Ctx, pv *router.PV) router.Value {
	reg, _ := c.Env().Module("registrar").(*Module)
	if reg == nil {
		return router.Value{}
	}
	ref := pv.Data.(ulcRef)
	f := reg.profilesOf(c)[ref.profile]
	if f == nil {
		return router.Value{}
	}
	switch ref.attr {
	case "aor":
		return router.StrValue(f.aor)
	case "domain":
		_, dom, _ := strings.Cut(f.aor, "@")
		return router.StrValue(dom)
	case "aorhash":
		return router.IntValue(int64(uint32(router.FNV1a(router.FNVOffset, []byte(f.aor)))))
	case "count":
		return router.IntValue(int64(len(f.contacts)))
	}
	i := pv.Index
	if i < 0 {
		i += len(f.contacts)
	}
	if i < 0 || i >= len(f.contacts) {
		return router.Value{}
	}
	ct := &f.contacts[i]
	switch ref.attr {
	case "addr":
		return router.StrValue(ct.URI)
	case "path":
		return router.StrValue(ct.Path)
	case "received":
		return router.StrValue(ct.Received)
	case "expires":
		return router.IntValue(ct.Expires)
	case "callid":
		return router.StrValue(ct.CallID)
	case "q":
		return router.IntValue(int64(ct.Q))
	case "cseq":
		return router.IntValue(int64(ct.CSeq))
	case "flags":
		return router.IntValue(int64(ct.Flags))
	case "cflags":
		return router.IntValue(int64(ct.CFlags))
	case "user_agent":
		return router.StrValue(ct.UserAgent)
	case "socket":
		return router.StrValue(ct.Socket)
	case "modified":
		return router.IntValue(ct.LastModified)
	case "methods":
		return router.IntValue(int64(ct.Methods))
	case "ruid":
		return router.StrValue(ct.RUID)
	case "reg_id":
		return router.IntValue(int64(ct.RegID))
	}
	return router.StrValue(ct.Instance)
}
