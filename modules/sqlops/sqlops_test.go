package sqlops_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// fill makes the test's table on a database: two rows of every kind of
// column, nulls in the second.
func fill(t *testing.T, url string) {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE gw (id INTEGER, name VARCHAR(64), big BIGINT, w REAL, note TEXT)`,
		`INSERT INTO gw (id, name, big, w, note) VALUES (1, 'alpha', 5000000000, 0.5, 'it''s "q"')`,
		`INSERT INTO gw (id, name, big, w, note) VALUES (2, 'beta', 7, NULL, NULL)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
}

// run is moduletest's Run with the type shown: null, "a string", 42.
func run(t *testing.T, k *moduletest.Kit, cases []moduletest.Case) {
	t.Helper()
	for i, c := range cases {
		if got := show(k.Call(c.Fn, c.Args...)); got != c.Want {
			t.Errorf("case %d (%s%v): got %s, want %s", i, c.Fn, c.Args, got, c.Want)
		}
	}
}

func show(v router.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.IsStr():
		return strconv.Quote(v.String())
	}
	return v.String()
}

func kit(t *testing.T, url string) *moduletest.Kit {
	return moduletest.New(t, "loadmodule \"sqlops.so\"\nloadmodule \"pv.so\"\n"+
		"modparam(\"sqlops\", \"sqlcon\", \"c=>"+url+"\")\nmodparam(\"sqlops\", \"sqlres\", \"ra\")\n")
}

// TestQuery: sql_query into a container read by sql_result_get*, $dbr and
// sql_is_null, with Kamailio's types: INTEGER an int, BIGINT a string,
// REAL null (sqlops 5.6 has no case for doubles), TEXT a string.
func TestQuery(t *testing.T) {
	url := moduletest.SQLite(t)
	fill(t, url)
	k := kit(t, url)
	k.Request(moduletest.Invite)
	run(t, k, []moduletest.Case{
		{"sqlops.sql_query", []any{"c", "select id, name, big, w, note from gw order by id", "ra"}, "0"},
		{"sqlops.sql_num_rows", []any{"ra"}, "2"},
		{"sqlops.sql_num_columns", []any{"ra"}, "5"},
		{"sqlops.sql_result_get", []any{"ra", 0, 0}, "1"},
		{"sqlops.sql_result_get", []any{"ra", 0, 1}, `"alpha"`},
		{"sqlops.sql_result_get", []any{"ra", 0, 2}, `"5000000000"`},
		{"sqlops.sql_result_get", []any{"ra", 0, 3}, "null"},
		{"sqlops.sql_result_get", []any{"ra", 0, 4}, `"it's \"q\""`},
		{"sqlops.sql_result_get", []any{"ra", 1, 4}, "null"},
		{"sqlops.sql_result_gete", []any{"ra", 1, 4}, `""`},
		{"sqlops.sql_result_getz", []any{"ra", 1, 4}, "0"},
		{"sqlops.sql_result_getz", []any{"ra", 9, 0}, "0"},
		{"sqlops.sql_is_null", []any{"ra", 1, 4}, "1"},
		{"sqlops.sql_is_null", []any{"ra", 1, 1}, "0"},
		{"sqlops.sql_is_null", []any{"ra", 2, 0}, "-1"},
		{"pv.get", []any{"$dbr(ra=>rows)"}, "2"},
		{"pv.get", []any{"$dbr(ra=>cols)"}, "5"},
		{"pv.get", []any{"$dbr(ra=>[1,1])"}, `"beta"`},
		{"pv.get", []any{"$dbr(ra=>colname[2])"}, `"big"`},
		{"pv.get", []any{"$dbr(ra=>[5,0])"}, "null"},
		{"sqlops.sql_query", []any{"c", "select id from gw where id > 10", "ra"}, "0"},
		{"pv.get", []any{"$dbr(ra=>rows)"}, "0"},
		{"sqlops.sql_query", []any{"nope", "select 1", "ra"}, "-1"},
		{"sqlops.sql_query", []any{"c", "select nonsense from nowhere", "ra"}, "-1"},
		{"sqlops.sql_query", []any{"c", "update gw set name = 'gamma' where id = 2", ""}, "0"},
		{"pv.get", []any{"$sqlrows(c)"}, "1"},
		{"sqlops.sql_result_free", []any{"ra"}, "1"},
	})
	// The native codes: 1 rows kept, 2 none, 3 rows and no container.
	for _, c := range []struct {
		args []any
		want int64
	}{
		{[]any{"c", "select name from gw where id = 2", "rb"}, 1},
		{[]any{"c", "select name from gw where id = 3", "rc"}, 2},
		{[]any{"c", "select name from gw"}, 3},
		{[]any{"c", "delete from gw where id = 99"}, 2},
	} {
		if got := k.Native("sql_query", c.args...).I; got != c.want {
			t.Errorf("sql_query%v = %d, want %d", c.args, got, c.want)
		}
	}
	if got := k.Call("pv.get", "$dbr(rb=>[0,0])").String(); got != "gamma" {
		t.Errorf("$dbr(rb=>[0,0]) after the update = %q", got)
	}
	if got := k.Call("pv.get", "$sqlrows(c)").String(); got != "0" {
		t.Errorf("$sqlrows after a delete of nothing = %s", got)
	}
}

