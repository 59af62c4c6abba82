// Package htable keeps named in-memory hash tables shared by all workers,
// like Kamailio's htable module: tables declared with
// modparam("htable", "htable", "name=>size=8;autoexpire=300;"), read and
// written as $sht(name=>key) and through the sht_* functions; items
// expire autoexpire seconds after they were last set.
package htable

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Table is one named table.
type Table struct {
	Name         string
	AutoExpire   time.Duration // 0: items never expire
	InitVal      router.Value  // what a missing item reads as (initval), Null if none
	UpdateExpire bool          // a set pushes the expiry back (updateexpire, default 1)
	DBTable      string        // dbtable: loaded from it at start
	DBMode       int           // dbmode 1: written back to DBTable at shutdown
	// Cols (cols='key,v1,v2'): the key column and the value columns, whose
	// values are packed "v1,v2" ('*' for NULL); such a table is not
	// written back
	Cols   []string
	shards [16]shard
	locks  [16]slotLock // sht_lock/sht_unlock, by the key's shard
}

// slotLock is a slot's lock of sht_lock: held by one worker at a time,
// again by the worker that holds it (Kamailio's slot locks are recursive
// within a process).
type slotLock struct {
	mu    sync.Mutex
	cond  sync.Cond
	owner *router.Worker
	n     int
}

func (l *slotLock) lock(w *router.Worker) {
	l.mu.Lock()
	if l.cond.L == nil {
		l.cond.L = &l.mu
	}
	for l.owner != nil && l.owner != w {
		l.cond.Wait()
	}
	l.owner = w
	l.n++
	l.mu.Unlock()
}

// unlock releases one hold of w; false when w does not hold the lock.
func (l *slotLock) unlock(w *router.Worker) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owner != w {
		return false
	}
	if l.n--; l.n == 0 {
		l.owner = nil
		if l.cond.L != nil {
			l.cond.Signal()
		}
	}
	return true
}

// slot is the lock of key's slot.
func (t *Table) slot(key []byte) *slotLock {
	return &t.locks[router.FNV1a(router.FNVOffset, key)%uint64(len(t.locks))]
}

type shard struct {
	mu sync.Mutex
	m  map[string]*item
}

type item struct {
	val     router.Value
	buf     []byte
	expires int64 // unix nanoseconds, 0 for never
}

// Module is the htable module of one proxy: its tables, declared by
// modparam and fixed at Init, and the sweeper of expired items.
type Module struct {
	tables map[string]*Table
	stopCh chan struct{}
	db     dbConf // db_url and the columns (db.go)
	conn   *db.DB // open when a table has a dbtable
	log    *slog.Logger
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

// Get returns the table named name, nil when no modparam declared it.
func (m *Module) Get(name string) *Table { return m.tables[name] }

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "htable",
		Params: []dispatch.Param{
			{Name: "htable", Kind: dispatch.Str, Multi: true, Doc: "name=>size=N;autoexpire=S;initval=N;updateexpire=0|1;dbtable=T;dbmode=0|1"},
			{Name: "timer_interval", Kind: dispatch.Int},
			dispatch.P("db_url", dispatch.Str, "", "the database of the tables with a dbtable (any kemi has, redis:// included)"),
			dispatch.P("key_name_column", dispatch.Str, "key_name", ""),
			dispatch.P("key_type_column", dispatch.Str, "key_type", "0: a value, 1: an item of an array"),
			dispatch.P("value_type_column", dispatch.Str, "value_type", "0: a string, 1: an integer"),
			dispatch.P("key_value_column", dispatch.Str, "key_value", ""),
			dispatch.P("expires_column", dispatch.Str, "expires", "a Unix time, read and written with db_expires"),
			dispatch.P("array_size_suffix", dispatch.Str, "::size", "the item holding an array's size: name::size"),
			dispatch.P("fetch_rows", dispatch.Int, "100", "accepted: the rows are read as they come"),
			dispatch.P("db_expires", dispatch.Int, "0", "1: the expires column is read at load and written at shutdown (tables with autoexpire)"),
		},
		New: func() dispatch.Module { return &Module{tables: map[string]*Table{}} },
	})
	router.RegisterPV("sht", router.PVClass{Arg: true, Parse: parseSht, Get: getSht, Set: setSht})
}

