// Package registrar is a SIP registrar (RFC 3261 §10), like Kamailio's
// registrar module: save stores the bindings of a REGISTER in usrloc and
// answers it, lookup turns a request URI into the registered contacts.
package registrar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/sl"
	"github.com/kemi-sip/kemi/modules/usrloc"
)

// settings are the module parameters.
type settings struct {
	defaultExpires  int
	minExpires      int
	maxExpires      int
	defaultQ        int
	maxContacts     int
	methodFiltering bool
	appendBranches  bool
	receivedAVP     string
	usePath         bool
	pathMode        int
	caseSensitive   bool
	// RFC 5626 (outbound_mode, regid_mode, flow_timer): 0 none, 1
	// supported, 2 required; regid_mode 0 uses a reg-id only with
	// outbound, 1 always; flow_timer seconds in the 200's Flow-Timer.
	outboundMode, regidMode, flowTimer int
}

// Module is the registrar of one proxy: its parameters, counters, and
// the usrloc and sl modules it works through.
type Module struct {
	settings
	// Stats are the module's counters (registrar:accepted_regs, rejected_regs).
	Stats struct {
		Accepted atomic.Uint64
		Rejected atomic.Uint64
	}
	saveErrors db.Complainer
	ul         *usrloc.Module
	sl         *sl.Module
	// xavpCfg and xavpRcd name the XAVPs registered's match flags read
	// and the binding it found is written to; sockHdr is sock_hdr_name.
	xavpCfg, xavpRcd, sockHdr string
	fetched                   sync.Map // *router.Worker → profiles of reg_fetch_contacts
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// save flags, as Kamailio's.
const (
	saveMemOnly = 0x01 // not written to the database
	saveNoReply = 0x02
	saveReplace = 0x04 // one contact per AOR: the others are removed
)

// lookup return codes.
const (
	lookupNotFound    = -1
	lookupMethodNotOK = -2
	lookupError       = -3
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "registrar",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "default_expires", Kind: dispatch.Int, Default: "3600"},
			{Name: "min_expires", Kind: dispatch.Int, Default: "60"},
			{Name: "max_expires", Kind: dispatch.Int, Default: "0 (none)"},
			{Name: "default_q", Kind: dispatch.Int, Default: "-1 (none; else 0..1000)"},
			{Name: "max_contacts", Kind: dispatch.Int, Default: "0 (none)"},
			{Name: "method_filtering", Kind: dispatch.Int, Default: "0"},
			{Name: "append_branches", Kind: dispatch.Int, Default: "1"},
			{Name: "received_avp", Kind: dispatch.Str, Default: "\"\" (`$avp(name)` holding the received URI, from nathelper)"},
			{Name: "use_path", Kind: dispatch.Int, Default: "0 (1: store Path)"},
			{Name: "path_mode", Kind: dispatch.Int, Default: "2", Doc: "the 200's Path: 0 never, 1 to a client whose Supported has path, 2 the same and 420 to the others (the binding saved all the same)"},
			{Name: "case_sensitive", Kind: dispatch.Int, Default: "1"},
			{Name: "realm_prefix", Kind: dispatch.Str},
			{Name: "default_expires_range", Kind: dispatch.Int},
			{Name: "expires_range", Kind: dispatch.Int},
			{Name: "xavp_cfg", Kind: dispatch.Str},
			{Name: "xavp_rcd", Kind: dispatch.Str},
			{Name: "sock_hdr_name", Kind: dispatch.Str},
			{Name: "gruu_enabled", Kind: dispatch.Int},
			{Name: "outbound_mode", Kind: dispatch.Int, Default: "0", Doc: "RFC 5626: 0 not supported (a REGISTER requiring it: 420), 1 supported, 2 required (a REGISTER whose Supported lacks it: 421)"},
			{Name: "regid_mode", Kind: dispatch.Int, Default: "0", Doc: "0: a reg-id is kept only when outbound is used (an edge's Path with ;ob, or no edge), 1: always"},
			{Name: "flow_timer", Kind: dispatch.Int, Default: "0", Doc: "seconds in a Flow-Timer header of the 200 when outbound is used (at most 999; needs outbound_mode)"},
		},
	})
}

