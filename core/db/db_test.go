package db

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for i, tc := range []struct {
		in, driver, dsnPrefix, err string
	}{
		{"sqlite:///var/lib/kemi/k.db", "sqlite", "file:/var/lib/kemi/k.db?", ""},
		{"sqlite:////var/lib/kemi/k.db", "sqlite", "file:/var/lib/kemi/k.db?", ""},
		{"sqlite://rel/k.db", "sqlite", "file:rel/k.db?", ""},
		{"postgres://kamailio:pw@127.0.0.1/kamailio", "postgres", "postgres://kamailio:pw@127.0.0.1/kamailio", ""},
		{"postgresql://u@h:5433/db", "postgres", "postgres://u@h:5433/db", ""},
		{"postgres://u@h", "", "", "no database name"},
		{"mysql://k:pw@localhost/kamailio", "mysql", "k:pw@tcp(localhost:3306)/kamailio?", ""},
		{"mysql://k@db.example.com:3307/kamailio", "mysql", "k@tcp(db.example.com:3307)/kamailio?", ""},
		{"mysql://k:pw@localhost", "", "", "no database name"},
		{"text:///etc/kamailio/db", "", "", "db_text is not built in"},
		{"redis://127.0.0.1:6379/5", "redis", "redis://127.0.0.1:6379/5", ""},
		{"redis://kamailio:pw@db.example.com/9", "redis", "redis://kamailio:pw@db.example.com:6379/9", ""},
		{"redis://127.0.0.1/x", "", "", "must be a Redis database number"},
		{"redis://h1:6379,h2:6379/", "", "", "cluster"},
		{"sqlite://", "", "", "no file path"},
		{"/var/lib/k.db", "", "", "want scheme://"},
		{"oracle://x/y", "", "", "unknown database"},
	} {
		u, err := ParseURL(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("case %d (%s): error %v, want one saying %q", i, tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("case %d (%s): %v", i, tc.in, err)
		case string(u.Driver) != tc.driver || !strings.HasPrefix(u.DSN, tc.dsnPrefix):
			t.Errorf("case %d (%s): got %s %q, want %s %q...", i, tc.in, u.Driver, u.DSN, tc.driver, tc.dsnPrefix)
		}
	}
}

func TestInitAndAddUser(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	d, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	created, err := d.Init(ctx)
	if err != nil || strings.Join(created, ",") != "version,subscriber,location,dbaliases,speed_dial,domain,domain_attrs,trusted,address,dispatcher,grp,re_grp,uri,uacreg,dialog,dialog_vars,sip_trace,usr_preferences,secfilter,htable,topos_d,topos_t,acc,missed_calls" {
		t.Fatalf("Init: %v %v", created, err)
	}
	if created, err := d.Init(ctx); err != nil || len(created) != 0 {
		t.Fatalf("second Init: %v %v, want nothing created", created, err)
	}
	if err := d.AddUser(ctx, "alice", "kemi.test", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddUser(ctx, "alice", "kemi.test", "changed"); err != nil { // replaces
		t.Fatal(err)
	}
	var n int
	var ha1, ha1b string
	d.QueryRow(ctx, "SELECT COUNT(*) FROM subscriber").Scan(&n)
	d.QueryRow(ctx, "SELECT ha1, ha1b FROM subscriber WHERE username = ?", "alice").Scan(&ha1, &ha1b)
	// md5("alice:kemi.test:changed"), md5("alice@kemi.test:kemi.test:changed")
	if n != 1 || ha1 != HA1("MD5", "alice", "kemi.test", "changed") || ha1b != HA1("MD5", "alice@kemi.test", "kemi.test", "changed") {
		t.Errorf("subscriber: %d rows, ha1 %s, ha1b %s", n, ha1, ha1b)
	}
	if sum := md5.Sum([]byte("alice:kemi.test:changed")); ha1 != hex.EncodeToString(sum[:]) {
		t.Errorf("ha1 %q is not MD5(user:domain:password)", ha1)
	}
	for _, tc := range []struct {
		table string
		v     int
	}{{"subscriber", 7}, {"location", 9}} {
		if err := d.CheckVersion(ctx, tc.table, tc.v); err != nil {
			t.Error(err)
		}
	}
	if err := d.CheckVersion(ctx, "location", 8); err == nil || !strings.Contains(err.Error(), "version 9, want 8") {
		t.Errorf("wrong version: %v", err)
	}
	if err := d.RequireColumns(ctx, "subscriber", "username", "nosuch"); err == nil || err.Error() != "table subscriber: no such column nosuch" {
		t.Errorf("missing column: %v", err)
	}
}

// A database made by Kamailio's own schema scripts (kamdbctl's SQL, from
// the Debian kamailio package) works unchanged: nothing to create, the
// versions and columns kemi reads are there.
func TestKamailioSchema(t *testing.T) {
	dir := "/usr/share/kamailio/db_sqlite"
	if _, err := os.Stat(filepath.Join(dir, "standard-create.sql")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Kamailio's schema scripts are missing in CI: .ci/run installs the kamailio package")
		}
		t.Skip("Kamailio's schema scripts not installed (apt-get install kamailio); skipped outside CI")
	}
	url := "sqlite://" + filepath.Join(t.TempDir(), "kamailio.db")
	d, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.ExecFiles(ctx, dir, KamailioScripts...); err != nil {
		t.Fatal(err)
	}
	if created, err := d.Init(ctx); err != nil || len(created) != 0 {
		t.Errorf("Init on Kamailio's database: created %v, %v; want nothing", created, err)
	}
	if err := d.CheckVersion(ctx, "subscriber", VersionSubscriber); err != nil {
		t.Error(err)
	}
	if err := d.CheckVersion(ctx, "location", VersionLocation); err != nil {
		t.Error(err)
	}
	if err := d.AddUser(ctx, "alice", "kemi.test", "secret"); err != nil {
		t.Error(err)
	}
	// Kamailio's tables and kemi's have the same columns.
	for _, table := range []string{"subscriber", "location", "version", "dbaliases", "speed_dial", "domain", "domain_attrs", "trusted", "address"} {
		theirs, err := d.Columns(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		mine := "sqlite://" + filepath.Join(t.TempDir(), "mine.db")
		m, _ := Open(mine)
		m.Init(ctx)
		ours, _ := m.Columns(ctx, table)
		m.Close()
		for c := range theirs {
			if !ours[c] {
				t.Errorf("table %s: Kamailio has column %s, kemi's schema does not", table, c)
			}
		}
		for c := range ours {
			if !theirs[c] {
				t.Errorf("table %s: kemi has column %s, Kamailio's schema does not", table, c)
			}
		}
	}
}

// lines collects what a Complainer writes.
type lines struct{ got []string }

func (l *lines) Error(msg string, args ...any) {
	l.got = append(l.got, fmt.Sprint(append([]any{msg}, args...)...))
}

// TestComplainer: a thousand failures within the interval write one line;
// the next line, after the interval, carries the count of those left out.
func TestComplainer(t *testing.T) {
	var l lines
	c := Complainer{Every: 200 * time.Millisecond}
	for range 1000 {
		c.Log(&l, "send failed", errors.New("broken pipe"))
	}
	if len(l.got) != 1 {
		t.Fatalf("%d lines for 1000 failures within the interval, want 1", len(l.got))
	}
	time.Sleep(250 * time.Millisecond)
	c.Log(&l, "send failed", errors.New("broken pipe"))
	if len(l.got) != 2 || !strings.Contains(l.got[1], "failures1000") {
		t.Errorf("lines %q: want a second one counting the 999 left out and itself", l.got)
	}
}
