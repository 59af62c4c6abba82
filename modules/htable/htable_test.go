package htable_test

import (
	"testing"
	"time"

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
	for _, def := range []string{"noarrow", "t=>size=99;", "t=>autoexpire=x;", "t=>color=red;", "t=>dbtable=htable;"} {
		if _, err := moduletest.NewErr(t, "loadmodule \"htable.so\"\nmodparam(\"htable\", \"htable\", \""+def+"\")"); err == nil {
			t.Errorf("htable %q: no error", def)
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
