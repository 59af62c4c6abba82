package htable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/db_redis"

	"github.com/kemi-sip/kemi/modules/htable"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const tables = "loadmodule \"htable.so\"\n" +
	"modparam(\"htable\", \"htable\", \"ipban=>size=8;autoexpire=1;\")\n" +
	"modparam(\"htable\", \"htable\", \"cnt=>size=4;initval=10;\")\n"

func TestHtable(t *testing.T) {
	k := moduletest.New(t, tables)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"htable.sht_seti", []any{"ipban", "192.0.2.10", 1}, "1"},
		{"htable.sht_match_name", []any{"ipban", "eq", "192.0.2.10"}, "1"},
		{"htable.sht_match_name", []any{"ipban", "eq", "192.0.2.11"}, "-1"},
		{"htable.sht_match_name", []any{"ipban", "re", "^192\\.0\\.2\\."}, "1"},
		{"htable.sht_match_name", []any{"ipban", "sw", "192."}, "1"},
		{"pv.get", []any{"$sht(ipban=>$si)"}, "1"},
		{"pv.sets", []any{"$sht(ipban=>x$si)", "text"}, "1"},
		{"htable.sht_get", []any{"ipban", "x192.0.2.10"}, "text"},
		{"htable.sht_get", []any{"ipban", "nothing"}, ""},
		{"htable.sht_gete", []any{"ipban", "nothing"}, ""},
		{"htable.sht_inc", []any{"cnt", "a"}, "11"}, // initval 10
		{"htable.sht_dec", []any{"cnt", "a"}, "10"},
		{"htable.sht_get", []any{"cnt", "missing"}, "10"}, // initval
		{"htable.sht_rm_name_re", []any{"ipban", "^x"}, "1"},
		{"htable.sht_is_null", []any{"ipban", "x192.0.2.10"}, "1"},
		{"htable.sht_rm", []any{"ipban", "192.0.2.10"}, "1"},
		{"htable.sht_match_name", []any{"ipban", "eq", "192.0.2.10"}, "-1"},
		{"htable.sht_get", []any{"nosuchtable", "k"}, ""},
		{"htable.sht_match_name", []any{"ipban", "like", "x"}, "-1"}, // unknown operator
		{"pv.get", []any{"$sht(nosuchtable=>k)"}, ""},
		{"htable.sht_sets", []any{"ipban", "k", "v"}, "1"},
	})
	// autoexpire=1: gone a second after it was set.
	time.Sleep(1100 * time.Millisecond)
	k.Run([]moduletest.Case{{"htable.sht_get", []any{"ipban", "k"}, ""}})
	// The native face takes "table=>key".
	k.Call("htable.sht_seti", "cnt", "n", 3)
	if rc := k.Native("sht_rm", "cnt=>n"); rc.I != 1 {
		t.Errorf("native sht_rm: %d", rc.I)
	}
}

// TestTwoProxies: each proxy's $sht and sht_* reach its own tables.
func TestTwoProxies(t *testing.T) {
	a, b := moduletest.New(t, tables), moduletest.New(t, tables)
	a.Request(moduletest.Invite)
	b.Request(moduletest.Invite)
	a.Call("pv.sets", "$sht(ipban=>$si)", "from a")
	b.Run([]moduletest.Case{{"pv.get", []any{"$sht(ipban=>$si)"}, ""}, {"htable.sht_get", []any{"ipban", "192.0.2.10"}, ""}})
	a.Run([]moduletest.Case{{"htable.sht_get", []any{"ipban", "192.0.2.10"}, "from a"}})
	if tb := a.Module("htable").(*htable.Module).Get("cnt"); tb == nil || tb.InitVal.I != 10 {
		t.Errorf("table cnt: %+v", tb)
	}
}

func TestBadDefinition(t *testing.T) {
	for def, want := range map[string]string{
		"noarrow":            "want name=>attributes",
		"t=>size=99;":        "size",
		"t=>autoexpire=x;":   "autoexpire",
		"t=>color=red;":      "unknown attribute",
		"t=>dbtable=htable;": `needs modparam("htable", "db_url", ...)`,
		"t=>dbtable=a b;":    "dbtable",
		"t=>dbmode=2;":       "dbmode",
		"t=>cols='a';":       "at least two columns",
		"t=>cols='a,b c';":   "cols",
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"htable.so\"\nmodparam(\"htable\", \"htable\", \""+def+"\")")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("htable %q: %v, want an error saying %q", def, err, want)
		}
	}
}

