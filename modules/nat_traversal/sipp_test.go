package nat_traversal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// TestKeepaliveWithSipp: a sipp client behind a (pretend) NAT registers
// through kemi (fix_contact, nat_keepalive, save) from a port, then sipp
// waits on that port for the keepalive NOTIFY and answers it; the
// binding is counted.
func TestKeepaliveWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "keepalive.state")
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "kex.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "nat_traversal.so"
modparam("nat_traversal", "keepalive_interval", 10)
modparam("nat_traversal", "keepalive_state_file", "%s")

request_route {
	if (is_method("REGISTER")) {
		if (client_nat_test("7")) {
			fix_contact();
			nat_keepalive();
		}
		save("location");
		exit;
	}
	sl_send_reply("404", "Not here");
}
`, state)), 0o644)
	p := proxytest.Start(t, cfg, nil)
	port := kamailiotest.FreePort(t)
	sipptest.Run(t, sipp, sipptest.Scenario("register-nat.xml"), "u1", p.Addr.String(), 1, 1, "-p", strconv.Itoa(port))
	party := sipptest.StartParty(t, sipp, sipptest.Scenario("keepalive-uas.xml"), "u1", port)
	if _, ok, out := party.Wait(); !ok {
		t.Fatalf("no keepalive taken:\n%s", out)
	}
	if v, _ := p.Table.CallRPC("stats.get_statistics", "nat_traversal:registered_endpoints"); !strings.Contains(fmt.Sprint(v), "= 1") {
		t.Errorf("registered_endpoints: %v, want 1", v)
	}

}
