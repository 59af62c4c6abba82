package enginetest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
)

// reloadEngines are the engines whose script can be reloaded: the module
// and its settings, the script's name and its text answering OPTIONS
// with "200 V<n>".
var reloadEngines = []struct {
	name, module, settings, file string
	script                       func(v int) string
}{
	{"lua", "app_lua", `cfgengine "lua"`, "s.lua", luaReply},
	{"golua", "app_lua", "modparam(\"app_lua\", \"engine\", \"golua\")\ncfgengine \"lua\"", "s.lua", luaReply},
	{"jsdt", "app_jsdt", `cfgengine "jsdt"`, "s.js", func(v int) string {
		return fmt.Sprintf("function ksr_request_route() {\n  KSR.sl.sl_send_reply(200, \"V%d\");\n  KSR.x.exit();\n}\n", v)
	}},
	{"python", "app_python3", `cfgengine "python"`, "s.py", func(v int) string {
		return PyScript(fmt.Sprintf("KSR.sl.sl_send_reply(200, \"V%d\")\nKSR.x.exit()", v))
	}},
}

func luaReply(v int) string {
	return fmt.Sprintf("function ksr_request_route()\n  KSR.sl.sl_send_reply(200, \"V%d\")\n  KSR.x.exit()\nend\n", v)
}

var reasonRe = regexp.MustCompile(`^SIP/2\.0 200 V(\d+)\r\n`)
var callIDRe = regexp.MustCompile(`(?m)^Call-ID: (\S+)\r$`)

// TestReloadUnderLoad: requests flow from four senders while the script
// is reloaded five times and once with a syntax error. Every request is
// answered exactly once, no sender sees a version go back, the broken
// script is refused with its file:line and the last good one keeps
// running.
func TestReloadUnderLoad(t *testing.T) {
	for _, e := range reloadEngines {
		t.Run(e.name, func(t *testing.T) {
			dir := t.TempDir()
			script := filepath.Join(dir, e.file)
			write := func(text string) {
				if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write(e.script(1))
			cfgText := fmt.Sprintf("loadmodule \"sl.so\"\nloadmodule \"%s.so\"\nmodparam(\"%s\", \"load\", \"%s\")\n%s\n", e.module, e.module, script, e.settings)
			cfgPath := filepath.Join(dir, "kamailio.cfg")
			if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
				t.Fatal(err)
			}
			p := proxytest.Start(t, cfgPath, nil)
			if got := p.Env.Engine.Name(); got != e.name {
				t.Fatalf("engine %s, want %s", got, e.name)
			}

			const senders = 4
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			stop := make(chan struct{})
			var mu sync.Mutex
			seen := map[int]int{} // version -> answers
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- sendOptions(p, s, stop, func(v int) { mu.Lock(); seen[v]++; mu.Unlock() })
				}()
			}
			for v := 2; v <= 6; v++ {
				time.Sleep(15 * time.Millisecond)
				write(e.script(v))
				res, err := p.Table.CallRPC(e.module + ".reload")
				if err != nil {
					t.Fatalf("reload to V%d: %v", v, err)
				}
				if m := res.(map[string]uint64); m["new"] != uint64(v-1) || m["old"] != uint64(v-2) {
					t.Errorf("reload to V%d: %v", v, m)
				}
			}
			write(e.script(7)[:len(e.script(7))/2] + "\n(((\n")
			if _, err := p.Table.CallRPC(e.module + ".reload"); err == nil || !strings.Contains(err.Error(), e.file+":") {
				t.Errorf("a broken script reloaded: %v", err)
			}
			time.Sleep(15 * time.Millisecond)
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if len(seen) < 3 {
				t.Errorf("the senders saw versions %v: the reloads did not happen under load", seen)
			}
			t.Logf("answers by version: %v", seen)
			if err := sendOptionsWant(p, 99, 6); err != nil {
				t.Errorf("after the refused reload: %v", err)
			}
			if _, err := p.Table.CallRPC(e.module + ".api_list"); err != nil {
				t.Errorf("api_list: %v", err)
			}
		})
	}
}

// sendOptions sends OPTIONS one after the other until stop is closed,
// each answered once, the version never going back.
func sendOptions(p *proxytest.Proxy, sender int, stop <-chan struct{}, seen func(int)) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.Addr))
	if err != nil {
		return err
	}
	defer conn.Close()
	last := 0
	buf := make([]byte, 4096)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return drained(conn, buf)
		default:
		}
		callID := fmt.Sprintf("reload-%d-%d", sender, i)
		if _, err := conn.Write([]byte(optionsMsg(conn.LocalAddr().String(), callID))); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			return fmt.Errorf("%s: no answer: %v", callID, err)
		}
		v, id, err := parseAnswer(buf[:k])
		if err != nil {
			return err
		}
		if id != callID {
			return fmt.Errorf("waiting for %s, got an answer to %s (answered twice?)", callID, id)
		}
		if v < last {
			return fmt.Errorf("%s: answered by V%d after V%d", callID, v, last)
		}
		last = v
		seen(v)
	}
}

// drained checks that nothing more comes.
func drained(conn *net.UDPConn, buf []byte) error {
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if k, err := conn.Read(buf); err == nil {
		return fmt.Errorf("an extra message: %q", buf[:k])
	}
	return nil
}

func sendOptionsWant(p *proxytest.Proxy, sender, want int) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.Addr))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(optionsMsg(conn.LocalAddr().String(), "after"))); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	k, err := conn.Read(buf)
	if err != nil {
		return err
	}
	v, _, err := parseAnswer(buf[:k])
	if err == nil && v != want {
		err = fmt.Errorf("answered by V%d, want V%d", v, want)
	}
	return err
}

func optionsMsg(from, callID string) string {
	return "OPTIONS sip:proxy.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + from + ";branch=z9hG4bK-" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:ping@example.com>;tag=1\r\nTo: <sip:proxy.example.com>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
}

func parseAnswer(b []byte) (int, string, error) {
	m := reasonRe.FindSubmatch(b)
	id := callIDRe.FindSubmatch(b)
	if m == nil || id == nil {
		return 0, "", fmt.Errorf("not an answer of the script: %q", b)
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v, string(id[1]), nil
}