// Exports are KSR.htable, and the native functions that take
// "table=>key".
func (m *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "sht_get", Ret: dispatch.XVal, Fn: dispatch.VSS(func(c *router.Ctx, t, k string) router.Value { return m.get(c, t, k, router.Value{}) })},
		{Name: "sht_gete", Ret: dispatch.XVal, Fn: dispatch.VSS(func(c *router.Ctx, t, k string) router.Value { return m.get(c, t, k, router.StrValue("")) })},
		{Name: "sht_getw", Ret: dispatch.XVal, Fn: dispatch.VSS(func(c *router.Ctx, t, k string) router.Value { return m.get(c, t, k, router.StrValue("<null>")) })},
		{Name: "sht_sets", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, t, k, v string) int { return m.set(c, t, k, router.StrValue(v), -1) })},
		{Name: "sht_seti", Ret: dispatch.Int, Fn: dispatch.FSSI(func(c *router.Ctx, t, k string, v int) int { return m.set(c, t, k, router.IntValue(int64(v)), -1) })},
		{Name: "sht_setxs", Ret: dispatch.Int, Fn: dispatch.FSSSI(func(c *router.Ctx, t, k, v string, exp int) int { return m.set(c, t, k, router.StrValue(v), exp) })},
		{Name: "sht_setxi", Ret: dispatch.Int, Fn: dispatch.FSSII(func(c *router.Ctx, t, k string, v, exp int) int {
			return m.set(c, t, k, router.IntValue(int64(v)), exp)
		})},
		{Name: "sht_setex", Ret: dispatch.Int, Fn: dispatch.FSSI(m.setex)},
		{Name: "sht_rm", Ret: dispatch.Int, Fn: dispatch.FSS(m.rm)},
		{Name: "sht_is_null", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, t, k string) int {
			return dispatch.Result(m.get(c, t, k, router.Value{}).IsNull())
		})},
		{Name: "sht_inc", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, t, k string) int { return m.add(c, t, k, 1) })},
		{Name: "sht_dec", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, t, k string) int { return m.add(c, t, k, -1) })},
		{Name: "sht_reset", Ret: dispatch.Int, Fn: dispatch.FS(m.reset)},
		{Name: "sht_match_name", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, t, op, v string) int { return m.match(c, t, op, v, false, false) })},
		{Name: "sht_match_str_value", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, t, op, v string) int { return m.match(c, t, op, v, true, false) })},
		{Name: "sht_rm_name", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, t, op, v string) int { return m.match(c, t, op, v, false, true) })},
		{Name: "sht_rm_value", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, t, op, v string) int { return m.match(c, t, op, v, true, true) })},
		{Name: "sht_rm_name_re", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, t, re string) int { return m.match(c, t, "re", re, false, true) })},
		{Name: "sht_rm_value_re", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, t, re string) int { return m.match(c, t, "re", re, true, true) })},
		// sht_lock holds the key's slot until sht_unlock: a get and a set
		// between them are not interleaved with another worker's that
		// locks too (as Kamailio's, the other accesses do not wait)
		{Name: "sht_lock", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, t, k string) int { return m.lockKey(c, t, k, true) })},
		{Name: "sht_unlock", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, t, k string) int { return m.lockKey(c, t, k, false) })},
		{Name: "sht_lock", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, tk string) int {
			t, k, _ := strings.Cut(tk, "=>")
			return m.lockKey(c, t, k, true)
		})},
		{Name: "sht_unlock", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, tk string) int {
			t, k, _ := strings.Cut(tk, "=>")
			return m.lockKey(c, t, k, false)
		})},
		// Native faces take "table=>key" / "table=>regex".
		{Name: "sht_rm_name_re", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, tk string) int {
			t, k, _ := strings.Cut(tk, "=>")
			return m.match(c, t, "re", k, false, true)
		})},
		{Name: "sht_rm_value_re", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, tk string) int {
			t, k, _ := strings.Cut(tk, "=>")
			return m.match(c, t, "re", k, true, true)
		})},
		{Name: "sht_rm", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, tk string) int {
			t, k, _ := strings.Cut(tk, "=>")
			return m.rm(c, t, k)
		})},
	}, m.iteratorExports()...)
}

