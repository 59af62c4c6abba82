package htable

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
)

// The table attributes and module parameters of a table kept in a
// database (Kamailio's htable db_url, dbtable, dbmode): loaded at start,
// written back at shutdown with dbmode 1.
type dbConf struct {
	url                                   string
	name, ktype, vtype, value, expiresCol string
	sizeSuffix                            string
	expires                               bool // db_expires: the expires column is read and written
}

// load fills t from its dbtable, as Kamailio's ht_db_load_table: a row of
// key_type 1 is an item of an array — rows of one name in a row become
// name[0], name[1]... and name::size their count; value_type 1 is an
// integer; with db_expires and autoexpire, a row whose expires (a Unix
// time) has passed is skipped, the others expire then.
func (m *Module) load(t *Table) (int, error) {
	if len(t.Cols) > 0 {
		return m.loadCols(t)
	}
	c := &m.db
	cols := c.name + ", " + c.ktype + ", " + c.vtype + ", " + c.value
	withExpires := c.expires && t.AutoExpire > 0
	if withExpires {
		cols += ", " + c.expiresCol
	}
	rows, err := m.conn.Query(context.Background(), "SELECT "+cols+" FROM "+t.DBTable)
	if err != nil {
		return 0, fmt.Errorf("htable %s: loading %s: %w", t.Name, t.DBTable, err)
	}
	defer rows.Close()
	now := time.Now()
	n, loaded := 0, 0
	prev, lastArray := "", false
	flushArray := func() {
		if lastArray && prev != "" {
			t.Set([]byte(prev+c.sizeSuffix), router.IntValue(int64(n)), 0)
		}
	}
	for rows.Next() {
		var name sql.NullString
		var ktype, vtype, exp sql.NullInt64
		var value sql.NullString
		dst := []any{&name, &ktype, &vtype, &value}
		if withExpires {
			dst = append(dst, &exp)
		}
		if err := rows.Scan(dst...); err != nil {
			return loaded, fmt.Errorf("htable %s: %s: %w", t.Name, t.DBTable, err)
		}
		if !name.Valid {
			return loaded, fmt.Errorf("htable %s: %s: a row has a NULL key", t.Name, t.DBTable)
		}
		if withExpires && exp.Int64 > 0 && exp.Int64 < now.Unix() {
			continue
		}
		loaded++
		if lastArray && name.String != prev {
			flushArray()
			n = 0
		}
		lastArray, prev = ktype.Int64 == 1, name.String
		key := name.String
		if lastArray {
			key = name.String + "[" + strconv.Itoa(n) + "]"
			n++
		}
		v := router.StrValue(value.String)
		if vtype.Int64 == 1 {
			i, _ := strconv.ParseInt(value.String, 10, 64)
			v = router.IntValue(i)
		}
		life := time.Duration(0)
		if withExpires && exp.Int64 > 0 {
			life = time.Unix(exp.Int64, 0).Sub(now)
		} else if t.AutoExpire > 0 {
			life = -1 // the table's
		}
		t.Set([]byte(key), v, life)
	}
	if err := rows.Err(); err != nil {
		return loaded, fmt.Errorf("htable %s: %s: %w", t.Name, t.DBTable, err)
	}
	flushArray()
	return loaded, nil
}

// loadCols fills t from the columns of its cols attribute, as Kamailio's
// ht_pack_values: the rows by their key, each value the other columns'
// text joined by ',' — '*' for a NULL — as a string.
func (m *Module) loadCols(t *Table) (int, error) {
	q := "SELECT " + strings.Join(t.Cols, ", ") + " FROM " + t.DBTable + " ORDER BY " + t.Cols[0]
	rows, err := m.conn.Query(context.Background(), q)
	if err != nil {
		return 0, fmt.Errorf("htable %s: loading %s: %w", t.Name, t.DBTable, err)
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(t.Cols))
	dst := make([]any, len(vals))
	for i := range vals {
		dst[i] = &vals[i]
	}
	life := time.Duration(0)
	if t.AutoExpire > 0 {
		life = -1 // the table's
	}
	n := 0
	var packed []byte
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return n, fmt.Errorf("htable %s: %s: %w", t.Name, t.DBTable, err)
		}
		if !vals[0].Valid {
			return n, fmt.Errorf("htable %s: %s: a row has a NULL key", t.Name, t.DBTable)
		}
		packed = packed[:0]
		for i, v := range vals[1:] {
			if i > 0 {
				packed = append(packed, ',')
			}
			if !v.Valid {
				packed = append(packed, '*')
				continue
			}
			packed = append(packed, v.String...)
		}
		t.Set([]byte(vals[0].String), router.StrValue(string(packed)), life)
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("htable %s: %s: %w", t.Name, t.DBTable, err)
	}
	return n, nil
}

