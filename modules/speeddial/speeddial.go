// Package speeddial is Kamailio's speeddial module: sd_lookup(table)
// replaces a request URI whose user is one of the caller's short numbers
// (sd_username, for the From user, or the owner URI given) with the
// new_uri of the table's row. Every lookup queries the database.
package speeddial

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the speeddial module of one proxy.
type Module struct {
	conn                                       db.Conn
	userCol, domainCol, sdUserCol, sdDomainCol string
	newURICol                                  string
	useDomain                                  int
	domainPrefix                               string
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "speeddial",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str, Default: db.DefaultROURL},
			{Name: "user_column", Kind: dispatch.Str, Default: "username"},
			{Name: "domain_column", Kind: dispatch.Str, Default: "domain"},
			{Name: "sd_user_column", Kind: dispatch.Str, Default: "sd_username"},
			{Name: "sd_domain_column", Kind: dispatch.Str, Default: "sd_domain"},
			{Name: "new_uri_column", Kind: dispatch.Str, Default: "new_uri"},
			{Name: "use_domain", Kind: dispatch.Int, Default: "0", Doc: "1: match the owner's domain too; 2: and the request URI's as sd_domain"},
			{Name: "domain_prefix", Kind: dispatch.Str, Doc: "stripped from the domains before the lookup"},
		},
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.conn = db.Conn{Module: "speeddial", URL: p.Str("db_url", db.DefaultROURL)}
	m.userCol, m.domainCol = p.Str("user_column", "username"), p.Str("domain_column", "domain")
	m.sdUserCol, m.sdDomainCol = p.Str("sd_user_column", "sd_username"), p.Str("sd_domain_column", "sd_domain")
	m.newURICol = p.Str("new_uri_column", "new_uri")
	if err := db.Idents(m.userCol, m.domainCol, m.sdUserCol, m.sdDomainCol, m.newURICol); err != nil {
		return err
	}
	m.useDomain = p.Int("use_domain", 0)
	m.domainPrefix = p.Str("domain_prefix", "")
	return nil
}

// Start opens the database.
func (m *Module) Start(*router.Env) error { return m.conn.Open() }

// Stop closes it.
func (m *Module) Stop() { m.conn.Close() }

// Exports are KSR.speeddial and the native sd_lookup.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "lookup", Native: "sd_lookup", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, table string) int { return m.Lookup(c, table, "") })},
		{Name: "lookup_owner", Native: "sd_lookup", Ret: dispatch.Int, Fn: dispatch.FSS(m.Lookup)},
	}
}

// Lookup is sd_lookup(table, owner): the owner is the From URI when
// owner is "".
func (m *Module) Lookup(c *router.Ctx, table, owner string) int {
	if err := db.Ident("table", table); err != nil {
		c.Log().Error("speeddial: "+err.Error(), "route", c.Route)
		return -1
	}
	ru, err := c.RURI()
	if err != nil || len(ru.User) == 0 {
		return -1
	}
	var ou sip.URI
	if owner != "" {
		if err := sip.ParseURI([]byte(owner), &ou); err != nil {
			c.Log().Error("speeddial: owner "+owner+": "+err.Error(), "route", c.Route)
			return -1
		}
	} else {
		ou = c.Msg.From().URI
	}
	strip := func(h []byte) string {
		s := string(h)
		if len(s) > len(m.domainPrefix) && s[:len(m.domainPrefix)] == m.domainPrefix {
			s = s[len(m.domainPrefix):]
		}
		return s
	}
	q := "SELECT " + m.newURICol + " FROM " + table + " WHERE " + m.userCol + " = ? AND " + m.sdUserCol + " = ?"
	args := []any{string(ou.User), string(ru.User)}
	if m.useDomain >= 1 {
		q += " AND " + m.domainCol + " = ?"
		args = append(args, strip(ou.Host))
	}
	if m.useDomain >= 2 {
		q += " AND " + m.sdDomainCol + " = ?"
		args = append(args, string(ru.Host))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var uri string
	switch err := m.conn.DB.QueryRow(ctx, q, args...).Scan(&uri); {
	case errors.Is(err, sql.ErrNoRows):
		return -1
	case err != nil:
		c.Log().Error("speeddial: "+table+": "+err.Error(), "route", c.Route)
		return -1
	}
	if err := c.SetRURI([]byte(uri)); err != nil {
		c.Log().Error("speeddial: new_uri "+uri+": "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}
