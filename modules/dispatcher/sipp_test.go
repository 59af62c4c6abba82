package dispatcher_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// failoverCfg: round robin over set 1; a destination that does not
// answer within fr_timer is marked inactive (and probed) and the call goes
// to the next one.
const failoverCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "dispatcher.so"
modparam("tm", "fr_timer", 1000)
modparam("dispatcher", "list_file", "%s")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@127.0.0.1")
modparam("dispatcher", "ds_probing_mode", 1)

request_route {
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	if (!ds_select_dst("1", "4")) {
		sl_send_reply("503", "No destination");
		exit;
	}
	t_on_failure("NEXT");
	t_relay();
}

failure_route[NEXT] {
	if (t_is_canceled()) { exit; }
	if (t_check_status("408|5[0-9][0-9]") || t_branch_timeout()) {
		ds_mark_dst("ip");
		if (ds_next_dst()) {
			t_on_failure("NEXT");
			t_relay();
		}
	}
}

event_route[dispatcher:dst-down] {
	xlog("L_WARN", "dst-down ($ru) code $dsv(code)\n");
}

event_route[dispatcher:dst-up] {
	xlog("L_WARN", "dst-up $ru code $dsv(code) reason $dsv(reason)\n");
}
`

// uas runs sipp as a callee on port until killed (-aa: it answers OPTIONS).
func uas(t *testing.T, sipp string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(sipp, "-sf", sipptest.Scenario("call-uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", "u1", "-aa", "-nostdin", "-m", "1000000")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestFailoverWithSipp: sipp calls through kemi, round robin over three
// sipp callees, every one probed (ds_probing_mode 1; sipp -aa answers
// OPTIONS); one is killed in the middle of the run. Every call completes
// (those sent to the dead one fail over after fr_timer; one it answered
// just before it died may end with 408 to its BYE), the dead one is
// marked inactive and stays probed (dst-down ran), and once it is back
// its probes bring it back in use (dst-up).
func TestFailoverWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	ports := []int{kamailiotest.FreePort(t), kamailiotest.FreePort(t), kamailiotest.FreePort(t)}
	var list strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&list, "1 sip:127.0.0.1:%d\n", p)
	}
	dir := t.TempDir()
	listPath := filepath.Join(dir, "dispatcher.list")
	os.WriteFile(listPath, []byte(list.String()), 0o644)
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(failoverCfg, listPath)), 0o644)
	var callees []*exec.Cmd
	for _, p := range ports {
		callees = append(callees, uas(t, sipp, p))
	}
	time.Sleep(300 * time.Millisecond)
	px := proxytest.Start(t, cfg, nil)
	dead := fmt.Sprintf("sip:127.0.0.1:%d", ports[1])
	killed := time.AfterFunc(1500*time.Millisecond, func() { callees[1].Process.Kill() })
	defer killed.Stop()
	// A call the killed callee answered just before it died gets 408 to
	// its BYE (the callee is gone): the caller's scenario takes it.
	scenario, rerr := os.ReadFile(sipptest.Scenario("call-uac.xml"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	lenient := filepath.Join(dir, "call-uac.xml")
	os.WriteFile(lenient, []byte(strings.Replace(string(scenario), `<recv response="200" crlf="true"/>`,
		`<recv response="408" optional="true" next="end"/>`+"\n  "+`<recv response="200" crlf="true"/>`+"\n  "+`<label id="end"/>`, 1)), 0o644)
	sipptest.Run(t, sipp, lenient, "u1", px.Addr.String(), 300, 60, "-s", "bob")

	list1, err := px.Table.CallRPC("dispatcher.list")
	if err != nil {
		t.Fatal(err)
	}
	if j := moduletest.JSON(list1); !strings.Contains(j, `"FLAGS":"IP","PRIORITY":0,"URI":"`+dead+`"`) {
		t.Errorf("the killed callee is not inactive and probing: %s", j)
	}
	// ds_mark_dst() in failure_route took it down: the event ran on the
	// request ($ru its request URI), code 820.
	if !strings.Contains(px.Logs.String(), "dst-down (sip:bob@") || !strings.Contains(px.Logs.String(), ") code 820") {
		t.Errorf("no dst-down event from ds_mark_dst:\n%s", tail(px.Logs.String()))
	}
	// Back: the next probes find it.
	uas(t, sipp, ports[1])
	deadline := time.Now().Add(6 * time.Second)
	for {
		l, _ := px.Table.CallRPC("dispatcher.list")
		if strings.Contains(moduletest.JSON(l), `"FLAGS":"AP","PRIORITY":0,"URI":"`+dead+`"`) { // active, still probed
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the callee is back but still not in use after 6 s: %s", moduletest.JSON(l))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A probe brought it back: the event ran on a faked message to it.
	if !strings.Contains(px.Logs.String(), "dst-up "+dead+" code 200 reason OK") {
		t.Errorf("no dst-up event for %s:\n%s", dead, tail(px.Logs.String()))
	}
}

// TestEventCallbackLua: with a KEMI engine the state changes call the
// function event_callback names, given the event's name; a destination
// nobody answers goes down after its probe times out ($dsv(code) 408, no
// reply: flags 0).
func TestEventCallbackLua(t *testing.T) {
	dir := t.TempDir()
	listPath := filepath.Join(dir, "dispatcher.list")
	os.WriteFile(listPath, []byte(fmt.Sprintf("1 sip:127.0.0.1:%d\n", kamailiotest.FreePort(t))), 0o644)
	lua := filepath.Join(dir, "route.lua")
	os.WriteFile(lua, []byte(`
function ksr_request_route()
	KSR.sl.sl_send_reply(404, "Not here")
end
function ksr_dispatcher_event(evname)
	KSR.err("event " .. evname .. " code " .. KSR.pv.get("$dsv(code)") .. " flags " .. KSR.pv.get("$dsv(flags)") .. " ru " .. KSR.pv.get("$ru") .. "\n")
end
`), 0o644)
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "app_lua.so"
loadmodule "dispatcher.so"
modparam("tm", "fr_timer", 500)
modparam("dispatcher", "list_file", "`+listPath+`")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "event_callback", "ksr_dispatcher_event")
modparam("app_lua", "load", "`+lua+`")
cfgengine "lua"
`), 0o644)
	px := proxytest.Start(t, cfg, nil)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(px.Logs.String(), "event dispatcher:dst-down code 408 flags 0 ru sip:127.0.0.1:") {
		if time.Now().After(deadline) {
			t.Fatalf("no dst-down event in 5 s:\n%s", tail(px.Logs.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
