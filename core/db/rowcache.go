package db

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A SQLite file's lookups answered from memory while the file is
// unchanged. SQLite itself keeps its page cache across transactions by the
// same test: a read transaction compares the file's change counter
// (rollback journal) or the WAL-index header (WAL) with the one its cache
// was read under. Here the test is made before the query with raw system
// calls on descriptors of our own (one pread of the WAL-index header), and
// a row read under a state is answered from memory while the state holds.
// A query through SQLite costs a read transaction, the shared-memory lock
// and unlock (fcntl), the VDBE and database/sql's bookkeeping, some 40 µs of
// the process's CPU per REGISTER: most of it in waking the Go runtime's
// monitor thread, which every system call made through package syscall
// does when the process was idle (BENCHMARKS.md, "The subscriber lookup").
//
// The WAL-index header identifies the content while the WAL file lives:
// each commit appends frames (mxFrame grows) and a WAL started anew has new
// salts. The WAL lives while any connection to the file is open, so the
// cache holds one connection open for its life; a write from any process
// (kamctl, Kamailio beside kemi) changes the header and empties the cache.

// maxCachedRows bounds a cache: past it the cache starts empty again.
const maxCachedRows = 1 << 16

// rowCache holds the rows read under one state of the file.
type rowCache struct {
	st  *stamper
	pin *sql.Conn // keeps the WAL and its index alive

	mu    sync.RWMutex
	state stamp
	rows  map[string]cachedRow

	hits, misses atomic.Uint64
}

type cachedRow struct {
	found bool
	vals  []sql.NullString
}

// openRowCache makes the cache of the SQLite file at path, read through
// pool; nil when the file cannot be watched (in memory, not readable, not
// on Linux).
func openRowCache(ctx context.Context, pool *sql.DB, path string) *rowCache {
	st := openStamper(path)
	if st == nil {
		return nil
	}
	pin, err := pool.Conn(ctx)
	if err == nil {
		// A read: in WAL mode the connection holds the file's shared lock
		// from its first read transaction on, and the WAL with it.
		var v int
		err = pin.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v)
	}
	if err != nil {
		if pin != nil {
			pin.Close()
		}
		st.close()
		return nil
	}
	return &rowCache{st: st, pin: pin, rows: map[string]cachedRow{}}
}

func (c *rowCache) close() {
	c.pin.Close()
	c.st.close()
}

// lookup answers the row of key under the file's current state s.
func (c *rowCache) lookup(key []byte, s stamp, dest []sql.NullString) (found, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.state != s {
		return false, false
	}
	r, ok := c.rows[string(key)]
	if !ok || len(r.vals) != len(dest) {
		return false, false
	}
	copy(dest, r.vals)
	return r.found, true
}

// store keeps the row of key read under state s (read before the query:
// a change that came between is seen by the next lookup as a new state).
func (c *rowCache) store(key string, s stamp, found bool, vals []sql.NullString) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != s || len(c.rows) >= maxCachedRows {
		clear(c.rows)
		c.state = s
	}
	c.rows[key] = cachedRow{found: found, vals: append([]sql.NullString(nil), vals...)}
}

// QueryTimeout bounds a QueryStrings on a database server when ctx has
// no deadline of its own (a SQLite query is bounded by its busy timeout).
const QueryTimeout = 5 * time.Second

