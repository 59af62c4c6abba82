package main

import (
	"fmt"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// The reference proxy (scripts/proxy) with real sipp peers: callees
// reachable through the location service, callers calling them through
// kemi. Each runs in both engines.
var proxyConfigs = []string{"kamailio.cfg", "kamailio-lua.cfg"}

// freeUDPPort finds a free UDP port on 127.0.0.1 for a sipp callee.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startCallee runs a sipp callee scenario on port until the test ends.
func startCallee(t *testing.T, sipp, scenario string, port int, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	sf := scenario
	if !filepath.IsAbs(sf) {
		sf = repoFile("scripts", "sipp", scenario)
	}
	args := []string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin", "-bg", "-trace_err"}
	if !slices.Contains(extra, "-t") {
		args = append(args, "-t", "u1")
	}
	args = append(args, extra...)
	cmd := exec.Command(sipp, args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput() // -bg: sipp forks, prints its PID and exits (99)
	var pid int
	fmt.Sscanf(string(out[bytesIndex(out, "PID=[")+5:]), "%d", &pid)
	if pid <= 0 {
		t.Fatalf("sipp callee: no pid in %q", out)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
		if b, _ := filepath.Glob(filepath.Join(dir, "*_errors.log")); len(b) > 0 {
			if data, _ := os.ReadFile(b[0]); len(data) > 0 && t.Failed() {
				t.Logf("callee %s errors:\n%s", scenario, sipptest.Tail(data))
			}
		}
	})
	time.Sleep(200 * time.Millisecond)
}

func bytesIndex(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -len(s) // makes the caller's slice start at 0
}

// registerContact registers user@kemi.test at contact (host:port) through
// the proxy, without credentials.
func registerContact(t *testing.T, proxy, user, contact string) {
	t.Helper()
	u := newUA(t, proxy)
	u.send(registerMsg(user, u.addr(), contact, 1, ""), nil)
	r, _ := u.recv(3 * time.Second)
	if r == nil || r.StatusCode() != 200 {
		t.Fatalf("REGISTER of %s at %s: want 200, got %v", user, contact, r)
	}
}

func startProxy(t *testing.T, cfg string, defines map[string]string) string {
	if defines == nil {
		defines = map[string]string{}
	}
	s, _ := startFile(t, repoFile("scripts", "proxy", cfg), defines)
	return s.Addr(sip.TransportUDP).String()
}

// callee is a sipp callee scenario registered as user, or only listening
// (the voicemail server) when user is "".
type callee struct {
	scenario, user string
	port           int
}

// callsThrough starts the reference proxy in cfg with defines, the
// callees, registers them, and runs calls of the caller's scenario to
// user at rate; every call must succeed.
func callsThrough(t *testing.T, sipp, cfg string, defines map[string]string, callees []callee, caller, user string, calls, rate int, extra ...string) {
	t.Helper()
	proxy := startProxy(t, cfg, defines)
	for _, c := range callees {
		startCallee(t, sipp, c.scenario, c.port)
		if c.user != "" {
			registerContact(t, proxy, c.user, "127.0.0.1:"+strconv.Itoa(c.port))
		}
	}
	sipptest.Run(t, sipp, repoFile("scripts", "sipp", caller), "u1", proxy, calls, rate, append([]string{"-s", user}, extra...)...)
}

// TestProxyCallsSipp: 1000 calls INVITE/180/200/ACK/BYE from a sipp caller
// to a sipp callee registered through kemi; none may fail.
func TestProxyCallsSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, cfg := range proxyConfigs {
		t.Run(cfg, func(t *testing.T) {
			callsThrough(t, sipp, cfg, nil, []callee{{"call-uas.xml", "bob", freeUDPPort(t)}}, "call-uac.xml", "bob", 1000, 200)
		})
	}
}

// TestProxyFailureRouteSipp: the registered callee is busy (486); the
// failure route sends the call to the voicemail server, another sipp
// callee, where it succeeds.
func TestProxyFailureRouteSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, cfg := range proxyConfigs {
		t.Run(cfg, func(t *testing.T) {
			vm := freeUDPPort(t)
			defines := map[string]string{"WITH_VOICEMAIL": "", "VOICEMAIL_URI": `"sip:127.0.0.1:` + strconv.Itoa(vm) + `"`}
			callsThrough(t, sipp, cfg, defines, []callee{{"busy-uas.xml", "carol", freeUDPPort(t)}, {"call-uas.xml", "", vm}},
				"call-uac.xml", "carol", 100, 50)
		})
	}
}

// TestProxyCancelSipp: the caller cancels while the callee rings: 200 to
// the CANCEL, the callee's 487 relayed, every call as the scenario says.
func TestProxyCancelSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, cfg := range proxyConfigs {
		t.Run(cfg, func(t *testing.T) {
			callsThrough(t, sipp, cfg, nil, []callee{{"ringing-uas.xml", "dave", freeUDPPort(t)}}, "cancel-uac.xml", "dave", 200, 50)
		})
	}
}

// TestProxyPacketLossSipp: the caller loses 10% of what it sends and
// receives (sipp -lost 10); its retransmissions and the proxy's (the last
// reply again to a retransmitted request, 2xx retransmissions relayed)
// still complete every call. The proxy keeps a transaction after its
// final reply for RFC 3261's timer J (64*T1, 32 s) instead of Kamailio's 5 s
// wt_timer: with Kamailio's, a BYE whose 200 is lost four times in a row
// (its retransmissions 0.5, 1, 2 and 4 s apart) outlives its transaction,
// and its next copy reaches a callee that has ended the call — one run in
// eight lost a call so. The proxy's own retransmissions towards a silent
// callee are tested in modules/tm.
func TestProxyPacketLossSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	callsThrough(t, sipp, "kamailio.cfg", map[string]string{"WT_TIMER": "32000"}, []callee{{"call-uas.xml", "erin", freeUDPPort(t)}},
		"call-uac.xml", "erin", 200, 50, "-lost", "10", "-trace_err")
}
