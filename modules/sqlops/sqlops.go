// Package sqlops is Kamailio's sqlops module: SQL a script writes, run on
// the databases of sqlcon parameters, the rows kept in named result
// containers ($dbr(res=>...), sql_result_get), in XAVPs (sql_xquery) or
// in variables (sql_pvquery); the {sql.val} transformations quote values
// for a query.
package sqlops

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// conn is one sqlcon: a name for a database.
type conn struct {
	name, url string

	mu sync.Mutex
	db *db.DB // nil until connected (connect_mode 1 connects on use)
}

// result is one result container: the columns and rows of the last query
// that filled it. Values are Kamailio's: an int, a string or null.
type result struct {
	cols []string
	rows [][]router.Value
}

// Module is the sqlops module of one proxy. Result containers belong to
// the worker that fills them, as Kamailio's belong to its process; so do
// the affected-rows counts of $sqlrows.
type Module struct {
	cons        map[string]*conn
	order       []string // the connections in the order given
	declared    []string // sqlres parameters
	connectMode int
	maxResults  int

	mu       sync.Mutex
	results  map[*router.Worker]map[string]*result
	affected map[*router.Worker]map[string]int64
	async    chan struct{} // bounds the queries of sql_query_async in flight
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "sqlops",
		Params: []dispatch.Param{
			{Name: "sqlcon", Kind: s, Multi: true, Doc: "name=>db_url: a connection the functions name"},
			{Name: "sqlres", Kind: s, Multi: true, Doc: "a result container declared ahead (they are also made on first use)"},
			p("tr_buf_size", i, "2048", "accepted: {sql.val} has no buffer to outgrow"),
			p("connect_mode", i, "0", "1: start even when a database does not answer, and connect on use"),
			p("results_maxsize", i, "32", "the result containers a worker may have"),
		},
		New: func() dispatch.Module {
			return &Module{cons: map[string]*conn{}, results: map[*router.Worker]map[string]*result{},
				affected: map[*router.Worker]map[string]int64{}, async: make(chan struct{}, 8)}
		},
	})
	router.RegisterPV("dbr", router.PVClass{Arg: true, Parse: parseDBR, Get: getDBR})
	router.RegisterPV("sqlrows", router.PVClass{Arg: true, Parse: parseSQLRows, Get: getSQLRows})
	for _, t := range []struct {
		name string
		null string
	}{{"sql.val", "NULL"}, {"sql.val.int", "0"}, {"sql.val.str", "''"}} {
		null := router.StrValue(t.null)
		router.RegisterTransform(t.name, func(args []string) (func(*router.Ctx, router.Value) router.Value, error) {
			if len(args) != 0 {
				return nil, fmt.Errorf("{%s} takes no parameters", t.name)
			}
			return func(_ *router.Ctx, v router.Value) router.Value {
				if v.IsNull() {
					return null
				}
				return router.StrValue(Quote(v))
			}, nil
		})
	}
}

// Quote is {sql.val} of a value that is not null: an int as its digits, a
// string in single quotes with ', ", \ and NUL escaped by a backslash
// (Kamailio's escape_common).
func Quote(v router.Value) string {
	if !v.IsStr() {
		return v.String()
	}
	s := v.String()
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Init reads the connections ("name=>url") and the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	for _, v := range p.All("sqlcon") {
		spec := v.String()
		name, url, ok := strings.Cut(spec, "=>")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		if !ok || name == "" || strings.ContainsAny(name, " \t=") {
			return fmt.Errorf("sqlops: invalid sqlcon %q: want name=>db_url", spec)
		}
		if m.cons[name] != nil {
			return fmt.Errorf("sqlops: sqlcon %q: duplicate connection name", name)
		}
		if _, err := db.ParseURL(url); err != nil {
			return fmt.Errorf("sqlops: sqlcon %q: %w", name, err)
		}
		m.cons[name] = &conn{name: name, url: url}
		m.order = append(m.order, name)
	}
	for _, v := range p.All("sqlres") {
		m.declared = append(m.declared, strings.TrimSpace(v.String()))
	}
	m.connectMode = p.Int("connect_mode", 0)
	m.maxResults = p.Int("results_maxsize", 32)
	if len(m.declared) > m.maxResults+1 {
		return fmt.Errorf("sqlops: %d sqlres containers: more than results_maxsize (%d)", len(m.declared), m.maxResults)
	}
	return nil
}