// QueryStrings reads one row of text columns into dest (NULL as not
// Valid), found false when no row matches. On SQLite the row comes from
// memory while the file is unchanged since it was read (see above);
// other databases are asked each time, within QueryTimeout unless ctx
// has a deadline.
func (d *DB) QueryStrings(ctx context.Context, q string, args []string, dest []sql.NullString) (found bool, err error) {
	c := d.rowCache(ctx)
	var kb [256]byte
	var key []byte
	var s stamp
	cached := false
	if c != nil {
		if s, cached = c.st.read(); cached {
			key = appendKey(kb[:0], q, args)
			if found, ok := c.lookup(key, s, dest); ok {
				c.hits.Add(1)
				return found, nil
			}
			c.misses.Add(1)
		}
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a
	}
	ptrs := make([]any, len(dest))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	if _, ok := ctx.Deadline(); !ok && d.URL.Driver != SQLite {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, QueryTimeout)
		defer cancel()
	}
	err = d.QueryRow(ctx, q, vals...).Scan(ptrs...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		found, err = false, nil
	case err == nil:
		found = true
	default:
		return false, err
	}
	// Kept only when the file is still as it was before the query: a row
	// read across a commit is not kept, and a slow query does not put an
	// older state back over a newer one.
	if cached {
		if now, ok := c.st.read(); ok && now == s {
			c.store(string(key), s, found, dest)
		}
	}
	return found, nil
}

// CacheCounts is how many QueryStrings were answered from memory and how
// many asked the database while the cache watched the file.
func (d *DB) CacheCounts() (hits, misses uint64) {
	c := d.cache.Load()
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}

// rowCache is d's cache, opened on first use; nil for a database that is
// not a SQLite file or cannot be watched.
func (d *DB) rowCache(ctx context.Context) *rowCache {
	if d.URL.Driver != SQLite || d.URL.Path == "" {
		return nil
	}
	if d.cacheTried.Load() {
		return d.cache.Load()
	}
	d.cacheMu.Lock()
	defer d.cacheMu.Unlock()
	if !d.cacheTried.Load() {
		d.cache.Store(openRowCache(ctx, d.read, d.URL.Path))
		d.cacheTried.Store(true)
	}
	return d.cache.Load()
}

// appendKey appends a query and its arguments, the key of their row.
func appendKey(b []byte, q string, args []string) []byte {
	b = append(b, q...)
	for _, a := range args {
		b = append(b, 0)
		b = append(b, a...)
	}
	return b
}

// stamp is a state of a SQLite file: its journal mode (1 rollback
// journal, 2 WAL) and then the file change counter or the WAL-index
// header.
type stamp [1 + walHdrSize]byte

// SQLite's file formats (https://www.sqlite.org/fileformat2.html,
// https://www.sqlite.org/walformat.html).
const (
	dbHdrSize   = 100
	walHdrSize  = 48 // one copy of the WAL-index header; the -shm file starts with two
	walCksumOff = 40 // the header's checksum follows what it sums
)

// dbStamp reads the state from the database file's header; wal reports
// that the file is in WAL mode and the state is in its WAL-index.
func dbStamp(hdr []byte) (s stamp, wal, ok bool) {
	if len(hdr) < dbHdrSize || string(hdr[:16]) != "SQLite format 3\x00" {
		return s, false, false
	}
	switch hdr[18] { // write version
	case 1:
		s[0] = 1
		copy(s[1:5], hdr[24:28]) // file change counter
		return s, false, true
	case 2:
		return s, true, true
	}
	return s, false, false
}

// walStamp reads the state from the start of the -shm file: both copies
// of the WAL-index header alike, initialised and with a right checksum
// (SQLite's own test, walIndexTryHdr), else not ok: a writer is updating
// it or it is being rebuilt.
func walStamp(shm []byte) (s stamp, ok bool) {
	if len(shm) < 2*walHdrSize {
		return s, false
	}
	h := shm[:walHdrSize]
	if string(h) != string(shm[walHdrSize:2*walHdrSize]) || h[12] == 0 {
		return s, false
	}
	var s1, s2 uint32
	for i := 0; i < walCksumOff; i += 8 {
		s1 += binary.NativeEndian.Uint32(h[i:]) + s2
		s2 += binary.NativeEndian.Uint32(h[i+4:]) + s1
	}
	if s1 != binary.NativeEndian.Uint32(h[walCksumOff:]) || s2 != binary.NativeEndian.Uint32(h[walCksumOff+4:]) {
		return s, false
	}
	s[0] = 2
	copy(s[1:], h)
	return s, true
}
