package usrloc

import (
	"context"
	"database/sql"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
)

// Contact is one binding of an address of record.
type Contact struct {
	URI          string // the Contact URI
	Received     string // where the REGISTER came from, when behind NAT
	Path         string // the Path header values, comma-separated
	Expires      int64  // Unix seconds; 0: never (a static contact)
	Q            int    // q-value × 1000, -1 when not given
	CallID       string
	CSeq         int
	Flags        int
	CFlags       int // branch flags saved with the contact
	UserAgent    string
	Socket       string // the local socket it registered on: "udp:127.0.0.1:5060"
	Methods      int    // allowed methods bitmask, -1 for all
	Instance     string // +sip.instance
	RegID        int
	RUID         string // unique id of the binding
	LastModified int64

	state uint8 // db_mode 2: what the database still lacks
}

// state values for write-back.
const (
	inSync uint8 = iota
	toInsert
	toUpdate
)

// Alive reports whether the contact has not expired at now.
func (c *Contact) Alive(now int64) bool { return c.Expires == 0 || c.Expires > now }

// Record is an address of record and its contacts, highest q first, then
// newest first.
type Record struct {
	AOR      string
	Contacts []*Contact
	ops      []op // database changes made by the current Update
	u        *Module
}

type opKind uint8

const (
	opInsert opKind = iota
	opUpdate
	opDelete
)

type op struct {
	kind opKind
	c    *Contact
}

// Insert adds a binding; its RUID is made here.
func (r *Record) Insert(c *Contact) {
	c.RUID = r.u.newRUID()
	r.Contacts = append(r.Contacts, c)
	r.sort()
	r.ops = append(r.ops, op{opInsert, c})
	if r.u.set.mode != DBOnly {
		r.u.Stats.Contacts.Add(1)
	}
}

// Updated records that a binding changed.
func (r *Record) Updated(c *Contact) {
	r.sort()
	r.ops = append(r.ops, op{opUpdate, c})
}

// Delete removes binding i.
func (r *Record) Delete(i int) {
	c := r.Contacts[i]
	r.Contacts = slices.Delete(r.Contacts, i, i+1)
	r.ops = append(r.ops, op{opDelete, c})
	if r.u.set.mode != DBOnly {
		r.u.Stats.Contacts.Add(-1)
	}
}

func (r *Record) sort() {
	slices.SortStableFunc(r.Contacts, func(a, b *Contact) int {
		if a.Q != b.Q {
			return b.Q - a.Q
		}
		return int(b.LastModified - a.LastModified)
	})
}

// Find is the index of the binding with this Contact URI (and Call-ID in
// matching_mode 1), -1 when none.
func (r *Record) Find(uri, callID string, matchCallID bool) int {
	for i, c := range r.Contacts {
		if c.URI == uri && (!matchCallID || c.CallID == callID) {
			return i
		}
	}
	return -1
}

// FindInstance is the binding of a +sip.instance and reg-id (Kamailio's
// get_ucontact_by_instance: RFC 5626's new flow replaces the old one of
// the same registration, whatever its URI); without an instance, the one
// of uri as Find.
func (r *Record) FindInstance(uri, instance string, regID int, callID string, matchCallID bool) int {
	if instance == "" {
		return r.Find(uri, callID, matchCallID)
	}
	want := strings.Trim(instance, "<>")
	for i, c := range r.Contacts {
		if c.Instance != "" && c.RegID == regID && strings.Trim(c.Instance, "<>") == want {
			return i
		}
	}
	return -1
}

const numShards = 64

// Domain is one location table.
type Domain struct {
	Name   string
	u      *Module
	q      queries
	shards [numShards]shard

	delMu   sync.Mutex
	deleted []string // db_mode 2: RUIDs to delete at the next write-back
}

type shard struct {
	mu      sync.Mutex
	records map[string]*Record
}

var seed = maphash.MakeSeed()

func (d *Domain) shard(aor string) *shard {
	return &d.shards[maphash.String(seed, aor)%numShards]
}

// Fetch appends copies of the live contacts of aor to dst, in lookup
// order. In db_mode 3 it reads the database.
func (d *Domain) Fetch(aor string, now time.Time, dst []Contact) ([]Contact, error) {
	n := now.Unix()
	if d.u.set.mode == DBOnly {
		r, err := d.loadRecord(context.Background(), aor)
		if err != nil {
			return dst, err
		}
		for _, c := range r.Contacts {
			if c.Alive(n) {
				dst = append(dst, *c)
			}
		}
		return dst, nil
	}
	s := d.shard(aor)
	s.mu.Lock()
	if r := s.records[aor]; r != nil {
		for _, c := range r.Contacts {
			if c.Alive(n) {
				dst = append(dst, *c)
			}
		}
	}
	s.mu.Unlock()
	return dst, nil
}