// store writes t's live items into its dbtable after deleting the rows
// there, as Kamailio's ht_db_delete_records and ht_db_save_table: each as
// key_type 0, value_type 1 for an integer; with db_expires and
// autoexpire, its expiry as a Unix time.
func (m *Module) store(t *Table) error {
	if len(t.Cols) > 0 {
		return fmt.Errorf("htable %s: a table with cols is not written back, as Kamailio's", t.Name)
	}
	c := &m.db
	ctx := context.Background()
	if _, err := m.conn.Exec(ctx, "DELETE FROM "+t.DBTable); err != nil {
		return fmt.Errorf("htable %s: %s: %w", t.Name, t.DBTable, err)
	}
	withExpires := c.expires && t.AutoExpire > 0
	q := "INSERT INTO " + t.DBTable + " (" + c.name + ", " + c.ktype + ", " + c.vtype + ", " + c.value
	if withExpires {
		q += ", " + c.expiresCol + ") VALUES (?, ?, ?, ?, ?)"
	} else {
		q += ") VALUES (?, ?, ?, ?)"
	}
	type row struct {
		key, val string
		vtype    int
		expires  int64
	}
	var items []row
	t.each(func(k string, it *item) bool {
		r := row{key: k, val: it.val.String()}
		if it.val.Kind == router.Int {
			r.vtype = 1
		}
		if it.expires != 0 {
			r.expires = it.expires / int64(time.Second)
		}
		items = append(items, r)
		return true
	})
	for _, r := range items {
		args := []any{r.key, 0, r.vtype, r.val}
		if withExpires {
			args = append(args, r.expires)
		}
		if _, err := m.conn.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("htable %s: storing %s in %s: %w", t.Name, r.key, t.DBTable, err)
		}
	}
	return nil
}

// reload replaces t's items by its dbtable's rows (RPC htable.reload):
// loaded into a table of its own first, so that a failure changes nothing.
func (m *Module) reload(t *Table) error {
	tmp := &Table{Name: t.Name, AutoExpire: t.AutoExpire, UpdateExpire: t.UpdateExpire, DBTable: t.DBTable}
	for i := range tmp.shards {
		tmp.shards[i].m = map[string]*item{}
	}
	if _, err := m.load(tmp); err != nil {
		return err
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.m = tmp.shards[i].m
		s.mu.Unlock()
	}
	return nil
}

// openDB opens db_url when a table has a dbtable and loads those tables.
func (m *Module) openDB(log func(string)) error {
	var withDB []*Table
	for _, t := range m.tables {
		if t.DBTable != "" {
			withDB = append(withDB, t)
		}
	}
	if len(withDB) == 0 {
		return nil
	}
	if m.db.url == "" {
		return fmt.Errorf("htable %s: dbtable %s needs modparam(\"htable\", \"db_url\", ...)", withDB[0].Name, withDB[0].DBTable)
	}
	d, err := db.OpenParam("htable", m.db.url)
	if err != nil {
		return fmt.Errorf("htable: %w", err)
	}
	m.conn = d
	for _, t := range withDB {
		n, err := m.load(t)
		if err != nil {
			return err
		}
		log(fmt.Sprintf("htable %s: %d rows loaded from %s", t.Name, n, t.DBTable))
	}
	return nil
}
