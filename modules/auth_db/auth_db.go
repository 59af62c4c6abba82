// Package auth_db checks digest credentials against a subscriber table,
// like Kamailio's auth_db module: auth_check, www_authorize and
// proxy_authorize, with the passwords (or HA1s) read from the database.
package auth_db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/auth"
)

// settings are the module parameters.
type settings struct {
	url          string
	userCol      string
	domainCol    string
	passCol      string // ha1, or password with calculate_ha1
	passCol2     string // ha1b: for usernames written user@domain
	calculateHA1 bool
	useDomain    bool
	versionCheck bool
	creds        []credential // load_credentials
}

// credential is one load_credentials item: a column copied into an AVP.
type credential struct {
	avp, column string
}

// Module is the auth_db module of one proxy: its parameters, database
// and the queries built from them.
type Module struct {
	settings
	auth      *auth.Module
	database  *db.DB // set by Start
	dbErrors  db.Complainer
	queriesMu sync.RWMutex
	queries   map[queryKey]string
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "auth_db",
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str, Default: db.DefaultROURL, Doc: "`sqlite:///path/file.db`, `postgres://user:pass@host/db`"},
			{Name: "user_column", Kind: dispatch.Str, Default: "username"},
			{Name: "domain_column", Kind: dispatch.Str, Default: "domain"},
			{Name: "password_column", Kind: dispatch.Str, Default: "ha1 (password with `calculate_ha1`)"},
			{Name: "password_column_2", Kind: dispatch.Str, Default: "ha1b", Doc: "read when the username is user@domain"},
			{Name: "calculate_ha1", Kind: dispatch.Int, Default: "0", Doc: "1: the column holds the password, HA1 is computed (needed for SHA-256)"},
			{Name: "use_domain", Kind: dispatch.Int, Default: "0", Doc: "1: the realm must be the subscriber's domain"},
			{Name: "load_credentials", Kind: dispatch.Str, Default: "\"\"", Doc: "`$avp(name)=column;column2`: columns copied into AVPs on success"},
			{Name: "version_table", Kind: dispatch.Int, Default: "1", Doc: "0: do not check the version table"},
		},
		New: func() dispatch.Module { return &Module{queries: map[queryKey]string{}} },
	})
}

// Exports are KSR.auth_db and the native-only authorize functions.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "auth_check", Ret: dispatch.Int, Fn: dispatch.FSSI(m.AuthCheck)},
		{Name: "is_subscriber", Ret: dispatch.Int, Fn: dispatch.FSSI(m.IsSubscriber)},
		{Name: "www_authorize", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, realm, table string) int {
			return m.authorize(c, sip.HdrAuthorization, realm, table, 0)
		})},
		{Name: "proxy_authorize", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, realm, table string) int {
			return m.authorize(c, sip.HdrProxyAuthorization, realm, table, 0)
		})},
	}
}

// Init reads the parameters; auth must be loaded.
func (m *Module) Init(p *dispatch.Params) error {
	s := settings{
		url:          p.Str("db_url", db.DefaultROURL), // Kamailio's default
		userCol:      p.Str("user_column", "username"),
		domainCol:    p.Str("domain_column", "domain"),
		calculateHA1: p.Int("calculate_ha1", 0) != 0,
		useDomain:    p.Int("use_domain", 0) != 0,
		versionCheck: p.Int("version_table", 1) != 0,
	}
	if _, err := db.ParseURL(s.url); err != nil {
		return err
	}
	defPass, defPass2 := "ha1", "ha1b"
	if s.calculateHA1 {
		defPass, defPass2 = "password", "password"
	}
	s.passCol = p.Str("password_column", defPass)
	s.passCol2 = p.Str("password_column_2", defPass2)
	for _, c := range []struct{ what, name string }{{"user_column", s.userCol}, {"domain_column", s.domainCol}, {"password_column", s.passCol}, {"password_column_2", s.passCol2}} {
		if err := db.Ident(c.what, c.name); err != nil {
			return err
		}
	}
	// load_credentials: "$avp(rpid)=rpid;email_address" — a bare column
	// loads into the AVP of the same name.
	for item := range strings.SplitSeq(p.Str("load_credentials", ""), ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		avp, col, ok := strings.Cut(item, "=")
		if !ok {
			avp, col = item, item
		}
		avp, col = strings.TrimSpace(avp), strings.TrimSpace(col)
		if name, ok := router.AVPName(avp); ok {
			avp = name
		} else if strings.HasPrefix(avp, "$") {
			return fmt.Errorf("load_credentials %q: only $avp(name) can receive a column", item)
		}
		if err := db.Ident("load_credentials column", col); err != nil {
			return err
		}
		s.creds = append(s.creds, credential{avp: avp, column: col})
	}
	a, err := dispatch.Need[*auth.Module](p, "auth")
	if err != nil {
		return err
	}
	m.settings, m.auth = s, a
	return nil
}