// TestXQueryPVQuery: sql_xquery makes an XAVP item per row, the first row
// item 0, BIGINT an int there; sql_pvquery fills variables from the last
// row to the first, an AVP keeping every row and skipping nulls.
func TestXQueryPVQuery(t *testing.T) {
	url := moduletest.SQLite(t)
	fill(t, url)
	k := kit(t, url)
	k.Request(moduletest.Invite)
	run(t, k, []moduletest.Case{
		{"sqlops.sql_xquery", []any{"c", "select id, name, big, note from gw order by id", "gw"}, "1"},
		{"pv.get", []any{"$xavp(gw=>name)"}, `"alpha"`},
		{"pv.get", []any{"$xavp(gw[1]=>name)"}, `"beta"`},
		{"pv.get", []any{"$xavp(gw=>big)"}, "5000000000"},
		{"pv.get", []any{"$xavp(gw[1]=>note)"}, "null"},
		{"sqlops.sql_xquery", []any{"c", "select id from gw where id = 0", "none"}, "1"}, // KEMI: 2 becomes 1
		{"sqlops.sql_pvquery", []any{"c", "select id, name, note from gw order by id", "$var(id), $avp(name), $avp(note)"}, "1"},
		{"pv.get", []any{"$var(id)"}, "1"},
		{"pv.get", []any{"$avp(name)"}, `"alpha"`},
		{"pv.get", []any{"$avp(note)"}, `"it's \"q\""`},
		{"sqlops.sql_pvquery", []any{"c", "select id from gw where id = 0", "$var(x)"}, "2"},
		{"sqlops.sql_pvquery", []any{"c", "select id from gw", "$ru, $si"}, "-1"}, // $si is read-only
		{"sqlops.sql_pvquery", []any{"c", "select id, name from gw", "$var(only)"}, "-1"},
	})
	var names []string
	k.Ctx().EachAVP(func(n string, v router.Value) {
		if n == "name" {
			names = append(names, v.String())
		}
	})
	if strings.Join(names, ",") != "beta,alpha" {
		t.Errorf("$avp(name) added %v, want beta then alpha (the first row last, on top)", names)
	}
	if got := k.Native("sql_xquery", "c", "select id from gw where id = 0", "none").I; got != 2 {
		t.Errorf("native sql_xquery with no rows = %d, want 2", got)
	}
	k.Call("pv.sets", "$var(q)", "alpha")
	if got := k.Native("sql_pvquery", "c", "select id from gw where name = '$var(q)'", "$var(found)").I; got != 1 {
		t.Fatalf("native sql_pvquery with a variable in the query = %d", got)
	}
	if got := k.Call("pv.get", "$var(found)").String(); got != "1" {
		t.Errorf("$var(found) = %s", got)
	}
}

// TestSQLVal: {sql.val}, {sql.val.int}, {sql.val.str} of a string, an int
// and null.
func TestSQLVal(t *testing.T) {
	url := moduletest.SQLite(t)
	k := kit(t, url)
	k.Request(moduletest.Invite)
	k.Call("pv.sets", "$var(s)", `o'ne "two" \three`)
	k.Call("pv.seti", "$var(i)", 42)
	run(t, k, []moduletest.Case{
		{"pv.get", []any{"$(var(s){sql.val})"}, strconv.Quote(`'o\'ne \"two\" \\three'`)},
		{"pv.get", []any{"$(var(i){sql.val})"}, `"42"`},
		{"pv.get", []any{"$(avp(none){sql.val})"}, `"NULL"`},
		{"pv.get", []any{"$(avp(none){sql.val.int})"}, `"0"`},
		{"pv.get", []any{"$(avp(none){sql.val.str})"}, `"''"`},
		{"pv.get", []any{"$(var(i){sql.val.str})"}, `"42"`},
	})
}

// TestAsync: sql_query_async returns at once; the change lands.
func TestAsync(t *testing.T) {
	url := moduletest.SQLite(t)
	fill(t, url)
	k := kit(t, url)
	k.Request(moduletest.Invite)
	if got := k.CallInt("sqlops.sql_query_async", "c", "insert into gw (id, name) values (3, 'async')"); got != 1 {
		t.Fatalf("sql_query_async = %d", got)
	}
	if got := k.CallInt("sqlops.sql_query_async", "nope", "select 1"); got != -1 {
		t.Errorf("sql_query_async on no connection = %d", got)
	}
	for i := 0; ; i++ {
		k.Native("sql_query", "c", "select name from gw where id = 3", "ra")
		if k.Call("pv.get", "$dbr(ra=>[0,0])").String() == "async" {
			break
		}
		if i == 100 {
			t.Fatal("the async insert never landed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfigErrors: a bad sqlcon, a database that does not open (and
// connect_mode 1, which starts anyway), a bad $dbr.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`modparam("sqlops", "sqlcon", "nourl")`, "want name=>db_url"},
		{`modparam("sqlops", "sqlcon", "c=>sqlite:///a.db")` + "\n" + `modparam("sqlops", "sqlcon", "c=>sqlite:///b.db")`, "duplicate connection name"},
		{`modparam("sqlops", "sqlcon", "c=>oracle://x")`, "unknown database"},
		{`modparam("sqlops", "sqlcon", "c=>mysql://nobody:x@127.0.0.1:1/none")`, "connection c"},
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"sqlops.so\"\n"+c.cfg+"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.cfg, err, c.want)
		}
	}
	k := moduletest.New(t, "loadmodule \"sqlops.so\"\nloadmodule \"pv.so\"\nmodparam(\"sqlops\", \"sqlcon\", \"c=>mysql://nobody:x@127.0.0.1:1/none\")\nmodparam(\"sqlops\", \"connect_mode\", 1)\n")
	k.Request(moduletest.Invite)
	if got := k.CallInt("sqlops.sql_query", "c", "select 1", "r"); got != -1 {
		t.Errorf("sql_query on a database that is down = %d, want -1", got)
	}
	if _, err := router.ParsePV("$dbr(ra=>bogus)"); err == nil {
		t.Error("$dbr(ra=>bogus) parsed")
	}
	if _, err := router.ParsePV("$dbr(ra=>[1])"); err == nil {
		t.Error("$dbr(ra=>[1]) parsed")
	}
}
