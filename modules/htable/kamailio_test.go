package htable_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// dbCfg: table t loads the htable table; e loads it too, with autoexpire
// and db_expires (a row's expires is read); w is written back at shutdown
// (dbmode 1) into htw. An OPTIONS with X-Keys answers the values of t's
// and e's item X-Key names, one with X-Set sets w's items.
const dbCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "db_sqlite.so"
loadmodule "htable.so"
modparam("htable", "db_url", "%s")
modparam("htable", "db_expires", 1)
modparam("htable", "htable", "t=>size=4;dbtable=htable;")
modparam("htable", "htable", "e=>size=4;autoexpire=3600;dbtable=htable;")
modparam("htable", "htable", "w=>size=4;autoexpire=3600;dbtable=htw;dbmode=1;")

request_route {
	if ($hdr(X-Set) != $null) {
		$sht(w=>str) = "a value";
		$sht(w=>num) = 42;
		$sht(w=>neg) = -7;
		sl_send_reply("200", "OK");
		exit;
	}
	$var(k) = $hdr(X-Key);
	append_to_reply("X-R: $sht(t=>$var(k))/$sht(e=>$var(k))\r\n");
	sl_send_reply("200", "OK");
}
`

// sqlitePair makes a SQLite database for Kamailio and one for kemi with
// Kamailio's tables, fill adding the test's rows to each: their db_url
// (Kamailio's sqlite:/// form, kemi's) and paths, by "is kemi's".
func sqlitePair(t *testing.T, fill func(ctx context.Context, d *db.DB)) (urls, paths map[bool]string) {
	urls, paths = map[bool]string{}, map[bool]string{}
	for _, kemi := range []bool{false, true} {
		path := kamailiotest.SQLite(t)
		d, err := db.Open("sqlite://" + path)
		if err != nil {
			t.Fatal(err)
		}
		fill(context.Background(), d)
		d.Close()
		paths[kemi], urls[kemi] = path, "sqlite:///"+path
		if kemi {
			urls[kemi] = "sqlite://" + path
		}
		os.Chmod(filepath.Dir(path), 0o777)
	}
	return urls, paths
}

// TestKamailioDatabase: Kamailio 5.6 and kemi load the same htable table
// the same way — strings, integers, an array (name[0..2] and name::size),
// a key after it; with db_expires a row whose time has passed is left out
// and a later one kept — and write a dbmode 1 table back at shutdown with
// the same rows (its rows deleted, then what it holds: key_type 0,
// value_type 1 for integers, the expiry).
func TestKamailioDatabase(t *testing.T) {
	now := time.Now().Unix()
	urls, paths := sqlitePair(t, func(ctx context.Context, d *db.DB) {
		for _, r := range []string{`'s1', 0, 0, 'hello', 0`, `'i1', 0, 1, '42', 0`, `'arr', 1, 0, 'a', 0`, `'arr', 1, 0, 'b', 0`,
			`'arr', 1, 1, '7', 0`, `'x', 0, 0, 'after', 0`, fmt.Sprintf(`'old', 0, 0, 'gone', %d`, now-100), fmt.Sprintf(`'fut', 0, 0, 'soon', %d`, now+1000)} {
			if _, err := d.RawExec(ctx, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ("+r+")"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.RawExec(ctx, "CREATE TABLE htw (id INTEGER PRIMARY KEY NOT NULL, key_name VARCHAR(64) DEFAULT '' NOT NULL, key_type INTEGER DEFAULT 0 NOT NULL, value_type INTEGER DEFAULT 0 NOT NULL, key_value VARCHAR(128) DEFAULT '' NOT NULL, expires INTEGER DEFAULT 0 NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		d.RawExec(ctx, "INSERT INTO htw (key_name, key_type, value_type, key_value) VALUES ('stale', 0, 0, 'removed at store')")
		d.RawExec(ctx, "INSERT INTO version (table_name, table_version) VALUES ('htw', 2)")
	})
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(dbCfg, listen, urls[listen == ""]) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			t.Logf("kemi's log:\n%s", pair.Logs.String())
		}
	})
	var got [2]string
	for i, addr := range []netip.AddrPort{pair.Kamailio, pair.Kemi} {
		for _, k := range []string{"s1", "i1", "arr[0]", "arr[1]", "arr[2]", "arr::size", "arr", "x", "old", "fut", "none"} {
			r := kamailiotest.Ask(t, addr, 3*time.Second, kamailiotest.Options("X-Key: "+k+"\r\n"))
			got[i] += " " + k + "=" + kamailiotest.Header(r, "X-R")
		}
		kamailiotest.Ask(t, addr, 3*time.Second, kamailiotest.Options("X-Set: 1\r\n"))
	}
	if got[0] != got[1] || !strings.Contains(got[1], "arr::size=3") {
		t.Errorf("loaded:\nKamailio: %s\nkemi:     %s", got[0], got[1])
	} else {
		t.Logf("loaded, both: %s", got[1])
	}
	pair.Stop()
	var rows [2][]string
	for i, kemi := range []bool{false, true} {
		d, err := db.Open("sqlite://" + paths[kemi])
		if err != nil {
			t.Fatal(err)
		}
		r, err := d.Query(context.Background(), "SELECT key_name, key_type, value_type, key_value, expires FROM htw")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var k, v string
			var kt, vt int
			var exp int64
			r.Scan(&k, &kt, &vt, &v, &exp)
			if d := exp - now - 3600; d < -5 || d > 60 {
				t.Errorf("%s: expires %d, want about now + 3600", k, exp)
			}
			rows[i] = append(rows[i], fmt.Sprintf("%s %d %d %q", k, kt, vt, v))
		}
		r.Close()
		d.Close()
		sort.Strings(rows[i])
	}
	if fmt.Sprint(rows[0]) != fmt.Sprint(rows[1]) || len(rows[1]) != 4 { // the three set, and the row loaded at start
		t.Errorf("stored at shutdown:\nKamailio: %q\nkemi:     %q", rows[0], rows[1])
	} else {
		t.Logf("stored at shutdown, both: %q", rows[1])
	}
}

// colsCfg: table r loads the columns prefix, gw, weight and note of the
// table routes (cols), and would write it back (dbmode 1) but for cols.
// An OPTIONS with X-Key answers the item and its second packed value.
const colsCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "db_sqlite.so"
loadmodule "htable.so"
modparam("htable", "db_url", "%s")
modparam("htable", "htable", "r=>size=4;dbtable=routes;dbmode=1;cols='prefix,gw,weight,note';")

request_route {
	$var(k) = $hdr(X-Key);
	$sht(r=>added) = "in memory only";
	append_to_reply("X-R: $sht(r=>$var(k)) / $(sht(r=>$var(k)){s.select,1,,})\r\n");
	sl_send_reply("200", "OK");
}
`