// Define parses a table definition: "name=>size=8;autoexpire=300;initval=0;".
func Define(def string) (*Table, error) {
	name, attrs, ok := strings.Cut(def, "=>")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return nil, fmt.Errorf("htable %q: want name=>attributes", def)
	}
	t := &Table{Name: name, UpdateExpire: true}
	for _, a := range strings.Split(attrs, ";") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		k, v, _ := strings.Cut(a, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		n, err := strconv.Atoi(v)
		switch k {
		case "size":
			if err != nil || n < 1 || n > 31 {
				return nil, fmt.Errorf("htable %s: size %q: want 1..31", name, v)
			}
		case "autoexpire":
			if err != nil || n < 0 {
				return nil, fmt.Errorf("htable %s: autoexpire %q: want seconds", name, v)
			}
			t.AutoExpire = time.Duration(n) * time.Second
		case "initval":
			if err != nil {
				return nil, fmt.Errorf("htable %s: initval %q: want an integer", name, v)
			}
			t.InitVal = router.IntValue(int64(n))
		case "updateexpire":
			t.UpdateExpire = v != "0"
		case "dbtable":
			if err := db.Ident("htable "+name+" dbtable", v); err != nil {
				return nil, err
			}
			t.DBTable = v
		case "dbmode":
			if err != nil || n < 0 || n > 1 {
				return nil, fmt.Errorf("htable %s: dbmode %q: want 0 or 1", name, v)
			}
			t.DBMode = n
		case "cols":
			for _, c := range strings.Split(strings.Trim(v, `'"`), ",") {
				c = strings.TrimSpace(c)
				if err := db.Ident("htable "+name+" cols", c); err != nil {
					return nil, err
				}
				t.Cols = append(t.Cols, c)
			}
			if len(t.Cols) < 2 {
				return nil, fmt.Errorf("htable %s: cols %q: there must be at least two columns (the key, a value)", name, v)
			}
		case "dmqreplicate", "dbnocols", "coldelim", "colnull":
		default:
			return nil, fmt.Errorf("htable %s: unknown attribute %q", name, k)
		}
	}
	for i := range t.shards {
		t.shards[i].m = map[string]*item{}
	}
	return t, nil
}

// Init defines the tables.
func (m *Module) Init(p *dispatch.Params) error {
	defs := map[string]*Table{}
	for _, v := range p.All("htable") {
		t, err := Define(v.S)
		if err != nil {
			return err
		}
		if defs[t.Name] != nil {
			return fmt.Errorf("htable %s defined twice", t.Name)
		}
		defs[t.Name] = t
	}
	m.tables = defs
	m.db = dbConf{url: p.Str("db_url", ""), name: p.Str("key_name_column", "key_name"), ktype: p.Str("key_type_column", "key_type"),
		vtype: p.Str("value_type_column", "value_type"), value: p.Str("key_value_column", "key_value"),
		expiresCol: p.Str("expires_column", "expires"), sizeSuffix: p.Str("array_size_suffix", "::size"), expires: p.Int("db_expires", 0) != 0}
	return db.Idents(m.db.name, m.db.ktype, m.db.vtype, m.db.value, m.db.expiresCol)
}

// Start loads the tables kept in a database and starts the sweeper.
func (m *Module) Start(env *router.Env) error {
	m.log = env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	if err := m.openDB(func(s string) { m.log.Info(s) }); err != nil {
		return err
	}
	m.stopCh = make(chan struct{})
	go m.sweeper(m.stopCh)
	return nil
}

// Stop stops the sweeper and writes the tables of dbmode 1 back.
func (m *Module) Stop() {
	if m.stopCh != nil {
		close(m.stopCh)
		m.stopCh = nil
	}
	if m.conn == nil {
		return
	}
	for _, t := range m.tables {
		if t.DBTable != "" && t.DBMode == 1 && len(t.Cols) == 0 {
			if err := m.store(t); err != nil {
				m.log.Error(err.Error())
			}
		}
	}
	m.conn.Close()
	m.conn = nil
}

// sweeper frees expired items; reads already ignore them.
func (m *Module) sweeper(done chan struct{}) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			now := time.Now().UnixNano()
			for _, t := range m.tables {
				for i := range t.shards {
					s := &t.shards[i]
					s.mu.Lock()
					for k, it := range s.m {
						if it.expires != 0 && it.expires <= now {
							delete(s.m, k)
						}
					}
					s.mu.Unlock()
				}
			}
		}
	}
}

func (t *Table) shard(key []byte) *shard {
	return &t.shards[router.FNV1a(router.FNVOffset, key)%uint64(len(t.shards))]
}

