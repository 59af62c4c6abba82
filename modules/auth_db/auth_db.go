// Package auth_db checks digest credentials against a subscriber table,
// like Kamailio's auth_db module: auth_check, www_authorize and
// proxy_authorize, with the passwords (or HA1s) read from the database.
package auth_db

import (
	"context"
	"database/sql"
	"errors"
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

var (
	cur      settings
	database *db.DB
	dbErrors db.Complainer
)

func init() {
	dispatch.RegisterLegacy(dispatch.Legacy{
		Name: "auth_db",
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str},
			{Name: "user_column", Kind: dispatch.Str},
			{Name: "domain_column", Kind: dispatch.Str},
			{Name: "password_column", Kind: dispatch.Str},
			{Name: "password_column_2", Kind: dispatch.Str},
			{Name: "calculate_ha1", Kind: dispatch.Int},
			{Name: "use_domain", Kind: dispatch.Int},
			{Name: "load_credentials", Kind: dispatch.Str},
			{Name: "version_table", Kind: dispatch.Int},
		},
		Init:  initParams,
		Start: start,
		Stop:  stop,
		Exports: []dispatch.Export{
			{Name: "auth_check", Ret: dispatch.Int, Fn: dispatch.FSSI(AuthCheck), Native: "auth_check"},
			{Name: "is_subscriber", Ret: dispatch.Int, Fn: dispatch.FSSI(IsSubscriber), Native: "is_subscriber"},
			{Name: "www_authorize", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, realm, table string) int {
				return authorize(c, sip.HdrAuthorization, realm, table, 0)
			})},
			{Name: "proxy_authorize", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, realm, table string) int {
				return authorize(c, sip.HdrProxyAuthorization, realm, table, 0)
			})},
		},
	})
}

