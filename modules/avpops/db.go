package avpops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/sqlops"
)

// What the first parameter of the avp_db_* functions selects rows by.
const (
	byUUID = iota + 1
	byURI
	byUser
	byDomain
)

// source is the first parameter of avp_db_load/store/delete: a constant
// or a variable, and what of it selects the rows ("/uuid", "/uri",
// "/username", "/domain"; a constant is a uuid, $ru/$fu/$tu/$ou a URI,
// another variable a uuid when not said).
type source struct {
	value, pv string
	by        int
}

func parseSource(s string) (source, error) {
	src, flag, has := strings.Cut(s, "/")
	var sc source
	if has {
		switch strings.ToLower(flag) {
		case "domain":
			sc.by = byDomain
		case "username":
			sc.by = byUser
		case "uri":
			sc.by = byURI
		case "uuid":
			sc.by = byUUID
		default:
			return sc, fmt.Errorf("unknown flag <%s>", flag)
		}
	}
	if !strings.HasPrefix(src, "$") {
		sc.value = src
		if sc.by == 0 {
			sc.by = byUUID
		}
		return sc, nil
	}
	if _, err := router.ParsePV(src); err != nil {
		return sc, fmt.Errorf("bad param 1; expected : $pseudo-variable or int/str value")
	}
	sc.pv = src
	if sc.by == 0 {
		switch src {
		case "$ru", "$fu", "$tu", "$ou":
			sc.by = byURI
		default:
			sc.by = byUUID
		}
	}
	return sc, nil
}

// keys are the column values a source selects rows by: uuid, or
// username and (when used) domain.
type keys struct {
	uuid, user, domain string
	hasUUID            bool
	hasUser, hasDomain bool
}

func (m *Module) keys(c *router.Ctx, sc source) (keys, error) {
	v := sc.value
	if sc.pv != "" {
		pv, err := c.W.PV(sc.pv)
		if err != nil {
			return keys{}, err
		}
		x := pv.Get(c)
		if x.IsNull() || x.String() == "" {
			return keys{}, errors.New("no value for first param")
		}
		v = x.String()
	}
	if sc.by == byUUID {
		return keys{uuid: v, hasUUID: true}, nil
	}
	var u sip.URI
	if err := sip.ParseURI([]byte(v), &u); err != nil {
		return keys{}, errors.New("failed to parse uri")
	}
	if len(u.User) == 0 || len(u.Host) == 0 {
		return keys{}, fmt.Errorf("incomplete uri <%s>", v)
	}
	var k keys
	if sc.by == byURI || sc.by == byUser {
		k.user, k.hasUser = string(u.User), true
	}
	if (sc.by == byURI || sc.by == byDomain) && (m.useDomain || sc.by == byDomain) {
		k.domain, k.hasDomain = string(u.Host), true
	}
	return k, nil
}

// dbName is the second parameter of avp_db_load/store/delete: an AVP, or
// the types of names matched ("a" any, "i" integer, "s" string; script
// flags after it are accepted), and a table ("/t") or a scheme ("/$s").
type dbName struct {
	avp      avpRef
	any      bool // no AVP: the names come from the table
	matchInt bool
	matchStr bool
	table    string
	scheme   *scheme
}

func (m *Module) parseDBName(s string, allowScheme bool) (dbName, error) {
	spec, tbl, hasTbl := strings.Cut(s, "/")
	var n dbName
	if !strings.HasPrefix(spec, "$") {
		if spec == "" {
			return n, errors.New("bad param - expected : $avp(name), *, s or i value")
		}
		switch spec[0] {
		case 's', 'S':
			n.matchStr = true
		case 'i', 'I':
			n.matchInt = true
		case '*', 'a', 'A':
		default:
			return n, errors.New("bad param - expected : *, s or i AVP flag")
		}
		if f := spec[1:]; f != "" {
			if _, err := strconv.ParseUint(f, 10, 8); err != nil {
				return n, errors.New("error - bad avp flags")
			}
		}
		n.any = true
	} else {
		r, err := parseAVP(spec)
		if err != nil {
			return n, errors.New("bad param - expected : $avp(name) or int/str value")
		}
		n.avp = r
		n.matchInt, n.matchStr = r.intName, !r.intName && r.dyn == ""
	}
	if hasTbl {
		if tbl == "" || tbl == "$" {
			return n, errors.New("empty scheme/table name")
		}
		if name, ok := strings.CutPrefix(tbl, "$"); ok {
			if !allowScheme {
				return n, errors.New("function doesn't support DB schemes")
			}
			if n.any {
				return n, errors.New("inconsistent usage of DB scheme without complete specification of AVP name")
			}
			if n.scheme = m.schemes[name]; n.scheme == nil {
				return n, fmt.Errorf("scheme <%s> not found", name)
			}
		} else if err := db.Ident("table", tbl); err != nil {
			return n, err
		} else {
			n.table = tbl
		}
	}
	return n, nil
}

