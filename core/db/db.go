// Package db is the database layer the modules share: Kamailio's db_url
// forms, the built-in drivers (SQLite, embedded; PostgreSQL through pgx;
// MySQL and MariaDB through go-sql-driver/mysql),
// Kamailio's table schemas and one pool per database.
//
// SQLite takes one writer at a time. Kamailio lets every worker write on its
// own connection and loses writes to "database is locked"; here every write
// to a SQLite file goes through one connection (WAL journal, busy timeout),
// so concurrent writers queue instead of failing, while reads use a pool.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Kamailio's built-in db_url defaults (DEFAULT_DB_URL, DEFAULT_RODB_URL):
// the modules that read a database and are given no db_url use them.
const (
	DefaultURL   = "mysql://kamailio:kamailiorw@localhost/kamailio"
	DefaultROURL = "mysql://kamailioro:kamailioro@localhost/kamailio"
)

// Driver names the kind of database a URL selects.
type Driver string

const (
	SQLite   Driver = "sqlite"
	Postgres Driver = "postgres"
	MySQL    Driver = "mysql" // and MariaDB
	Redis    Driver = "redis" // Kamailio's db_redis layout (redis.go)
)

// URL is a parsed db_url.
type URL struct {
	Raw    string
	Driver Driver
	DSN    string // what the Go driver opens
	Path   string // SQLite: the database file
}

// ParseURL reads a db_url as Kamailio writes it:
//
//	sqlite:///var/lib/kamailio/kamailio.db   (path /var/lib/...)
//	sqlite:////var/lib/kamailio/kamailio.db  (Kamailio's own form, same path)
//	sqlite://relative/file.db
//	postgres://user:pass@host[:port]/dbname
//	postgresql://...                         (accepted as postgres)
//	mysql://user:pass@host[:port]/dbname     (MySQL or MariaDB, over TCP)
//	redis://[user[:pass]@]host[:port]/N      (Redis database N, as db_redis keeps tables)
func ParseURL(s string) (URL, error) {
	u := URL{Raw: s}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return u, fmt.Errorf("db_url %q: want scheme://..., such as sqlite:///path/file.db or postgres://user:pass@host/db", s)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path := rest
		if strings.HasPrefix(path, "//") { // sqlite:////abs: Kamailio's form
			path = path[1:]
		}
		if path == "" {
			return u, fmt.Errorf("db_url %q: no file path", s)
		}
		u.Driver = SQLite
		u.Path = path
		// One statement may wait up to 10 s for the file lock; WAL lets reads
		// go on while the writer writes.
		u.DSN = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(0)"
	case "postgres", "postgresql", "pgsql":
		pu, err := url.Parse("postgres://" + rest)
		if err != nil {
			return u, fmt.Errorf("db_url %q: %w", s, err)
		}
		if strings.Trim(pu.Path, "/") == "" {
			return u, fmt.Errorf("db_url %q: no database name", s)
		}
		u.Driver = Postgres
		u.DSN = pu.String()
	case "mysql":
		mu, err := url.Parse("mysql://" + rest)
		if err != nil {
			return u, fmt.Errorf("db_url %q: %w", s, err)
		}
		name := strings.Trim(mu.Path, "/")
		if name == "" {
			return u, fmt.Errorf("db_url %q: no database name", s)
		}
		c := mysql.NewConfig()
		c.Net, c.Addr, c.DBName = "tcp", mu.Host, name
		if mu.Port() == "" {
			// Kamailio's libmysqlclient reaches "localhost" through the
			// server's socket; over TCP it is the server's default port.
			c.Addr = mu.Hostname() + ":3306"
		}
		if mu.User != nil {
			c.User = mu.User.Username()
			c.Passwd, _ = mu.User.Password()
		}
		c.Loc = time.Local // DATETIME holds wall-clock time, as Kamailio writes it
		// "name" quotes an identifier as in SQLite and PostgreSQL (the
		// schema's "partition" is a reserved word in MySQL).
		c.Params = map[string]string{"sql_mode": "CONCAT(@@sql_mode, ',ANSI_QUOTES')"}
		u.Driver = MySQL
		u.DSN = c.FormatDSN()
	case "redis":
		dsn, err := redisDSN(s, rest)
		if err != nil {
			return u, err
		}
		u.Driver, u.DSN = Redis, dsn
	case "text":
		return u, fmt.Errorf("db_url %q: db_text is not built in; use sqlite:// (one file, nothing to install)", s)
	default:
		return u, fmt.Errorf("db_url %q: unknown database %q (sqlite, postgres, mysql, redis)", s, scheme)
	}
	return u, nil
}

