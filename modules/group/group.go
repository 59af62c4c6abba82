// Package group is Kamailio's group module: whether a user is in a group
// of the grp table (is_user_in), and the groups whose regular
// expressions of the re_grp table match a user (get_user_group).
package group

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/auth"
)

// settings are the module parameters.
type settings struct {
	url, table, userCol, domainCol, groupCol string
	reTable, reExpCol, reGIDCol              string
	useDomain, multipleGID                   bool
}

// Module is the group module of one proxy.
type Module struct {
	conf settings
	db   *db.DB
	res  []reGroup // re_grp's rows, the last read first (as Kamailio lists them)
}

type reGroup struct {
	re  *regexp.Regexp
	gid int
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "group",
		Params: []dispatch.Param{
			p("db_url", s, "Kamailio's read-only default", "the database of the tables"),
			p("table", s, "grp", "the users' groups: username, domain, grp"),
			p("user_column", s, "username", ""), p("domain_column", s, "domain", ""), p("group_column", s, "grp", ""),
			p("use_domain", i, "0", "1: the domain must match too"),
			p("re_table", s, "", "the groups of regular expressions (re_grp), read at start"),
			p("re_exp_column", s, "reg_exp", ""), p("re_gid_column", s, "group_id", ""),
			p("multiple_gid", i, "1", "0: get_user_group stops at the first match"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.url, c.table = p.Str("db_url", db.DefaultROURL), p.Str("table", "grp")
	c.userCol, c.domainCol, c.groupCol = p.Str("user_column", "username"), p.Str("domain_column", "domain"), p.Str("group_column", "grp")
	c.useDomain = p.Int("use_domain", 0) != 0
	c.reTable, c.reExpCol, c.reGIDCol = p.Str("re_table", ""), p.Str("re_exp_column", "reg_exp"), p.Str("re_gid_column", "group_id")
	c.multipleGID = p.Int("multiple_gid", 1) != 0
	return nil
}

// Start opens the database, checks the tables' versions (grp 2, re_grp 1)
// and reads re_grp.
func (m *Module) Start(*router.Env) error {
	d, err := db.OpenParam("group", m.conf.url)
	if err != nil {
		return fmt.Errorf("group: %w", err)
	}
	ctx := context.Background()
	if err := d.CheckVersion(ctx, m.conf.table, 2); err != nil {
		d.Close()
		return fmt.Errorf("group: %w", err)
	}
	if m.conf.reTable != "" {
		if err := d.CheckVersion(ctx, m.conf.reTable, 1); err != nil {
			d.Close()
			return fmt.Errorf("group: %w", err)
		}
		if m.res, err = m.loadRE(ctx, d); err != nil {
			d.Close()
			return err
		}
	}
	m.db = d
	return nil
}

// Stop closes the database.
func (m *Module) Stop() {
	if m.db != nil {
		m.db.Close()
	}
}

func (m *Module) loadRE(ctx context.Context, d *db.DB) ([]reGroup, error) {
	rows, err := d.Query(ctx, "SELECT "+m.conf.reExpCol+", "+m.conf.reGIDCol+" FROM "+m.conf.reTable)
	if err != nil {
		return nil, fmt.Errorf("group: %s: %w", m.conf.reTable, err)
	}
	defer rows.Close()
	var out []reGroup
	for n := 1; rows.Next(); n++ {
		var exp sql.NullString
		var gid sql.NullInt64
		if err := rows.Scan(&exp, &gid); err != nil || !exp.Valid || !gid.Valid {
			return nil, fmt.Errorf("group: %s row %d: want a regular expression and a group id", m.conf.reTable, n)
		}
		// POSIX extended, case-insensitive, as Kamailio compiles them.
		re, err := regexp.Compile("(?i)" + exp.String)
		if err != nil {
			return nil, fmt.Errorf("group: %s row %d: %q: %w", m.conf.reTable, n, exp.String, err)
		}
		out = append([]reGroup{{re, int(gid.Int64)}}, out...)
	}
	return out, rows.Err()
}

// Exports are KSR.group and the native functions.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "is_user_in", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, uri, grp string) int {
			var u sip.URI
			if uri == "" || sip.ParseURI([]byte(uri), &u) != nil {
				c.Log().Error("group: failed to parse SIP URI <"+uri+">", "route", c.Route)
				return -1
			}
			return m.isUserIn(c, string(u.User), string(u.Host), grp)
		})},
		// Native: is_user_in("Request-URI"|"To"|"From"|"Credentials"|"$avp(x)", "group").
		{Name: "is_user_in", NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, which, grp string) int {
			user, domain, ok := who(c, which)
			if !ok {
				return -1
			}
			return m.isUserIn(c, user, domain, grp)
		})},
		{Name: "get_user_group", NativeOnly: true, Raw: true, Ret: dispatch.Int, Fn: dispatch.FSS(m.getUserGroup)},
	}
}