// Exports are KSR.registrar, and the native save, lookup and registered
// of one and two parameters.
func (reg *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "save", Ret: dispatch.Int, Fn: dispatch.FSI(reg.Save)},
		{Name: "save", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int {
			return reg.Save(c, table, 0)
		})},
		{Name: "lookup", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int {
			return reg.Lookup(c, table, "")
		})},
		{Name: "lookup_uri", Ret: dispatch.Int, Fn: dispatch.FSS(reg.Lookup), Native: dispatch.NoNative},
		{Name: "lookup", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(reg.Lookup)},
		{Name: "lookup_branches", Ret: dispatch.Int, Fn: dispatch.FS(reg.LookupBranches)},
		{Name: "registered", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int {
			return reg.Registered(c, table, "")
		})},
		{Name: "registered_uri", Ret: dispatch.Int, Fn: dispatch.FSS(reg.Registered), Native: dispatch.NoNative},
		{Name: "registered", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(reg.Registered)},
		{Name: "unregister", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, table, uri string) int {
			return reg.Unregister(c, table, uri, "")
		})},
		{Name: "unregister_ruid", Ret: dispatch.Int, Fn: dispatch.FSSS(reg.Unregister), Native: dispatch.NoNative},
	}, reg.moreExports()...)
}

// Init reads the parameters; usrloc and sl must be loaded.
func (reg *Module) Init(p *dispatch.Params) error {
	reg.xavpCfg, reg.xavpRcd, reg.sockHdr = p.Str("xavp_cfg", ""), p.Str("xavp_rcd", ""), p.Str("sock_hdr_name", "")
	s := settings{
		defaultExpires:  p.Int("default_expires", 3600),
		minExpires:      p.Int("min_expires", 60),
		maxExpires:      p.Int("max_expires", 0),
		defaultQ:        p.Int("default_q", -1),
		maxContacts:     p.Int("max_contacts", 0),
		methodFiltering: p.Int("method_filtering", 0) != 0,
		appendBranches:  p.Int("append_branches", 1) != 0,
		usePath:         p.Int("use_path", 0) != 0,
		pathMode:        p.Int("path_mode", 2),
		caseSensitive:   p.Int("case_sensitive", 1) != 0,
		outboundMode:    p.Int("outbound_mode", 0),
		regidMode:       p.Int("regid_mode", 0),
		flowTimer:       p.Int("flow_timer", 0),
	}
	switch {
	case s.outboundMode < 0 || s.outboundMode > 2:
		return fmt.Errorf("outbound_mode %d: want 0, 1 or 2", s.outboundMode)
	case s.regidMode < 0 || s.regidMode > 1:
		return fmt.Errorf("regid_mode %d: want 0 or 1", s.regidMode)
	case s.flowTimer < 0 || s.flowTimer > 999 || s.flowTimer > 0 && s.outboundMode == 0:
		return fmt.Errorf("flow_timer %d: want 0..999, and outbound_mode 1 or 2 with it", s.flowTimer)
	}
	if s.defaultExpires < 0 || s.minExpires < 0 || s.maxExpires < 0 || s.maxContacts < 0 {
		return errors.New("default_expires, min_expires, max_expires and max_contacts must not be negative")
	}
	if s.defaultQ > 1000 {
		return fmt.Errorf("default_q %d: want -1 (unset) or 0..1000", s.defaultQ)
	}
	if a := p.Str("received_avp", ""); a != "" {
		name, ok := router.AVPName(a)
		if !ok {
			return fmt.Errorf("received_avp %q: want $avp(name)", a)
		}
		s.receivedAVP = name
	}
	reg.settings = s
	var err error
	if reg.ul, err = dispatch.Need[*usrloc.Module](p, "usrloc"); err != nil {
		return err
	}
	reg.sl, err = dispatch.Need[*sl.Module](p, "sl")
	return err
}

// regError is a failed save: the reply it gets.
type regError struct {
	code   int
	reason string // P-Registrar-Error, and the reason phrase unless phrase is set
	phrase string
	hdrs   string // more header lines of the reply
}

func (e *regError) Error() string { return strconv.Itoa(e.code) + " " + e.reason }

