package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/redis"
)

// A redis:// db_url keeps tables in Redis as Kamailio's db_redis does, so
// that kemi and Kamailio read each other's rows: a row is the hash
// "<table>:entry::<v1>:<v2>..." of its columns, the values of the table's
// entry key columns in its name; a mapping ("usrdom:username,domain") is
// the set "<table>:usrdom::<u>:<d>" of the entry keys whose columns hold
// those values, listed in "<table>::index::usrdom". Which columns make
// the keys is db_redis's "keys" parameter; a table's columns and types
// are its schema file (schema_path) or kemi's own tables.
//
// The modules' statements run as db_redis runs Kamailio's DB API calls:
// INSERT, UPDATE, DELETE and SELECT whose WHERE is comparisons joined by
// AND. A query naming every entry key column reads one hash; one naming
// a mapping's columns reads that set; any other scans the table's keys.
// Anything else (joins, OR, raw SQL) is refused with the statement named;
// Kamailio's db_redis has no raw queries either.

// redisDriverName is the database/sql driver of redis:// URLs.
const redisDriverName = "kemi-redis"

func init() { sql.Register(redisDriverName, redisDriver{}) }

// redisTable is a table's schema and keys.
type redisTable struct {
	name    string
	prefix  string // db_redis's version code: "v2:" of "v2:location=..."
	version int
	cols    []string
	types   map[string]byte // s string, i int, u uint, U ubigint, b bigint, t time, d double, B blob
	entry   []string        // the entry key's columns
	maps    []redisMap
}

// redisMap is a mapping set of a table: its name and columns.
type redisMap struct {
	name string
	cols []string
}

// redisConf is what db_redis's parameters set.
var redisConf struct {
	mu         sync.Mutex
	schemaPath string
	keys       map[string]redisKeys // by table
	tables     map[string]*redisTable
}

type redisKeys struct {
	prefix string
	entry  []string
	maps   []redisMap
}

// ConfigureRedis takes db_redis's "keys" parameters (each
// "table=entry:col[,col]&map:col[,col];table2=...") and its schema_path
// ("" for kemi's own tables only). An error names the definition.
func ConfigureRedis(keys []string, schemaPath string) error {
	parsed := map[string]redisKeys{}
	for _, spec := range keys {
		for _, def := range strings.Split(spec, ";") {
			def = strings.TrimSpace(def)
			if def == "" {
				continue
			}
			name, types, ok := strings.Cut(def, "=")
			if !ok {
				return fmt.Errorf("db_redis keys %q: want table=entry:column[,column][&map:column,...]", def)
			}
			var k redisKeys
			if i := strings.LastIndexByte(name, ':'); i >= 0 {
				k.prefix, name = name[:i+1], name[i+1:]
			}
			for _, t := range strings.Split(types, "&") {
				tname, cols, ok := strings.Cut(t, ":")
				if !ok || tname == "" || cols == "" {
					return fmt.Errorf("db_redis keys %q: %q: want type:column[,column]", def, t)
				}
				cs := strings.Split(cols, ",")
				if tname == "entry" {
					k.entry = cs
				} else {
					k.maps = append(k.maps, redisMap{tname, cs})
				}
			}
			old := parsed[name]
			if k.entry == nil {
				k.entry = old.entry
			}
			k.maps = append(old.maps, k.maps...)
			if k.prefix == "" {
				k.prefix = old.prefix
			}
			parsed[name] = k
		}
	}
	if schemaPath != "" {
		if st, err := os.Stat(schemaPath); err != nil || !st.IsDir() {
			return fmt.Errorf("db_redis schema_path %q: not a directory", schemaPath)
		}
	}
	redisConf.mu.Lock()
	defer redisConf.mu.Unlock()
	redisConf.keys, redisConf.schemaPath, redisConf.tables = parsed, schemaPath, nil
	return nil
}

var ddlColumn = regexp.MustCompile(`(?m)^\s+"?([a-z_0-9]+)"?\s+([A-Z]+)`)