func initParams(p *dispatch.Params) error {
	s := settings{
		url:          p.Str("db_url", ""),
		userCol:      p.Str("user_column", "username"),
		domainCol:    p.Str("domain_column", "domain"),
		calculateHA1: p.Int("calculate_ha1", 0) != 0,
		useDomain:    p.Int("use_domain", 0) != 0,
		versionCheck: p.Int("version_table", 1) != 0,
	}
	if s.url == "" {
		return errors.New(`db_url is not set: modparam("auth_db", "db_url", "sqlite:///path/kamailio.db")`)
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
	if !auth.Configured() {
		return fmt.Errorf("auth_db %w", auth.ErrNotLoaded)
	}
	cur = s
	queriesMu.Lock()
	queries = map[queryKey]string{} // built from the settings
	queriesMu.Unlock()
	return nil
}

func start(env *router.Env) error {
	d, err := db.Open(cur.url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Columns(ctx, "subscriber"); err != nil {
		// Scripts may name another table: say it now, fail at use.
		env.Log.Warn("auth_db: " + err.Error() + ": auth_check on it will fail (kemi db init creates it)")
	} else if err := checkTable(ctx, d, "subscriber"); err != nil {
		d.Close()
		return err
	}
	database = d
	return nil
}

func stop() {
	if database != nil {
		database.Close()
		database = nil
	}
}

// checkTable is the start-up check of a subscriber table: version row and
// every column the module reads.
func checkTable(ctx context.Context, d *db.DB, table string) error {
	need := []string{cur.userCol, cur.passCol, cur.passCol2}
	if cur.useDomain {
		need = append(need, cur.domainCol)
	}
	for _, c := range cur.creds {
		need = append(need, c.column)
	}
	if err := d.RequireColumns(ctx, table, need...); err != nil {
		return err
	}
	if cur.versionCheck && table == "subscriber" {
		return d.CheckVersion(ctx, table, db.VersionSubscriber)
	}
	return nil
}

// queryKey names a credentials query: the table a script gives and the
// password column the username's form picks.
type queryKey struct{ table, passCol string }

var (
	queriesMu sync.RWMutex
	queries   = map[queryKey]string{}
)

// query is the SELECT for one table and password column, built (and the
// table name checked) once.
func query(table, passCol string) (string, error) {
	k := queryKey{table, passCol}
	queriesMu.RLock()
	q, ok := queries[k]
	queriesMu.RUnlock()
	if ok {
		return q, nil
	}
	if err := db.Ident("table", table); err != nil {
		return "", err
	}
	q = buildQuery(table, passCol)
	queriesMu.Lock()
	queries[k] = q
	queriesMu.Unlock()
	return q, nil
}

func buildQuery(table, passCol string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(passCol)
	for _, c := range cur.creds {
		b.WriteString(", ")
		b.WriteString(c.column)
	}
	b.WriteString(" FROM ")
	b.WriteString(table)
	b.WriteString(" WHERE ")
	b.WriteString(cur.userCol)
	b.WriteString(" = ?")
	if cur.useDomain {
		b.WriteString(" AND ")
		b.WriteString(cur.domainCol)
		b.WriteString(" = ?")
	}
	return b.String()
}

// AuthCheck is auth_check(realm, table, flags): the credentials of a
// REGISTER (Authorization) or another request (Proxy-Authorization)
// against the table; flags&1 also requires the authentication user to be
// the To (REGISTER) or From user.
func AuthCheck(c *router.Ctx, realm, table string, flags int) int {
	return authorize(c, auth.HeaderFor(c.Msg), realm, table, flags)
}

func authorize(c *router.Ctx, t sip.HdrType, realm, table string, flags int) int {
	var cr auth.Credentials
	if rc := auth.PreAuth(c, t, realm, &cr); rc != auth.OK {
		return rc
	}
	if database == nil {
		c.Log().Error("auth_db: no database (the module has not started)", "route", c.Route)
		return auth.Error
	}
	user, domain := cr.Username, cr.Realm
	passCol := cur.passCol
	if i := strings.IndexByte(string(user), '@'); i >= 0 {
		// username written user@domain: Kamailio's ha1b column holds
		// H(user@domain:realm:password).
		if !cur.calculateHA1 {
			passCol = cur.passCol2
		} else {
			user, domain = user[:i], user[i+1:]
		}
	}
	args := []any{string(user)}
	if cur.useDomain {
		args = append(args, string(domain))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	vals := make([]sql.NullString, 1+len(cur.creds))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	q, err := query(table, passCol)
	if err != nil {
		c.Log().Error("auth_db: "+err.Error(), "route", c.Route)
		return auth.Error
	}
	err = database.QueryRow(ctx, q, args...).Scan(dest...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return auth.VerifyUnknown(c, &cr, cur.calculateHA1)
	case err != nil:
		dbErrors.Log(c.Log(), "auth_db: subscriber query failed, auth_check returns -1", err)
		return auth.Error
	}
	secret := []byte(vals[0].String)
	if cur.calculateHA1 {
		var buf [64]byte
		secret = cr.Algorithm.HA1(buf[:], cr.Username, cr.Realm, secret)
	}
	if rc := auth.Verify(c, &cr, secret); rc != auth.OK {
		return rc
	}
	if flags&1 != 0 {
		if rc := auth.CheckIdentity(c, &cr); rc != auth.OK {
			c.Authorized = 0
			return rc
		}
	}
	for i, cd := range cur.creds {
		if vals[i+1].Valid {
			c.AddAVP(cd.avp, router.StrValue(vals[i+1].String))
		}
	}
	return auth.OK
}

// IsSubscriber is is_subscriber(uri, table, flags): 1 when the user (and
// with use_domain the domain) of uri is in the table.
func IsSubscriber(c *router.Ctx, uri, table string, flags int) int {
	if database == nil {
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
	q := "SELECT " + cur.userCol + " FROM " + table + " WHERE " + cur.userCol + " = ?"
	args := []any{string(u.User)}
	if cur.useDomain {
		q += " AND " + cur.domainCol + " = ?"
		args = append(args, string(u.Host))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got string
	err := database.QueryRow(ctx, q, args...).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return -1
	case err != nil:
		dbErrors.Log(c.Log(), "auth_db: subscriber query failed", err)
		return auth.Error
	}
	return 1
}
