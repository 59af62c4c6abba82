package path_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// edgeCfg: an edge proxy in front of a registrar: REGISTERs get its Path
// and go to the core; what comes back by the Path is routed on.
const edgeCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "path.so"

request_route {
	if (is_method("REGISTER")) {
		add_path("edge");
		$du = "sip:%s";
		t_relay();
		exit;
	}
	if (loose_route() != 1) {
		record_route();
	}
	t_relay();
}
`

// coreCfg: the registrar (digest auth, usrloc on the database) and a
// proxy to its users, by the Path they registered with.
const coreCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("auth_db", "db_url", "%[1]s")
modparam("usrloc", "db_url", "%[1]s")
modparam("usrloc", "db_mode", 1)
modparam("registrar", "use_path", 1)
modparam("registrar", "path_mode", 1)

request_route {
	if (is_method("REGISTER")) {
		if (!www_authorize("example.com", "subscriber")) {
			www_challenge("example.com", "0");
			exit;
		}
		save("location");
		exit;
	}
	if (loose_route()) {
		t_relay();
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	record_route();
	t_relay();
}
`

// TestEdgeWithSipp: sipp registers bob through a kemi edge (add_path) to
// a kemi registrar; calls to bob reach the core, which sends them by the
// Path through the edge to bob's sipp: every call completes, and the
// location row keeps the edge's Path.
func TestEdgeWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddUser(context.Background(), "bob", "example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	dir := t.TempDir()
	core := filepath.Join(dir, "core.cfg")
	os.WriteFile(core, []byte(fmt.Sprintf(coreCfg, url)), 0o644)
	cp := proxytest.Start(t, core, nil)
	edge := filepath.Join(dir, "edge.cfg")
	os.WriteFile(edge, []byte(fmt.Sprintf(edgeCfg, cp.Addr)), 0o644)
	ep := proxytest.Start(t, edge, nil)

	party := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), "u1", kamailiotest.FreePort(t), "-m", "50")
	users := filepath.Join(dir, "bob.csv")
	os.WriteFile(users, []byte(fmt.Sprintf("SEQUENTIAL\nbob;example.com;secret;127.0.0.1:%d\n", party.Port)), 0o644)
	if _, ok, out := sipptest.Exchange(t, sipp, sipptest.Scenario("register-contact.xml"), "u1", ep.Addr.String(), "-inf", users); !ok {
		t.Fatalf("bob's REGISTER through the edge: %s", out)
	}
	d, _ = db.Open(url)
	var path string
	d.QueryRow(context.Background(), "SELECT path FROM location WHERE username = 'bob'").Scan(&path)
	d.Close()
	if want := "<sip:edge@" + ep.Addr.String() + ";lr>"; path != want {
		t.Errorf("location path %q, want %q", path, want)
	}
	sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", cp.Addr.String(), 50, 25, "-s", "bob")
	if _, ok, out := party.Wait(); !ok && !strings.Contains(out, "50 ") {
		t.Errorf("bob's sipp: %s", out)
	}
}
