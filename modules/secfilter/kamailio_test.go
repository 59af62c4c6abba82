package secfilter_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// diffCfg answers each request with the results of every check in X-R.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "%s"
loadmodule "secfilter.so"
modparam("secfilter", "db_url", "%s")
modparam("secfilter", "dst_exact_match", %d)

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	$var(r) = "";
	secf_check_ip(); route(rc);
	secf_check_ua(); route(rc);
	secf_check_country("$hdr(X-Country)"); route(rc);
	secf_check_from_hdr(); route(rc);
	secf_check_to_hdr(); route(rc);
	secf_check_contact_hdr(); route(rc);
	secf_check_dst("$rU"); route(rc);
	secf_check_sqli_hdr("$hdr(X-Q)"); route(rc);
	$var(r) = $var(r) + " |";
	secf_check_country("CN"); route(rc);
	secf_check_country("es"); route(rc);
	secf_check_country("C"); route(rc);
	secf_check_dst("900"); route(rc);
	secf_check_dst("9001"); route(rc);
	secf_check_dst("901"); route(rc);
	secf_check_dst("00441234"); route(rc);
	secf_check_sqli_hdr("a'b"); route(rc);
	secf_check_sqli_hdr("x%%60"); route(rc);
	secf_check_sqli_hdr("a-b"); route(rc);
	append_to_reply("X-R: $var(r)\r\n");
	sl_send_reply("200", "OK");
}

route[rc] {
	$var(r) = $var(r) + " " + $rc;
}
`

// rules are the table's rows: action, type, data.
var rules = [][3]any{
	{0, 0, "sipcli"}, {1, 0, "friendly"},
	{0, 1, "CN"}, {1, 1, "ES"},
	{0, 2, "evil.com"}, {1, 2, "good.org"},
	{0, 3, "127.0.0."},
	{0, 4, "sipvicious"}, {1, 4, "boss"}, {0, 4, "Mallory"},
	{2, 0, "0044"}, {2, 0, "900"},
}

func fill(t *testing.T, url string, rules ...[3]any) {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, r := range rules {
		if _, err := d.Exec(context.Background(), "INSERT INTO secfilter (action, type, data) VALUES (?, ?, ?)", r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
}

// requests vary what the checks look at: R-URI user, From, To, Contact,
// User-Agent, X-Country, X-Q.
var requests = [][7]string{
	{"bob", `<sip:alice@example.com>`, `<sip:bob@example.com>`, `<sip:alice@192.0.2.1>`, "SIPCLI/1.8", "ES", "plain"},
	{"9001", `"Mallory Jones" <sip:sipvicious-3@evil.com>`, `"Boss" <sip:carol@good.org>`, `<sip:x@evil.community>`, "friendly phone", "CN", "a'b"},
	{"900", `<sip:boss@evil.com>`, `<sip:bob@EVIL.COM>`, `<sip:sipviciousX@host>`, "other", "CNX", "a--b"},
	{"00441234", `"M" <sip:u@good.org>`, `<sip:good.org>`, `*`, "sip", "C", "%27"},
	{"0044", `"\"quoted\"" <sip:mallory2@x.org>`, `<sip:z@y.net>`, `<sip:@h>`, "SIPCLI", "es", "ok"},
}

func ask(t *testing.T, srv netip.AddrPort, r [7]string) string {
	t.Helper()
	m := kamailiotest.Ask(t, srv, 5*time.Second, func(local, id string) string {
		return fmt.Sprintf("MESSAGE sip:%s@example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
			"From: %s;tag=1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\nContact: %s\r\nUser-Agent: %s\r\nX-Country: %s\r\nX-Q: %s\r\nX-Case: 1\r\nContent-Length: 0\r\n\r\n",
			r[0], local, id, r[1], r[2], id, r[3], r[4], r[5], r[6])
	})
	return kamailiotest.Header(m, "X-R")
}

// TestKamailioDifferential: Kamailio 5.6 and kemi, on the same rules in
// tables made by Kamailio's schema scripts (SQLite) or kemi's (MariaDB),
// with exact and prefix destination matching, give every check the same
// result for the same requests.
func TestKamailioDifferential(t *testing.T) {
	for _, be := range kamailiotest.Databases() {
		for _, exact := range []int{1, 0} {
			t.Run(fmt.Sprintf("%s/exact=%d", be.Name, exact), func(t *testing.T) {
				kurl, eurl := be.URLs(t)
				fill(t, kamailiotest.KemiURL(kurl), rules...)
				fill(t, eurl, rules...)
				pair := kamailiotest.StartPair(t, func(listen string) string {
					if listen != "" {
						return fmt.Sprintf(diffCfg, listen, be.Module, kurl, exact)
					}
					return fmt.Sprintf(diffCfg, "", be.Module, eurl, exact)
				})
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
					}
				})
				for _, r := range requests {
					kv, ev := ask(t, pair.Kamailio, r), ask(t, pair.Kemi, r)
					if kv != ev {
						t.Errorf("%q:\nKamailio %s\nkemi     %s", r, kv, ev)
					} else {
						t.Logf("%q: %s", r, ev)
					}
				}
			})
		}
	}
}