// Start connects every connection: one that fails stops the start unless
// connect_mode is 1.
func (m *Module) Start(*router.Env) error {
	for _, name := range m.order {
		c := m.cons[name]
		if _, err := m.open(c); err != nil && m.connectMode != 1 {
			return fmt.Errorf("sqlops: connection %s: %w", name, err)
		}
	}
	return nil
}

// Stop closes the databases.
func (m *Module) Stop() {
	for _, c := range m.cons {
		c.mu.Lock()
		if c.db != nil {
			c.db.Close()
			c.db = nil
		}
		c.mu.Unlock()
	}
}

// open returns the connection's database, connecting when it is not.
func (m *Module) open(c *conn) (*db.DB, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != nil {
		return c.db, nil
	}
	d, err := db.Open(c.url)
	if err != nil {
		return nil, err
	}
	c.db = d
	return d, nil
}

// con is the database of a connection name, nil (logged) when there is no
// such connection or it cannot connect.
func (m *Module) con(c *router.Ctx, name string) (*conn, *db.DB) {
	sc := m.cons[name]
	if sc == nil {
		c.Log().Error("sqlops: invalid connection ["+name+"]", "route", c.Route)
		return nil, nil
	}
	d, err := m.open(sc)
	if err != nil {
		c.Log().Error("sqlops: failed to connect to the database ["+name+"]", "error", err)
		return nil, nil
	}
	return sc, d
}

// result is the worker's container of a name, made on first use; nil
// (logged) past results_maxsize.
func (m *Module) result(c *router.Ctx, name string) *result {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.results[c.W]
	if rs == nil {
		rs = map[string]*result{}
		for _, d := range m.declared {
			rs[d] = &result{}
		}
		m.results[c.W] = rs
	}
	r := rs[name]
	if r == nil {
		if len(rs) > m.maxResults {
			c.Log().Error("sqlops: too many result containers defined", "result", name)
			return nil
		}
		r = &result{}
		rs[name] = r
	}
	return r
}

// kind is what Kamailio's database layer makes of a column: the value
// types sqlops reads, or a type it turns into null (doubles, unsigned).
type kind uint8

const (
	kInt    kind = iota // DB1_INT, DB1_BITMAP
	kBigint             // DB1_BIGINT: a string in containers, an int in XAVPs
	kTime               // DB1_DATETIME: seconds since the epoch
	kStr                // DB1_STR, DB1_STRING, DB1_BLOB
	kNull               // DB1_DOUBLE, DB1_UINT, DB1_UBIGINT: sqlops has no case for them
)

// colKind is Kamailio's type of a column as its driver reports it (the
// declared type in SQLite, the wire type in PostgreSQL and MySQL), and
// the value's own type when nothing is declared.
func colKind(drv db.Driver, t *sql.ColumnType, v any) kind {
	name := strings.ToUpper(t.DatabaseTypeName())
	switch drv {
	case db.SQLite:
		if name != "" {
			return sqliteDecl(name)
		}
		switch v.(type) {
		case int64:
			return kInt
		case float64:
			return kNull
		}
		return kStr
	case db.Postgres:
		switch name {
		case "INT2", "INT4":
			return kInt
		case "INT8":
			return kBigint
		case "FLOAT4", "FLOAT8", "NUMERIC":
			return kNull
		case "DATE", "TIMESTAMP", "TIMESTAMPTZ":
			return kTime
		case "BIT", "VARBIT":
			return kInt
		}
		return kStr
	default: // MySQL
		if strings.HasPrefix(name, "UNSIGNED") {
			return kNull
		}
		switch name {
		case "TINYINT", "SMALLINT", "INT", "MEDIUMINT", "TIMESTAMP", "YEAR":
			return kInt
		case "BIGINT":
			return kBigint
		case "FLOAT", "DOUBLE":
			return kNull
		case "DATETIME":
			return kTime
		case "BIT":
			return kInt
		}
		return kStr
	}
}

// sqliteDecl is db_sqlite's reading of a declared type: the first of its
// four-letter (INT: three) markers found, scanning left to right; INT if
// none.
func sqliteDecl(decl string) kind {
	for i := 3; i <= len(decl); i++ {
		if decl[i-3:i] == "INT" {
			return kInt
		}
		if i < 4 {
			continue
		}
		switch decl[i-4 : i] {
		case "SERI":
			return kInt
		case "BIGI":
			return kBigint
		case "CHAR", "CLOB", "TEXT", "BLOB":
			return kStr
		case "REAL", "FLOA", "DOUB":
			return kNull
		case "TIME", "DATE":
			return kTime
		}
	}
	return kInt
}