// The errors of RFC 5626, Kamailio's: phrases, P-Registrar-Error texts and
// headers.
var (
	errOBUnsup     = &regError{421, "No support for Outbound indicated", "Extension Required", "Require: outbound\r\nSupported: outbound\r\n"}
	errOBReqd      = &regError{420, "No support for Outbound on server", "Bad Extension", "Unsupported: outbound\r\n"}
	errOBUnsupEdge = &regError{439, "No support for Outbound on edge proxy", "First Hop Lacks Outbound Support", ""}
)

func badRequest(reason string) error { return &regError{code: 400, reason: reason} }

var errInternal = &regError{code: 500, reason: "Server Internal Error"}

// aorOf is the address of record of a URI: its user, and @host with
// use_domain; lower-cased unless case_sensitive.
func (reg *Module) aorOf(u *sip.URI) (string, error) {
	if len(u.User) == 0 && !reg.ul.UseDomain() {
		return "", badRequest("No username in To URI")
	}
	var b []byte
	b = sip.Unescape(b, u.User)
	if reg.ul.UseDomain() {
		b = append(b, '@')
		b = append(b, u.Host...)
	}
	s := string(b)
	if !reg.caseSensitive {
		s = strings.ToLower(s)
	} else if reg.ul.UseDomain() {
		// host names are case-insensitive (RFC 3261 §19.1.4)
		at := strings.LastIndexByte(s, '@')
		s = s[:at] + strings.ToLower(s[at:])
	}
	return s, nil
}

// kamailio's method bits, as the location table's methods column holds
// them.
var methodBits = [...]int{
	sip.MethodINVITE: 1, sip.MethodCANCEL: 2, sip.MethodACK: 4, sip.MethodBYE: 8, sip.MethodINFO: 16,
	sip.MethodREGISTER: 32, sip.MethodSUBSCRIBE: 64, sip.MethodNOTIFY: 128, sip.MethodMESSAGE: 256,
	sip.MethodOPTIONS: 512, sip.MethodPRACK: 1024, sip.MethodUPDATE: 2048, sip.MethodREFER: 4096,
	sip.MethodPUBLISH: 8192,
}

const methodOtherBit = 1 << 16

func methodBit(m sip.Method) int {
	if int(m) < len(methodBits) && methodBits[m] != 0 {
		return methodBits[m]
	}
	return methodOtherBit
}

// allowedMethods reads the Allow header into method bits; -1 (all) when
// there is none.
func allowedMethods(m *sip.Msg) int {
	if !m.Has(sip.HdrAllow) {
		return -1
	}
	bits := 0
	it := m.List(sip.HdrAllow)
	for {
		v, ok := it.Next()
		if !ok {
			break
		}
		bits |= methodBit(sip.ParseMethod(v))
	}
	return bits
}

// binding is one Contact of a REGISTER, read before anything changes.
type binding struct {
	uri      string
	expires  int // seconds; 0 removes
	q        int
	instance string // +sip.instance, without its quotes (RFC 5626)
	regID    int    // reg-id
}

// Save is save(table, flags): the REGISTER's Contacts become the AOR's
// bindings in the location table, and the REGISTER is answered with 200
// and every binding (unless flags has 0x02). Returns 1 (inserted), 2
// (updated), 3 (deleted), 4 (only fetched), -1 on error, answered with
// 400/500/503.
func (reg *Module) Save(c *router.Ctx, table string, flags int) int {
	return reg.saveTo(c, table, flags, "")
}

// saveTo is Save for the address of record of uri ("": the To URI's):
// save_uri. With flags 0x02 the reply, or the error reply, is kept for
// reg_send_reply.
func (reg *Module) saveTo(c *router.Ctx, table string, flags int, uri string) int {
	rc, err := reg.save(c, table, flags, uri)
	if err != nil {
		reg.Stats.Rejected.Add(1)
		re, ok := err.(*regError)
		if !ok {
			// A database outage fails every REGISTER: one log line per
			// interval, with the count.
			reg.saveErrors.Log(c.Log(), "registrar: save failed, answered 500", err)
			re = errInternal
		}
		if c.Msg.IsRequest() {
			var hdr []byte
			hdr = append(hdr, re.hdrs...) // before the error's, as Kamailio's
			hdr = append(hdr, "P-Registrar-Error: "...)
			hdr = append(hdr, re.reason...)
			hdr = append(hdr, "\r\n"...)
			if re.code == 503 {
				hdr = append(hdr, "Retry-After: 30\r\n"...)
			}
			phrase := re.phrase
			if phrase == "" {
				phrase = re.reason
			}
			if flags&saveNoReply != 0 {
				pend(c, re.code, phrase, hdr)
			} else {
				reg.sl.Send(c, re.code, phrase, hdr, nil)
			}
		}
		return -1
	}
	reg.Stats.Accepted.Add(1)
	return rc
}