// Get reads an item into dst (its string bytes copied); ok false when
// absent or expired.
func (t *Table) Get(key []byte, dst []byte) (router.Value, []byte, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.m[string(key)]
	if it == nil {
		return router.Value{}, dst, false
	}
	if it.expires != 0 && it.expires <= time.Now().UnixNano() {
		delete(s.m, string(key))
		return router.Value{}, dst, false
	}
	v := it.val
	if v.Kind == router.Str {
		dst = v.AppendTo(dst[:0])
		v = router.BytesValue(dst)
	}
	return v, dst, true
}

// Set stores v (Null removes); expire > 0 sets the item's own lifetime,
// 0 never, < 0 the table's autoexpire.
func (t *Table) Set(key []byte, v router.Value, expire time.Duration) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.Kind == router.Null {
		delete(s.m, string(key))
		return
	}
	it := s.m[string(key)]
	if it == nil {
		it = &item{}
		s.m[string(key)] = it
	} else if !t.UpdateExpire && expire < 0 && it.expires != 0 {
		expire = 0
		defer func(e int64) { it.expires = e }(it.expires)
	}
	it.val = v
	if v.Kind == router.Str {
		it.buf = v.AppendTo(it.buf[:0])
		it.val = router.BytesValue(it.buf)
	}
	if expire < 0 {
		expire = t.AutoExpire
	}
	it.expires = 0
	if expire > 0 {
		it.expires = time.Now().Add(expire).UnixNano()
	}
}

// Add adds n to an integer item (missing: initval or 0) and returns the
// result; ok false when the item is a string.
func (t *Table) Add(key []byte, n int64) (int64, bool) {
	s := t.shard(key)
	s.mu.Lock()
	it := s.m[string(key)]
	var cur int64
	if it != nil && (it.expires == 0 || it.expires > time.Now().UnixNano()) {
		if it.val.Kind != router.Int {
			s.mu.Unlock()
			return 0, false
		}
		cur = it.val.I
	} else if t.InitVal.Kind == router.Int {
		cur = t.InitVal.I
	}
	s.mu.Unlock()
	t.Set(key, router.IntValue(cur+n), -1)
	return cur + n, true
}

// Each calls f for every live item until f returns false; f may not use
// the table.
func (t *Table) Each(f func(key string, v router.Value) bool) {
	t.each(func(k string, it *item) bool { return f(k, it.val) })
}

// each is Each with the items themselves (their expiry).
func (t *Table) each(f func(key string, it *item) bool) {
	now := time.Now().UnixNano()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, it := range s.m {
			if it.expires != 0 && it.expires <= now {
				continue
			}
			if !f(k, it) {
				s.mu.Unlock()
				return
			}
		}
		s.mu.Unlock()
	}
}

// lockKey is sht_lock (lock) and sht_unlock.
func (m *Module) lockKey(c *router.Ctx, name, key string, lock bool) int {
	fn := "sht_unlock"
	if lock {
		fn = "sht_lock"
	}
	t := m.table(c, name, fn)
	if t == nil {
		return -1
	}
	l := t.slot([]byte(key))
	if lock {
		l.lock(c.W)
		return 1
	}
	if !l.unlock(c.W) {
		c.Log().Error("htable: sht_unlock: the slot of "+strconv.Quote(key)+" is not locked by this worker", "route", c.Route)
		return -1
	}
	return 1
}

func (m *Module) table(c *router.Ctx, name, fn string) *Table {
	t := m.Get(name)
	if t == nil {
		c.Log().Error("htable: "+fn+": no table "+strconv.Quote(name), "route", c.Route)
	}
	return t
}

func (m *Module) get(c *router.Ctx, name, key string, def router.Value) router.Value {
	t := m.table(c, name, "sht_get")
	if t == nil {
		return def
	}
	v, buf, ok := t.Get([]byte(key), c.W.Scratch)
	c.W.Scratch = buf
	if !ok {
		if t.InitVal.Kind != router.Null {
			return t.InitVal
		}
		return def
	}
	return v
}

func (m *Module) set(c *router.Ctx, name, key string, v router.Value, expire int) int {
	t := m.table(c, name, "sht_set")
	if t == nil {
		return -1
	}
	exp := time.Duration(-1)
	if expire >= 0 {
		exp = time.Duration(expire) * time.Second
	}
	t.Set([]byte(key), v, exp)
	return 1
}

func (m *Module) setex(c *router.Ctx, name, key string, expire int) int {
	t := m.table(c, name, "sht_setex")
	if t == nil {
		return -1
	}
	v, _, ok := t.Get([]byte(key), nil)
	if !ok {
		return -1
	}
	t.Set([]byte(key), v, time.Duration(expire)*time.Second)
	return 1
}