// value is a column's value as Kamailio's sqlops keeps it: bigint says
// what a BIGINT becomes (a string in containers, an int in XAVPs).
func value(k kind, v any, bigintAsInt bool) router.Value {
	if v == nil {
		return router.Value{}
	}
	switch k {
	case kInt:
		n, ok := asInt(v)
		if !ok {
			return router.Value{}
		}
		return router.IntValue(int64(int32(n))) // Kamailio's int
	case kBigint:
		n, ok := asInt(v)
		if !ok {
			return router.Value{}
		}
		if bigintAsInt {
			return router.IntValue(n)
		}
		return router.StrValue(strconv.FormatInt(n, 10))
	case kTime:
		t, err := db.ParseTime(v)
		if err != nil {
			return router.Value{}
		}
		return router.IntValue(int64(int32(t.Unix())))
	case kStr:
		switch x := v.(type) {
		case string:
			return router.StrValue(x)
		case []byte:
			return router.StrValue(string(x))
		case bool: // PostgreSQL's text form
			if x {
				return router.StrValue("t")
			}
			return router.StrValue("f")
		case int64:
			return router.StrValue(strconv.FormatInt(x, 10))
		case float64:
			return router.StrValue(strconv.FormatFloat(x, 'g', -1, 64))
		}
		return router.StrValue(fmt.Sprint(v))
	}
	return router.Value{}
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case float64:
		return int64(x), true
	}
	return 0, false
}

// table is a query's answer: the column names and kinds, the raw rows.
type table struct {
	cols  []string
	kinds []kind
	rows  [][]any
}

// isRead reports whether a query returns rows: it starts with SELECT,
// WITH, SHOW, VALUES, PRAGMA, EXPLAIN or DESCRIBE. Anything else runs as
// a change, its affected rows counted for $sqlrows.
func isRead(q string) bool {
	q = strings.TrimLeft(q, " \t\r\n(")
	end := strings.IndexFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end >= 0 {
		q = q[:end]
	}
	switch strings.ToUpper(q) {
	case "SELECT", "WITH", "SHOW", "VALUES", "PRAGMA", "EXPLAIN", "DESCRIBE", "DESC":
		return true
	}
	return false
}

// run runs a query on a connection; the table is nil for a change.
func (m *Module) run(c *router.Ctx, sc *conn, d *db.DB, q string) (*table, error) {
	ctx := context.Background()
	if !isRead(q) {
		res, err := d.RawExec(ctx, q)
		if err != nil {
			return nil, err
		}
		n, _ := res.RowsAffected()
		m.setAffected(c, sc.name, n)
		return nil, nil
	}
	t, err := readTable(ctx, d, q)
	if err != nil {
		return nil, err
	}
	if d.URL.Driver != db.SQLite { // MySQL and PostgreSQL count a SELECT's rows
		m.setAffected(c, sc.name, int64(len(t.rows)))
	}
	return t, nil
}