func (reg *Module) save(c *router.Ctx, table string, flags int, uri string) (int, error) {
	m := c.Msg
	if !m.IsRequest() || m.Method() != sip.MethodREGISTER {
		return 0, errors.New("save works on REGISTER requests")
	}
	d, err := reg.ul.Get(table)
	if err != nil {
		return 0, err
	}
	to := &m.To().URI
	if uri != "" {
		to = new(sip.URI)
		if err := sip.ParseURI([]byte(uri), to); err != nil {
			return 0, badRequest("Bad URI " + strconv.Quote(uri))
		}
	}
	aor, err := reg.aorOf(to)
	if err != nil {
		return 0, err
	}
	useRegID, err := reg.outboundCheck(m)
	if err != nil {
		return 0, err
	}
	// Read every Contact first: a broken one rejects the whole request
	// before anything is stored.
	var list [16]binding
	bs := list[:0]
	star := false
	hdrExpires := m.Expires()
	if m.Has(sip.HdrExpires) && hdrExpires < 0 {
		return 0, badRequest("Expires parse error")
	}
	it := m.Contacts()
	var ct sip.Contact
	for it.Next(&ct) {
		if ct.Star {
			star = true
			continue
		}
		if ct.URI.Scheme == sip.SchemeOther && len(ct.URI.SchemeName) == 0 {
			return 0, badRequest("Contact parse error")
		}
		e := ct.Expires
		if _, has := sip.Param(ct.Params, "expires"); has && e < 0 {
			return 0, badRequest("Invalid expires param in contact")
		}
		if e < 0 {
			e = hdrExpires
		}
		if e < 0 {
			e = reg.defaultExpires
		}
		if e > 0 {
			if reg.minExpires > 0 && e < reg.minExpires {
				e = reg.minExpires
			}
			if reg.maxExpires > 0 && e > reg.maxExpires {
				e = reg.maxExpires
			}
		}
		q := ct.Q
		if q < 0 {
			q = reg.defaultQ
		}
		q = qOverride(c, q)
		inst, _ := sip.Param(ct.Params, "+sip.instance")
		regID := 0
		if rid, ok := sip.Param(ct.Params, "reg-id"); ok && len(rid) > 0 && len(inst) > 0 && useRegID {
			regID, _ = strconv.Atoi(string(rid)) // a failed Atoi allocates its error: not for every REGISTER
		}
		bs = append(bs, binding{uri: string(ct.URI.Raw), expires: e, q: q, instance: strings.Trim(string(inst), `"`), regID: regID})
	}
	if err := it.Err(); err != nil {
		return 0, badRequest("Contact parse error")
	}
	if star {
		if len(bs) > 0 {
			return 0, badRequest("* used in contact and more than 1 contact")
		}
		if hdrExpires != 0 {
			return 0, badRequest("* used in contact and expires is not zero")
		}
	}
	now := time.Now()
	nowU := now.Unix()
	var received, path string
	if reg.receivedAVP != "" {
		if v := c.AVP(reg.receivedAVP); v.Kind == router.Str {
			received = v.String()
		}
	}
	if reg.usePath {
		path = joinPath(m)
	}
	socket := ""
	if c.Pkt != nil && c.Pkt.Local != nil {
		socket = c.Pkt.Local.String()
	}
	if reg.sockHdr != "" {
		if i := m.NextHeaderNamed([]byte(reg.sockHdr), -1); i >= 0 {
			socket = strings.TrimSpace(string(m.Header(i).Value))
		}
	}
	callID, cseq := string(m.CallID()), int(m.CSeq())
	methods := allowedMethods(m)
	ua := string(m.UserAgent())
	var inserted, updated, deleted bool
	apply := func(r *usrloc.Record) error {
		if star {
			for i := len(r.Contacts) - 1; i >= 0; i-- {
				old := r.Contacts[i]
				if old.CallID == callID && old.CSeq > cseq {
					continue // a newer REGISTER of this call keeps its binding
				}
				r.Delete(i)
				deleted = true
			}
			return nil
		}
		// max_contacts: count what there would be, before changing anything.
		if reg.maxContacts > 0 {
			n := 0
			for _, old := range r.Contacts {
				if old.Alive(nowU) {
					n++
				}
			}
			for _, b := range bs {
				i := r.FindInstance(b.uri, b.instance, b.regID, callID, d.MatchCallID())
				switch {
				case i < 0 && b.expires > 0:
					n++
				case i >= 0 && b.expires == 0:
					n--
				}
			}
			if flags&saveReplace != 0 {
				n = min(n, len(bs))
			}
			if n > reg.maxContacts {
				return &regError{code: 503, reason: "Too many registered contacts"}
			}
		}
		for _, b := range bs {
			i := r.FindInstance(b.uri, b.instance, b.regID, callID, d.MatchCallID())
			if i < 0 {
				if b.expires == 0 {
					continue
				}
				r.Insert(&usrloc.Contact{URI: b.uri, Received: received, Path: path, Expires: nowU + int64(b.expires), Q: b.q,
					CallID: callID, CSeq: cseq, CFlags: int(c.BFlags), UserAgent: ua, Socket: socket, Methods: methods, LastModified: nowU,
					Instance: b.instance, RegID: b.regID})
				inserted = true
				continue
			}
			old := r.Contacts[i]
			if old.CallID == callID && cseq <= old.CSeq {
				updated = true // a retransmission or a late REGISTER: the binding stays
				continue
			}
			if b.expires == 0 {
				r.Delete(i)
				deleted = true
				continue
			}
			old.URI = b.uri // the same when found by it; by +sip.instance, the new flow's
			old.Received, old.Path, old.Expires, old.Q = received, path, nowU+int64(b.expires), b.q
			old.CallID, old.CSeq, old.CFlags, old.UserAgent, old.Socket, old.Methods = callID, cseq, int(c.BFlags), ua, socket, methods
			old.LastModified = nowU
			old.Instance, old.RegID = b.instance, b.regID
			r.Updated(old)
			updated = true
		}
		if flags&saveReplace != 0 {
			for i := len(r.Contacts) - 1; i >= 0; i-- {
				if !inRequest(bs, r.Contacts[i].URI) {
					r.Delete(i)
					deleted = true
				}
			}
		}
		return nil
	}
	// The 200 lists the bindings as this change left them: copied under
	// the record's lock, not read again.
	var keptList [16]usrloc.Contact
	kept := keptList[:0]
	err = d.Update(aor, func(r *usrloc.Record) error {
		if err := apply(r); err != nil {
			return err
		}
		for _, ct := range r.Contacts {
			if ct.Alive(nowU) {
				kept = append(kept, *ct)
			}
		}
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*regError](err); ok {
			return 0, err
		}
		if flags&saveMemOnly == 0 {
			return 0, err
		}
	}
	if err := reg.reply(c, kept, nowU, path, flags&saveNoReply == 0); err != nil {
		return 0, err
	}
	switch {
	case inserted:
		return 1, nil
	case updated:
		return 2, nil
	case deleted:
		return 3, nil
	}
	return 4, nil
}

