// Package uac_redirect is Kamailio's uac_redirect module: in
// failure_route, the contacts of the 3xx replies the last t_relay got
// become branches (get_redirects), filtered by accept and deny regular
// expressions, highest q kept, each accounted through acc when asked.
package uac_redirect

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/acc"
	"github.com/kemi-sip/kemi/modules/tm"
)

// maxContacts is Kamailio's MAX_CONTACTS_PER_REPLY: the contacts of one
// reply considered, the highest q kept.
const maxContacts = 16

// maxFilters is Kamailio's MAX_FILTERS per kind, the default included.
const maxFilters = 6

// Module is the uac_redirect module of one proxy.
type Module struct {
	denyDefault            bool // default_filter deny
	accept, deny           *regexp.Regexp
	acc                    *acc.Module
	accFunc, accTable      string
	bflags                 uint64
	flagsHdrMode, defaultQ int
}

var (
	_ dispatch.Initializer = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "uac_redirect",
		Params: []dispatch.Param{
			p("deny_filter", s, "", "contacts matching it are refused (POSIX extended, case-insensitive)"),
			p("accept_filter", s, "", "contacts matching it are taken"),
			p("default_filter", s, "accept", "accept or deny: what neither filter decides"),
			p("acc_function", s, "acc_request", "acc_request, acc_log_request, acc_db_request (get_redirects with a reason accounts each redirect), \"\": none; anything but \"\" needs acc loaded, as Kamailio's"),
			p("acc_db_table", s, "acc", "the table of acc_request and acc_db_request"),
			p("bflags", i, "0", "the branch flags of the new branches"),
			p("flags_hdr_mode", i, "0", "1: a contact's flags parameter gives the branch flags, 2: added to bflags"),
			p("q_value", i, "10", "the q (× 1000) of a contact without one"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// compile is Kamailio's regcomp(REG_EXTENDED|REG_ICASE|REG_NEWLINE).
func compile(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	return regexp.Compile("(?im)" + re)
}

// Init reads the parameters and binds tm (and acc for acc_function).
func (m *Module) Init(p *dispatch.Params) error {
	if _, err := dispatch.Need[*tm.Module](p, "tm"); err != nil {
		return fmt.Errorf("uac_redirect: failed to load TM API: %w", err)
	}
	switch def := strings.ToLower(p.Str("default_filter", "accept")); def {
	case "accept":
	case "deny":
		m.denyDefault = true
	default:
		return fmt.Errorf("uac_redirect: unknown default filter <%s>", def)
	}
	var err error
	if m.accept, err = compile(p.Str("accept_filter", "")); err != nil {
		return fmt.Errorf("uac_redirect: failed to init accept filter: %w", err)
	}
	if m.deny, err = compile(p.Str("deny_filter", "")); err != nil {
		return fmt.Errorf("uac_redirect: failed to init deny filter: %w", err)
	}
	m.accFunc, m.accTable = p.Str("acc_function", "acc_request"), p.Str("acc_db_table", "acc")
	switch m.accFunc {
	case "":
	case "acc_request", "acc_log_request", "acc_db_request":
		if m.acc, err = dispatch.Need[*acc.Module](p, "acc"); err != nil {
			return fmt.Errorf("uac_redirect: cannot bind to ACC API: %w", err)
		}
	default:
		return fmt.Errorf("uac_redirect: acc_function %q: acc_request, acc_log_request or acc_db_request", m.accFunc)
	}
	m.bflags = uint64(p.Int("bflags", 0))
	m.flagsHdrMode, m.defaultQ = p.Int("flags_hdr_mode", 0), p.Int("q_value", 10)
	return nil
}

// filters are the accept and deny lists of a message: the defaults
// first (index 0), then set_accept_filter/set_deny_filter's; start 1
// skips the default (reset_default). get_redirects resets them.
type filters struct {
	list  [2][]*regexp.Regexp
	start [2]int
	set   bool
}

var state = router.NewSlot[filters]()

func (f *filters) Reset() { *f = filters{} }

const (
	acceptF = 0
	denyF   = 1
)

// lists are the filters in force for c: the module's defaults when the
// script set none.
func (m *Module) lists(c *router.Ctx) *filters {
	f := state.Of(c)
	if !f.set {
		f.list[acceptF] = append(f.list[acceptF][:0], m.accept)
		f.list[denyF] = append(f.list[denyF][:0], m.deny)
		f.start = [2]int{}
		f.set = true
	}
	return f
}

// addFilter is set_accept_filter/set_deny_filter(re, "reset_all" |
// "reset_default" | "reset_added" | "").
func (m *Module) addFilter(c *router.Ctx, kind int, re, flags string) int {
	rx, err := compile(re)
	if err != nil {
		c.Log().Error("uac_redirect: cannot init filter <"+re+">", "route", c.Route)
		return -1
	}
	var resetAdded, resetDefault bool
	switch strings.ToLower(flags) {
	case "":
	case "reset_all":
		resetAdded, resetDefault = true, true
	case "reset_default":
		resetDefault = true
	case "reset_added":
		resetAdded = true
	default:
		c.Log().Error("uac_redirect: unknown reset type <"+flags+">", "route", c.Route)
		return -1
	}
	f := m.lists(c)
	if len(f.list[kind]) == maxFilters {
		c.Log().Error("uac_redirect: too many filters", "route", c.Route)
		return -1
	}
	if resetAdded {
		f.list[kind] = f.list[kind][:1]
	}
	if resetDefault {
		f.start[kind] = 1
	}
	f.list[kind] = append(f.list[kind], rx)
	return 1
}

// allowed is run_filters: an accept filter takes the URI; else, unless
// the default is deny, a deny filter refuses it; else the default.
func (m *Module) allowed(f *filters, uri []byte) bool {
	for _, rx := range f.list[acceptF][f.start[acceptF]:] {
		if rx != nil && rx.Match(uri) {
			return true
		}
	}
	if !m.denyDefault {
		for _, rx := range f.list[denyF][f.start[denyF]:] {
			if rx != nil && rx.Match(uri) {
				return false
			}
		}
	}
	return !m.denyDefault
}

// contact is one Contact of a 3xx, taken.
type contact struct {
	uri   []byte
	q     int
	flags []byte // its "flags" parameter, for flags_hdr_mode
}

// sorted is sort_contacts: the contacts the filters take, by q ascending
// (equal q in the reply's order), at most maxContacts.
func (m *Module) sorted(c *router.Ctx, f *filters, reply *sip.Msg) []contact {
	var out []contact
	for it := reply.Contacts(); ; {
		var ct sip.Contact
		if !it.Next(&ct) {
			break
		}
		if ct.Star || !m.allowed(f, ct.URI.Raw) {
			continue
		}
		q := m.defaultQ
		if ct.Q >= 0 {
			q = ct.Q
		}
		fl, _ := sip.Param(ct.Params, "flags")
		nc := contact{uri: append([]byte(nil), ct.URI.Raw...), q: q, flags: append([]byte(nil), fl...)}
		i := 0
		for i < len(out) && out[i].q <= q {
			i++
		}
		if i == maxContacts {
			continue
		}
		out = append(out[:i], append([]contact{nc}, out[i:]...)...)
		if len(out) > maxContacts {
			out = out[:maxContacts]
		}
	}
	return out
}

// get is get_redirect: the contacts of each 3xx of the round, at most
// maxb a reply and maxt in all (0: no limit), the highest q of each
// reply, appended as branches; 1 when some were, -1 when none.
func (m *Module) get(c *router.Ctx, maxt, maxb int, reason string) int {
	f := m.lists(c)
	defer f.Reset()
	round, ok := tm.RoundReplies(c)
	if !ok {
		c.Log().Error("uac_redirect: get_redirects: no current transaction found (in failure_route only)", "route", c.Route)
		return -1
	}
	added := 0
	for _, r := range round {
		if r.Status < 300 || r.Status > 399 || r.Reply == nil {
			continue
		}
		max := -1
		switch {
		case maxb == 0 && maxt != 0:
			max = maxt - added
		case maxb != 0 && maxt == 0:
			max = maxb
		case maxb != 0:
			max = min(maxb, maxt-added)
		}
		if max == 0 {
			continue
		}
		var reply sip.Msg
		if err := reply.Parse(r.Reply); err != nil {
			c.Log().Error("uac_redirect: the reply does not parse: "+err.Error(), "route", c.Route)
			continue
		}
		cts := m.sorted(c, f, &reply)
		if max != -1 && len(cts) > max {
			cts = cts[len(cts)-max:]
		}
		for _, ct := range cts {
			bf := m.bflags
			if m.flagsHdrMode != 0 && len(ct.flags) > 0 {
				if n, err := strconv.ParseUint(string(ct.flags), 10, 32); err == nil {
					bf = n
					if m.flagsHdrMode == 2 {
						bf |= m.bflags
					}
				}
			}
			if !c.AppendBranch(router.Branch{URI: ct.uri, Q: ct.q, Flags: bf}) {
				c.Log().Error("uac_redirect: failed to add contact to dset", "route", c.Route)
				continue
			}
			added++
			if m.acc != nil && reason != "" {
				m.account(c, ct.uri, reason)
			}
		}
	}
	if added > 0 {
		return 1
	}
	return -1
}

// account logs a redirect through acc, the request URI being the
// contact, as Kamailio's does.
func (m *Module) account(c *router.Ctx, uri []byte, reason string) {
	save := append([]byte(nil), c.RURIText()...)
	if c.SetRURI(uri) != nil {
		return
	}
	switch m.accFunc {
	case "acc_request":
		m.acc.Request(c, reason, m.accTable)
	case "acc_log_request":
		m.acc.LogRequest(c, reason)
	case "acc_db_request":
		m.acc.DBRequest(c, reason, m.accTable)
	}
	c.SetRURI(save)
}

// parseMax is get_redirects' first native parameter: "N", "N:M" (total,
// per reply) or "*" for no limit; each at most 255.
func parseMax(s string) (maxt, maxb int, err error) {
	num := func(x string) (int, error) {
		if x == "*" {
			return 0, nil
		}
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad number <%s>", x)
		}
		if n > 255 {
			return 0, fmt.Errorf("number too big <%d> (max=255)", n)
		}
		return n, nil
	}
	t, b, has := strings.Cut(s, ":")
	if maxt, err = num(t); err != nil {
		return
	}
	if has {
		maxb, err = num(b)
	}
	return
}

// Exports are KSR.uac_redirect and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	native := func(c *router.Ctx, max, reason string) int {
		t, b, err := parseMax(max)
		if err != nil {
			c.Log().Error("uac_redirect: get_redirects: "+err.Error(), "route", c.Route)
			return -1
		}
		return m.get(c, t, b, reason)
	}
	return []dispatch.Export{
		{Name: "get_redirects", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FII(func(c *router.Ctx, t, b int) int { return m.get(c, t, b, "") })},
		{Name: "get_redirects_acc", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FIIS(func(c *router.Ctx, t, b int, reason string) int {
			if m.acc == nil && reason != "" {
				c.Log().Error("uac_redirect: acc support enabled, but no acc function defined", "route", c.Route)
				return -1
			}
			return m.get(c, t, b, reason)
		})},
		{Name: "get_redirects_all", Ret: I, Native: dispatch.NoNative, Fn: dispatch.F0(func(c *router.Ctx) int { return m.get(c, 0, 0, "") })},
		// Native: get_redirects("N[:M]"|"*"[, reason]), the filters.
		{Name: "get_redirects", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, max string) int { return native(c, max, "") })},
		{Name: "get_redirects", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, max, reason string) int {
			if m.acc == nil {
				c.Log().Error("uac_redirect: acc support enabled, but no acc function defined", "route", c.Route)
				return -1
			}
			return native(c, max, reason)
		})},
		{Name: "set_accept_filter", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, re, flags string) int { return m.addFilter(c, acceptF, re, flags) })},
		{Name: "set_deny_filter", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, re, flags string) int { return m.addFilter(c, denyF, re, flags) })},
	}
}
