// Package secfilter is Kamailio's secfilter module: lists of user agents,
// countries, domains, IP addresses and users that are allowed
// (whitelist) or blocked (blacklist), a blacklist of destination numbers,
// all loaded from the secfilter table (and added to by RPC), and checks
// for the characters of an SQL injection in the headers.
package secfilter

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// The types of the table's type column (for the blacklist and the
// whitelist; the destination blacklist has type 0).
const (
	typeUA = iota
	typeCountry
	typeDomain
	typeIP
	typeUser
	nTypes
)

// The table's action column.
const (
	actionBlack = iota
	actionWhite
	actionDst
)

// lists are one list (black or white) by type.
type lists [nTypes][]string

// The counters of secfilter.stats, in its order.
const (
	stUA = iota
	stCountry
	stFDomain
	stTDomain
	stCDomain
	stIP
	stFName
	stTName
	stCName
	stFUser
	stTUser
	stCUser
	nStats
)

// Module is the secfilter module of one proxy.
type Module struct {
	dbURL, table                string
	actionCol, typeCol, dataCol string
	exact                       bool

	mu           sync.RWMutex
	black, white lists
	dst          []string

	statsMu           sync.Mutex
	blocked, allowed  [nStats]int64
	blockedDst, sqlis int64
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "secfilter",
		Params: []dispatch.Param{
			p("db_url", s, "", "the database of the secfilter table (needed)"),
			p("table_name", s, "secfilter", ""),
			p("action_col", s, "action", "0 blacklist, 1 whitelist, 2 destination blacklist"),
			p("type_col", s, "type", "0 user agent (destination number for action 2), 1 country, 2 domain, 3 IP address, 4 user"),
			p("data_col", s, "data", "the value: a prefix of what is checked"),
			p("dst_exact_match", i, "1", "1: a destination is blocked when it is one of the list, 0: when it starts with one"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.dbURL, m.table = p.Str("db_url", ""), p.Str("table_name", "secfilter")
	m.actionCol, m.typeCol, m.dataCol = p.Str("action_col", "action"), p.Str("type_col", "type"), p.Str("data_col", "data")
	m.exact = p.Int("dst_exact_match", 1) != 0
	for n, v := range map[string]string{"table_name": m.table, "action_col": m.actionCol, "type_col": m.typeCol, "data_col": m.dataCol} {
		if err := db.Ident(n, v); err != nil {
			return fmt.Errorf("secfilter: %w", err)
		}
	}
	return nil
}

// Start loads the lists; the table must be version 1. Without db_url it
// refuses to start, as Kamailio's mod_init does (kemi -api-list, which
// loads every module, does not start them).
func (m *Module) Start(*router.Env) error {
	if m.dbURL == "" {
		return fmt.Errorf("secfilter: Database not configured (db_url)")
	}
	if err := m.load(true); err != nil {
		return fmt.Errorf("secfilter: %w", err)
	}
	return nil
}

// load reads the table into new lists (checking its version first at
// start-up) and puts them in place.
func (m *Module) load(check bool) error {
	d, err := db.OpenParam("secfilter", m.dbURL)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx := context.Background()
	if check {
		if err := d.CheckVersion(ctx, m.table, 1); err != nil {
			return err
		}
	}
	rows, err := d.Query(ctx, "SELECT "+m.actionCol+", "+m.typeCol+", "+m.dataCol+" FROM "+m.table)
	if err != nil {
		return fmt.Errorf("failed to query database: %w", err)
	}
	defer rows.Close()
	var black, white lists
	var dst []string
	for rows.Next() {
		var a, t sql.NullInt64
		var v sql.NullString
		if err := rows.Scan(&a, &t, &v); err != nil {
			return err
		}
		if err := add(&black, &white, &dst, int(a.Int64), int(t.Int64), v.String); err != nil {
			return fmt.Errorf("cannot append rule with action:%d type:%d: %w", a.Int64, t.Int64, err)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.black, m.white, m.dst = black, white, dst
	m.mu.Unlock()
	return nil
}

// add is secf_append_rule: a value at the end of its list.
func add(black, white *lists, dst *[]string, action, typ int, v string) error {
	if action < 0 || action > 2 {
		return fmt.Errorf("unknown action value %d", action)
	}
	if typ < 0 || typ >= nTypes {
		return fmt.Errorf("unknown type value %d", typ)
	}
	switch {
	case action == actionDst && typ == typeUA:
		*dst = append(*dst, v)
	case action == actionWhite:
		white[typ] = append(white[typ], v)
	default: // a blacklist, and action 2 with another type, as Kamailio's
		black[typ] = append(black[typ], v)
	}
	return nil
}

// prefixed reports whether an entry of list is a case-insensitive prefix
// of v (Kamailio's comparison of v cut to the entry's length).
func prefixed(list []string, v string) bool {
	for _, e := range list {
		if len(v) >= len(e) && strings.EqualFold(v[:len(e)], e) {
			return true
		}
	}
	return false
}

func (m *Module) count(ctr *int64) {
	m.statsMu.Lock()
	*ctr++
	m.statsMu.Unlock()
}

// check is the lookup of one value of a type: 2 whitelisted, -2
// blacklisted, 1 neither.
func (m *Module) check(typ int, v string, st int) int {
	m.mu.RLock()
	white, black := prefixed(m.white[typ], v), prefixed(m.black[typ], v)
	m.mu.RUnlock()
	switch {
	case white:
		m.count(&m.allowed[st])
		return 2
	case black:
		m.count(&m.blocked[st])
		return -2
	}
	return 1
}

// party is the display name, user and host of From, To or Contact;
// found is false when the header or its URI's user or host is missing.
func party(c *router.Ctx, which int) (name, user, host string, found bool) {
	msg := c.Msg
	var uri *sip.URI
	switch which {
	case 0, 1:
		na := msg.From()
		if which == 1 {
			na = msg.To()
		}
		if na == nil {
			return
		}
		name = strings.TrimSpace(string(na.Display))
		if len(name) > 1 && name[0] == '"' && name[len(name)-1] == '"' {
			name = name[1 : len(name)-1]
		}
		uri = &na.URI
	default:
		ct, err := msg.Contact()
		if err != nil || ct == nil || ct.Star {
			return
		}
		uri = &ct.URI
	}
	if len(uri.User) == 0 || len(uri.Host) == 0 {
		return
	}
	return name, string(uri.User), string(uri.Host), true
}

// checkUser is check_user for From (0), To (1) or Contact (2): the name
// and the user against the users' lists, then the host against the
// domains': 4 name whitelisted, 2 user whitelisted, -4 name blacklisted,
// -2 user blacklisted, 3 domain whitelisted, -3 domain blacklisted, 1
// none.
func (m *Module) checkUser(c *router.Ctx, which int) int {
	name, user, host, ok := party(c, which)
	if !ok {
		return 1
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, l := range []struct {
		list        []string
		nameRC, uRC int
		nameSt, uSt int
		domain      bool
		counters    *[nStats]int64
	}{
		{m.white[typeUser], 4, 2, stFName + which, stFUser + which, false, &m.allowed},
		{m.black[typeUser], -4, -2, stFName + which, stFUser + which, false, &m.blocked},
		{m.white[typeDomain], 0, 3, 0, stFDomain + which, true, &m.allowed},
		{m.black[typeDomain], 0, -3, 0, stFDomain + which, true, &m.blocked},
	} {
		for _, e := range l.list {
			one := []string{e}
			if l.domain {
				if prefixed(one, host) {
					m.count(&l.counters[l.uSt])
					return l.uRC
				}
				continue
			}
			if name != "" && prefixed(one, name) {
				m.count(&l.counters[l.nameSt])
				return l.nameRC
			}
			if prefixed(one, user) {
				m.count(&l.counters[l.uSt])
				return l.uRC
			}
		}
	}
	return 1
}

// checkDst is secf_check_dst: -2 when the number is blacklisted (the
// same, or starting with an entry without dst_exact_match), 1 if not.
func (m *Module) checkDst(c *router.Ctx, number string) int {
	m.mu.RLock()
	list := m.dst
	m.mu.RUnlock()
	for _, e := range list {
		if m.exact && strings.EqualFold(e, number) || !m.exact && prefixed([]string{e}, number) {
			m.count(&m.blockedDst)
			return -2
		}
	}
	return 1
}

// sqli reports the characters of an SQL injection: a quote, a double
// quote, "--", or "%27", "%24", "%60".
func (m *Module) sqli(v string) bool {
	for _, s := range []string{"'", "\"", "--", "%27", "%24", "%60"} {
		if strings.Contains(v, s) {
			m.count(&m.sqlis)
			return true
		}
	}
	return false
}

// checkSQLiAll is secf_check_sqli_all: the User-Agent, the From and To
// display names, users and hosts, the Contact's user and host; 0 (the
// script stops, as Kamailio's) at the first with an SQL injection, 1
// when none has one.
func (m *Module) checkSQLiAll(c *router.Ctx) int {
	if ua, ok := c.Msg.Get(sip.HdrUserAgent); ok && m.sqli(string(ua)) {
		c.Log().Info("secfilter: Possible SQL injection found in User-agent ("+string(ua)+")", "route", c.Route)
		return 0
	}
	for i, what := range []string{"From", "To", "Contact"} {
		name, user, host, ok := party(c, i)
		if !ok {
			continue
		}
		for _, f := range []struct{ part, v string }{{"name", name}, {"user", user}, {"domain", host}} {
			if f.v != "" && m.sqli(f.v) {
				c.Log().Info("secfilter: Possible SQL injection found in "+what+" "+f.part+" ("+f.v+")", "route", c.Route)
				return 0
			}
		}
	}
	return 1
}

// Exports are the native functions (Kamailio's secfilter has no KEMI
// exports). The parameter of secf_check_country, secf_check_dst and
// secf_check_sqli_hdr is taken as written, as Kamailio 5.6 takes it
// (no fixup): "$rU" is those three characters, not the user.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "secf_check_ip", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			return m.check(typeIP, c.Src().Addr().Unmap().String(), stIP)
		})},
		{Name: "secf_check_ua", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			ua, ok := c.Msg.Get(sip.HdrUserAgent)
			if !ok {
				return 1
			}
			return m.check(typeUA, string(ua), stUA)
		})},
		{Name: "secf_check_country", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, country string) int {
			return m.check(typeCountry, country, stCountry)
		})},
		{Name: "secf_check_from_hdr", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.checkUser(c, 0) })},
		{Name: "secf_check_to_hdr", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.checkUser(c, 1) })},
		{Name: "secf_check_contact_hdr", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.checkUser(c, 2) })},
		{Name: "secf_check_dst", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(m.checkDst)},
		{Name: "secf_check_sqli_hdr", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, v string) int {
			if m.sqli(v) {
				return -1
			}
			return 1
		})},
		{Name: "secf_check_sqli_all", NativeOnly: true, Ret: I, Fn: dispatch.F0(m.checkSQLiAll)},
	}
}

