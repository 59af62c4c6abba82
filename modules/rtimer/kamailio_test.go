package rtimer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/proxy"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: timer t1 every 300 ms with two workers of its own runs
// route[B] then route[A] (the exec parameters in reverse, as Kamailio
// runs them); each sends a MESSAGE to the test's UA saying which route,
// which worker, and the faked message it runs on.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "uac.so"
loadmodule "rtimer.so"
modparam("uac", "restore_mode", "none")
modparam("rtimer", "timer", "name=t1;interval=300000u;mode=2;")
modparam("rtimer", "exec", "timer=t1;route=A")
modparam("rtimer", "exec", "timer=t1;route=B")

request_route {
	sl_send_reply("200", "OK");
}

route[A] {
	route(SEND);
}

route[B] {
	route(SEND);
}

route[SEND] {
	$uac_req(method) = "MESSAGE";
	$uac_req(ruri) = "sip:ua@%s";
	$uac_req(furi) = "sip:timer@example.com";
	$uac_req(hdrs) = "X-T: " + $rtimer_worker + " " + $rm + " " + $ru + " " + $si + "\r\n";
	uac_req_send();
}
`

// ticks collects n MESSAGEs from the timers: their X-T, each answered.
func ticks(t *testing.T, ua *kamailiotest.UA, n int) []string {
	var out []string
	for range n {
		m, _ := ua.Recv("MESSAGE ")
		out = append(out, kamailiotest.Hdr(m, "X-T"))
		ua.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "200 OK", "u1", ""))
	}
	sort.Strings(out)
	return out
}

// TestKamailioDifferential: Kamailio 5.6 and kemi run the timer routes
// the same way: both workers, each route on each tick, on the same
// faked message (OPTIONS sip:you@kamailio.org from 127.0.0.1).
func TestKamailioDifferential(t *testing.T) {
	kua, eua := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" {
			return fmt.Sprintf(diffCfg, listen, kua.Addr())
		}
		return fmt.Sprintf(diffCfg, "", eua.Addr())
	})
	k, e := ticks(t, kua, 8), ticks(t, eua, 8)
	// Kamailio's faked message says 127.0.0.1 in host byte order ($si
	// 1.0.0.127 on x86); kemi's says 127.0.0.1.
	for i := range k {
		k[i] = strings.Replace(k[i], " 1.0.0.127", " 127.0.0.1", 1)
	}
	// Each worker ran; the same faked message.
	for name, got := range map[string][]string{"Kamailio": k, "kemi": e} {
		set := map[string]bool{}
		for _, x := range got {
			set[x] = true
		}
		if len(set) != 2 || !set["0 OPTIONS sip:you@kamailio.org 127.0.0.1"] || !set["1 OPTIONS sip:you@kamailio.org 127.0.0.1"] {
			t.Errorf("%s: %v", name, got)
		}
	}
	t.Logf("Kamailio %v\nkemi     %v", k, e)
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}

// TestLua: in a KEMI script the exec route is a function, given
// "rtimer"; a route the script lacks stops the start.
func TestLua(t *testing.T) {
	dir := t.TempDir()
	lua := filepath.Join(dir, "r.lua")
	os.WriteFile(lua, []byte(`
function ksr_request_route() end
function ksr_tick(evname)
	KSR.err("tick " .. evname .. " worker " .. KSR.pv.get("$rtimer_worker") .. "\n")
end
`), 0o644)
	cfg := `#!KAMAILIO
loadmodule "app_lua.so"
loadmodule "pv.so"
loadmodule "rtimer.so"
modparam("app_lua", "load", "` + lua + `")
modparam("rtimer", "timer", "name=t;interval=100000u")
modparam("rtimer", "exec", "timer=t;route=%s")
cfgengine "lua"
`
	path := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(path, []byte(fmt.Sprintf(cfg, "ksr_tick")), 0o644)
	p := proxytest.Start(t, path, nil)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Logs.String(), "tick rtimer worker 0") {
		if time.Now().After(deadline) {
			t.Fatalf("no tick in 5 s:\n%s", p.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	bad := filepath.Join(dir, "bad.cfg")
	os.WriteFile(bad, []byte(fmt.Sprintf(cfg, "ksr_nothing")), 0o644)
	px, err := proxy.Load(proxy.Options{File: bad, Listen: []string{"udp:127.0.0.1:0"}, Children: 1})
	if err == nil {
		err = px.Start()
		if err == nil {
			px.Stop()
		}
	}
	if err == nil || !strings.Contains(err.Error(), "invalid route: ksr_nothing") {
		t.Errorf("a missing timer route: %v", err)
	}
}
