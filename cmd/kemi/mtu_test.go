package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
)

// mtuCfg relays every request to the mtuCallee at %[2]d. udp_mtu is 700:
// with udp_mtu_try_proto TCP in the config (ifdef GLOBAL), or set by
// udp_mtu_try_proto(TCP) for requests with X-Try, a larger request goes
// over TCP; with X-SL it is forwarded statelessly.
const mtuCfg = `#!KAMAILIO
%[1]s
udp_mtu=700
#!ifdef GLOBAL
udp_mtu_try_proto=TCP
#!endif
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"

request_route {
	if (is_method("OPTIONS")) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_present_hf("X-Try")) {
		udp_mtu_try_proto(TCP);
	}
	$du = "sip:127.0.0.1:%[2]d";
	if (is_present_hf("X-SL")) {
		forward();
		exit;
	}
	t_relay();
}
`

// mtuCallee listens on one port over UDP and TCP and tells how each request
// came and its top Via.
type mtuCallee struct {
	port int
	got  chan string
}

func newMTUCallee(t *testing.T) *mtuCallee {
	port := kamailiotest.FreePort(t)
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close(); l.Close() })
	c := &mtuCallee{port: port, got: make(chan string, 16)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := u.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.got <- "udp " + topVia(string(buf[:n]))
		}
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(conn)
				var head strings.Builder
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						c.got <- "tcp " + topVia(head.String())
						head.Reset()
					}
				}
			}()
		}
	}()
	return c
}

// topVia is the transport of the request's top Via, "INVITE via UDP".
func topVia(m string) string {
	first, _, _ := strings.Cut(m, " ")
	v := kamailiotest.Hdr(m, "Via")
	proto, _, _ := strings.Cut(strings.TrimPrefix(v, "SIP/2.0/"), " ")
	return first + " via " + proto
}

func (c *mtuCallee) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-c.got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the mtuCallee got nothing")
		return ""
	}
}

// TestKamailioUDPMTU: with udp_mtu, Kamailio 5.6 and kemi send a request
// larger than it over TCP with a TCP Via, a smaller one over UDP; the
// request's udp_mtu_try_proto() does it without the config's setting,
// and without either a large request stays on UDP; the same through
// tm and stateless forward().
func TestKamailioUDPMTU(t *testing.T) {
	kam := kamailiotest.Need(t)
	small := ""
	big := "X-Pad: " + strings.Repeat("p", 800) + "\r\n"
	cases := []struct {
		global bool
		extra  string
		want   string
	}{
		{true, small, "udp INVITE via UDP"},
		{true, big, "tcp INVITE via TCP"},
		{false, big, "udp INVITE via UDP"},
		{false, big + "X-Try: 1\r\n", "tcp INVITE via TCP"},
		{true, big + "X-SL: 1\r\n", "tcp INVITE via TCP"}, // stateless
		{true, small + "X-SL: 1\r\n", "udp INVITE via UDP"},
	}
	for _, global := range []bool{true, false} {
		var defs []string
		kdefs := map[string]string{}
		if global {
			defs = []string{"GLOBAL"}
			kdefs["GLOBAL"] = ""
		}
		kc, ec := newMTUCallee(t), newMTUCallee(t)
		dir := t.TempDir()
		port := kamailiotest.FreePort(t)
		kcfg := filepath.Join(dir, "kamailio.cfg")
		os.WriteFile(kcfg, []byte(fmt.Sprintf(mtuCfg, fmt.Sprintf("listen=udp:127.0.0.1:%d\nlisten=tcp:127.0.0.1:%d", port, port), kc.port)), 0o644)
		kamailiotest.Start(t, kam, kcfg, dir, fmt.Sprintf("127.0.0.1:%d", port), defs...)
		ecfg := filepath.Join(t.TempDir(), "kemi.cfg")
		os.WriteFile(ecfg, []byte(fmt.Sprintf(mtuCfg, "", ec.port)), 0o644)
		p := proxytest.StartListen(t, ecfg, kdefs, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
		servers := []struct {
			name string
			addr netip.AddrPort
			c    *mtuCallee
		}{{"Kamailio", netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port)), kc}, {"kemi", p.Addr, ec}}
		for i, c := range cases {
			if c.global != global {
				continue
			}
			for _, s := range servers {
				ua := kamailiotest.NewUA(t)
				id := fmt.Sprintf("mtu-%v-%d", global, i)
				ua.Send(s.addr, "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "+ua.Addr()+";branch=z9hG4bK-"+id+"\r\nMax-Forwards: 70\r\n"+
					"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: "+id+"\r\nCSeq: 1 INVITE\r\n"+c.extra+"Content-Length: 0\r\n\r\n")
				if got := s.c.next(t); got != c.want {
					t.Errorf("%s, global %v, case %d: the mtuCallee got %q, want %q", s.name, global, i, got, c.want)
				}
			}
		}
	}
}
