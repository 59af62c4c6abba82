package rr_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

const doubleCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "pv.so"
modparam("rr", "enable_double_rr", %d)

request_route {
	if ($hdr(X-Next) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	record_route();
	$du = $hdr(X-Next);
	t_relay();
	exit;
}
`

// TestKamailioDoubleRR: a request record-routed and relayed from UDP to
// TCP gets the Record-Routes Kamailio 5.6 writes — two with ;r2=on,
// the sending socket's on top, with enable_double_rr 1 (its default);
// one with 0 — and, UDP to UDP on the same socket, one with 1 and two
// with 2.
func TestKamailioDoubleRR(t *testing.T) {
	for _, c := range []struct {
		mode int
		tcp  bool
	}{{1, true}, {0, true}, {1, false}, {2, false}} {
		pair := kamailiotest.StartPairTCP(t, func(listen string) string { return fmt.Sprintf(doubleCfg, listen, c.mode) })
		rr := func(srv string) string {
			next, got := nextHop(t, c.tcp)
			ua := kamailiotest.NewUA(t)
			addr := kamailiotest.ViaAddr(t, "X\r\nVia: SIP/2.0/UDP "+srv+"\r\n\r\n")
			ua.Send(addr, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+ua.Addr()+";branch=z9hG4bK-rr"+srv[len(srv)-3:]+"\n"+
				"Max-Forwards: 70\nFrom: <sip:alice@example.com>;tag=f1\nTo: <sip:bob@example.com>\nCall-ID: rr-"+srv+"\nCSeq: 1 INVITE\n"+
				"X-Next: "+next+"\nContact: <sip:alice@"+ua.Addr()+">\nContent-Length: 0\n\n")
			select {
			case m := <-got:
				return regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(strings.Join(m, "\n"), "PROXY")
			case <-time.After(5 * time.Second):
				return "nothing relayed"
			}
		}
		k, e := rr(pair.Kamailio.String()), rr(pair.Kemi.String())
		if k != e {
			t.Errorf("enable_double_rr %d, to TCP %v:\nKamailio:\n%s\nkemi:\n%s", c.mode, c.tcp, k, e)
		} else {
			t.Logf("enable_double_rr %d, to TCP %v:\n%s", c.mode, c.tcp, e)
		}
	}
}

// nextHop listens where the relayed request goes (TCP or UDP on
// 127.0.0.1) and sends its Record-Route lines on the channel.
func nextHop(t *testing.T, tcp bool) (string, <-chan []string) {
	got := make(chan []string, 1)
	rrLines := func(msg string) []string {
		var out []string
		for _, l := range strings.Split(msg, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), "record-route:") {
				out = append(out, l)
			}
		}
		return out
	}
	if tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			var msg strings.Builder
			for {
				line, err := r.ReadString('\n')
				msg.WriteString(line)
				if err != nil || line == "\r\n" {
					break
				}
			}
			got <- rrLines(msg.String())
		}()
		return "sip:" + l.Addr().String() + ";transport=tcp", got
	}
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	go func() {
		buf := make([]byte, 65536)
		n, _, err := u.ReadFrom(buf)
		if err == nil {
			got <- rrLines(string(buf[:n]))
		}
	}()
	return "sip:" + u.LocalAddr().String(), got
}