func inRequest(bs []binding, uri string) bool {
	for _, b := range bs {
		if b.uri == uri {
			return true
		}
	}
	return false
}

// outboundCheck is save's RFC 5626 part, as Kamailio's: a REGISTER whose
// Supported lacks outbound when it is required (421), one requiring it
// when it is not supported (420); past an edge proxy (two Vias or more)
// outbound is used only when the edge's Path has ;ob — else with
// regid_mode 0 a reg-id is ignored, or refused (439) when the client asks
// for outbound. It says whether a reg-id is kept.
func (reg *Module) outboundCheck(m *sip.Msg) (useRegID bool, err error) {
	supports := m.HasToken(sip.HdrSupported, "outbound")
	if reg.outboundMode == 2 && m.Has(sip.HdrSupported) && !supports {
		return false, errOBUnsup
	}
	if reg.outboundMode == 0 && m.HasToken(sip.HdrRequire, "outbound") {
		return false, errOBReqd
	}
	if reg.outboundMode == 0 || !m.HasVia2() || !m.Has(sip.HdrContact) {
		return true, nil
	}
	var na sip.NameAddr
	it := m.Addrs(sip.HdrPath)
	if it.Next(&na) {
		if _, ob := na.URI.Param("ob"); ob {
			return true, nil
		}
	}
	if reg.regidMode == 1 {
		return true, nil
	}
	var ct sip.Contact
	cit := m.Contacts()
	if cit.Next(&ct) {
		if _, rid := sip.Param(ct.Params, "reg-id"); rid && supports {
			return false, errOBUnsupEdge
		}
	}
	return false, nil
}