// OpenParam is Open for a module's db_url parameter: when the module was
// given none and the default does not open, the error says so.
func OpenParam(module, rawURL string) (*DB, error) {
	d, err := Open(rawURL)
	if err != nil && (rawURL == DefaultURL || rawURL == DefaultROURL) {
		return nil, fmt.Errorf("%w (Kamailio's default db_url: set modparam(\"%s\", \"db_url\", ...))", err, module)
	}
	return d, err
}

// DB is one database shared by the modules that name its URL.
type DB struct {
	URL    URL
	read   *sql.DB // queries
	write  *sql.DB // changes: one connection for SQLite, the same pool as read otherwise
	refs   int
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	cacheMu    sync.Mutex // opening the cache
	cacheTried atomic.Bool
	cache      atomic.Pointer[rowCache] // SQLite: QueryStrings' rows (rowcache.go)
}

var (
	openMu sync.Mutex
	open   = map[string]*DB{}
)

// Open returns the database of a db_url, opening it on first use. Each Open
// needs a Close.
func Open(rawURL string) (*DB, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if d := open[u.DSN]; d != nil {
		d.refs++
		return d, nil
	}
	d := &DB{URL: u, refs: 1, stmts: map[string]*sql.Stmt{}}
	switch u.Driver {
	case SQLite:
		if d.read, err = sql.Open("sqlite", u.DSN); err != nil {
			return nil, err
		}
		if d.write, err = sql.Open("sqlite", u.DSN); err != nil {
			d.read.Close()
			return nil, err
		}
		d.write.SetMaxOpenConns(1)
		d.read.SetMaxOpenConns(8)
		d.read.SetMaxIdleConns(8)
	case Postgres, MySQL:
		driver := "pgx"
		if u.Driver == MySQL {
			driver = "mysql"
		}
		if d.read, err = sql.Open(driver, u.DSN); err != nil {
			return nil, err
		}
		d.read.SetMaxOpenConns(16)
		d.read.SetMaxIdleConns(16)
		d.write = d.read
	case Redis:
		if d.read, err = sql.Open(redisDriverName, u.DSN); err != nil {
			return nil, err
		}
		d.read.SetMaxOpenConns(16)
		d.read.SetMaxIdleConns(16)
		d.write = d.read
	}
	d.read.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.write.PingContext(ctx); err != nil {
		d.closeConns()
		return nil, fmt.Errorf("%s: %w", u.redacted(), err)
	}
	open[u.DSN] = d
	return d, nil
}

// redacted is the URL without its password, for messages.
func (u URL) redacted() string {
	switch u.Driver {
	case Postgres:
		if pu, err := url.Parse(u.DSN); err == nil {
			return pu.Redacted()
		}
	case MySQL, Redis:
		if pu, err := url.Parse(u.Raw); err == nil {
			return pu.Redacted()
		}
	default:
		return u.Raw
	}
	return string(u.Driver)
}

func (d *DB) String() string { return d.URL.redacted() }

// Close releases one Open; the last closes the connections.
func (d *DB) Close() error {
	openMu.Lock()
	defer openMu.Unlock()
	d.refs--
	if d.refs > 0 {
		return nil
	}
	delete(open, d.URL.DSN)
	return d.closeConns()
}

