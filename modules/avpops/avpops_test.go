package avpops_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// run is moduletest's Run for native functions too: a name without a
// module ("avp_op") is called by its native name.
func run(k *moduletest.Kit, cases []moduletest.Case) {
	k.T.Helper()
	for i, c := range cases {
		call := k.Call
		if !strings.Contains(c.Fn, ".") {
			call = k.Native
		}
		if got := call(c.Fn, c.Args...).String(); got != c.Want {
			k.T.Errorf("case %d (%s%v): got %q, want %q", i, c.Fn, c.Args, got, c.Want)
		}
	}
}

func kit(t *testing.T, extra string) *moduletest.Kit {
	url := moduletest.SQLite(t)
	return moduletest.New(t, "loadmodule \"pv.so\"\nloadmodule \"avpops.so\"\nmodparam(\"avpops\", \"db_url\", \""+url+"\")\n"+
		"modparam(\"avpops\", \"avp_table\", \"usr_preferences\")\n"+extra)
}

// TestParams: the parameters refused at start-up, with the reason.
func TestParams(t *testing.T) {
	for params, want := range map[string]string{
		`modparam("avpops", "db_url", "sqlite:///tmp/x.db")`:     `"AVP_DB" present but "AVP_TABLE" found empty`,
		`modparam("avpops", "db_scheme", "s1")`:                  "parse error",
		`modparam("avpops", "db_scheme", "s1:value_type=float")`: "unknown value type <float>",
		`modparam("avpops", "db_scheme", "s1:colour=red")`:       "unknown attribute <colour>",
		`modparam("avpops", "db_scheme", "s1:table=a;table=b")`:  "table given twice",
		`modparam("avpops", "db_scheme", "s1:table=x y")`:        `table "x y"`,
		`modparam("avpops", "uuid_column", "uuid; drop")`:        "uuid_column",
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"avpops.so\"\n"+params+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", params, err, want)
		}
	}
}