// redisTableOf is the schema of a table: its file under schema_path when
// there is one, else kemi's own CREATE TABLE.
func redisTableOf(name string) (*redisTable, error) {
	redisConf.mu.Lock()
	defer redisConf.mu.Unlock()
	if t := redisConf.tables[name]; t != nil {
		return t, nil
	}
	t := &redisTable{name: name, types: map[string]byte{}}
	add := func(col string, typ byte) {
		t.cols = append(t.cols, col)
		t.types[col] = typ
	}
	found := false
	if redisConf.schemaPath != "" {
		if b, err := os.ReadFile(filepath.Join(redisConf.schemaPath, name)); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			for _, def := range strings.Split(strings.TrimSpace(lines[0]), ",") {
				col, typ, ok := strings.Cut(def, "/")
				if def == "" {
					continue
				}
				if !ok || typ == "" {
					return nil, fmt.Errorf("db_redis schema %s: column %q: want name/type", filepath.Join(redisConf.schemaPath, name), def)
				}
				add(col, schemaType(typ))
			}
			if len(lines) > 1 {
				t.version, _ = strconv.Atoi(strings.TrimSpace(lines[1]))
			}
			found = true
		}
	}
	if !found {
		for _, kt := range tables {
			if kt.name != name {
				continue
			}
			for _, m := range ddlColumn.FindAllStringSubmatch(kt.ddl[0], -1) {
				if m[1] == "id" {
					add("id", 'i')
					continue
				}
				add(m[1], ddlType(m[2]))
			}
			t.version, found = kt.version, true
		}
	}
	if !found {
		where := "kemi's tables"
		if redisConf.schemaPath != "" {
			where = redisConf.schemaPath + " or " + where
		}
		return nil, fmt.Errorf("table %s: no schema in %s (db_redis needs one file per table under schema_path)", name, where)
	}
	k := redisConf.keys[name]
	t.prefix, t.entry, t.maps = k.prefix, k.entry, k.maps
	for _, c := range t.entry {
		if t.types[c] == 0 {
			return nil, fmt.Errorf("db_redis keys: table %s has no column %s", name, c)
		}
	}
	for _, m := range t.maps {
		for _, c := range m.cols {
			if t.types[c] == 0 {
				return nil, fmt.Errorf("db_redis keys: %s of table %s: no column %s", m.name, name, c)
			}
		}
	}
	if redisConf.tables == nil {
		redisConf.tables = map[string]*redisTable{}
	}
	redisConf.tables[name] = t
	return t, nil
}

// schemaType reads a db_redis schema type as db_redis does: by its first
// letters.
func schemaType(s string) byte {
	switch strings.ToLower(s)[0] {
	case 'i':
		return 'i'
	case 'u':
		if len(s) > 1 && (s[1] == 'b' || s[1] == 'B') {
			return 'U'
		}
		return 'u'
	case 't':
		return 't'
	case 'd':
		return 'd'
	case 'b':
		if len(s) > 1 && (s[1] == 'i' || s[1] == 'I') {
			return 'b'
		}
		return 'B'
	}
	return 's'
}

// ddlType is the db_redis type of a column of kemi's CREATE TABLE.
func ddlType(sqlType string) byte {
	switch sqlType {
	case "INTEGER", "INT", "SMALLINT", "SERIAL":
		return 'i'
	case "BIGINT":
		return 'b'
	case "TIMESTAMP", "DATETIME":
		return 't'
	case "REAL", "DOUBLE", "FLOAT":
		return 'd'
	case "BLOB", "BYTEA":
		return 'B'
	}
	return 's'
}

// redisDSN reads redis://[user[:password]@]host[:port]/db.
func redisDSN(rawURL, rest string) (string, error) {
	ru, err := url.Parse("redis://" + rest)
	if err != nil {
		return "", fmt.Errorf("db_url %q: %w", rawURL, err)
	}
	if ru.Host == "" {
		return "", fmt.Errorf("db_url %q: no host", rawURL)
	}
	if strings.Contains(ru.Host, ",") {
		return "", fmt.Errorf("db_url %q: Redis cluster (several hosts) is not supported", rawURL)
	}
	if n := strings.Trim(ru.Path, "/"); n != "" {
		if _, err := strconv.Atoi(n); err != nil {
			return "", fmt.Errorf("db_url %q: the database must be a Redis database number, not %q", rawURL, n)
		}
	}
	if ru.Port() == "" {
		ru.Host += ":6379"
	}
	return ru.String(), nil
}

type redisDriver struct{}

