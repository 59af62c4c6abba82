package debugger_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestCfgTrace: with cfgtrace, every action of the native config is
// logged as it runs, with its route block, file, line and name; dbg.trace
// off stops it.
func TestCfgTrace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.cfg")
	os.WriteFile(file, []byte(`loadmodule "debugger.so"
loadmodule "sl.so"
modparam("debugger", "cfgtrace", 1)
modparam("debugger", "log_level_name", "exec")
route[CHECK] {
	$var(x) = 1;
}
request_route {
	route(CHECK);
	sl_send_reply("200", "OK");
}
`), 0o644)
	p := proxytest.Start(t, file, nil)
	options(t, p, "1")
	out := p.Logs.String()
	for _, want := range []string{
		`level=ERROR msg="*** cfgtrace:request_route=[DEFAULT] c=[` + file + `] l=9 n=route" src=debugger lname=exec`,
		`msg="*** cfgtrace:request_route=[CHECK] c=[` + file + `] l=6 n=assign"`,
		`msg="*** cfgtrace:request_route=[DEFAULT] c=[` + file + `] l=10 n=sl_send_reply"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the log:\n%s", want, out)
		}
	}
	if _, err := p.Table.CallRPC("dbg.trace", "off"); err != nil {
		t.Fatal(err)
	}
	options(t, p, "2")
	if n := strings.Count(p.Logs.String(), "cfgtrace"); n != 3 {
		t.Errorf("%d trace lines after dbg.trace off, want the 3 from before:\n%s", n, p.Logs.String())
	}
}

// options sends an OPTIONS to the proxy and waits for its reply.
func options(t *testing.T, p *proxytest.Proxy, id string) {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := "OPTIONS sip:" + p.Addr.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-dbg" + id + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:t@" + local + ">;tag=" + id + "\r\nTo: <sip:" + p.Addr.String() + ">\r\n" +
		"Call-ID: dbg-" + id + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	conn.Write([]byte(msg))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	if n, err := conn.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("reply: %q %v", buf[:n], err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, p := range []string{"breakpoint", "log_assign", "mod_level_mode", "cfgtest"} {
		_, err := moduletest.NewErr(t, "loadmodule \"debugger.so\"\nmodparam(\"debugger\", \""+p+"\", 1)")
		if err == nil || !strings.Contains(err.Error(), p+": not supported") {
			t.Errorf("%s=1: %v", p, err)
		}
	}
	_, err := moduletest.NewErr(t, "loadmodule \"debugger.so\"\nmodparam(\"debugger\", \"mod_level\", \"core=3\")")
	if err == nil || !strings.Contains(err.Error(), "mod_level: not supported") {
		t.Errorf("mod_level: %v", err)
	}
}

func TestPVDump(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"debugger.so\"")
	c := k.Request(moduletest.Invite)
	c.W.SetVar("a", router.StrValue("one"))
	c.AddAVP("b", router.IntValue(2))
	k.Run([]moduletest.Case{{"debugger.dbg_pv_dump", nil, "1"}})
	if !strings.Contains(k.Logs.String(), `msg="dbg_pv_dump: $var(a)=\"one\" $avp(b)=\"2\""`) {
		t.Errorf("log:\n%s", k.Logs.String())
	}
}
