// Package uri_db is Kamailio's uri_db module: whether the user of the To
// or From URI, or of a URI given, is the authenticated user (the same
// name, or a name the uri table allows that user), and whether the
// request URI's user is a subscriber (does_uri_exist).
package uri_db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/auth"
)

// settings are the module parameters.
type settings struct {
	url, table, userCol, domainCol, uriUserCol string
	useURITable, useDomain                     bool
}

// Module is the uri_db module of one proxy.
type Module struct {
	conf settings
	db   *db.DB
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "uri_db",
		Params: []dispatch.Param{
			p("db_url", s, "Kamailio's read-only default", "the database"),
			p("db_table", s, "subscriber", "the table (uri with use_uri_table)"),
			p("user_column", s, "username", ""), p("domain_column", s, "domain", ""), p("uriuser_column", s, "uri_user", ""),
			p("use_uri_table", i, "0", "1: the uri table says which URI users an authenticated user may use"),
			p("use_domain", i, "0", "1: does_uri_exist matches the domain too"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.url, c.table = p.Str("db_url", db.DefaultROURL), p.Str("db_table", "subscriber")
	c.userCol, c.domainCol, c.uriUserCol = p.Str("user_column", "username"), p.Str("domain_column", "domain"), p.Str("uriuser_column", "uri_user")
	c.useURITable, c.useDomain = p.Int("use_uri_table", 0) != 0, p.Int("use_domain", 0) != 0
	return nil
}

// Start opens the database.
func (m *Module) Start(*router.Env) error {
	d, err := db.OpenParam("uri_db", m.conf.url)
	if err != nil {
		return fmt.Errorf("uri_db: %w", err)
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

// Exports are KSR.uri_db and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "check_from", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.check(c, &c.Msg.From().URI, "", "") })},
		{Name: "check_to", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.check(c, &c.Msg.To().URI, "", "") })},
		{Name: "check_uri", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.checkURI(c, uri, "", "") })},
		{Name: "check_uri_realm", Native: "check_uri", Ret: I, Fn: dispatch.FSSS(m.checkURI)},
		{Name: "does_uri_exist", Ret: I, Fn: dispatch.F0(m.uriExists)},
	}
}

func (m *Module) checkURI(c *router.Ctx, uri, user, realm string) int {
	var u sip.URI
	if uri == "" || sip.ParseURI([]byte(uri), &u) != nil {
		c.Log().Error("uri_db: failed to parse URI <"+uri+">", "route", c.Route)
		return -1
	}
	return m.check(c, &u, user, realm)
}

// check is Kamailio's check_username: u's user against user@realm, or
// the authorized credentials when those are not given. Without the uri
// table the names must be equal (case-insensitive); with it, a row must
// allow that URI user. -4 for a URI without a user, -2 without
// credentials, -9/-10 no match, -8 a database error (Kamailio's codes).
func (m *Module) check(c *router.Ctx, u *sip.URI, user, realm string) int {
	if len(u.User) == 0 {
		return -4
	}
	if user == "" || realm == "" {
		d, ok := auth.Authorized(c)
		if !ok {
			return -2
		}
		name, _, _ := strings.Cut(string(d.Username), "@")
		user, realm = name, string(d.Realm)
	}
	if !m.conf.useURITable {
		if strings.EqualFold(string(u.User), user) {
			return 1
		}
		return -10
	}
	q := "SELECT " + m.conf.userCol + " FROM " + m.conf.table + " WHERE " + m.conf.userCol + " = ? AND " +
		m.conf.domainCol + " = ? AND " + m.conf.uriUserCol + " = ?"
	var dest [1]sql.NullString
	found, err := m.db.QueryStrings(context.Background(), q, []string{user, realm, string(u.User)}, dest[:])
	switch {
	case err != nil:
		c.Log().Error("uri_db: error while querying database: "+err.Error(), "route", c.Route)
		return -8
	case !found:
		return -9
	}
	return 1
}

// uriExists is does_uri_exist: the request URI's user (and domain, with
// use_domain) is in the table: 1, else -5; -4 on a database error.
func (m *Module) uriExists(c *router.Ctx) int {
	if m.db == nil {
		return -1
	}
	u, err := c.RURI()
	if err != nil {
		return -1
	}
	col := m.conf.userCol
	if m.conf.useURITable {
		col = m.conf.uriUserCol
	}
	q := "SELECT " + col + " FROM " + m.conf.table + " WHERE " + col + " = ?"
	args := []string{string(u.User)}
	if m.conf.useDomain {
		q += " AND " + m.conf.domainCol + " = ?"
		args = append(args, string(u.Host))
	}
	var dest [1]sql.NullString
	found, err := m.db.QueryStrings(context.Background(), q, args, dest[:])
	switch {
	case err != nil:
		c.Log().Error("uri_db: error while querying database: "+err.Error(), "route", c.Route)
		return -4
	case !found:
		return -5
	}
	return 1
}
