package rtimer_test

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

// sippCfg: a timer every 50 ms in its own worker sends a MESSAGE to the
// sipp UAS; its reply goes to event_route[uac:reply], counted.
const sippCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "uac.so"
loadmodule "htable.so"
loadmodule "rtimer.so"
modparam("uac", "restore_mode", "none")
modparam("htable", "htable", "n=>size=2;")
modparam("rtimer", "timer", "name=t;interval=50000u;mode=1")
modparam("rtimer", "exec", "timer=t;route=TICK")

request_route {
	sl_send_reply("200", "OK");
}

route[TICK] {
	$uac_req(method) = "MESSAGE";
	$uac_req(ruri) = "sip:ua@127.0.0.1:%d";
	$uac_req(furi) = "sip:timer@example.com";
	$uac_req(hdrs) = "X-T: tick " + $rtimer_worker + "\r\n";
	$uac_req(evroute) = 1;
	uac_req_send();
}

event_route[uac:reply] {
	if ($uac_req(evcode) == 200) {
		$sht(n=>ok) = $sht(n=>ok) + 1;
	}
}
`

// TestTimerWithSipp: a sipp UAS takes 20 MESSAGEs a timer route sends,
// each answered; the replies reach the script.
func TestTimerWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	port := kamailiotest.FreePort(t)
	party := sipptest.StartParty(t, sipp, sipptest.Scenario("message-uas.xml"), "u1", port, "-m", "20")
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, port)), 0o644)
	p := proxytest.Start(t, cfg, nil)
	got, ok, out := party.Wait()
	if !ok {
		t.Fatalf("sipp did not take 20 MESSAGEs:\n%s", out)
	}
	n := 0
	for _, m := range got {
		if strings.HasPrefix(m, "MESSAGE sip:ua@127.0.0.1") {
			n++
		}
	}
	if n < 20 {
		t.Errorf("%d MESSAGEs, want 20:\n%s", n, out)
	}
	// The last reply may be in flight when sipp exits.
	v, err := p.Table.CallRPC("htable.get", "n", "ok")
	if s := fmt.Sprint(v); err != nil || s != "map[item:map[name:ok type:int value:20]]" && s != "map[item:map[name:ok type:int value:19]]" {
		t.Errorf("replies counted: %s (%v), want 20 (or 19)", s, err)
	}
}