func (redisDriver) Open(dsn string) (driver.Conn, error) {
	ru, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	c, err := redis.Dial("tcp", ru.Host, 5*time.Second, 10*time.Second)
	if err != nil {
		return nil, err
	}
	rc := &redisConn{c: c}
	if pw, ok := ru.User.Password(); ok {
		if _, err := rc.do("AUTH", pw); err != nil {
			c.Close()
			return nil, err
		}
	}
	if n := strings.Trim(ru.Path, "/"); n != "" {
		if _, err := rc.do("SELECT", n); err != nil {
			c.Close()
			return nil, err
		}
	}
	return rc, nil
}

// redisConn is one connection of the pool; a connection that failed
// mid-command is dropped (driver.ErrBadConn when nothing was sent).
type redisConn struct {
	c   *redis.Conn
	bad bool
}

func (rc *redisConn) do(args ...string) (*redis.Reply, error) {
	r, err := rc.c.Do(args...)
	if err != nil {
		rc.bad = true
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	if r.Type == redis.Error {
		return nil, fmt.Errorf("redis %s: %s", args[0], r.Str)
	}
	return r, nil
}

func (rc *redisConn) Prepare(q string) (driver.Stmt, error) {
	st, err := parseRedisStmt(q)
	if err != nil {
		return nil, err
	}
	return &redisStmt{rc: rc, st: st}, nil
}

func (rc *redisConn) Close() error { rc.c.Close(); return nil }

// Begin gives a transaction that is none: each command takes effect at
// once, as with Kamailio's db_redis.
func (rc *redisConn) Begin() (driver.Tx, error) { return redisTx{}, nil }

func (rc *redisConn) Ping(ctx context.Context) error {
	if rc.bad {
		return driver.ErrBadConn
	}
	_, err := rc.do("PING")
	return err
}

func (rc *redisConn) ResetSession(ctx context.Context) error {
	if rc.bad {
		return driver.ErrBadConn
	}
	return nil
}

func (rc *redisConn) IsValid() bool { return !rc.bad }

type redisTx struct{}

func (redisTx) Commit() error   { return nil }
func (redisTx) Rollback() error { return nil }

type redisStmt struct {
	rc *redisConn
	st *rstmt
}

func (s *redisStmt) Close() error  { return nil }
func (s *redisStmt) NumInput() int { return s.st.nargs }

func (s *redisStmt) Exec(args []driver.Value) (driver.Result, error) {
	n, err := s.rc.exec(s.st, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.st.text, err)
	}
	return driver.RowsAffected(n), nil
}

func (s *redisStmt) Query(args []driver.Value) (driver.Rows, error) {
	rows, err := s.rc.query(s.st, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.st.text, err)
	}
	return rows, nil
}

// The statements.

type operand struct {
	col string // a column, or
	arg int    // a parameter's index (-1: the literal)
	lit driver.Value
}

type cond struct {
	left, right operand
	op          string // = != < > <= >=
}

type rstmt struct {
	text    string
	kind    string // select insert update delete none
	table   string
	cols    []string  // select list, insert or update columns
	vals    []operand // insert or update values
	where   []cond
	count   bool // SELECT COUNT(*)
	orderBy []string
	desc    []bool
	limit   int // -1: none
	nargs   int
}

// The tokens of the SQL the modules write.
var sqlToken = regexp.MustCompile(`\s*(?:('(?:[^']|'')*')|("[^"]*")|([A-Za-z_][A-Za-z_0-9.]*)|(-?[0-9]+(?:\.[0-9]+)?)|(<=|>=|!=|<>|[=<>(),*?;]))`)

func parseRedisStmt(q string) (*rstmt, error) {
	var toks []string
	rest := strings.TrimSpace(q)
	for rest != "" {
		m := sqlToken.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("%s: Redis (db_redis) cannot run this: unexpected %q", q, rest)
		}
		toks = append(toks, strings.TrimSpace(rest[:m[1]]))
		rest = strings.TrimSpace(rest[m[1]:])
	}
	p := &sqlParser{q: q, toks: toks}
	st, err := p.statement()
	if err != nil {
		return nil, fmt.Errorf("%s: Redis (db_redis) runs INSERT, UPDATE, DELETE and SELECT with AND-ed comparisons only: %w", q, err)
	}
	st.text = q
	return st, nil
}

// sqlParser reads the tokens of one statement; the first error sticks
// (p.err) and every later step is a no-op, so that a rule reads as its
// steps.
type sqlParser struct {
	q     string
	toks  []string
	i     int
	nargs int
	err   error
}