// TestKamailioDatabaseCols: with cols, Kamailio 5.6 and kemi load the same
// values — the value columns' text packed with ',' ('*' for NULL), an
// integer column as its digits — and leave the table as it was at
// shutdown (a table with cols is not written back).
func TestKamailioDatabaseCols(t *testing.T) {
	urls, paths := sqlitePair(t, func(ctx context.Context, d *db.DB) {
		if _, err := d.RawExec(ctx, "CREATE TABLE routes (id INTEGER PRIMARY KEY NOT NULL, prefix VARCHAR(32) NOT NULL, gw VARCHAR(64), weight INTEGER, note VARCHAR(64))"); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{`'4420', 'gw1.example.com', 10, 'uk'`, `'49', 'gw2.example.com', 5, NULL`, `'1', NULL, 0, 'us'`} {
			if _, err := d.RawExec(ctx, "INSERT INTO routes (prefix, gw, weight, note) VALUES ("+r+")"); err != nil {
				t.Fatal(err)
			}
		}
	})
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(colsCfg, listen, urls[listen == ""]) })
	var got [2]string
	for i, addr := range []netip.AddrPort{pair.Kamailio, pair.Kemi} {
		for _, k := range []string{"4420", "49", "1", "none"} {
			r := kamailiotest.Ask(t, addr, 3*time.Second, kamailiotest.Options("X-Key: "+k+"\r\n"))
			got[i] += " " + k + "=" + kamailiotest.Header(r, "X-R")
		}
	}
	if got[0] != got[1] || !strings.Contains(got[1], "gw1.example.com,10,uk") {
		t.Errorf("loaded:\nKamailio: %s\nkemi:     %s", got[0], got[1])
	} else {
		t.Logf("loaded, both: %s", got[1])
	}
	pair.Stop()
	for _, kemi := range []bool{false, true} {
		if n := moduletest.Rows(t, "sqlite://"+paths[kemi], "SELECT COUNT(*) FROM routes"); n != 3 {
			t.Errorf("kemi %v: %d rows in routes after shutdown, want the 3 it had", kemi, n)
		}
	}
}