// readTable runs a query that returns rows.
func readTable(ctx context.Context, d *db.DB, q string) (*table, error) {
	rows, err := d.RawQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	t := &table{cols: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if t.kinds == nil {
			t.kinds = make([]kind, len(cols))
			for i := range cols {
				t.kinds[i] = colKind(d.URL.Driver, types[i], vals[i])
			}
		}
		t.rows = append(t.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Rows runs q, SQL a script wrote, for the modules that turn its answer
// into variables (avpops' avp_db_query): a query that returns rows gives
// them with Kamailio's types (an int — a BIGINT too —, a string, or null
// for a null and for the types Kamailio's database layer has no case
// for); another statement runs and gives none. The bool says which.
func Rows(ctx context.Context, d *db.DB, q string) (rows [][]router.Value, read bool, err error) {
	if !isRead(q) {
		_, err := d.RawExec(ctx, q)
		return nil, false, err
	}
	t, err := readTable(ctx, d, q)
	if err != nil {
		return nil, true, err
	}
	for _, r := range t.rows {
		vs := make([]router.Value, len(r))
		for j, v := range r {
			vs[j] = value(t.kinds[j], v, true)
		}
		rows = append(rows, vs)
	}
	return rows, true, nil
}

func (m *Module) setAffected(c *router.Ctx, con string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.affected[c.W]
	if a == nil {
		a = map[string]int64{}
		m.affected[c.W] = a
	}
	a[con] = n
}

// query is sql_do_query: 1 with rows kept in res, 2 when the query
// returned no rows, 3 when it did and there is no container, -1 on an
// error (logged). The container is emptied first.
func (m *Module) query(c *router.Ctx, con, q, res string) int {
	var r *result
	if res != "" {
		if r = m.result(c, res); r == nil {
			return -1
		}
		*r = result{}
	}
	sc, d := m.con(c, con)
	if d == nil {
		return -1
	}
	t, err := m.run(c, sc, d, q)
	if err != nil {
		c.Log().Error("sqlops: cannot do the query ["+clip(q)+"]", "error", err, "route", c.Route)
		return -1
	}
	if t == nil || len(t.rows) == 0 || len(t.cols) == 0 {
		return 2
	}
	if r == nil {
		return 3
	}
	r.cols = t.cols
	r.rows = make([][]router.Value, len(t.rows))
	for i, row := range t.rows {
		r.rows[i] = make([]router.Value, len(row))
		for j, v := range row {
			r.rows[i][j] = value(t.kinds[j], v, false)
		}
	}
	return 1
}

// clip is a query cut to 64 bytes for a log line, as Kamailio cuts it.
func clip(q string) string {
	if len(q) > 64 {
		return q[:64]
	}
	return q
}

// xquery is sql_exec_xquery: the rows added to the XAVP xavp, the first
// row its item 0, each column a field under its name; 1, 2 with no rows,
// -1 on an error.
func (m *Module) xquery(c *router.Ctx, con, q, xavp string) int {
	sc, d := m.con(c, con)
	if d == nil {
		return -1
	}
	t, err := m.run(c, sc, d, q)
	if err != nil {
		c.Log().Error("sqlops: cannot do the query ["+clip(q)+"]", "error", err, "route", c.Route)
		return -1
	}
	if t == nil || len(t.rows) == 0 || len(t.cols) == 0 {
		return 2
	}
	for i := len(t.rows) - 1; i >= 0; i-- {
		for j, col := range t.cols {
			idx := 0
			if j == 0 {
				idx = -1 // a new item
			}
			c.XAVPAdd(xavp, idx, col, value(t.kinds[j], t.rows[i][j], true))
		}
	}
	return 1
}

// pvquery is sql_do_pvquery: each column into its variable of the list
// "$var(a), $avp(b)", the rows from the last to the first (an AVP keeps
// them all, the first row on top; a variable ends with the first row's);
// a null leaves an AVP alone. 1, 2 with no rows, -1 on an error.
func (m *Module) pvquery(c *router.Ctx, con, q, list string) int {
	sc, d := m.con(c, con)
	if d == nil {
		return -1
	}
	var pvs []*router.PV
	for i, name := range strings.Split(list, ",") {
		pv, err := c.W.PV(strings.TrimSpace(name))
		if err != nil {
			c.Log().Error("sqlops: invalid result parameter ["+list+"]", "error", err)
			return -1
		}
		if !pv.Writable() {
			c.Log().Error(fmt.Sprintf("sqlops: result variable [%d] is read-only", i+1))
			return -1
		}
		pvs = append(pvs, pv)
	}
	t, err := m.run(c, sc, d, q)
	if err != nil {
		c.Log().Error("sqlops: cannot do the query", "error", err, "route", c.Route)
		return -1
	}
	if t == nil || len(t.rows) == 0 || len(t.cols) == 0 {
		return 2
	}
	for i := len(t.rows) - 1; i >= 0; i-- {
		for j := range t.cols {
			if j >= len(pvs) {
				c.Log().Error(fmt.Sprintf("sqlops: missing pv spec for column %d", j+1))
				return -1
			}
			v := t.rows[i][j]
			var val router.Value
			if t.kinds[j] == kBigint {
				val = value(kBigint, v, false)
				if n, ok := asInt(v); ok && uint64(n)&0xffffffff00000000 == 0 {
					val = router.IntValue(n) // it fits: Kamailio keeps the int too
				}
			} else {
				val = value(t.kinds[j], v, false)
			}
			if val.IsNull() && pvs[j].Class == "avp" {
				continue
			}
			if err := pvs[j].Set(c, val); err != nil {
				c.Log().Error("sqlops: failed to convert value for column "+t.cols[j], "error", err)
				return -1
			}
		}
	}
	return 1
}

// async runs a query in the background (sql_query_async): its result is
// not read. At most 8 run at once; past that it waits for one to end.
func (m *Module) queryAsync(c *router.Ctx, con, q string) int {
	sc, d := m.con(c, con)
	if d == nil {
		return -1
	}
	log := c.Log()
	m.async <- struct{}{}
	go func() {
		defer func() { <-m.async }()
		ctx := context.Background()
		var err error
		if isRead(q) {
			var rows *sql.Rows
			if rows, err = d.RawQuery(ctx, q); err == nil {
				err = rows.Close()
			}
		} else {
			_, err = d.RawExec(ctx, q)
		}
		if err != nil {
			log.Error("sqlops: cannot do the query", "connection", sc.name, "error", err)
		}
	}()
	return 1
}

// cell is a value of a container, with the check Kamailio makes: ok is
// false when the container cannot be had or the index is past the end
// (-1 for the functions that say so).
func (m *Module) cell(c *router.Ctx, res string, i, j int) (router.Value, bool) {
	r := m.result(c, res)
	if r == nil || i < 0 || j < 0 || i >= len(r.rows) || j >= len(r.cols) {
		return router.Value{}, false
	}
	return r.rows[i][j], true
}

// get is sql_result_get/gete/getz: null as null, "" or 0.
func (m *Module) get(c *router.Ctx, res string, i, j int, null router.Value) router.Value {
	if res == "" {
		c.Log().Error("sqlops: invalid result name")
		return null
	}
	v, _ := m.cell(c, res, i, j)
	if v.IsNull() {
		return null
	}
	return v
}

// Exports are KSR.sqlops and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I, X := dispatch.Int, dispatch.XVal
	return []dispatch.Export{
		// Kamailio's KEMI sql_query returns 0 when done, a value.
		{Name: "sql_query", Ret: I, Value: true, Native: dispatch.NoNative, Fn: dispatch.FSSS(func(c *router.Ctx, con, q, res string) int {
			if m.query(c, con, q, res) < 0 {
				return -1
			}
			return 0
		})},
		{Name: "sql_xquery", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSSS(func(c *router.Ctx, con, q, xavp string) int {
			if m.xquery(c, con, q, xavp) < 0 {
				return -1
			}
			return 1
		})},
		{Name: "sql_pvquery", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSSS(m.pvquery)},
		{Name: "sql_query_async", Ret: I, Fn: dispatch.FSS(m.queryAsync)},
		{Name: "sql_result_free", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, res string) int {
			if r := m.result(c, res); r != nil {
				*r = result{}
			}
			return 1
		})},
		{Name: "sql_num_rows", Native: dispatch.NoNative, Ret: I, Value: true, Fn: dispatch.FS(func(c *router.Ctx, res string) int {
			if r := m.result(c, res); r != nil {
				return len(r.rows)
			}
			return -1
		})},
		{Name: "sql_num_columns", Native: dispatch.NoNative, Ret: I, Value: true, Fn: dispatch.FS(func(c *router.Ctx, res string) int {
			if r := m.result(c, res); r != nil {
				return len(r.cols)
			}
			return -1
		})},
		{Name: "sql_is_null", Native: dispatch.NoNative, Ret: I, Value: true, Fn: dispatch.FSII(func(c *router.Ctx, res string, i, j int) int {
			v, ok := m.cell(c, res, i, j)
			switch {
			case !ok:
				c.Log().Error(fmt.Sprintf("sqlops: index out of bounds [%d,%d] in [%s]", i, j, res))
				return -1
			case v.IsNull():
				return 1
			}
			return 0
		})},
		{Name: "sql_result_get", Native: dispatch.NoNative, Ret: X, Fn: dispatch.VSII(func(c *router.Ctx, res string, i, j int) router.Value {
			return m.get(c, res, i, j, router.Value{})
		})},
		{Name: "sql_result_gete", Native: dispatch.NoNative, Ret: X, Fn: dispatch.VSII(func(c *router.Ctx, res string, i, j int) router.Value {
			return m.get(c, res, i, j, router.StrValue(""))
		})},
		{Name: "sql_result_getz", Native: dispatch.NoNative, Ret: X, Fn: dispatch.VSII(func(c *router.Ctx, res string, i, j int) router.Value {
			return m.get(c, res, i, j, router.IntValue(0))
		})},
		// Native: sql_query(con, query[, res]) with sql_do_query's codes,
		// sql_xquery's 2 for no rows, sql_pvquery with its list as written.
		{Name: "sql_query", NativeOnly: true, Ret: I, Fn: dispatch.FSSS(m.query)},
		{Name: "sql_query", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, con, q string) int { return m.query(c, con, q, "") })},
		{Name: "sql_xquery", NativeOnly: true, Ret: I, Fn: dispatch.FSSS(m.xquery)},
		{Name: "sql_pvquery", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, con, q, list string) int {
			f, err := c.W.Format(q)
			if err != nil {
				c.Log().Error("sqlops: invalid query string ["+q+"]", "error", err)
				return -1
			}
			return m.pvquery(c, con, string(f.Append(nil, c)), list)
		})},
	}
}