func (p *sqlParser) peek() string {
	if p.i < len(p.toks) && p.err == nil {
		return p.toks[p.i]
	}
	return ""
}

func (p *sqlParser) next() string { t := p.peek(); p.i++; return t }

func (p *sqlParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

func (p *sqlParser) is(word string) bool {
	if strings.EqualFold(p.peek(), word) {
		p.i++
		return true
	}
	return false
}

func (p *sqlParser) want(words ...string) {
	for _, w := range words {
		if !p.is(w) {
			p.fail("want %s at %q", w, p.peek())
		}
	}
}

func (p *sqlParser) ident() string {
	t := p.next()
	if t == "" || !(t[0] == '_' || t[0] >= 'A' && t[0] <= 'Z' || t[0] >= 'a' && t[0] <= 'z' || t[0] == '"') {
		p.fail("want a name at %q", t)
		return ""
	}
	return strings.Trim(t, `"`)
}

func (p *sqlParser) identList() []string {
	var out []string
	for {
		out = append(out, p.ident())
		if !p.is(",") || p.err != nil {
			return out
		}
	}
}

func (p *sqlParser) operand() operand {
	t := p.next()
	switch {
	case t == "?":
		p.nargs++
		return operand{arg: p.nargs - 1}
	case strings.HasPrefix(t, "'"):
		return operand{arg: -1, lit: strings.ReplaceAll(t[1:len(t)-1], "''", "'")}
	case t != "" && (t[0] == '-' || t[0] >= '0' && t[0] <= '9'):
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return operand{arg: -1, lit: n}
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			p.fail("number %q", t)
		}
		return operand{arg: -1, lit: f}
	case strings.EqualFold(t, "NULL"):
		return operand{arg: -1, lit: nil}
	}
	p.i--
	return operand{col: p.ident()}
}

func (p *sqlParser) where() []cond {
	if !p.is("WHERE") {
		return nil
	}
	var out []cond
	for p.err == nil {
		l := p.operand()
		op := p.next()
		switch op {
		case "=", "!=", "<", ">", "<=", ">=":
		case "<>":
			op = "!="
		default:
			p.fail("operator %q", op)
		}
		out = append(out, cond{l, p.operand(), op})
		if !p.is("AND") {
			break
		}
	}
	return out
}

func (p *sqlParser) statement() (*rstmt, error) {
	st := &rstmt{limit: -1}
	switch {
	case p.is("SELECT"):
		st.kind = "select"
		switch {
		case p.is("*"):
		case p.is("COUNT"):
			p.want("(", "*", ")")
			st.count = true
		default:
			st.cols = p.identList()
		}
		p.want("FROM")
		st.table = p.ident()
		st.where = p.where()
		if p.is("ORDER") {
			p.want("BY")
			for p.err == nil {
				st.orderBy = append(st.orderBy, p.ident())
				desc := p.is("DESC")
				if !desc {
					p.is("ASC")
				}
				st.desc = append(st.desc, desc)
				if !p.is(",") {
					break
				}
			}
		}
		if p.is("LIMIT") {
			o := p.operand()
			n, ok := o.lit.(int64)
			if o.arg >= 0 || !ok {
				p.fail("LIMIT wants a number")
			}
			st.limit = int(n)
		}
	case p.is("INSERT"):
		st.kind = "insert"
		p.want("INTO")
		st.table = p.ident()
		p.want("(")
		st.cols = p.identList()
		p.want(")", "VALUES", "(")
		for p.err == nil {
			st.vals = append(st.vals, p.operand())
			if !p.is(",") {
				break
			}
		}
		p.want(")")
		if p.err == nil && len(st.vals) != len(st.cols) {
			p.fail("%d columns, %d values", len(st.cols), len(st.vals))
		}
	case p.is("UPDATE"):
		st.kind = "update"
		st.table = p.ident()
		p.want("SET")
		for p.err == nil {
			st.cols = append(st.cols, p.ident())
			p.want("=")
			st.vals = append(st.vals, p.operand())
			if !p.is(",") {
				break
			}
		}
		st.where = p.where()
	case p.is("DELETE"):
		st.kind = "delete"
		p.want("FROM")
		st.table = p.ident()
		st.where = p.where()
	case p.is("CREATE"), p.is("DROP"), p.is("ALTER"):
		// Redis holds no schema: db_redis reads it from its files.
		st.kind = "none"
		p.i = len(p.toks)
	default:
		p.fail("statement %q", p.peek())
	}
	p.is(";")
	if p.err == nil && p.i < len(p.toks) {
		p.fail("unexpected %q", p.peek())
	}
	if p.err != nil {
		return nil, p.err
	}
	st.nargs = p.nargs
	return st, nil
}