func (m *Module) rm(c *router.Ctx, name, key string) int {
	t := m.table(c, name, "sht_rm")
	if t == nil {
		return -1
	}
	t.Set([]byte(key), router.Value{}, 0)
	return 1
}

func (m *Module) add(c *router.Ctx, name, key string, n int64) int {
	t := m.table(c, name, "sht_inc")
	if t == nil {
		return -1
	}
	v, ok := t.Add([]byte(key), n)
	if !ok {
		return -1
	}
	return int(v)
}

func (m *Module) reset(c *router.Ctx, name string) int {
	t := m.table(c, name, "sht_reset")
	if t == nil {
		return -1
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
	return 1
}

// match compares the names (or string values) of the items with v by op:
// "eq", "ne", "re" (regular expression), "sw" (starts with). It reports a
// match, or with remove, removes the matching items.
func (m *Module) match(c *router.Ctx, name, op, v string, values, remove bool) int {
	t := m.table(c, name, "sht_match")
	if t == nil {
		return -1
	}
	var test func(s string) bool
	switch op {
	case "eq":
		test = func(s string) bool { return s == v }
	case "ne":
		test = func(s string) bool { return s != v }
	case "sw":
		test = func(s string) bool { return strings.HasPrefix(s, v) }
	case "re":
		rx, err := router.Regexp(v)
		if err != nil {
			c.Log().Error("htable: "+err.Error(), "route", c.Route)
			return -1
		}
		test = rx.MatchString
	default:
		c.Log().Error("htable: unknown operator "+strconv.Quote(op)+" (eq, ne, re, sw)", "route", c.Route)
		return -1
	}
	if !values && op == "eq" && !remove {
		_, _, ok := t.Get([]byte(v), nil) // the common case, without a scan
		return dispatch.Result(ok)
	}
	found := false
	var gone []string
	t.Each(func(k string, val router.Value) bool {
		s := k
		if values {
			if val.Kind != router.Str {
				return true
			}
			s = val.String()
		}
		if test(s) {
			found = true
			if !remove {
				return false
			}
			gone = append(gone, k)
		}
		return true
	})
	for _, k := range gone {
		t.Set([]byte(k), router.Value{}, 0)
	}
	return dispatch.Result(found)
}

// $sht(table=>key): the key may hold pseudo-variables ($sht(ipban=>$si)).
type shtRef struct {
	name string
	key  *router.Format
	t    atomic.Pointer[Table] // name's table, once found
}

var errShtName = errors.New("want $sht(table=>key)")

func parseSht(pv *router.PV) error {
	name, key, ok := strings.Cut(pv.Arg, "=>")
	if !ok || name == "" {
		return errShtName
	}
	f, err := router.ParseFormat(key)
	if err != nil {
		return err
	}
	pv.Data = &shtRef{name: name, key: f}
	return nil
}

// table is the table a $sht names, found in the proxy's htable module at
// its first use (a parsed pseudo-variable belongs to one proxy's script
// or worker; the class is registered for the whole process).
func (r *shtRef) table(c *router.Ctx) (*Table, error) {
	if t := r.t.Load(); t != nil {
		return t, nil
	}
	m, _ := c.Env().Module("htable").(*Module)
	if m == nil {
		return nil, errors.New(`$sht needs loadmodule "htable.so"`)
	}
	t := m.Get(r.name)
	if t == nil {
		return nil, fmt.Errorf("$sht: no table %q (modparam(\"htable\", \"htable\", \"%s=>...\"))", r.name, r.name)
	}
	r.t.Store(t)
	return t, nil
}

func getSht(c *router.Ctx, pv *router.PV) router.Value {
	r := pv.Data.(*shtRef)
	t, err := r.table(c)
	if err != nil {
		c.Log().Error("htable: "+err.Error(), "route", c.Route)
		return router.Value{}
	}
	w := c.W
	w.Scratch = r.key.Append(w.Scratch[:0], c)
	v, _, ok := t.Get(w.Scratch, nil) // a string value gets its own copy
	if !ok {
		return t.InitVal
	}
	return v
}

func setSht(c *router.Ctx, pv *router.PV, v router.Value) error {
	r := pv.Data.(*shtRef)
	t, err := r.table(c)
	if err != nil {
		return err
	}
	w := c.W
	w.Scratch = r.key.Append(w.Scratch[:0], c)
	t.Set(w.Scratch, v, -1)
	return nil
}