// dbrPV is a parsed $dbr(res=>rows|cols|[row,col]|colname[col]); an index
// is a number or a variable.
type dbrPV struct {
	res      string
	what     byte // 'r' rows, 'c' cols, 'v' a value, 'n' a column's name
	row, col index
}

type index struct {
	n  int
	pv string
}

func (x index) get(c *router.Ctx) (int, bool) {
	if x.pv == "" {
		return x.n, true
	}
	p, err := c.W.PV(x.pv)
	if err != nil {
		return 0, false
	}
	n, ok := p.Get(c).Int64()
	return int(n), ok
}

func parseIndex(s string) (index, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$") {
		if _, err := router.ParsePV(s); err != nil {
			return index{}, err
		}
		return index{pv: s}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return index{}, fmt.Errorf("bad number <%s>", s)
	}
	return index{n: n}, nil
}

func parseDBR(pv *router.PV) error {
	res, key, ok := strings.Cut(pv.Arg, "=>")
	res, key = strings.TrimSpace(res), strings.TrimSpace(key)
	if !ok || res == "" || key == "" {
		return fmt.Errorf("sqlops: invalid pv name [%s]", pv.Arg)
	}
	d := &dbrPV{res: res}
	var err error
	switch {
	case key == "rows":
		d.what = 'r'
	case key == "cols":
		d.what = 'c'
	case strings.HasPrefix(key, "[") && strings.HasSuffix(key, "]"):
		r, col, ok := strings.Cut(key[1:len(key)-1], ",")
		if !ok {
			return fmt.Errorf("sqlops: invalid index in [%s]", key)
		}
		d.what = 'v'
		if d.row, err = parseIndex(r); err == nil {
			d.col, err = parseIndex(col)
		}
	case strings.HasPrefix(key, "colname"):
		rest := strings.TrimSpace(key[len("colname"):])
		if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
			return fmt.Errorf("sqlops: invalid index in [%s]", key)
		}
		d.what = 'n'
		d.col, err = parseIndex(rest[1 : len(rest)-1])
	default:
		return fmt.Errorf("sqlops: unknown key [%s]", key)
	}
	if err != nil {
		return fmt.Errorf("sqlops: invalid index in [%s]: %w", key, err)
	}
	pv.Data = d
	return nil
}

