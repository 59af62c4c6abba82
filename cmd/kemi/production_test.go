package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// productionCfg is a carrier-facing proxy: calls are load-balanced by
// dispatcher over three carrier gateways (probed; a dead one is skipped
// and its calls fail over), each a dialog counted in a profile, their
// From rewritten to the carrier's numbering (restored in the dialog), and
// the carrier's 407 answered with uac_auth.
const productionCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
loadmodule "dialog.so"
loadmodule "uac.so"
modparam("tm", "fr_timer", 1000)
modparam("rr", "append_fromtag", 1)
modparam("dispatcher", "list_file", "%s")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dialog", "profiles_no_value", "calls")
modparam("uac", "restore_passwd", "p4ss")
modparam("uac", "credential", "alice:carrier:pw")

request_route {
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (!is_method("INVITE")) {
		sl_send_reply("405", "Calls only");
		exit;
	}
	dlg_manage();
	set_dlg_profile("calls");
	record_route();
	uac_replace_from("Carrier", "sip:+15550$cs@carrier.net");
	if (!ds_select_dst("1", "4")) {
		sl_send_reply("503", "No gateway");
		exit;
	}
	t_on_failure("CARRIER");
	t_relay();
}

failure_route[CARRIER] {
	if (t_is_canceled()) { exit; }
	if (t_check_status("407")) {
		if (uac_auth()) {
			t_on_failure("CARRIER");
			t_relay();
		}
		exit;
	}
	if (t_check_status("408|5[0-9][0-9]") || t_branch_timeout()) {
		ds_mark_dst("ip");
		if (ds_next_dst()) {
			t_on_failure("CARRIER");
			t_relay();
		}
	}
}
`

// carriers starts three sipp carriers (challenge-uas.xml: a 407 first,
// then the call with credentials and the carrier's From; -aa answers the
// probes) and returns their ports and processes.
func carriers(t *testing.T, sipp string) ([]int, []*exec.Cmd) {
	var ports []int
	var cmds []*exec.Cmd
	for range 3 {
		port := kamailiotest.FreePort(t)
		cmd := exec.Command(sipp, "-sf", repoFile("scripts", "sipp", "challenge-uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
			"-t", "u1", "-aa", "-nostdin", "-m", "100000")
		cmd.Dir = t.TempDir()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		ports = append(ports, port)
		cmds = append(cmds, cmd)
	}
	return ports, cmds
}

// TestProductionConfig: the same carrier-facing config in Kamailio 5.6 and
// kemi, each with its own three sipp carriers; sipp sends 1000 calls of
// 2 s at 50/s through each at the same time, and one carrier of each is
// killed 6 s in. kemi fails no more calls than Kamailio (those on the
// dead carrier whose BYE cannot be delivered), and completes at least
// as many.
func TestProductionConfig(t *testing.T) {
	sipp := sipptest.Need(t)
	kam := kamailiotest.Need(t)
	if testing.Short() {
		t.Skip("20 s of sipp: not with -short")
	}
	type server struct {
		name    string
		addr    string
		killed  *exec.Cmd
		ok, bad int
	}
	setup := func(name string) (*server, string) {
		ports, cmds := carriers(t, sipp)
		dir := t.TempDir()
		list := filepath.Join(dir, "dispatcher.list")
		var l string
		for _, p := range ports {
			l += fmt.Sprintf("1 sip:127.0.0.1:%d\n", p)
		}
		os.WriteFile(list, []byte(l), 0o644)
		return &server{name: name, killed: cmds[1]}, list
	}
	ks, klist := setup("Kamailio")
	es, elist := setup("kemi")
	kport := kamailiotest.FreePort(t)
	kdir := t.TempDir()
	kcfg := filepath.Join(kdir, "kamailio.cfg")
	os.WriteFile(kcfg, []byte(fmt.Sprintf(productionCfg, fmt.Sprintf("listen=udp:127.0.0.1:%d\nchildren=4", kport), klist)), 0o644)
	kamailiotest.Start(t, kam, kcfg, kdir, fmt.Sprintf("127.0.0.1:%d", kport))
	ks.addr = fmt.Sprintf("127.0.0.1:%d", kport)
	ecfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(ecfg, []byte(fmt.Sprintf(productionCfg, "", elist)), 0o644)
	px := proxytest.Start(t, ecfg, nil)
	es.addr = px.Addr.String()
	time.Sleep(1500 * time.Millisecond) // the first probes find the carriers
	var wg sync.WaitGroup
	for _, s := range []*server{ks, es} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kill := time.AfterFunc(6*time.Second, func() { s.killed.Process.Kill() })
			defer kill.Stop()
			dir := t.TempDir()
			stat := filepath.Join(dir, "stat.csv")
			cmd := exec.Command(sipp, "-sf", repoFile("scripts", "sipp", "call-uac.xml"), "-s", "bob", "-m", "1000", "-r", "50", "-d", "2000",
				"-l", "400", "-t", "u1", "-i", "127.0.0.1", "-p", "0", "-timeout", "90s", "-nostdin", "-trace_stat", "-stf", stat, s.addr)
			cmd.Dir = dir
			cmd.CombinedOutput()
			s.ok, s.bad, _ = sipptest.Results(stat)
		}()
	}
	wg.Wait()
	t.Logf("1000 calls, a carrier killed 6 s in: Kamailio %d completed, %d failed; kemi %d completed, %d failed", ks.ok, ks.bad, es.ok, es.bad)
	if ks.ok+ks.bad != 1000 || es.ok+es.bad != 1000 {
		t.Fatalf("not every call ran: Kamailio %d+%d, kemi %d+%d", ks.ok, ks.bad, es.ok, es.bad)
	}
	// The calls that fail are those in progress on the dead carrier (their
	// BYE goes nowhere): some 30 on each, their number varying with the
	// moment of the kill; kemi must not fail calls Kamailio completes.
	if es.bad > ks.bad+ks.bad/4+3 {
		t.Errorf("kemi failed %d calls, Kamailio %d", es.bad, ks.bad)
	}
	if es.ok < ks.ok-ks.bad/4-3 {
		t.Errorf("kemi completed %d calls, Kamailio %d", es.ok, ks.ok)
	}
}