// Start opens the database and checks the subscriber table.
func (m *Module) Start(env *router.Env) error {
	d, err := db.OpenParam("auth_db", m.url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Columns(ctx, "subscriber"); err != nil {
		// Scripts may name another table: say it now, fail at use.
		env.Log.Warn("auth_db: " + err.Error() + ": auth_check on it will fail (kemi db init creates it)")
	} else if err := m.checkTable(ctx, d, "subscriber"); err != nil {
		d.Close()
		return err
	}
	m.database = d
	return nil
}

// Stop closes the database.
func (m *Module) Stop() {
	if m.database != nil {
		m.database.Close()
		m.database = nil
	}
}

// checkTable is the start-up check of a subscriber table: version row and
// every column the module reads.
func (m *Module) checkTable(ctx context.Context, d *db.DB, table string) error {
	need := []string{m.userCol, m.passCol, m.passCol2}
	if m.useDomain {
		need = append(need, m.domainCol)
	}
	for _, c := range m.creds {
		need = append(need, c.column)
	}
	if err := d.RequireColumns(ctx, table, need...); err != nil {
		return err
	}
	if m.versionCheck && table == "subscriber" {
		return d.CheckVersion(ctx, table, db.VersionSubscriber)
	}
	return nil
}

// queryKey names a credentials query: the table a script gives and the
// password column the username's form picks.
type queryKey struct{ table, passCol string }

// query is the SELECT for one table and password column, built (and the
// table name checked) once.
func (m *Module) query(table, passCol string) (string, error) {
	k := queryKey{table, passCol}
	m.queriesMu.RLock()
	q, ok := m.queries[k]
	m.queriesMu.RUnlock()
	if ok {
		return q, nil
	}
	if err := db.Ident("table", table); err != nil {
		return "", err
	}
	q = m.buildQuery(table, passCol)
	m.queriesMu.Lock()
	m.queries[k] = q
	m.queriesMu.Unlock()
	return q, nil
}

func (m *Module) buildQuery(table, passCol string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(passCol)
	for _, c := range m.creds {
		b.WriteString(", ")
		b.WriteString(c.column)
	}
	b.WriteString(" FROM ")
	b.WriteString(table)
	b.WriteString(" WHERE ")
	b.WriteString(m.userCol)
	b.WriteString(" = ?")
	if m.useDomain {
		b.WriteString(" AND ")
		b.WriteString(m.domainCol)
		b.WriteString(" = ?")
	}
	return b.String()
}

// AuthCheck is auth_check(realm, table, flags): the credentials of a
// REGISTER (Authorization) or another request (Proxy-Authorization)
// against the table; flags&1 also requires the authentication user to be
// the To (REGISTER) or From user.
func (m *Module) AuthCheck(c *router.Ctx, realm, table string, flags int) int {
	return m.authorize(c, auth.HeaderFor(c.Msg), realm, table, flags)
}

func (m *Module) authorize(c *router.Ctx, t sip.HdrType, realm, table string, flags int) int {
	var cr auth.Credentials
	if rc := m.auth.PreAuth(c, t, realm, &cr); rc != auth.OK {
		return rc
	}
	if m.database == nil {
		c.Log().Error("auth_db: no database (the module has not started)", "route", c.Route)
		return auth.Error
	}
	user, domain := cr.Username, cr.Realm
	passCol := m.passCol
	if i := strings.IndexByte(string(user), '@'); i >= 0 {
		// username written user@domain: Kamailio's ha1b column holds
		// H(user@domain:realm:password).
		if !m.calculateHA1 {
			passCol = m.passCol2
		} else {
			user, domain = user[:i], user[i+1:]
		}
	}
	args := []string{string(user)}
	if m.useDomain {
		args = append(args, string(domain))
	}
	vals := make([]sql.NullString, 1+len(m.creds))
	q, err := m.query(table, passCol)
	if err != nil {
		c.Log().Error("auth_db: "+err.Error(), "route", c.Route)
		return auth.Error
	}
	// On SQLite the row comes from memory while the file is unchanged
	// (core/db, rowcache.go): the same row the query would read.
	found, err := m.database.QueryStrings(context.Background(), q, args, vals)
	switch {
	case err != nil:
		m.dbErrors.Log(c.Log(), "auth_db: subscriber query failed, auth_check returns -1", err)
		return auth.Error
	case !found:
		return m.auth.VerifyUnknown(c, &cr, m.calculateHA1)
	}
	secret := []byte(vals[0].String)
	if m.calculateHA1 {
		var buf [64]byte
		secret = cr.Algorithm.HA1(buf[:], cr.Username, cr.Realm, secret)
	}
	if rc := m.auth.Verify(c, &cr, secret); rc != auth.OK {
		return rc
	}
	if flags&1 != 0 {
		if rc := auth.CheckIdentity(c, &cr); rc != auth.OK {
			auth.Forget(c)
			return rc
		}
	}
	for i, cd := range m.creds {
		if vals[i+1].Valid {
			c.AddAVP(cd.avp, router.StrValue(vals[i+1].String))
		}
	}
	return auth.OK
}

// IsSubscriber is is_subscriber(uri, table, flags): 1 when the user (and
// with use_domain the domain) of uri is in the table.
func (m *Module) IsSubscriber(c *router.Ctx, uri, table string, flags int) int {
	if m.database == nil {
		return auth.Error
	}
	if err := db.Ident("table", table); err != nil {
		c.Log().Error("auth_db: "+err.Error(), "route", c.Route)
		return auth.Error
	}
	var u sip.URI
	if err := sip.ParseURI([]byte(uri), &u); err != nil {
		c.Log().Error("auth_db: is_subscriber: "+err.Error(), "route", c.Route)
		return auth.Error
	}
	q := "SELECT " + m.userCol + " FROM " + table + " WHERE " + m.userCol + " = ?"
	args := []string{string(u.User)}
	if m.useDomain {
		q += " AND " + m.domainCol + " = ?"
		args = append(args, string(u.Host))
	}
	var got [1]sql.NullString
	found, err := m.database.QueryStrings(context.Background(), q, args, got[:])
	switch {
	case err != nil:
		m.dbErrors.Log(c.Log(), "auth_db: subscriber query failed", err)
		return auth.Error
	case !found:
		return -1
	}
	return 1
}