// outboundHeaders are the 200's RFC 5626 headers, Kamailio's: with
// outbound required, Require and Supported (and Flow-Timer); supported,
// Supported, and Require (and Flow-Timer) when the REGISTER names it.
func (reg *Module) outboundHeaders(buf []byte, m *sip.Msg) []byte {
	flow := func(buf []byte) []byte {
		if reg.flowTimer > 0 {
			buf = append(buf, "Flow-Timer: "...)
			buf = strconv.AppendInt(buf, int64(reg.flowTimer), 10)
			buf = append(buf, "\r\n"...)
		}
		return buf
	}
	switch reg.outboundMode {
	case 2:
		buf = flow(append(buf, "Require: outbound\r\nSupported: outbound\r\n"...))
	case 1:
		buf = append(buf, "Supported: outbound\r\n"...)
		if m.HasToken(sip.HdrRequire, "outbound") || m.HasToken(sip.HdrSupported, "outbound") {
			buf = flow(append(buf, "Require: outbound\r\n"...))
		}
	}
	return buf
}

// joinPath is the Path header values, comma-separated.
func joinPath(m *sip.Msg) string {
	var b []byte
	it := m.Addrs(sip.HdrPath)
	var na sip.NameAddr
	for it.Next(&na) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, na.Raw...)
	}
	return string(b)
}

// reply answers the REGISTER with 200 and the AOR's bindings, each with
// the seconds it has left; with the Path stored, as path_mode says
// (Kamailio's: 420 to a client that does not support path, the binding
// saved all the same).
func (reg *Module) reply(c *router.Ctx, cs []usrloc.Contact, n int64, path string, send bool) error {
	code, phrase := 200, "OK"
	w := c.W
	buf := w.Scratch[:0]
	for i := range cs {
		ct := &cs[i]
		// Kamailio's order: q, expires, received, +sip.instance, reg-id.
		buf = append(buf, "Contact: <"...)
		buf = append(buf, ct.URI...)
		buf = append(buf, '>')
		if ct.Q >= 0 {
			buf = append(buf, ";q="...)
			buf = appendQ(buf, ct.Q)
		}
		buf = append(buf, ";expires="...)
		left := int64(0)
		if ct.Expires > n {
			left = ct.Expires - n
		}
		buf = strconv.AppendInt(buf, left, 10)
		if ct.Received != "" {
			buf = append(buf, ";received=\""...)
			buf = append(buf, ct.Received...)
			buf = append(buf, '"')
		}
		if ct.Instance != "" {
			buf = append(buf, ";+sip.instance=\""...)
			buf = append(buf, strings.Trim(ct.Instance, `"`)...)
			buf = append(buf, '"')
		}
		if ct.RegID > 0 {
			buf = append(buf, ";reg-id="...)
			buf = strconv.AppendInt(buf, int64(ct.RegID), 10)
		}
		buf = append(buf, "\r\n"...)
	}
	if path != "" && reg.pathMode != 0 {
		echo := c.Msg.HasToken(sip.HdrSupported, "path")
		if !echo && reg.pathMode == 2 {
			code, phrase = 420, "Bad Extension"
			buf = append(buf, "Unsupported: path\r\n"...)
			echo = true
		}
		if echo {
			buf = append(buf, "Path: "...)
			buf = append(buf, path...)
			buf = append(buf, "\r\n"...)
		}
	}
	buf = reg.outboundHeaders(buf, c.Msg)
	if code == 420 {
		buf = append(buf, "P-Registrar-Error: No support for found Path indicated\r\n"...)
	}
	w.Scratch = buf
	if !send {
		pend(c, code, phrase, buf)
		return nil
	}
	if reg.sl.Send(c, code, phrase, buf, nil) < 0 {
		return fmt.Errorf("sending the %d failed", code)
	}
	return nil
}