// DeleteContacts removes the bindings of aor that match says to, and
// reports whether there were any (ul.rm, registrar's unregister).
func (d *Domain) DeleteContacts(aor string, match func(c *Contact) bool) (found bool, err error) {
	err = d.Update(aor, func(r *Record) error {
		for i := len(r.Contacts) - 1; i >= 0; i-- {
			if match(r.Contacts[i]) {
				r.Delete(i)
				found = true
			}
		}
		return nil
	})
	return found, err
}

// Update runs f on the record of aor (empty when it has none) under the
// record's lock, then applies what f changed to the database as db_mode
// says. An error from the database is returned after the memory change
// stays made: the binding is served, and the caller answers with an error.
func (d *Domain) Update(aor string, f func(r *Record) error) error {
	u := d.u
	if u.set.mode == DBOnly {
		return d.updateDB(aor, f)
	}
	s := d.shard(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[aor]
	if r == nil {
		r = &Record{AOR: aor, u: u}
	}
	r.ops = r.ops[:0]
	err := f(r)
	if len(r.Contacts) == 0 {
		delete(s.records, aor)
	} else {
		s.records[aor] = r
	}
	if len(r.ops) == 0 {
		return err
	}
	switch u.set.mode {
	case WriteThrough:
		// Under the record's lock, so that two changes of one AOR reach
		// the database in the order they were made.
		if werr := d.write(aor, r.ops); werr != nil {
			return errors.Join(err, werr)
		}
	case WriteBack:
		for _, o := range r.ops {
			switch o.kind {
			case opInsert:
				o.c.state = toInsert
			case opUpdate:
				if o.c.state == inSync {
					o.c.state = toUpdate
				}
			case opDelete:
				if o.c.state != toInsert {
					d.delMu.Lock()
					d.deleted = append(d.deleted, o.c.RUID)
					d.delMu.Unlock()
				}
			}
		}
	}
	r.ops = r.ops[:0]
	return err
}

// updateDB is Update for db_mode 3: the record is read from the database,
// changed, and written back.
func (d *Domain) updateDB(aor string, f func(r *Record) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := d.loadRecord(ctx, aor)
	if err != nil {
		return err
	}
	err = f(r)
	if len(r.ops) > 0 {
		if werr := d.write(aor, r.ops); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// expire removes the contacts that expired at now.
func (d *Domain) expire(now time.Time) {
	n := now.Unix()
	if d.u.set.mode == DBOnly {
		d.deleteExpiredDB(n)
		return
	}
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		var gone []op
		for aor, r := range s.records {
			for j := len(r.Contacts) - 1; j >= 0; j-- {
				c := r.Contacts[j]
				if c.Alive(n) {
					continue
				}
				r.Contacts = slices.Delete(r.Contacts, j, j+1)
				d.u.Stats.Contacts.Add(-1)
				d.u.Stats.Expired.Add(1)
				if d.u.set.mode == WriteBack && c.state != toInsert {
					d.delMu.Lock()
					d.deleted = append(d.deleted, c.RUID)
					d.delMu.Unlock()
				}
				gone = append(gone, op{opDelete, c})
			}
			if len(r.Contacts) == 0 {
				delete(s.records, aor)
			}
		}
		s.mu.Unlock()
		if d.u.set.mode == WriteThrough && len(gone) > 0 {
			if err := d.write("", gone); err != nil {
				d.u.Stats.DBErrors.Add(1)
				d.u.log.Error("usrloc: delete of expired contacts failed", "table", d.Name, "err", err.Error())
			}
		}
	}
}

// Records calls f with a copy of every record's live contacts (for
// ul.dump and tests); the order is unspecified.
func (d *Domain) Records(now time.Time, f func(aor string, cs []Contact)) error {
	if d.u.set.mode == DBOnly {
		return errors.New("usrloc: db_mode 3 keeps nothing in memory")
	}
	n := now.Unix()
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for aor, r := range s.records {
			var cs []Contact
			for _, c := range r.Contacts {
				if c.Alive(n) {
					cs = append(cs, *c)
				}
			}
			if len(cs) > 0 {
				f(aor, cs)
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// The database side.

// queries are a location table's SQL, written once when the table is
// first used (with ?: core/db prepares them for the database).
type queries struct {
	insert, update, delete, deleteExpired, selectAll, selectUser, selectUserDomain string
}

const contactColumns = "ruid, username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, instance, reg_id"

func newQueries(table string) queries {
	sel := "SELECT " + contactColumns + " FROM " + table
	return queries{
		insert: "INSERT INTO " + table + " (" + contactColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		update: "UPDATE " + table + " SET contact = ?, received = ?, path = ?, expires = ?, q = ?, callid = ?, cseq = ?, last_modified = ?, " +
			"flags = ?, cflags = ?, user_agent = ?, socket = ?, methods = ?, instance = ?, reg_id = ? WHERE ruid = ?",
		delete: "DELETE FROM " + table + " WHERE ruid = ?",
		// Permanent contacts carry the epoch: they are kept.
		deleteExpired:    "DELETE FROM " + table + " WHERE expires <= ? AND expires > ?",
		selectAll:        sel,
		selectUser:       sel + " WHERE username = ?",
		selectUserDomain: sel + " WHERE username = ? AND domain = ?",
	}
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// expiresCol is the expires column of a contact expiring at e (Unix).
func (d *Domain) expiresCol(e int64) any {
	// Kamailio writes a permanent contact's expires (0) as the epoch.
	return d.u.db.TimeArg(time.Unix(e, 0))
}

func qCol(q int) float64 {
	if q < 0 {
		return -1
	}
	return float64(q) / 1000
}

func methodsCol(m int) any {
	if m < 0 {
		return nil
	}
	return m
}

// exec runs one change on a transaction.
func (d *Domain) exec(ctx context.Context, tx *sql.Tx, aor string, o op) error {
	c := o.c
	var err error
	switch o.kind {
	case opInsert:
		user, domain := d.u.splitAOR(aor)
		_, err = d.u.db.TxExec(ctx, tx, d.q.insert, c.RUID, user, domain, c.URI, nullStr(c.Received), nullStr(c.Path),
			d.expiresCol(c.Expires), qCol(c.Q), c.CallID, c.CSeq, d.u.db.TimeArg(time.Unix(c.LastModified, 0)), c.Flags, c.CFlags,
			c.UserAgent, nullStr(c.Socket), methodsCol(c.Methods), nullStr(c.Instance), c.RegID)
	case opUpdate:
		_, err = d.u.db.TxExec(ctx, tx, d.q.update, c.URI, nullStr(c.Received), nullStr(c.Path),
			d.expiresCol(c.Expires), qCol(c.Q), c.CallID, c.CSeq, d.u.db.TimeArg(time.Unix(c.LastModified, 0)), c.Flags, c.CFlags,
			c.UserAgent, nullStr(c.Socket), methodsCol(c.Methods), nullStr(c.Instance), c.RegID, c.RUID)
	case opDelete:
		_, err = d.u.db.TxExec(ctx, tx, d.q.delete, c.RUID)
	}
	return err
}

// write applies changes in one transaction (one commit, one fsync).
func (d *Domain) write(aor string, ops []op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.u.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, o := range ops {
			if err := d.exec(ctx, tx, aor, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.u.Stats.DBErrors.Add(1)
		return err
	}
	d.u.Stats.DBWrites.Add(uint64(len(ops)))
	return nil
}

// flush is the write-back of db_mode 2: every pending change of the table
// in one transaction. What fails stays pending.
func (d *Domain) flush() error {
	type pending struct {
		aor string
		o   op
	}
	var todo []pending
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for aor, r := range s.records {
			for _, c := range r.Contacts {
				switch c.state {
				case toInsert:
					cp := *c
					todo = append(todo, pending{aor, op{opInsert, &cp}})
				case toUpdate:
					cp := *c
					todo = append(todo, pending{aor, op{opUpdate, &cp}})
				}
			}
		}
		s.mu.Unlock()
	}
	d.delMu.Lock()
	deleted := d.deleted
	d.deleted = nil
	d.delMu.Unlock()
	if len(todo) == 0 && len(deleted) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.u.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, ruid := range deleted {
			if err := d.exec(ctx, tx, "", op{opDelete, &Contact{RUID: ruid}}); err != nil {
				return err
			}
		}
		for _, p := range todo {
			o := p.o
			if o.kind == opInsert {
				// A row may exist from an earlier write-back that failed
				// after its commit was unknown: replace it.
				if err := d.exec(ctx, tx, p.aor, op{opDelete, o.c}); err != nil {
					return err
				}
			}
			if err := d.exec(ctx, tx, p.aor, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.delMu.Lock()
		d.deleted = append(deleted, d.deleted...)
		d.delMu.Unlock()
		return err
	}
	d.u.Stats.DBWrites.Add(uint64(len(todo) + len(deleted)))
	// Mark what was written as in sync, unless it changed again meanwhile.
	for _, p := range todo {
		s := d.shard(p.aor)
		s.mu.Lock()
		if r := s.records[p.aor]; r != nil {
			for _, c := range r.Contacts {
				if c.RUID == p.o.c.RUID && c.LastModified == p.o.c.LastModified && c.CSeq == p.o.c.CSeq {
					c.state = inSync
				} else if c.RUID == p.o.c.RUID && c.state == toInsert {
					c.state = toUpdate
				}
			}
		}
		s.mu.Unlock()
	}
	return nil
}

func (d *Domain) deleteExpiredDB(now int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.u.db.Exec(ctx, d.q.deleteExpired,
		d.u.db.TimeArg(time.Unix(now, 0)), d.u.db.TimeArg(time.Unix(0, 0)))
	if err != nil {
		d.u.Stats.DBErrors.Add(1)
		d.u.log.Error("usrloc: delete of expired contacts failed", "table", d.Name, "err", err.Error())
	}
}

// scanContact reads one row of the select queries.
func scanContact(rows *sql.Rows, useDomain bool) (aor string, c *Contact, err error) {
	var (
		user, callID, ua, ruid, uri              string
		domain, received, path, socket, instance sql.NullString
		expires, modified                        any
		q                                        float64
		cseq, flags, cflags, regID               int
		methods                                  sql.NullInt64
	)
	if err := rows.Scan(&ruid, &user, &domain, &uri, &received, &path, &expires, &q, &callID, &cseq, &modified,
		&flags, &cflags, &ua, &socket, &methods, &instance, &regID); err != nil {
		return "", nil, err
	}
	c = &Contact{URI: uri, Received: received.String, Path: path.String, CallID: callID, CSeq: cseq, Flags: flags, CFlags: cflags,
		UserAgent: ua, Socket: socket.String, Methods: -1, Instance: instance.String, RegID: regID, RUID: ruid, Q: -1}
	if methods.Valid {
		c.Methods = int(methods.Int64)
	}
	if q >= 0 {
		c.Q = int(q*1000 + 0.5)
	}
	et, err := db.ParseTime(expires)
	if err != nil {
		return "", nil, err
	}
	if et.Unix() > 0 {
		c.Expires = et.Unix()
	}
	if mt, err := db.ParseTime(modified); err == nil {
		c.LastModified = mt.Unix()
	}
	aor = user
	if useDomain && domain.Valid && domain.String != "" {
		aor = user + "@" + domain.String
	}
	return aor, c, nil
}

// load reads the whole table into memory (db_mode 1 and 2 at start).
func (d *Domain) load(ctx context.Context) error {
	rows, err := d.u.db.Query(ctx, d.q.selectAll)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := time.Now().Unix()
	for rows.Next() {
		aor, c, err := scanContact(rows, d.u.set.useDomain)
		if err != nil {
			return err
		}
		if !c.Alive(now) {
			continue // the timer's first run deletes the row
		}
		s := d.shard(aor)
		r := s.records[aor]
		if r == nil {
			r = &Record{AOR: aor, u: d.u}
			s.records[aor] = r
		}
		r.Contacts = append(r.Contacts, c)
		r.sort()
		d.u.Stats.Contacts.Add(1)
		d.u.Stats.Preloaded.Add(1)
	}
	return rows.Err()
}

// loadRecord reads one address of record (db_mode 3).
func (d *Domain) loadRecord(ctx context.Context, aor string) (*Record, error) {
	user, domain := d.u.splitAOR(aor)
	var rows *sql.Rows
	var err error
	if domain != nil {
		rows, err = d.u.db.Query(ctx, d.q.selectUserDomain, user, domain)
	} else {
		rows, err = d.u.db.Query(ctx, d.q.selectUser, user)
	}
	if err != nil {
		d.u.Stats.DBErrors.Add(1)
		return nil, err
	}
	defer rows.Close()
	r := &Record{AOR: aor, u: d.u}
	for rows.Next() {
		_, c, err := scanContact(rows, d.u.set.useDomain)
		if err != nil {
			return nil, err
		}
		r.Contacts = append(r.Contacts, c)
	}
	r.sort()
	return r, rows.Err()
}

// MatchCallID reports matching_mode 1.
func (d *Domain) MatchCallID() bool { return d.u.set.matchCallID }