func (d *DB) closeConns() error {
	d.cacheMu.Lock()
	if c := d.cache.Swap(nil); c != nil {
		c.close()
	}
	d.cacheMu.Unlock()
	d.stmtMu.Lock()
	for _, s := range d.stmts {
		s.Close()
	}
	d.stmts = map[string]*sql.Stmt{}
	d.stmtMu.Unlock()
	err := d.read.Close()
	if d.write != d.read {
		err = errors.Join(err, d.write.Close())
	}
	return err
}

// Rebind turns the ? placeholders of a query into the database's own
// ($1, $2... for PostgreSQL).
func (d *DB) Rebind(q string) string {
	if d.URL.Driver != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// stmt returns the prepared form of a query (written with ?), prepared once
// per database on the pool it runs on.
func (d *DB) stmt(ctx context.Context, write bool, q string) (*sql.Stmt, error) {
	key := q
	if write {
		key = "w:" + q
	}
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	if s := d.stmts[key]; s != nil {
		return s, nil
	}
	pool := d.read
	if write {
		pool = d.write
	}
	s, err := pool.PrepareContext(ctx, d.Rebind(q))
	if err != nil {
		return nil, err
	}
	d.stmts[key] = s
	return s, nil
}

// queryCtx is the context a query runs under. On SQLite the caller's
// deadline is dropped: a cancellable context costs two goroutines per
// query (database/sql's and the driver's watchers, started and woken on
// each), a futex wake-up or two per request on the path of every
// REGISTER; a query on a local file is bounded by the busy timeout
// instead, as Kamailio's db_sqlite is.
func (d *DB) queryCtx(ctx context.Context) context.Context {
	if d.URL.Driver == SQLite && ctx.Done() != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// Query runs a prepared read.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = d.queryCtx(ctx)
	s, err := d.stmt(ctx, false, q)
	if err != nil {
		return nil, err
	}
	defer slowQuery(time.Now(), q)
	return s.QueryContext(ctx, args...)
}

// QueryRow runs a prepared read of one row.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = d.queryCtx(ctx)
	s, err := d.stmt(ctx, false, q)
	if err != nil {
		// sql.Row carries no error of its own making: run it unprepared so
		// that Scan reports the same error.
		return d.read.QueryRowContext(ctx, d.Rebind(q), args...)
	}
	defer slowQuery(time.Now(), q)
	return s.QueryRowContext(ctx, args...)
}

// Exec runs a prepared change on the writer.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = d.queryCtx(ctx)
	s, err := d.stmt(ctx, true, q)
	if err != nil {
		return nil, err
	}
	defer slowQuery(time.Now(), q)
	return s.ExecContext(ctx, args...)
}

// RawQuery runs a read a script wrote (sqlops), unprepared: each text is
// new, and would only fill the statement cache.
func (d *DB) RawQuery(ctx context.Context, q string) (*sql.Rows, error) {
	ctx = d.queryCtx(ctx)
	defer slowQuery(time.Now(), q)
	return d.read.QueryContext(ctx, q)
}

// RawExec runs a change a script wrote (sqlops), unprepared, on the
// writer.
func (d *DB) RawExec(ctx context.Context, q string) (sql.Result, error) {
	ctx = d.queryCtx(ctx)
	defer slowQuery(time.Now(), q)
	return d.write.ExecContext(ctx, q)
}

// PrepareWrite prepares a change (written with ?) on the writer, for
// TxExec. It must run outside a transaction: with SQLite the transaction
// holds the one writer connection a prepare would wait for.
func (d *DB) PrepareWrite(ctx context.Context, q string) error {
	_, err := d.stmt(ctx, true, q)
	return err
}

// TxExec runs a change inside tx, with its statement from PrepareWrite
// when there is one.
func (d *DB) TxExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	ctx = d.queryCtx(ctx)
	d.stmtMu.Lock()
	s := d.stmts["w:"+q]
	d.stmtMu.Unlock()
	defer slowQuery(time.Now(), q)
	if s == nil {
		return tx.ExecContext(ctx, d.Rebind(q), args...)
	}
	return tx.StmtContext(ctx, s).ExecContext(ctx, args...)
}