// typeOf is an RPC's type name: ua, country, domain, ip, user (or a
// prefix of one, as Kamailio's strncmp compares them).
func typeOf(s string) int {
	if len(s) > 64 {
		s = s[:64]
	}
	for i, n := range []string{"ua", "country", "domain", "ip", "user"} {
		if strings.HasPrefix(n, s) {
			return i
		}
	}
	return -1
}

// RPCs are secfilter.*: reload, print, stats, stats_reset, add_dst,
// add_bl, add_wl; their answers are Kamailio's lines.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	addTo := func(action int, list string) func([]any) (any, error) {
		return func(p []any) (any, error) {
			ctype, err1 := dispatch.ParamStr(p, 0, "type")
			data, err2 := dispatch.ParamStr(p, 1, "value")
			if err1 != nil || err2 != nil {
				return nil, dispatch.RPCErrorf(500, "Invalid Parameters. Usage: secfilter.add_%s type value", map[int]string{0: "bl", 1: "wl"}[action])
			}
			m.mu.Lock()
			err := add(&m.black, &m.white, &m.dst, action, typeOf(ctype), data)
			m.mu.Unlock()
			if err != nil {
				return nil, dispatch.RPCErrorf(500, "Error inserting values in the %s", list)
			}
			return []any{fmt.Sprintf("Values (%s, %s) inserted into %s", ctype, data, list)}, nil
		}
	}
	return []dispatch.RPC{
		{Name: "secfilter.reload", Doc: "Reload values from database", Fn: func([]any) (any, error) {
			if err := m.load(false); err != nil {
				return nil, dispatch.RPCErrorf(500, "Error loading data from database")
			}
			return []any{"Data reloaded"}, nil
		}},
		{Name: "secfilter.print", Doc: "Print values from database", Fn: func(p []any) (any, error) {
			what, err := dispatch.ParamStr(p, 0, "type")
			return m.print(what, err != nil), nil
		}},
		{Name: "secfilter.stats", Doc: "Print statistics of blocked and allowed messages", Fn: func([]any) (any, error) { return m.statsLines(), nil }},
		{Name: "secfilter.stats_reset", Doc: "Reset statistics", Fn: func([]any) (any, error) {
			m.statsMu.Lock()
			m.blocked, m.allowed, m.blockedDst, m.sqlis = [nStats]int64{}, [nStats]int64{}, 0, 0
			m.statsMu.Unlock()
			return []any{"The statistics has been reset"}, nil
		}},
		{Name: "secfilter.add_dst", Doc: "Add new values to destination blacklist", Fn: func(p []any) (any, error) {
			n, err := dispatch.ParamInt(p, 0, "number")
			if err != nil {
				return nil, dispatch.RPCErrorf(500, "Invalid Parameters. Usage: secfilter.add_dst number")
			}
			v := fmt.Sprint(int32(n))
			m.mu.Lock()
			m.dst = append(m.dst, v)
			m.mu.Unlock()
			return []any{"Values (" + v + ") inserted into blacklist destinations"}, nil
		}},
		{Name: "secfilter.add_bl", Doc: "Add new values to blacklist", Fn: addTo(actionBlack, "blacklist")},
		{Name: "secfilter.add_wl", Doc: "Add new values to whitelist", Fn: addTo(actionWhite, "whitelist")},
	}
}