// appendQ writes a q-value × 1000 as "0.5", "1", "0.25".
func appendQ(b []byte, q int) []byte {
	if q >= 1000 {
		return append(b, '1')
	}
	b = append(b, "0."...)
	s := strconv.Itoa(1000 + q)[1:] // three digits
	s = strings.TrimRight(s, "0")
	if s == "" {
		s = "0"
	}
	return append(b, s...)
}

// Lookup is lookup(table[, uri]): the request URI (or uri) becomes the
// first registered contact, the others become branches (append_branches).
// 1 found, -1 not found, -2 found but none takes the method, -3 error.
func (reg *Module) Lookup(c *router.Ctx, table, uri string) int {
	var list [16]usrloc.Contact
	cs, rc := reg.lookupContacts(c, "lookup", table, uri, list[:0])
	if rc < 0 {
		return rc
	}
	bit := methodBit(c.Msg.Method())
	first := true
	for i := range cs {
		ct := &cs[i]
		if !reg.takes(ct, bit) {
			continue
		}
		dst := contactDst(ct)
		if first {
			if err := c.SetRURI([]byte(ct.URI)); err != nil {
				c.Log().Error("registrar: lookup: contact "+strconv.Quote(ct.URI)+": "+err.Error(), "route", c.Route)
				return lookupError
			}
			if dst != "" {
				if err := c.SetDstURI([]byte(dst)); err != nil {
					c.Log().Error("registrar: lookup: "+err.Error(), "route", c.Route)
					return lookupError
				}
			}
			c.SetPath([]byte(ct.Path))
			c.SetInstance([]byte(ct.Instance))
			c.SetRURIQ(ct.Q)
			c.BFlags |= uint64(ct.CFlags)
			first = false
			if !reg.appendBranches {
				break
			}
			continue
		}
		c.AppendBranch(router.Branch{URI: []byte(ct.URI), Dst: []byte(dst), Path: []byte(ct.Path), Q: ct.Q, Flags: uint64(ct.CFlags), Instance: []byte(ct.Instance)})
	}
	if first {
		return lookupMethodNotOK
	}
	return 1
}

// lookupContacts are the live contacts of the AOR of uri for a lookup,
// the best q first; rc < 0 (lookup's codes) when there are none to give.
func (reg *Module) lookupContacts(c *router.Ctx, fn, table, uri string, dst []usrloc.Contact) ([]usrloc.Contact, int) {
	cs, rc := reg.contactsOf(c, fn, table, uri, dst)
	if rc < 0 {
		return cs, rc
	}
	if len(cs) == 0 {
		return cs, lookupNotFound
	}
	sortByQ(cs)
	return cs, 1
}

// takes reports whether the contact takes requests of the method bit
// (method_filtering).
func (reg *Module) takes(ct *usrloc.Contact, bit int) bool {
	return !reg.methodFiltering || ct.Methods < 0 || ct.Methods&bit != 0
}

// locate is the location table named table and the address of record of
// uri (of the request URI when uri is empty); rc < 0 when either fails,
// logged under the function's name fn.
func (reg *Module) locate(c *router.Ctx, fn, table, uri string) (d *usrloc.Domain, aor string, rc int) {
	aor, rc = reg.lookupAOR(c, uri)
	if rc < 0 {
		return nil, "", rc
	}
	d, err := reg.ul.Get(table)
	if err != nil {
		c.Log().Error("registrar: "+fn+": "+err.Error(), "route", c.Route)
		return nil, "", lookupError
	}
	return d, aor, 1
}

// contactsOf appends the live contacts of the address of record of uri
// (of the request URI when empty) to dst; rc < 0 when they cannot be read.
func (reg *Module) contactsOf(c *router.Ctx, fn, table, uri string, dst []usrloc.Contact) ([]usrloc.Contact, int) {
	d, aor, rc := reg.locate(c, fn, table, uri)
	if rc < 0 {
		return dst, rc
	}
	cs, err := d.Fetch(aor, time.Now(), dst)
	if err != nil {
		c.Log().Error("registrar: "+fn+": "+err.Error(), "route", c.Route)
		return dst, lookupError
	}
	return cs, 1
}