// ExecScript runs an SQL script statement by statement, unprepared:
// Kamailio's schema scripts (kamdbctl's), whose statements end in ';' and
// have none inside a string.
func (d *DB) ExecScript(ctx context.Context, script string) error {
	for stmt := range strings.SplitSeq(script, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := d.write.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w\n%s", err, strings.TrimSpace(stmt))
		}
	}
	return nil
}

// KamailioScripts are Kamailio's kamdbctl scripts (in
// /usr/share/kamailio/<driver>) of the tables kemi makes: a database they
// made is one kemi's Init finds complete.
var KamailioScripts = []string{"standard-create.sql", "auth_db-create.sql", "usrloc-create.sql", "acc-create.sql",
	"alias_db-create.sql", "speeddial-create.sql", "domain-create.sql", "permissions-create.sql", "dispatcher-create.sql",
	"group-create.sql", "uri_db-create.sql", "uac-create.sql", "dialog-create.sql", "siptrace-create.sql", "avpops-create.sql", "secfilter-create.sql", "htable-create.sql",
	"topos-create.sql"}

// ExecFiles runs the SQL scripts dir/name, in order, with ExecScript; an
// error names the file.
func (d *DB) ExecFiles(ctx context.Context, dir string, names ...string) error {
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := d.ExecScript(ctx, string(b)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Tx runs f in one transaction on the writer: several changes, one commit.
func (d *DB) Tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := d.write.BeginTx(d.queryCtx(ctx), nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Columns lists the columns of a table, for start-up checks; an error when
// the table does not exist.
func (d *DB) Columns(ctx context.Context, table string) (map[string]bool, error) {
	if !identOK(table) {
		return nil, fmt.Errorf("table name %q: letters, digits and _ only", table)
	}
	rows, err := d.read.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1=0")
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", table, err)
	}
	cols := map[string]bool{}
	for _, n := range names {
		cols[strings.ToLower(n)] = true
	}
	return cols, nil
}

// RequireColumns is a start-up check: the error names the first missing
// column.
func (d *DB) RequireColumns(ctx context.Context, table string, need ...string) error {
	cols, err := d.Columns(ctx, table)
	if err != nil {
		return err
	}
	for _, c := range need {
		if !cols[strings.ToLower(c)] {
			return fmt.Errorf("table %s: no such column %s", table, c)
		}
	}
	return nil
}

// identOK accepts the table and column names modparams may give: they are
// put into SQL text, so nothing but identifiers.
func identOK(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Idents checks the table and column names a module's parameters give.
func Idents(names ...string) error {
	for _, n := range names {
		if err := Ident("table or column name", n); err != nil {
			return err
		}
	}
	return nil
}

// Conn is the database of a module that has a db_url: opened when the
// proxy starts (OpenParam, so that Kamailio's default URL is named when it
// fails), closed when it stops.
type Conn struct {
	Module, URL string
	DB          *DB
}

// Open opens it.
func (c *Conn) Open() (err error) {
	c.DB, err = OpenParam(c.Module, c.URL)
	return err
}

// Close closes it.
func (c *Conn) Close() {
	if c.DB != nil {
		c.DB.Close()
		c.DB = nil
	}
}

// Ident checks a table or column name from a modparam.
func Ident(what, s string) error {
	if !identOK(s) {
		return fmt.Errorf("%s %q: letters, digits and _ only", what, s)
	}
	return nil
}

// TimeFormat is how Kamailio writes DATETIME values: local wall-clock time.
const TimeFormat = "2006-01-02 15:04:05"

// FormatTime writes a time the way Kamailio's MySQL and PostgreSQL
// drivers do: the local wall-clock time as text.
func FormatTime(t time.Time) string { return t.Local().Format(TimeFormat) }

// TimeArg is t as a DATETIME argument, written the way Kamailio's driver
// for d writes it, so that Kamailio reads the rows kemi writes: on
// SQLite a Julian day number (db_sqlite binds a double; text would read
// back as its leading number, a year), elsewhere FormatTime's text.
func (d *DB) TimeArg(t time.Time) any {
	if d.URL.Driver == SQLite {
		return (float64(t.Unix())-0.5)/86400 + 2440587.5
	}
	return FormatTime(t)
}

// ParseTime reads a DATETIME column as scanned into an any: drivers return
// a time.Time (whose zone means nothing: the column holds a wall-clock
// time) or the text, read as that wall-clock time, local; or a number
// (SQLite), a Julian day as Kamailio writes it or a Unix time.
func ParseTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return wallClock(x), nil
	case int64: // a Unix time written by another tool
		return time.Unix(x, 0), nil
	case float64: // Kamailio's db_sqlite: a Julian day number
		return julianDay(x), nil
	case []byte:
		return parseTimeText(string(x))
	case string:
		return parseTimeText(x)
	}
	return time.Time{}, fmt.Errorf("time column: unexpected %T", v)
}

// julianDay is the time of a Julian day number as Kamailio's db_sqlite
// writes DATETIME values (timet_to_sqlite: (t - 0.5)/86400 + 2440587.5),
// rounded to the second it was written from (Kamailio's own reading
// truncates, and is a second early when the double rounds down).
func julianDay(d float64) time.Time {
	return time.Unix(int64(math.Round(86400*(d-2440587.5)+0.5)), 0)
}

func parseTimeText(s string) (time.Time, error) {
	for _, f := range []string{TimeFormat, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(f, s); err == nil {
			return wallClock(t), nil
		}
	}
	return time.Time{}, fmt.Errorf("time column: cannot read %q", s)
}

// wallClock is t's date and clock reading, in the local zone.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
}