// print is secfilter.print's lines: every list, or those of one type
// ("dst" the destinations).
func (m *Module) print(what string, all bool) []any {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []any
	data := func(list []string) {
		for i, v := range list {
			out = append(out, fmt.Sprintf("    %04d -> %s", i+1, v))
		}
	}
	match := func(name string) bool { return all || strings.HasPrefix(name, what) }
	if !all && strings.HasPrefix("dst", what) {
		out = append(out, "", "Destinations", "============", "[+] Blacklisted", "    -----------")
		data(m.dst)
	}
	for i, t := range []struct{ name, title string }{{"ua", "User-agent"}, {"country", "Country"}, {"domain", "Domain"}, {"ip", "IP Address"}, {"user", "User"}} {
		if !match(t.name) {
			continue
		}
		out = append(out, "", t.title, strings.Repeat("=", len(t.title)), "[+] Blacklisted", "    -----------")
		data(m.black[i])
		out = append(out, "", "[+] Whitelisted", "    -----------")
		data(m.white[i])
	}
	return append(out, "")
}

// statsLines are secfilter.stats' lines.
func (m *Module) statsLines() []any {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	names := []string{"user-agent    ", "country       ", "from domain   ", "to domain     ", "contact domain", "IP address    ",
		"from name     ", "to name       ", "contact name  ", "from user     ", "to user       ", "contact user  "}
	out := []any{"", "Blocked messages (blacklist)", "============================"}
	for i, n := range names {
		out = append(out, fmt.Sprintf("[+] By %s: %d", n, m.blocked[i]))
	}
	out = append(out, "", "Allowed messages (whitelist)", "============================")
	for i, n := range names {
		out = append(out, fmt.Sprintf("[+] By %s: %d", n, m.allowed[i]))
	}
	return append(out, "", "Other blocked messages", "======================",
		fmt.Sprintf("[+] Destinations   : %d", m.blockedDst), fmt.Sprintf("[+] SQL injection  : %d", m.sqlis), "")
}