// dbArgs parses the two parameters and the keys for c: what every
// avp_db_* function starts with.
func (m *Module) dbArgs(c *router.Ctx, fn, src, name string, allowScheme bool) (keys, dbName, string, bool) {
	if m.db == nil {
		c.Log().Error("avpops: you have to configure a db_url for using avp_db_xxx functions", "route", c.Route)
		return keys{}, dbName{}, "", false
	}
	sc, err := cached(m, fn+"1", src, parseSource)
	if err != nil {
		fail(c, fn, err)
		return keys{}, dbName{}, "", false
	}
	n, err := cached(m, fn+"2", name, func(s string) (dbName, error) { return m.parseDBName(s, allowScheme) })
	if err != nil {
		fail(c, fn, err)
		return keys{}, dbName{}, "", false
	}
	k, err := m.keys(c, sc)
	if err != nil {
		fail(c, fn, err)
		return keys{}, dbName{}, "", false
	}
	attr := ""
	if !n.any {
		if attr, err = n.avpName(c); err != nil {
			fail(c, fn, err)
			return keys{}, dbName{}, "", false
		}
	}
	return k, n, attr, true
}

func (n dbName) avpName(c *router.Ctx) (string, error) {
	name, ok := n.avp.resolve(c)
	if !ok {
		return "", errors.New("no value for p2")
	}
	if len(name) >= 64 {
		return "", fmt.Errorf("name too long [%d/%.16s...]", len(name), name)
	}
	return name, nil
}

