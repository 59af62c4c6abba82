package group_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// diffCfg asks group and uri_db about the request's users and answers
// with the results in X-R; a sipp ping (From ping@...) gets 200 only
// when the database says ping is in group "ops" (group) and a subscriber
// (uri_db).
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "%s"
loadmodule "group.so"
loadmodule "uri_db.so"
modparam("group", "db_url", "%[3]s")
modparam("group", "re_table", "re_grp")
modparam("uri_db", "db_url", "%[3]s")

request_route {
	if ($fU == "ping") {
		$ru = "sip:ping@example.com";
		if (is_user_in("From", "ops") && does_uri_exist()) {
			sl_send_reply("200", "OK");
		} else {
			sl_send_reply("403", "Not ops");
		}
		exit;
	}
	$var(r) = "";
	is_user_in("From", "voip"); $var(r) = $var(r) + " from=" + $rc;
	is_user_in("To", "voip"); $var(r) = $var(r) + " to=" + $rc;
	is_user_in("Request-URI", "intl"); $var(r) = $var(r) + " ruri=" + $rc;
	$avp(u) = $hdr(X-U);
	is_user_in("$avp(u)", "voip"); $var(r) = $var(r) + " avp=" + $rc;
	is_user_in("Credentials", "voip"); $var(r) = $var(r) + " cred=" + $rc;
	get_user_group("From", "$avp(g)"); $var(r) = $var(r) + " gid=" + $rc + "/" + $avp(g);
	check_uri("$hdr(X-U)", "alice", "example.com"); $var(r) = $var(r) + " cu=" + $rc;
	check_from(); $var(r) = $var(r) + " cf=" + $rc;
	does_uri_exist(); $var(r) = $var(r) + " ex=" + $rc;
	append_to_reply("X-R:$var(r)\r\n");
	sl_send_reply("200", "OK");
}
`

// fill adds the test's users and groups to a database with Kamailio's
// tables.
func fill(t *testing.T, url string) {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "ping"} {
		if err := d.AddUser(ctx, u, "example.com", "secret"); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO grp (username, domain, grp) VALUES ('alice', 'example.com', 'voip')`,
		`INSERT INTO grp (username, domain, grp) VALUES ('carol', 'example.com', 'intl')`,
		`INSERT INTO grp (username, domain, grp) VALUES ('ping', 'example.com', 'ops')`,
		`INSERT INTO re_grp (reg_exp, group_id) VALUES ('^sip:a', 3)`,
		`INSERT INTO re_grp (reg_exp, group_id) VALUES ('example\.com$', 4)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// ask sends an INVITE from user from to ruri (X-U: xu) and returns X-R.
func ask(t *testing.T, srv netip.AddrPort, from, to, ruri, xu string) string {
	t.Helper()
	m := kamailiotest.Ask(t, srv, 5*time.Second, func(local, id string) string {
		return fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=1\r\nTo: <sip:%s@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nX-U: %s\r\nContent-Length: 0\r\n\r\n",
			ruri, local, id, from, to, id, xu)
	})
	return kamailiotest.Header(m, "X-R")
}

var asks = [][4]string{
	{"alice", "bob", "sip:carol@example.com", "sip:alice@example.com"},
	{"bob", "alice", "sip:bob@example.com", "sip:bob@example.com"},
	{"carol", "carol", "sip:carol@other.org", "sip:ALICE@elsewhere"},
	{"zed", "alice", "sip:example.com", "not a uri"},
}

// TestKamailioDifferential (group and uri_db): Kamailio 5.6 and kemi on one SQLite database
// made by Kamailio's own schema scripts (/usr/share/kamailio/db_sqlite),
// the same config: every group and uri_db result is the same. Then sipp
// pings kemi on the same config, and on PostgreSQL and MariaDB.
func TestKamailioDifferential(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kamailio.db")
	url := "sqlite://" + path
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ExecFiles(context.Background(), "/usr/share/kamailio/db_sqlite", db.KamailioScripts...); err != nil {
		t.Fatal(err)
	}
	d.Close()
	fill(t, url)
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" { // Kamailio's db_sqlite wants sqlite:////abs/path
			return fmt.Sprintf(diffCfg, listen, "db_sqlite.so", "sqlite:///"+path)
		}
		return fmt.Sprintf(diffCfg, "", "db_sqlite.so", url)
	})
	for _, a := range asks {
		kv, ev := ask(t, pair.Kamailio, a[0], a[1], a[2], a[3]), ask(t, pair.Kemi, a[0], a[1], a[2], a[3])
		if kv != ev {
			t.Errorf("%v:\nKamailio %s\nkemi     %s", a, kv, ev)
		} else {
			t.Logf("%v: %s", a, ev)
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
	sipp := sipptest.Need(t)
	ping := sipptest.Scenario("options.xml")
	sipptest.Run(t, sipp, ping, "u1", pair.Kemi.String(), 50, 50)
	for _, srv := range []struct {
		name, module string
		url          func(testing.TB) string
	}{{"PostgreSQL", "db_postgres.so", moduletest.Postgres}, {"MariaDB", "db_mysql.so", moduletest.MySQL}} {
		t.Run(srv.name, func(t *testing.T) {
			url := srv.url(t)
			fill(t, url)
			cfg := filepath.Join(t.TempDir(), "kemi.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(diffCfg, "", srv.module, url)), 0o644)
			p := proxytest.Start(t, cfg, nil)
			if got := ask(t, p.Addr, asks[0][0], asks[0][1], asks[0][2], asks[0][3]); !strings.Contains(got, "from=1 ") || !strings.Contains(got, "ex=-5") {
				t.Errorf("on %s: %s", srv.name, got)
			}
			sipptest.Run(t, sipp, ping, "u1", p.Addr.String(), 50, 50)
		})
	}
}
