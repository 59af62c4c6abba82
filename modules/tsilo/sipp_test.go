package tsilo_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestPushWithSipp: bob's first phone (sipp, ringing) registers; a sipp
// call to bob rings it and waits in the silo; bob's second phone (sipp)
// registers and gets the call, answers it, the first is cancelled — the
// three scenarios end well.
func TestPushWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	d.AddUser(context.Background(), "bob", "example.com", "secret")
	d.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "tsilo.so"
modparam("auth_db", "db_url", "`+url+`")

request_route {
	if (is_method("REGISTER")) {
		if (!www_authorize("example.com", "subscriber")) {
			www_challenge("example.com", "0");
			exit;
		}
		save("location");
		ts_append("location", "$tu");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { t_relay(); exit; }
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	record_route();
	t_newtran();
	ts_store();
	t_relay();
}
`), 0o644)
	p := proxytest.Start(t, cfg, nil)
	reg := func(port int) {
		users := filepath.Join(t.TempDir(), "bob.csv")
		os.WriteFile(users, []byte(fmt.Sprintf("SEQUENTIAL\nbob;example.com;secret;127.0.0.1:%d\n", port)), 0o644)
		if _, ok, out := sipptest.Exchange(t, sipp, sipptest.Scenario("register-contact.xml"), "u1", p.Addr.String(), "-inf", users); !ok {
			t.Fatalf("bob's REGISTER: %s", out)
		}
	}
	first := sipptest.StartParty(t, sipp, sipptest.Scenario("ringing-uas.xml"), "u1", kamailiotest.FreePort(t))
	reg(first.Port)
	caller := exec.Command(sipp, "-sf", sipptest.Scenario("call-uac.xml"), "-s", "bob", "-m", "1", "-t", "u1", "-i", "127.0.0.1", "-p", "0",
		"-timeout", "20s", "-timeout_error", "-nostdin", p.Addr.String())
	caller.Dir = t.TempDir()
	done := make(chan error, 1)
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- caller.Wait() }()
	time.Sleep(500 * time.Millisecond) // the first phone rings
	second := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), "u1", kamailiotest.FreePort(t))
	reg(second.Port)
	if err := <-done; err != nil {
		t.Errorf("the caller's scenario failed: %v", err)
	}
	if _, ok, out := second.Wait(); !ok {
		t.Errorf("the second phone:\n%s", out)
	}
	if _, ok, out := first.Wait(); !ok {
		t.Errorf("the first phone (cancelled):\n%s", out)
	}
	if st, _ := p.Table.CallRPC("ts.dump"); moduletest.JSON(st) != "[]" {
		t.Errorf("the silo after the call: %s", moduletest.JSON(st))
	}
}