// Complainer logs a recurring failure (a database down, a peer gone) at
// most once per interval, with the number of failures since the last
// line: an outage must not write a log line per request.
type Complainer struct {
	Every time.Duration // 0: 10 s
	mu    sync.Mutex
	next  time.Time
	n     int
}

// Log reports err, or counts it when a line was written less than Every ago.
func (c *Complainer) Log(log interface{ Error(string, ...any) }, msg string, err error) {
	c.mu.Lock()
	now := time.Now()
	c.n++
	if now.Before(c.next) {
		c.mu.Unlock()
		return
	}
	every := c.Every
	if every == 0 {
		every = 10 * time.Second
	}
	n := c.n
	c.n, c.next = 0, now.Add(every)
	c.mu.Unlock()
	log.Error(msg, "err", err.Error(), "failures", n, "next_report_in", every.String())
}

// Slow queries (Kamailio's latency_limit_db): a query that takes the limit
// or longer is logged with its first 50 characters.
var slow struct {
	limit atomic.Int64 // nanoseconds, 0 off
	log   atomic.Pointer[slog.Logger]
	level atomic.Int64
}

// SetSlowQueryLog sets latency_limit_db (0 turns it off) and where the
// lines go.
func SetSlowQueryLog(limit time.Duration, log *slog.Logger, level slog.Level) {
	slow.log.Store(log)
	slow.level.Store(int64(level))
	slow.limit.Store(int64(limit))
}

// SlowQueryLimit is latency_limit_db.
func SlowQueryLimit() time.Duration { return time.Duration(slow.limit.Load()) }

func slowQuery(start time.Time, q string) {
	lim := slow.limit.Load()
	if lim <= 0 {
		return
	}
	if d := time.Since(start); int64(d) >= lim {
		if len(q) > 50 {
			q = q[:50]
		}
		if log := slow.log.Load(); log != nil {
			log.Log(context.Background(), slog.Level(slow.level.Load()), "database query took too long", "query", q,
				"usec", d.Microseconds(), "limit_usec", time.Duration(lim).Microseconds())
		}
	}
}
