// Package alias_db is Kamailio's alias_db module: alias_db_lookup(table)
// replaces a request URI that is an alias (alias_username, alias_domain
// of the table) with the user's own URI (username, domain); with the "r"
// flag the other way round. Every lookup queries the database.
package alias_db

import (
	"context"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the alias_db module of one proxy.
type Module struct {
	conn                         db.Conn
	userCol, domainCol           string
	aliasUserCol, aliasDomainCol string
	useDomain, appendBranches    bool
	domainPrefix                 string
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "alias_db",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str, Default: db.DefaultROURL},
			{Name: "user_column", Kind: dispatch.Str, Default: "username"},
			{Name: "domain_column", Kind: dispatch.Str, Default: "domain"},
			{Name: "alias_user_column", Kind: dispatch.Str, Default: "alias_username"},
			{Name: "alias_domain_column", Kind: dispatch.Str, Default: "alias_domain"},
			{Name: "use_domain", Kind: dispatch.Int, Default: "0", Doc: "match the request URI's domain too"},
			{Name: "domain_prefix", Kind: dispatch.Str, Doc: "stripped from the domain before the lookup"},
			{Name: "append_branches", Kind: dispatch.Int, Default: "0", Doc: "more than one match: the others become branches"},
		},
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.conn = db.Conn{Module: "alias_db", URL: p.Str("db_url", db.DefaultROURL)}
	m.userCol, m.domainCol = p.Str("user_column", "username"), p.Str("domain_column", "domain")
	m.aliasUserCol, m.aliasDomainCol = p.Str("alias_user_column", "alias_username"), p.Str("alias_domain_column", "alias_domain")
	if err := db.Idents(m.userCol, m.domainCol, m.aliasUserCol, m.aliasDomainCol); err != nil {
		return err
	}
	m.useDomain = p.Int("use_domain", 0) != 0
	m.appendBranches = p.Int("append_branches", 0) != 0
	m.domainPrefix = p.Str("domain_prefix", "")
	return nil
}

// Start opens the database.
func (m *Module) Start(*router.Env) error { return m.conn.Open() }

// Stop closes it.
func (m *Module) Stop() { m.conn.Close() }

// Exports are KSR.alias_db and the native alias_db_lookup.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "lookup", Native: "alias_db_lookup", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int { return m.Lookup(c, table, "") })},
		{Name: "lookup_ex", Native: "alias_db_lookup", Ret: dispatch.Int, Fn: dispatch.FSS(m.Lookup)},
	}
}

// Lookup is alias_db_lookup(table, flags): d matches the user alone, u
// the domain too, r looks up the alias of a user's URI.
func (m *Module) Lookup(c *router.Ctx, table, flags string) int {
	if err := db.Ident("table", table); err != nil {
		c.Log().Error("alias_db: "+err.Error(), "route", c.Route)
		return -1
	}
	u, err := c.RURI()
	if err != nil {
		return -1
	}
	useDomain := m.useDomain
	if strings.ContainsRune(flags, 'd') {
		useDomain = false
	}
	if strings.ContainsRune(flags, 'u') {
		useDomain = true
	}
	inUser, inDomain, outUser, outDomain := m.aliasUserCol, m.aliasDomainCol, m.userCol, m.domainCol
	if strings.ContainsRune(flags, 'r') {
		inUser, inDomain, outUser, outDomain = outUser, outDomain, inUser, inDomain
	}
	host := strings.TrimPrefix(string(u.Host), m.domainPrefix)
	q := "SELECT " + outUser + ", " + outDomain + " FROM " + table + " WHERE " + inUser + " = ?"
	args := []any{string(u.User)}
	if useDomain {
		q += " AND " + inDomain + " = ?"
		args = append(args, host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := m.conn.DB.Query(ctx, q, args...)
	if err != nil {
		c.Log().Error("alias_db: "+table+": "+err.Error(), "route", c.Route)
		return -1
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var user, domain string
		if err := rows.Scan(&user, &domain); err != nil {
			c.Log().Error("alias_db: "+table+": "+err.Error(), "route", c.Route)
			return -1
		}
		uri := "sip:" + user + "@" + domain
		if n == 0 {
			if err := c.SetRURI([]byte(uri)); err != nil {
				c.Log().Error("alias_db: "+uri+": "+err.Error(), "route", c.Route)
				return -1
			}
		} else if m.appendBranches {
			if err := c.AppendBranchURI(uri, -1); err != nil {
				c.Log().Error("alias_db: "+err.Error(), "route", c.Route)
			}
		}
		n++
		if !m.appendBranches {
			break
		}
	}
	return dispatch.Result(n > 0)
}
