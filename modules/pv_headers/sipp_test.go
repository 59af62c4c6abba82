package pv_headers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// sippCfg: the INVITE's Subject and User-Agent are changed in
// request_route, each branch gets its index, the replies a header of
// their own; in-dialog requests are relayed by their Route.
const sippCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "pv_headers.so"

request_route {
` + sipptest.InDialog + `	$x_hdr(Subject) = "pv_headers";
	pvh_modify_header("User-Agent", "kemi", 0);
	record_route();
	$du = "sip:127.0.0.1:%d";
	t_on_branch("BR");
	t_on_reply("RE");
	t_relay();
}

branch_route[BR] {
	$x_hdr(X-Branch) = "" + $T_branch_idx;
}

onreply_route[RE] {
	$x_hdr(X-Reply) = "seen";
}
`

// TestCallsWithSipp: 20 sipp calls through kemi with pv_headers all
// complete; every INVITE the callee gets has the headers the script set
// through the XAVI (User-Agent changed, or added where sipp sent none).
func TestCallsWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	port := kamailiotest.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, port)), 0o644)
	p := proxytest.Start(t, cfg, nil)
	party := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), "u1", port, "-m", "20", "-trace_msg")
	sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", p.Addr.String(), 20, 20, "-s", "bob")
	got, ok, out := party.Wait()
	if !ok {
		t.Fatalf("the callee's sipp: %s", out)
	}
	invites := 0
	for _, m := range got {
		if !strings.HasPrefix(m, "INVITE ") {
			continue
		}
		invites++
		if s, b := kamailiotest.Hdr(m, "Subject"), kamailiotest.Hdr(m, "X-Branch"); s != "pv_headers" || b != "0" {
			t.Errorf("INVITE: Subject %q, X-Branch %q; want pv_headers, 0:\n%s", s, b, m)
		}
		if ua := kamailiotest.Hdr(m, "User-Agent"); ua != "kemi" {
			t.Errorf("INVITE: User-Agent %q", ua)
		}
	}
	if invites != 20 {
		t.Errorf("the callee got %d INVITEs, want 20", invites)
	}
}
