package uac_redirect_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// redirectCfg: calls go to a callee that answers 302; failure_route
// follows the redirect.
const redirectCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "uac_redirect.so"
modparam("uac_redirect", "acc_function", "")

request_route {
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	$du = "sip:127.0.0.1:%d";
	t_on_failure("REDIRECT");
	t_relay();
}

failure_route[REDIRECT] {
	if (t_check_status("3[0-9][0-9]") && get_redirects("*")) {
		$du = $null;
		t_relay();
	}
}
`

// TestRedirectWithSipp: 100 sipp calls through kemi to a sipp callee that
// redirects each to a second sipp callee, which answers: every call
// completes there.
func TestRedirectWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	movedPort, realPort := kamailiotest.FreePort(t), kamailiotest.FreePort(t)
	start := func(args ...string) {
		cmd := exec.Command(sipp, args...)
		cmd.Dir = t.TempDir()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start("-sf", sipptest.Scenario("redirect-uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(movedPort), "-t", "u1", "-nostdin",
		"-key", "target", fmt.Sprintf("sip:bob@127.0.0.1:%d", realPort))
	start("-sf", sipptest.Scenario("call-uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(realPort), "-t", "u1", "-nostdin")
	time.Sleep(200 * time.Millisecond)
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(redirectCfg, movedPort)), 0o644)
	px := proxytest.Start(t, cfg, nil)
	sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", px.Addr.String(), 100, 50, "-s", "bob")
}