// who is the user and domain the native functions' first parameter
// names: the request URI's, the To or From URI's, the authorized
// credentials' (username and realm), or the URI an AVP holds.
func who(c *router.Ctx, which string) (user, domain string, ok bool) {
	fail := func(msg string) (string, string, bool) {
		c.Log().Error("group: "+msg, "route", c.Route)
		return "", "", false
	}
	var u *sip.URI
	switch {
	case strings.EqualFold(which, "Request-URI"):
		r, err := c.RURI()
		if err != nil {
			return fail("failed to get Request-URI")
		}
		u = r
	case strings.EqualFold(which, "To"):
		u = &c.Msg.To().URI
	case strings.EqualFold(which, "From"):
		u = &c.Msg.From().URI
	case strings.EqualFold(which, "Credentials"):
		d, found := auth.Authorized(c)
		if !found {
			return fail("no authorized credentials found (error in script)")
		}
		name, _, _ := strings.Cut(string(d.Username), "@")
		return name, string(d.Realm), true
	case strings.HasPrefix(which, "$avp("):
		p, err := c.W.PV(which)
		if err != nil {
			return fail(err.Error())
		}
		v := p.Get(c)
		if v.IsNull() || v.String() == "" {
			return fail("no AVP found (error in script)")
		}
		var pu sip.URI
		if sip.ParseURI([]byte(v.String()), &pu) != nil {
			return fail("failed to parse URI <" + v.String() + ">")
		}
		u = &pu
	default:
		return fail("unknown user: " + which + " (Request-URI, To, From, Credentials or an AVP)")
	}
	return string(u.User), string(u.Host), true
}

// isUserIn asks the grp table: 1 in the group, -6 not, -5 on a database
// error, -1 for no user or group (Kamailio's codes).
func (m *Module) isUserIn(c *router.Ctx, user, domain, grp string) int {
	if user == "" || grp == "" || m.db == nil {
		return -1
	}
	q := "SELECT " + m.conf.groupCol + " FROM " + m.conf.table + " WHERE " + m.conf.userCol + " = ? AND " + m.conf.groupCol + " = ?"
	args := []string{user, grp}
	if m.conf.useDomain {
		if domain == "" {
			c.Log().Error("group: no domain", "route", c.Route)
			return -1
		}
		q += " AND " + m.conf.domainCol + " = ?"
		args = append(args, domain)
	}
	var dest [1]sql.NullString
	found, err := m.db.QueryStrings(context.Background(), q, args, dest[:])
	switch {
	case err != nil:
		c.Log().Error("group: failed to query database: "+err.Error(), "route", c.Route)
		return -5
	case !found:
		return -6
	}
	return 1
}

// getUserGroup is get_user_group(which, "$avp(gid)"): each re_grp group
// whose expression matches sip:user@domain goes to the AVP; how many
// matched, -1 for none.
func (m *Module) getUserGroup(c *router.Ctx, which, avp string) int {
	user, domain, ok := who(c, which)
	if !ok || user == "" {
		return -1
	}
	p, err := c.W.PV(avp)
	if err != nil || !strings.HasPrefix(avp, "$avp(") {
		c.Log().Error("group: get_user_group: "+avp+" is not an AVP", "route", c.Route)
		return -1
	}
	uri := "sip:" + user + "@" + domain
	n := 0
	for _, g := range m.res {
		if g.re.MatchString(uri) {
			if p.Set(c, router.IntValue(int64(g.gid))) != nil {
				return -1
			}
			n++
			if !m.conf.multipleGID {
				break
			}
		}
	}
	if n == 0 {
		return -1
	}
	return n
}