// where is the selection of prepare_selection: uuid, or username and
// domain, and the attribute (not with a scheme).
func (m *Module) where(k keys, attr string, sc *scheme) (string, []any) {
	col := func(which, def string) string {
		if c := schemeCol(sc, which); c != "" {
			return c
		}
		return def
	}
	var conds []string
	var args []any
	if k.hasUUID {
		conds, args = append(conds, col("uuid", m.cols.uuid)+"=?"), append(args, k.uuid)
	} else {
		if k.hasUser {
			conds, args = append(conds, col("username", m.cols.username)+"=?"), append(args, k.user)
		}
		if k.hasDomain {
			conds, args = append(conds, col("domain", m.cols.domain)+"=?"), append(args, k.domain)
		}
	}
	if attr != "" && sc == nil {
		conds, args = append(conds, m.cols.attribute+"=?"), append(args, attr)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func schemeCol(sc *scheme, which string) string {
	if sc == nil {
		return ""
	}
	switch which {
	case "uuid":
		return sc.uuidCol
	case "username":
		return sc.usernameCol
	}
	return sc.domainCol
}

func (m *Module) tableOf(n dbName) string {
	switch {
	case n.scheme != nil && n.scheme.table != "":
		return n.scheme.table
	case n.table != "":
		return n.table
	}
	return m.table
}

// dbLoad is avp_db_load: the rows of the source become AVPs — of the
// name given (rows of its name type only), or named by their attribute
// (of the types matched) — marked as stored; 1 when some were loaded.
func (m *Module) dbLoad(c *router.Ctx, src, name string) int {
	k, n, attr, ok := m.dbArgs(c, "avp_db_load", src, name, true)
	if !ok {
		return -1
	}
	where, args := m.where(k, attr, n.scheme)
	q := "SELECT " + m.cols.value + ", " + m.cols.attribute + ", " + m.cols.typ + " FROM " + m.tableOf(n) + where
	if n.scheme != nil {
		vc := n.scheme.valueCol
		if vc == "" {
			vc = m.cols.value
		}
		q = "SELECT " + vc + " FROM " + m.tableOf(n) + where
	}
	rows, err := m.db.Query(context.Background(), q, args...)
	if err != nil {
		c.Log().Error("avpops: db_load failed: "+err.Error(), "route", c.Route)
		return -1
	}
	defer rows.Close()
	loaded := 0
	for rows.Next() {
		if n.scheme != nil {
			var v sql.NullString
			if err := rows.Scan(&v); err != nil || !v.Valid {
				c.Log().Error("avpops: empty or wrong type for 'value' using scheme", "route", c.Route)
				continue
			}
			val := router.StrValue(v.String)
			if n.scheme.valueInt {
				x, err := strconv.ParseInt(v.String, 10, 64)
				if err != nil {
					c.Log().Error("avpops: value is not int as flags say <"+v.String+">", "route", c.Route)
					continue
				}
				val = router.IntValue(int64(int32(x)))
			}
			c.AddAVPMarked(attr, val)
			loaded++
			continue
		}
		var v, a sql.NullString
		var t sql.NullInt64
		if err := rows.Scan(&v, &a, &t); err != nil {
			c.Log().Error("avpops: wrong field types in dbrow: "+err.Error(), "route", c.Route)
			continue
		}
		if !v.Valid || !a.Valid || !t.Valid {
			c.Log().Error("avpops: dbrow contains NULL fields", "route", c.Route)
			continue
		}
		nameInt := t.Int64&dbNameInt != 0
		if n.matchInt && !nameInt || n.matchStr && nameInt {
			continue // not of the name type asked
		}
		avpName := attr
		if n.any {
			avpName = a.String
			if nameInt {
				x, err := strconv.ParseUint(avpName, 10, 32)
				if err != nil {
					c.Log().Error("avpops: name is not ID as flags say <"+avpName+">", "route", c.Route)
					continue
				}
				avpName = strconv.FormatUint(x, 10)
			}
		}
		val := router.StrValue(v.String)
		if t.Int64&dbValInt != 0 {
			x, err := strconv.ParseUint(v.String, 10, 32)
			if v.String == "" || err != nil {
				c.Log().Error("avpops: value is not int as flags say <"+v.String+">", "route", c.Route)
				continue
			}
			val = router.IntValue(int64(int32(x)))
		}
		c.AddAVPMarked(avpName, val)
		loaded++
	}
	if err := rows.Err(); err != nil {
		c.Log().Error("avpops: db_load failed: "+err.Error(), "route", c.Route)
		return -1
	}
	return dispatch.Result(loaded > 0)
}

// dbStore is avp_db_store: the AVPs of the name given (or of the name
// types matched) not stored yet become rows of the source; 1 when some
// were stored.
func (m *Module) dbStore(c *router.Ctx, src, name string) int {
	k, n, attr, ok := m.dbArgs(c, "avp_db_store", src, name, false)
	if !ok {
		return -1
	}
	domain := ""
	if k.hasDomain {
		domain = k.domain
	}
	q := "INSERT INTO " + m.tableOf(n) + " (" + m.cols.uuid + ", " + m.cols.attribute + ", " + m.cols.value + ", " +
		m.cols.typ + ", " + m.cols.username + ", " + m.cols.domain + ") VALUES (?, ?, ?, ?, ?, ?)"
	stored := 0
	for i, e := range c.AVPEntries() {
		if e.Marked {
			continue // loaded from the table, or stored already
		}
		nameInt := isNumeric(e.Name)
		if n.any {
			if n.matchInt && !nameInt || n.matchStr && nameInt {
				continue
			}
		} else if e.Name != attr {
			continue
		} else {
			nameInt = n.avp.intName
		}
		typ := 0
		if nameInt {
			typ |= dbNameInt
		}
		val := e.Val.String()
		if isInt(e.Val) {
			typ |= dbValInt
			val = strconv.FormatInt(int64(intOf(e.Val)), 10)
		}
		if _, err := m.db.Exec(context.Background(), q, k.uuid, e.Name, val, typ, k.user, domain); err != nil {
			c.Log().Error("avpops: insert failed: "+err.Error(), "route", c.Route)
			continue
		}
		c.MarkAVP(i)
		stored++
	}
	return dispatch.Result(stored > 0)
}

func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

// dbDelete is avp_db_delete: the source's rows (of the AVP's name when
// one is given) deleted; 1 unless the parameters are bad.
func (m *Module) dbDelete(c *router.Ctx, src, name string) int {
	k, n, attr, ok := m.dbArgs(c, "avp_db_delete", src, name, false)
	if !ok {
		return -1
	}
	where, args := m.where(k, attr, nil)
	if _, err := m.db.Exec(context.Background(), "DELETE FROM "+m.tableOf(n)+where, args...); err != nil {
		c.Log().Error("avpops: db_delete failed: "+err.Error(), "route", c.Route)
	}
	return 1
}

// dbQuery is avp_db_query(query[, dest]): the query (pseudo-variables
// written in) run; each row's columns go to the AVPs of dest
// ("$avp(a);$avp(b)"), or $avp(i:1), $avp(i:2)... — the first row ending
// up first; null and empty values are skipped. 1 with rows, -2 without,
// -1 on an error.
func (m *Module) dbQuery(c *router.Ctx, query, dest string) int {
	if m.db == nil {
		c.Log().Error("avpops: you have to configure a db_url for using avp_db_xxx functions", "route", c.Route)
		return -1
	}
	var names []avpRef
	if dest != "" {
		var err error
		names, err = cached(m, "avp_db_query", dest, func(s string) ([]avpRef, error) {
			var out []avpRef
			for _, p := range strings.Split(s, ";") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				r, err := parseAVP(p)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, nil
		})
		if err != nil {
			return fail(c, "avp_db_query", err)
		}
	}
	f, err := c.W.Format(query)
	if err != nil {
		return fail(c, "avp_db_query", err)
	}
	q := string(f.Append(nil, c))
	if q == "" {
		c.Log().Error("avpops: cannot print the query", "route", c.Route)
		return -1
	}
	rows, _, err := sqlops.Rows(context.Background(), m.db, q)
	if err != nil {
		c.Log().Error("avpops: cannot do the query: "+err.Error(), "route", c.Route)
		return -1
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return -2
	}
	for i := len(rows) - 1; i >= 0; i-- {
		for j, v := range rows[i] {
			if names != nil && j >= len(names) {
				break
			}
			name := strconv.Itoa(j + 1)
			if names != nil {
				n, ok := names[j].resolve(c)
				if !ok {
					c.Log().Error(fmt.Sprintf("avpops: cant get avp name [%d/%d]", i, j), "route", c.Route)
					continue
				}
				name = n
			}
			switch {
			case v.IsNull():
				continue
			case isInt(v):
				v = router.IntValue(int64(intOf(v)))
			case v.String() == "":
				continue
			}
			c.AddAVP(name, v)
		}
	}
	return 1
}
