package uac_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// carrierCfg fronts a carrier that wants credentials and its own
// numbering: From rewritten (and restored in the dialog), the carrier's
// 407 answered in failure_route; and a registration to the carrier's
// registrar from uacreg on the database given.
const carrierCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "uac.so"
modparam("rr", "append_fromtag", 1)
modparam("uac", "restore_passwd", "p4ss")
modparam("uac", "auth_username_avp", "$avp(au)")
modparam("uac", "auth_password_avp", "$avp(ap)")
modparam("uac", "auth_realm_avp", "$avp(ar)")
modparam("uac", "reg_db_url", "%s")
modparam("uac", "reg_contact_addr", "127.0.0.1:5999")
modparam("uac", "reg_timer_interval", 1)

request_route {
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	uac_replace_from("Carrier", "sip:+15550$cs@carrier.net");
	$du = "sip:127.0.0.1:%d";
	t_on_failure("AUTH");
	t_relay();
}

failure_route[AUTH] {
	if (t_check_status("407")) {
		$avp(au) = "alice";
		$avp(ap) = "pw";
		$avp(ar) = "carrier";
		if (uac_auth()) {
			t_relay();
		}
	}
}
`

// TestCarrierWithSipp: sipp calls through kemi to a sipp carrier that
// answers each INVITE 407 and wants it again with credentials and its
// numbering in From (the scenario checks both, and the From of the BYE
// the caller sends later in the dialog, which the proxy restores to the
// carrier's); a sipp registrar gets the uacreg registration with
// credentials; on SQLite, PostgreSQL and MariaDB.
func TestCarrierWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, be := range []struct {
		name string
		url  func(testing.TB) string
	}{{"SQLite", moduletest.SQLite}, {"PostgreSQL", moduletest.Postgres}, {"MariaDB", moduletest.MySQL}} {
		t.Run(be.name, func(t *testing.T) {
			url := be.url(t)
			regPort := kamailiotest.FreePort(t)
			d, err := db.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Exec(context.Background(), `INSERT INTO uacreg (l_uuid, l_username, l_domain, r_username, r_domain, realm,
				auth_username, auth_password, auth_proxy, expires) VALUES ('trunk1', 'trunk', 'local.test', 'acct', 'carrier.example',
				'carrier', 'trunkuser', 'pw', ?, 300)`, "sip:127.0.0.1:"+strconv.Itoa(regPort))
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
			registrar := sipptest.StartParty(t, sipp, sipptest.Scenario("registrar-uas.xml"), "u1", regPort)
			carrierPort := kamailiotest.FreePort(t)
			carrier := exec.Command(sipp, "-sf", sipptest.Scenario("challenge-uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(carrierPort),
				"-t", "u1", "-nostdin", "-m", "100", "-timeout", "60s", "-timeout_error", "-trace_err")
			carrier.Dir = t.TempDir()
			var out strings.Builder
			carrier.Stdout, carrier.Stderr = &out, &out
			if err := carrier.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { carrier.Process.Kill() })
			time.Sleep(200 * time.Millisecond)
			cfg := filepath.Join(t.TempDir(), "kemi.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(carrierCfg, url, carrierPort)), 0o644)
			px := proxytest.Start(t, cfg, nil)
			sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", px.Addr.String(), 100, 50, "-s", "bob")
			if err := carrier.Wait(); err != nil {
				errs, _ := os.ReadDir(carrier.Dir)
				t.Errorf("the carrier's scenario failed: %v\n%s\n%v", err, sipptest.Tail([]byte(out.String())), errs)
			}
			if _, ok, log := registrar.Wait(); !ok {
				t.Errorf("the registrar's scenario failed:\n%s", log)
			}
			dump, err := px.Table.CallRPC("uac.reg_dump")
			if err != nil {
				t.Fatal(err)
			}
			if j := moduletest.JSON(dump); !strings.Contains(j, `"flags":20`) || !strings.Contains(j, `"l_uuid":"trunk1"`) {
				t.Errorf("uac.reg_dump: the registration is not online (flags 20: init, online): %s", j)
			}
		})
	}
}