// value is an operand's value for a row (nil row: parameters and literals
// only).
func (o operand) value(args []driver.Value, row map[string]*string, t *redisTable) driver.Value {
	switch {
	case o.col != "":
		v := row[o.col]
		if v == nil {
			return nil
		}
		return typed(t.types[o.col], *v)
	case o.arg >= 0:
		return args[o.arg]
	}
	return o.lit
}

// redisText is a value as db_redis writes it (db_redis_val2str); the
// column's schema type says how an integer is padded.
func redisText(v driver.Value, typ byte) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		if typ == 'b' || typ == 'U' {
			return fmt.Sprintf("%010d", x), true
		}
		return strconv.FormatInt(x, 10), true
	case float64:
		if typ == 'i' || typ == 'u' || typ == 'b' || typ == 'U' {
			return redisText(int64(x), typ)
		}
		return strconv.FormatFloat(x, 'f', 6, 64), true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	case time.Time:
		return x.Local().Format(TimeFormat), true
	case []byte:
		return string(x), true
	case string:
		return x, true
	}
	return fmt.Sprint(v), true
}

// typed reads a stored value back by its column's type.
func typed(typ byte, s string) driver.Value {
	switch typ {
	case 'i', 'u', 'b', 'U':
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n
		}
		if s == "" {
			return nil
		}
	case 'd':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		if s == "" {
			return nil
		}
	case 'B':
		return []byte(s)
	}
	return s
}

// compare compares two values: numbers as numbers, the rest as text
// (db_redis compares timestamps as their text, which sorts as time).
func compare(a, b driver.Value) (int, bool) {
	if a == nil || b == nil {
		return 0, false
	}
	num := func(v driver.Value) (float64, bool) {
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		case bool:
			if x {
				return 1, true
			}
			return 0, true
		case string:
			f, err := strconv.ParseFloat(x, 64)
			return f, err == nil
		}
		return 0, false
	}
	_, aStr := a.(string)
	_, bStr := b.(string)
	if !(aStr && bStr) {
		if x, ok := num(a); ok {
			if y, ok := num(b); ok {
				switch {
				case x < y:
					return -1, true
				case x > y:
					return 1, true
				}
				return 0, true
			}
		}
	}
	as, _ := redisText(a, 's')
	bs, _ := redisText(b, 's')
	return strings.Compare(as, bs), true
}

func (c cond) holds(args []driver.Value, row map[string]*string, t *redisTable) bool {
	r, ok := compare(c.left.value(args, row, t), c.right.value(args, row, t))
	if !ok {
		return false // NULL compares to nothing
	}
	switch c.op {
	case "=":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r < 0
	case ">":
		return r > 0
	case "<=":
		return r <= 0
	}
	return r >= 0
}

// keyName is "<prefix><table>:<type>::<v1>:<v2>...", or "" when a value
// is missing or NULL.
func (t *redisTable) keyName(typ string, cols []string, val func(col string) (string, bool)) string {
	var b strings.Builder
	b.WriteString(t.prefix + t.name + ":" + typ + ":")
	for _, c := range cols {
		v, ok := val(c)
		if !ok {
			return ""
		}
		b.WriteString(":" + v)
	}
	return b.String()
}

// eqValues are the columns a WHERE fixes with "col = value" (values as
// db_redis writes them).
func (t *redisTable) eqValues(where []cond, args []driver.Value) map[string]string {
	out := map[string]string{}
	for _, c := range where {
		if c.op != "=" || c.left.col == "" || c.right.col != "" {
			continue
		}
		if s, ok := redisText(c.right.value(args, nil, t), t.types[c.left.col]); ok {
			out[c.left.col] = s
		}
	}
	return out
}