// lookupAOR is the address of record of uri, or of the request URI when
// uri is empty.
func (reg *Module) lookupAOR(c *router.Ctx, uri string) (string, int) {
	var u *sip.URI
	if uri == "" {
		ru, err := c.RURI()
		if err != nil {
			c.Log().Error("registrar: request URI: "+err.Error(), "route", c.Route)
			return "", lookupError
		}
		u = ru
	} else {
		u = new(sip.URI)
		if err := sip.ParseURI([]byte(uri), u); err != nil {
			c.Log().Error("registrar: "+strconv.Quote(uri)+": "+err.Error(), "route", c.Route)
			return "", lookupError
		}
	}
	aor, err := reg.aorOf(u)
	if err != nil {
		return "", lookupNotFound
	}
	return aor, 1
}

// contactDst is where a request to the contact goes first: the first
// Path hop, else the address the contact registered from (received).
func contactDst(ct *usrloc.Contact) string {
	if ct.Path != "" {
		return firstPathURI(ct.Path)
	}
	return ct.Received
}

// firstPathURI is the URI of the first Path value.
func firstPathURI(path string) string {
	first, _, _ := strings.Cut(path, ",")
	first = strings.TrimSpace(first)
	if i := strings.IndexByte(first, '<'); i >= 0 {
		if j := strings.IndexByte(first[i:], '>'); j > 0 {
			return first[i+1 : i+j]
		}
	}
	return first
}

// LookupBranches runs lookup on the request URI and on the URI of every
// branch, replacing each by its contacts.
func (reg *Module) LookupBranches(c *router.Ctx, table string) int {
	saved := make([]router.Branch, 0, len(c.Branches()))
	for _, b := range c.Branches() {
		saved = append(saved, router.Branch{URI: append([]byte(nil), b.URI...), Dst: append([]byte(nil), b.Dst...),
			Path: append([]byte(nil), b.Path...), Q: b.Q, Flags: b.Flags})
	}
	c.ClearBranches()
	rc := reg.Lookup(c, table, "")
	for _, b := range saved {
		var list [16]usrloc.Contact
		cs, _ := reg.contactsOf(c, "lookup_branches", table, string(b.URI), list[:0])
		if len(cs) == 0 {
			c.AppendBranch(b) // not a local user: the branch goes on as it is
			continue
		}
		for i := range cs {
			c.AppendBranch(router.Branch{URI: []byte(cs[i].URI), Dst: []byte(contactDst(&cs[i])), Path: []byte(cs[i].Path), Q: cs[i].Q, Flags: uint64(cs[i].CFlags)})
		}
		if rc < 0 {
			rc = 1
		}
	}
	return rc
}

// Registered is registered(table[, uri]): 1 when the AOR has a live
// binding, -1 when not.
func (reg *Module) Registered(c *router.Ctx, table, uri string) int {
	return reg.registeredAction(c, table, uri, 0, 0)
}

// Unregister removes every binding of the AOR of uri (only the one with
// ruid when given).
func (reg *Module) Unregister(c *router.Ctx, table, uri, ruid string) int {
	d, aor, rc := reg.locate(c, "unregister", table, uri)
	if rc < 0 {
		return -1
	}
	removed, err := d.DeleteContacts(aor, func(c *usrloc.Contact) bool { return ruid == "" || c.RUID == ruid })
	if err != nil {
		c.Log().Error("registrar: unregister: "+err.Error(), "route", c.Route)
		return -1
	}
	return dispatch.Result(removed)
}

// sortByQ orders contacts as Kamailio's usrloc keeps them: the highest q
// first (none counts as 1), the most recent first among equals.
func sortByQ(cs []usrloc.Contact) {
	q := func(c *usrloc.Contact) int {
		if c.Q < 0 {
			return 1000
		}
		return c.Q
	}
	slices.SortStableFunc(cs, func(a, b usrloc.Contact) int {
		if d := q(&b) - q(&a); d != 0 {
			return d
		}
		return int(b.LastModified - a.LastModified)
	})
}