// TestMemory: the KEMI functions and the AVP calls without a database,
// with Kamailio's results; $(avp(x)[n]) and [*] read what they left.
func TestMemory(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"pv.so\"\nloadmodule \"avpops.so\"\n")
	k.Request(moduletest.Invite)
	for _, v := range []any{1, 2, "three"} {
		if s, ok := v.(string); ok {
			k.Call("pv.sets", "$avp(a)", s)
		} else {
			k.Call("pv.seti", "$avp(a)", v)
		}
	}
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$(avp(a)[*])"}, "three, 2, 1"},
		{"avpops.avp_copy", []any{"$avp(a)", "$avp(b)/g"}, "1"},
		{"pv.get", []any{"$(avp(b)[*])"}, "1, 2, three"},
		{"avpops.avp_copy", []any{"$avp(a)", "$avp(c)/n"}, "-1"},
		{"avpops.avp_copy", []any{"$avp(nothing)", "$avp(c)"}, "-1"},
		{"avpops.avp_copy", []any{"$avp(a)", "$avp(c)/x"}, "-1"},
		{"avpops.avp_check", []any{"$avp(a)", "eq/THREE/i"}, "1"},
		{"avpops.avp_check", []any{"$avp(a)", "eq/THREE"}, "-1"},
		{"avpops.avp_check", []any{"$avp(b)", "eq/i:2/g"}, "1"},
		{"avpops.avp_check", []any{"$avp(b)", "ge/i:3/g"}, "-1"},
		{"avpops.avp_check", []any{"$ru", "re/@EXAMPLE\\.com$"}, "1"},
		{"avpops.avp_check", []any{"$ru", "fm/sip:bob@*"}, "1"},
		{"avpops.avp_check", []any{"$avp(a)", "xx/1"}, "-1"},
		{"avpops.avp_check", []any{"$avp(a)", "re/(/"}, "-1"},
	})
	run(k, []moduletest.Case{
		{"avp_op", []any{"$avp(b)/$avp(r)", "not/i:0"}, "1"},
		{"pv.get", []any{"$(avp(r)[*])"}, "-1, -1"},
		{"avp_op", []any{"$avp(b)", "add/s:1"}, "-1"},
		{"is_avp_set", []any{"$(avp(b)[1])/n"}, "1"},
		{"is_avp_set", []any{"$(avp(b)[9])"}, "-1"},
		{"is_avp_set", []any{"$avp(a)/e"}, "-1"},
		{"avp_subst", []any{"$avp(a)", "/t(h)/T\\1/"}, "1"},
		{"pv.get", []any{"$avp(a)"}, "Three"},
		{"avp_delete", []any{"i"}, "-1"},
		{"avp_delete", []any{"a/g"}, "1"},
		{"pv.get", []any{"$(avp(a)[*])"}, ""},
		{"avp_pushto", []any{"$ru/domain", "$avp(nothing)"}, "-1"},
		{"avp_pushto", []any{"$ru", "$avp(b)/g"}, "-1"}, // "1" is no URI
		{"pv.sets", []any{"$avp(u)", "sip:carol@example.net"}, "1"},
		{"pv.sets", []any{"$avp(u)", "sip:dave@example.org"}, "1"},
		{"avp_pushto", []any{"$ru", "$avp(u)/g"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:carol@example.net"},
		{"avp_pushto", []any{"$ru/username", "$avp(nothing)"}, "-1"},
		{"avp_pushto", []any{"$ru/username", "$rU"}, "1"},
		{"avp_pushto", []any{"$fu", "$avp(u)"}, "-1"},
		{"avp_db_load", []any{"$fu", "$avp(x)"}, "-1"},
	})
	for _, want := range []string{"cannot convert str to int", "unknown operation <xx>", "bad re <(>", "unknown flag <x>",
		"you have to configure a db_url for using avp_db_xxx functions"} {
		if !strings.Contains(k.Logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}

// TestDatabase: rows stored, loaded by name, by name type and with a
// scheme, and deleted; a bad source or name is refused with the reason.
func TestDatabase(t *testing.T) {
	k := kit(t, `modparam("avpops", "db_scheme", "pw:table=subscriber;username_col=username;value_col=password;value_type=string")`+"\n")
	k.Request(moduletest.Invite)
	run(k, []moduletest.Case{
		{"pv.sets", []any{"$avp(s:mail)", "alice@example.com"}, "1"},
		{"pv.seti", []any{"$avp(i:9)", 42}, "1"},
		{"avp_db_store", []any{"$fu", "$avp(mail)"}, "1"},
		{"avp_db_store", []any{"$fu", "i"}, "1"},
		{"avp_db_store", []any{"$fu", "$avp(mail)"}, "-1"}, // stored already
		{"avp_db_query", []any{"select attribute, type, value from usr_preferences order by id", "$avp(qa);$avp(qt);$avp(qv)"}, "1"},
		{"pv.get", []any{"$(avp(qa)[*])"}, "mail, 9"},
		{"pv.get", []any{"$(avp(qt)[*])"}, "0, 3"},
		{"pv.get", []any{"$(avp(qv)[*])"}, "alice@example.com, 42"},
		{"avp_db_load", []any{"$fu/username", "a"}, "1"},
		{"pv.get", []any{"$(avp(mail)[*])"}, "alice@example.com, alice@example.com"},
		{"avp_db_load", []any{"$fu", "$avp(pw)/$pw"}, "-1"}, // no subscriber row
		{"avp_db_load", []any{"$fu", "a/$pw"}, "-1"},
		{"avp_db_load", []any{"$fu", "$avp(x)/$nope"}, "-1"},
		{"avp_db_load", []any{"$fu/everything", "$avp(x)"}, "-1"},
		{"avp_db_delete", []any{"$fu", "$avp(mail)"}, "1"},
		{"avp_db_load", []any{"$fu", "$avp(mail)"}, "-1"},
		{"avp_db_load", []any{"$fu", "i"}, "1"},
		{"avp_db_load", []any{"$hdr(X-None)", "a"}, "-1"},
		{"avp_db_query", []any{"select value from usr_preferences where attribute = 'none'"}, "-2"},
	})
	for _, want := range []string{"inconsistent usage of DB scheme", "scheme <nope> not found", "unknown flag <everything>", "no value for first param"} {
		if !strings.Contains(k.Logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, k.Logs)
		}
	}
}
