package secfilter_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func kit(t *testing.T, url, extra string) *moduletest.Kit {
	return moduletest.New(t, "loadmodule \"secfilter.so\"\nmodparam(\"secfilter\", \"db_url\", \""+url+"\")\n"+extra)
}

func rpc(t *testing.T, k *moduletest.Kit, name string, args ...any) string {
	t.Helper()
	v, err := k.Table.CallRPC(name, args...)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.ReplaceAll(moduletest.JSON(v), `\u003e`, ">")
}

// TestParams: no database, a bad column name, a table of another
// version are refused at start-up.
func TestParams(t *testing.T) {
	if _, err := moduletest.NewErr(t, "loadmodule \"secfilter.so\"\n"); err == nil || !strings.Contains(err.Error(), "Database not configured") {
		t.Errorf("without db_url: %v", err)
	}
	url := moduletest.SQLite(t)
	if _, err := moduletest.NewErr(t, "loadmodule \"secfilter.so\"\nmodparam(\"secfilter\", \"db_url\", \""+url+"\")\nmodparam(\"secfilter\", \"data_col\", \"data;\")\n"); err == nil || !strings.Contains(err.Error(), "data_col") {
		t.Errorf("bad column: %v", err)
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"secfilter.so\"\nmodparam(\"secfilter\", \"db_url\", \""+url+"\")\nmodparam(\"secfilter\", \"table_name\", \"location\")\n"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a table of another version: %v", err)
	}
}

// TestRPC: rules added by RPC are checked at once; print lists them,
// stats counts the checks, stats_reset clears them, reload drops what
// the table does not have; an SQL injection anywhere stops the script
// (0).
func TestRPC(t *testing.T) {
	url := moduletest.SQLite(t)
	fill(t, url, rules...)
	k := kit(t, url, "")
	k.Request(moduletest.Invite)
	check := func(fn string, args ...any) string { return k.Native(fn, args...).String() }
	if got := check("secf_check_from_hdr"); got != "1" {
		t.Errorf("alice before: %s", got)
	}
	for _, c := range []struct{ fn, want string }{
		{rpc(t, k, "secfilter.add_bl", "user", "alice"), `["Values (user, alice) inserted into blacklist"]`},
		{rpc(t, k, "secfilter.add_wl", "domain", "example.com"), `["Values (domain, example.com) inserted into whitelist"]`},
		{rpc(t, k, "secfilter.add_dst", 555), `["Values (555) inserted into blacklist destinations"]`},
		{rpc(t, k, "secfilter.add_bl", "colour", "red"), "error: Error inserting values in the blacklist"},
		{check("secf_check_from_hdr"), "-2"},
		{check("secf_check_to_hdr"), "3"},
		{check("secf_check_dst", "555"), "-2"},
		{check("secf_check_sqli_all"), "1"},
	} {
		if c.fn != c.want {
			t.Errorf("got %s, want %s", c.fn, c.want)
		}
	}
	if p := rpc(t, k, "secfilter.print", "user"); !strings.Contains(p, `"    0003 -> alice"`) || strings.Contains(p, "Country") {
		t.Errorf("print user: %s", p)
	}
	if p := rpc(t, k, "secfilter.print", "dst"); !strings.Contains(p, `"    0003 -> 555"`) {
		t.Errorf("print dst: %s", p)
	}
	st := rpc(t, k, "secfilter.stats")
	for _, want := range []string{`"[+] By from user     : 1"`, `"[+] By to domain     : 1"`, `"[+] Destinations   : 1"`} {
		if !strings.Contains(st, want) {
			t.Errorf("stats without %s: %s", want, st)
		}
	}
	rpc(t, k, "secfilter.stats_reset")
	if st := rpc(t, k, "secfilter.stats"); strings.Contains(st, ": 1") {
		t.Errorf("after stats_reset: %s", st)
	}
	if got := rpc(t, k, "secfilter.reload"); got != `["Data reloaded"]` {
		t.Errorf("reload: %s", got)
	}
	if got := check("secf_check_from_hdr"); got != "1" {
		t.Errorf("alice after the reload: %s", got)
	}
	k.Request(strings.Replace(moduletest.Invite, "From: <sip:alice@example.com>", "From: \"x' OR 1=1\" <sip:alice@example.com>", 1))
	if got := check("secf_check_sqli_all"); got != "0" {
		t.Errorf("sqli_all on a quote in From: %s", got)
	}
	if !strings.Contains(k.Logs.String(), "Possible SQL injection found in From name (x' OR 1=1)") {
		t.Errorf("the log:\n%s", k.Logs)
	}
}

// sippCfg lets 127.0.0.1 in by the whitelist.
const sippCfg = `#!KAMAILIO
loadmodule "sl.so"
loadmodule "secfilter.so"
modparam("secfilter", "db_url", "%s")

request_route {
	secf_check_ip();
	if ($rc == -2) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	sl_send_reply("200", "OK");
}
`

// TestWithSipp: 100 sipp pings through kemi, each checked against the
// lists of a real database (SQLite, PostgreSQL, MariaDB): 127.0.0.1 is
// whitelisted ahead of the 127.0.0. blacklist, and stats counts them.
func TestWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for name, mk := range map[string]func(testing.TB) string{"sqlite": moduletest.SQLite, "postgres": moduletest.Postgres, "mysql": moduletest.MySQL} {
		t.Run(name, func(t *testing.T) {
			url := mk(t)
			fill(t, url, rules...) // the blacklist 127.0.0.
			fill(t, url, [3]any{1, 3, "127.0.0.1"})
			cfg := filepath.Join(t.TempDir(), "kemi.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, url)), 0o644)
			p := proxytest.Start(t, cfg, nil)
			sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", p.Addr.String(), 100, 100)
			st, err := p.Table.CallRPC("secfilter.stats")
			if err != nil || !strings.Contains(moduletest.JSON(st), `"[+] By IP address    : 100"`) {
				t.Errorf("stats (%v): %s", err, moduletest.JSON(st))
			}
		})
	}
}