// candidates are the entry keys a WHERE can match: one when it names the
// entry key's columns, a mapping set's members when it names a mapping's,
// else every row of the table (a scan).
func (rc *redisConn) candidates(t *redisTable, where []cond, args []driver.Value) ([]string, error) {
	eq := t.eqValues(where, args)
	get := func(c string) (string, bool) { v, ok := eq[c]; return v, ok }
	if len(t.entry) > 0 {
		if k := t.keyName("entry", t.entry, get); k != "" {
			return []string{k}, nil
		}
	}
	for _, m := range t.maps {
		if k := t.keyName(m.name, m.cols, get); k != "" {
			r, err := rc.do("SMEMBERS", k)
			if err != nil {
				return nil, err
			}
			out := make([]string, 0, len(r.Elements))
			for _, e := range r.Elements {
				out = append(out, e.Str)
			}
			return out, nil
		}
	}
	var out []string
	cursor := "0"
	for {
		r, err := rc.do("SCAN", cursor, "MATCH", t.prefix+t.name+":entry::*", "COUNT", "1000")
		if err != nil {
			return nil, err
		}
		if len(r.Elements) != 2 {
			return nil, errors.New("redis SCAN: unexpected reply")
		}
		for _, e := range r.Elements[1].Elements {
			out = append(out, e.Str)
		}
		if cursor = r.Elements[0].Str; cursor == "0" {
			break
		}
	}
	sort.Strings(out) // the same order each time
	return out, nil
}

// rows reads the rows where matches (every column) and their keys.
func (rc *redisConn) rows(t *redisTable, where []cond, args []driver.Value) (found []string, rows []map[string]*string, err error) {
	keys, err := rc.candidates(t, where, args)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range keys {
		r, err := rc.do(append([]string{"HMGET", k}, t.cols...)...)
		if err != nil {
			return nil, nil, err
		}
		row := make(map[string]*string, len(t.cols))
		exists := false
		for i, e := range r.Elements {
			if e.Type == redis.String {
				s := e.Str
				row[t.cols[i]] = &s
				exists = true
			}
		}
		if !exists {
			continue // a mapping's member whose hash is gone
		}
		ok := true
		for _, c := range where {
			if !c.holds(args, row, t) {
				ok = false
				break
			}
		}
		if ok {
			found, rows = append(found, k), append(rows, row)
		}
	}
	return found, rows, nil
}

func (rc *redisConn) query(st *rstmt, args []driver.Value) (driver.Rows, error) {
	if st.kind != "select" {
		return nil, errors.New("not a SELECT")
	}
	t, err := redisTableOf(st.table)
	if err != nil {
		return nil, err
	}
	cols := st.cols
	if cols == nil && !st.count {
		cols = t.cols
	}
	for _, c := range cols {
		if t.types[c] == 0 {
			return nil, fmt.Errorf("table %s has no column %s", t.name, c)
		}
	}
	// The version of a table is its schema's, as db_redis answers.
	if t.name == "version" && len(cols) == 1 && cols[0] == "table_version" && len(st.where) == 1 &&
		st.where[0].left.col == "table_name" && st.where[0].op == "=" {
		name, _ := redisText(st.where[0].right.value(args, nil, t), 's')
		vt, err := redisTableOf(name)
		if err != nil {
			return nil, err
		}
		return &redisRows{cols: cols, vals: [][]driver.Value{{int64(vt.version)}}}, nil
	}
	for _, c := range st.where {
		if c.left.col == "" && c.right.col == "" && !c.holds(args, nil, t) {
			return &redisRows{cols: cols}, nil // WHERE 1=0: the columns only
		}
	}
	_, rows, err := rc.rows(t, st.where, args)
	if err != nil {
		return nil, err
	}
	if st.count {
		return &redisRows{cols: []string{"count"}, vals: [][]driver.Value{{int64(len(rows))}}}, nil
	}
	if len(st.orderBy) > 0 {
		sort.SliceStable(rows, func(i, j int) bool {
			for n, c := range st.orderBy {
				a, b := operand{col: c}.value(args, rows[i], t), operand{col: c}.value(args, rows[j], t)
				if r, _ := compare(a, b); r != 0 {
					return (r < 0) != st.desc[n]
				}
			}
			return false
		})
	}
	if st.limit >= 0 && len(rows) > st.limit {
		rows = rows[:st.limit]
	}
	out := &redisRows{cols: cols}
	for _, row := range rows {
		vals := make([]driver.Value, len(cols))
		for i, c := range cols {
			vals[i] = operand{col: c}.value(args, row, t)
		}
		out.vals = append(out.vals, vals)
	}
	return out, nil
}