func getDBR(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("sqlops").(*Module)
	if m == nil {
		return router.Value{}
	}
	d := pv.Data.(*dbrPV)
	r := m.result(c, d.res)
	if r == nil {
		return router.Value{}
	}
	switch d.what {
	case 'r':
		return router.IntValue(int64(len(r.rows)))
	case 'c':
		return router.IntValue(int64(len(r.cols)))
	case 'v':
		i, ok1 := d.row.get(c)
		j, ok2 := d.col.get(c)
		if !ok1 || !ok2 || i < 0 || j < 0 || i >= len(r.rows) || j >= len(r.cols) {
			return router.Value{}
		}
		return r.rows[i][j]
	default:
		j, ok := d.col.get(c)
		if !ok || j < 0 || j >= len(r.cols) {
			return router.Value{}
		}
		return router.StrValue(r.cols[j])
	}
}

func parseSQLRows(pv *router.PV) error {
	pv.Arg = strings.TrimSpace(pv.Arg)
	return nil
}

// getSQLRows is $sqlrows(con): the rows the worker's last query on con
// changed (or, on MySQL and PostgreSQL, returned).
func getSQLRows(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("sqlops").(*Module)
	if m == nil || m.cons[pv.Arg] == nil {
		return router.Value{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return router.IntValue(m.affected[c.W][pv.Arg])
}
