package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/redis"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// redisDB opens database 3 of a redis-server of the test's own, with
// db_redis's keys as Kamailio's documentation gives them for dialog and
// location, and a client to look at what was written.
func redisDB(t *testing.T, schemaPath string) (*db.DB, *redis.Conn) {
	t.Helper()
	port := kamailiotest.RedisServer(t)
	err := db.ConfigureRedis([]string{
		"dialog=entry:hash_entry,hash_id&cid:callid",
		"dialog_vars=entry:hash_entry,hash_id,dialog_key&dialog:hash_entry,hash_id",
		"location=entry:ruid&usrdom:username,domain&timer:partition,keepalive",
	}, schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(fmt.Sprintf("redis://127.0.0.1:%d/3", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.Do("SELECT", "3"); err != nil {
		t.Fatal(err)
	}
	return d, c
}

// dump is every key of the database with a hash's fields or a set's
// members, sorted.
func dump(t *testing.T, c *redis.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, e := range kamailiotest.RedisDump(t, c, 3) {
		out[k] = strings.Join(e.Items, " ")
	}
	return out
}

func TestRedisTables(t *testing.T) {
	d, c := redisDB(t, "")
	ctx := context.Background()
	if err := d.CheckVersion(ctx, "dialog", 7); err != nil {
		t.Fatalf("the dialog table's version is its schema's: %v", err)
	}
	if err := d.RequireColumns(ctx, "dialog", "hash_entry", "xdata"); err != nil {
		t.Fatal(err)
	}
	ins := "INSERT INTO dialog (hash_entry, hash_id, callid, state, start_time, toroute_name) VALUES (?, ?, ?, ?, ?, ?)"
	for i, call := range []string{"a@h", "b@h", "a@h"} {
		if _, err := d.Exec(ctx, ins, int64(5), int64(70+i), call, int64(i+2), int64(1700000000+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := dump(t, c)
	want := map[string]string{
		"dialog:entry::5:70": "callid=a@h hash_entry=5 hash_id=70 start_time=1700000000 state=2 toroute_name=",
		"dialog:entry::5:71": "callid=b@h hash_entry=5 hash_id=71 start_time=1700000001 state=3 toroute_name=",
		"dialog:entry::5:72": "callid=a@h hash_entry=5 hash_id=72 start_time=1700000002 state=4 toroute_name=",
		"dialog:cid::a@h":    "dialog:entry::5:70 dialog:entry::5:72",
		"dialog:cid::b@h":    "dialog:entry::5:71",
		"dialog::index::cid": "dialog:cid::a@h dialog:cid::b@h",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the inserts Redis holds\n%v\nwant\n%v", got, want)
	}
	query := func(q string, args ...any) string {
		t.Helper()
		rows, err := d.Query(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var row []string
			for _, v := range vals {
				row = append(row, fmt.Sprint(v))
			}
			out = append(out, strings.Join(row, " "))
		}
		return strings.Join(out, "; ")
	}
	for _, tc := range []struct {
		q    string
		args []any
		want string
	}{
		{"SELECT hash_id, state FROM dialog WHERE hash_entry = ? AND hash_id = ?", []any{5, 71}, "71 3"}, // the entry key
		{"SELECT hash_id FROM dialog WHERE callid = ? ORDER BY hash_id DESC", []any{"a@h"}, "72; 70"},    // a mapping
		{"SELECT hash_id, toroute_name FROM dialog WHERE state >= ? AND state < 4", []any{3}, "71 "},     // a scan
		{"SELECT hash_id FROM dialog WHERE callid = ? AND state = ?", []any{"a@h", 4}, "72"},             // a mapping, then the rest
		{"SELECT COUNT(*) FROM dialog", nil, "3"},
		{"SELECT hash_id FROM dialog ORDER BY start_time LIMIT 2", nil, "70; 71"},
		{"SELECT table_version FROM version WHERE table_name = ?", []any{"location"}, "9"},
		{"SELECT hash_id FROM dialog WHERE callid = 'none'", nil, ""},
	} {
		if got := query(tc.q, tc.args...); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.q, tc.args, got, tc.want)
		}
	}
	// An update that changes a mapping's column moves the row to the new
	// set; the emptied set leaves the index.
	if res, err := d.Exec(ctx, "UPDATE dialog SET callid = ?, state = ? WHERE hash_entry = ? AND hash_id = ?", "c@h", 5, 5, 71); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("update: %d rows, want 1", n)
	}
	got = dump(t, c)
	if got["dialog:cid::b@h"] != "" || got["dialog:cid::c@h"] != "dialog:entry::5:71" || got["dialog::index::cid"] != "dialog:cid::a@h dialog:cid::c@h" ||
		!strings.Contains(got["dialog:entry::5:71"], "callid=c@h") || !strings.Contains(got["dialog:entry::5:71"], "state=5") {
		t.Errorf("after the update: %v", got)
	}
	if res, err := d.Exec(ctx, "DELETE FROM dialog WHERE callid = ?", "a@h"); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("delete: %d rows, want 2", n)
	}
	if _, err := d.Exec(ctx, "DELETE FROM dialog WHERE hash_entry = ? AND hash_id = ?", 5, 71); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, c); len(got) != 0 {
		t.Errorf("after deleting every row Redis holds %v", got)
	}

	// A time is written as db_redis writes a DATETIME: local wall-clock
	// text; it reads back as the same instant.
	exp := time.Date(2026, 12, 4, 10, 30, 0, 0, time.Local)
	if _, err := d.Exec(ctx, "INSERT INTO location (ruid, username, domain, expires, q, partition, keepalive) VALUES (?, ?, ?, ?, ?, ?, ?)",
		"uloc-1", "alice", "kemi.test", db.FormatTime(exp), 0.5, 0, 1); err != nil {
		t.Fatal(err)
	}
	got = dump(t, c)
	if got["location:entry::uloc-1"] != "domain=kemi.test expires=2026-12-04 10:30:00 keepalive=1 partition=0 q=0.500000 ruid=uloc-1 username=alice" ||
		got["location:usrdom::alice:kemi.test"] != "location:entry::uloc-1" || got["location:timer::0:1"] != "location:entry::uloc-1" {
		t.Errorf("location row: %v", got)
	}
	var e any
	if err := d.QueryRow(ctx, "SELECT expires FROM location WHERE username = ? AND domain = ? AND expires > ?", "alice", "kemi.test",
		db.FormatTime(exp.Add(-time.Hour))).Scan(&e); err != nil {
		t.Fatal(err)
	}
	if at, err := db.ParseTime(e); err != nil || !at.Equal(exp) {
		t.Errorf("expires read back as %v (%v), want %v", at, err, exp)
	}

	// What db_redis cannot do is refused, and says what it was.
	for q, want := range map[string]string{
		"INSERT INTO acc (method, callid) VALUES (?, ?)":         `no entry key: set modparam("db_redis", "keys", "acc=entry:column[,column]")`,
		"SELECT callid FROM dialog WHERE state = 1 OR state = 2": `unexpected "OR"`,
		"SELECT nothing FROM dialog":                             "no column nothing",
		"SELECT callid FROM nosuchtable":                         "table nosuchtable: no schema",
		"INSERT INTO dialog (hash_entry, callid) VALUES (?, ?)":  "the entry key's columns (hash_entry, hash_id) must all be given",
	} {
		_, err := d.Exec(ctx, q, "INVITE", "x")
		if strings.HasPrefix(q, "SELECT") {
			_, err = d.Query(ctx, q)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", q, err, want)
		}
	}
}

// TestRedisSchemaPath: a schema file under schema_path gives a table kemi
// has none of (htable) its columns, types and version, as db_redis reads
// them.
func TestRedisSchemaPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "htable"), []byte("id/int,key_name/string,key_type/int,value_type/int,key_value/string,expires/int,\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := redisDB(t, dir)
	ctx := context.Background()
	if err := db.ConfigureRedis([]string{"htable=entry:key_name"}, dir); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckVersion(ctx, "htable", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES (?, ?, ?, ?, ?)", "ban::10.0.0.1", 0, 1, "1", 0); err != nil {
		t.Fatal(err)
	}
	var name string
	var vt sql.NullInt64
	if err := d.QueryRow(ctx, "SELECT key_name, value_type FROM htable WHERE key_name = ?", "ban::10.0.0.1").Scan(&name, &vt); err != nil || vt.Int64 != 1 {
		t.Errorf("read back %q %v: %v", name, vt, err)
	}
	if err := db.ConfigureRedis(nil, filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a schema_path that is no folder: %v", err)
	}
}