func (rc *redisConn) exec(st *rstmt, args []driver.Value) (int64, error) {
	if st.kind == "none" {
		return 0, nil
	}
	if st.kind == "select" {
		return 0, errors.New("a SELECT does not change anything")
	}
	t, err := redisTableOf(st.table)
	if err != nil {
		return 0, err
	}
	for _, c := range st.cols {
		if t.types[c] == 0 {
			return 0, fmt.Errorf("table %s has no column %s", t.name, c)
		}
	}
	if st.kind != "delete" && len(t.entry) == 0 {
		return 0, fmt.Errorf("table %s: no entry key: set modparam(\"db_redis\", \"keys\", \"%s=entry:column[,column]\")", t.name, t.name)
	}
	if st.kind == "insert" {
		row := map[string]*string{}
		fields := []string{"HMSET", ""}
		for i, c := range st.cols {
			s, ok := redisText(st.vals[i].value(args, nil, t), t.types[c])
			if ok {
				row[c] = &s
			}
			fields = append(fields, c, s)
		}
		get := rowGetter(row)
		key := t.keyName("entry", t.entry, get)
		if key == "" {
			return 0, fmt.Errorf("table %s: the entry key's columns (%s) must all be given", t.name, strings.Join(t.entry, ", "))
		}
		fields[1] = key
		if _, err := rc.do(fields...); err != nil {
			return 0, err
		}
		return 1, rc.link(t, key, get)
	}
	found, rows, err := rc.rows(t, st.where, args)
	if err != nil {
		return 0, err
	}
	if st.kind == "delete" {
		for i, k := range found {
			if _, err := rc.do("DEL", k); err != nil {
				return 0, err
			}
			if err := rc.unlink(t, k, rows[i]); err != nil {
				return 0, err
			}
		}
		return int64(len(found)), nil
	}
	for i, k := range found { // update
		fields := []string{"HMSET", k}
		next := map[string]*string{}
		for c, v := range rows[i] {
			next[c] = v
		}
		for j, c := range st.cols {
			s, ok := redisText(st.vals[j].value(args, rows[i], t), t.types[c])
			fields = append(fields, c, s)
			if ok {
				next[c] = &s
			} else {
				next[c] = nil
			}
		}
		if _, err := rc.do(fields...); err != nil {
			return 0, err
		}
		// The mappings whose columns changed move to their new sets.
		if err := rc.unlink(t, k, rows[i]); err != nil {
			return 0, err
		}
		if err := rc.link(t, k, rowGetter(next)); err != nil {
			return 0, err
		}
	}
	return int64(len(found)), nil
}

func rowGetter(row map[string]*string) func(string) (string, bool) {
	return func(c string) (string, bool) {
		if v := row[c]; v != nil {
			return *v, true
		}
		return "", false
	}
}

// link adds an entry key to the mapping sets its values name, and those
// to the table's index of the mapping.
func (rc *redisConn) link(t *redisTable, key string, get func(string) (string, bool)) error {
	for _, m := range t.maps {
		mk := t.keyName(m.name, m.cols, get)
		if mk == "" {
			continue
		}
		if _, err := rc.do("SADD", mk, key); err != nil {
			return err
		}
		if _, err := rc.do("SADD", t.prefix+t.name+"::index::"+m.name, mk); err != nil {
			return err
		}
	}
	return nil
}

// sremKey is db_redis's script: a member out of a mapping set, the set
// out of the index when it is empty.
const sremKey = "redis.call('SREM', KEYS[1], KEYS[3]); if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], KEYS[1]) end"

func (rc *redisConn) unlink(t *redisTable, key string, row map[string]*string) error {
	for _, m := range t.maps {
		mk := t.keyName(m.name, m.cols, rowGetter(row))
		if mk == "" {
			continue
		}
		if _, err := rc.do("EVAL", sremKey, "3", mk, t.prefix+t.name+"::index::"+m.name, key); err != nil {
			return err
		}
	}
	return nil
}

type redisRows struct {
	cols []string
	vals [][]driver.Value
	i    int
}

func (r *redisRows) Columns() []string { return r.cols }
func (r *redisRows) Close() error      { return nil }

func (r *redisRows) Next(dest []driver.Value) error {
	if r.i >= len(r.vals) {
		return io.EOF
	}
	copy(dest, r.vals[r.i])
	r.i++
	return nil
}