func TestIterator(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"htable.so\"\nmodparam(\"htable\", \"htable\", \"users=>size=4\")")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"htable.sht_sets", []any{"users", "b", "two"}, "1"},
		{"htable.sht_seti", []any{"users", "a", 1}, "1"},
		{"htable.sht_sets", []any{"users", "c", "three"}, "1"},
		{"htable.sht_iterator_next", []any{"i"}, "-1"}, // not started
		{"htable.sht_iterator_start", []any{"i", "users"}, "1"},
		{"htable.sht_iterator_next", []any{"i"}, "1"},
		{"pv.get", []any{"$shtitkey(i)"}, "a"},
		{"pv.get", []any{"$shtitval(i)"}, "1"},
		{"htable.sht_iterator_seti", []any{"i", 10}, "1"},
		{"htable.sht_iterator_next", []any{"i"}, "1"},
		{"pv.get", []any{"$shtitkey(i)"}, "b"},
		{"htable.sht_iterator_rm", []any{"i"}, "1"},
		{"htable.sht_iterator_next", []any{"i"}, "1"},
		{"htable.sht_iterator_sets", []any{"i", "THREE"}, "1"},
		{"htable.sht_iterator_setex", []any{"i", 60}, "1"},
		{"htable.sht_iterator_next", []any{"i"}, "-1"},
		{"htable.sht_iterator_end", []any{"i"}, "1"},
		{"pv.get", []any{"$shtitkey(i)"}, ""},
		{"htable.sht_get", []any{"users", "a"}, "10"},
		{"htable.sht_get", []any{"users", "b"}, ""},
		{"htable.sht_get", []any{"users", "c"}, "THREE"},
		{"htable.sht_iterator_start", []any{"j", "nope"}, "-1"},
	})
}

// TestLocks: sht_lock and sht_unlock through KSR and the native faces
// ("table=>key"): a lock is released by its worker, an unlock of a slot
// not held or of a table that does not exist fails.
func TestLocks(t *testing.T) {
	k := moduletest.New(t, tables)
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{
		{"htable.sht_unlock", []any{"cnt", "k"}, "-1"},
		{"htable.sht_lock", []any{"cnt", "k"}, "1"},
		{"htable.sht_lock", []any{"cnt", "k"}, "1"}, // again by the same worker
		{"htable.sht_unlock", []any{"cnt", "k"}, "1"},
		{"htable.sht_unlock", []any{"cnt", "k"}, "1"},
		{"htable.sht_unlock", []any{"cnt", "k"}, "-1"},
		{"htable.sht_lock", []any{"nope", "k"}, "-1"},
	})
	if rc := k.Native("sht_lock", "cnt=>k").I; rc != 1 {
		t.Errorf("native sht_lock: %d", rc)
	}
	if rc := k.Native("sht_unlock", "cnt=>k").I; rc != 1 {
		t.Errorf("native sht_unlock: %d", rc)
	}
}

// TestRedis: a table kept in Redis through db_redis (Kamailio's layout,
// key_name the entry key): its rows are loaded at start, htable.store
// writes what the table holds (the rows there before deleted), and
// htable.reload puts back what Redis holds, dropping what it does not.
func TestRedis(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d/2", port)
	cfg := `loadmodule "db_redis.so"
loadmodule "htable.so"
modparam("db_redis", "keys", "htable=entry:key_name")
modparam("htable", "db_url", "` + url + `")
modparam("htable", "htable", "bans=>size=4;dbtable=htable;")
`
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := db.ConfigureRedis([]string{"htable=entry:key_name"}, ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range [][]any{{"10.0.0.1", 0, 1, "1"}, {"10.0.0.2", 0, 0, "flood"}} {
		if _, err := d.Exec(ctx, "INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES (?, ?, ?, ?)", r...); err != nil {
			t.Fatal(err)
		}
	}
	k := moduletest.New(t, cfg)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"htable.sht_get", []any{"bans", "10.0.0.1"}, "1"},
		{"htable.sht_get", []any{"bans", "10.0.0.2"}, "flood"},
		{"htable.sht_seti", []any{"bans", "10.0.0.3", 1}, "1"},
		{"htable.sht_rm", []any{"bans", "10.0.0.2"}, "1"},
	})
	if _, err := k.Table.CallRPC("htable.store", "bans"); err != nil {
		t.Fatal(err)
	}
	rows := func() string {
		r, err := d.Query(ctx, "SELECT key_name, value_type, key_value FROM htable ORDER BY key_name")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var name, value string
			var vt int
			r.Scan(&name, &vt, &value)
			out = append(out, fmt.Sprintf("%s=%s/%d", name, value, vt))
		}
		return strings.Join(out, " ")
	}
	if got := rows(); got != "10.0.0.1=1/1 10.0.0.3=1/1" {
		t.Errorf("Redis after htable.store: %s", got)
	}
	d.Exec(ctx, "DELETE FROM htable WHERE key_name = ?", "10.0.0.1")
	if _, err := k.Table.CallRPC("htable.reload", "bans"); err != nil {
		t.Fatal(err)
	}
	k.Run([]moduletest.Case{
		{"htable.sht_get", []any{"bans", "10.0.0.1"}, ""},
		{"htable.sht_get", []any{"bans", "10.0.0.3"}, "1"},
	})
	if _, err := k.Table.CallRPC("htable.reload", "nosuch"); err == nil {
		t.Error("htable.reload of no table: no error")
	}
}
