package dispatcher_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
)

// diffCfg is the config both servers run: the algorithm comes in a
// header, a 503 fails over to the next destination.
const diffCfg = `#!KAMAILIO
%s
children=2
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "%s")
modparam("dispatcher", "flags", 2)

request_route {
	if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
	if (is_method("ACK")) { t_relay(); exit; }
	if ($hdr(X-Alg) == "0") { $var(ok) = ds_select_dst("1", "0"); }
	else if ($hdr(X-Alg) == "1") { $var(ok) = ds_select_dst("1", "1"); }
	else if ($hdr(X-Alg) == "2") { $var(ok) = ds_select_dst("1", "2"); }
	else if ($hdr(X-Alg) == "3") { $var(ok) = ds_select_dst("1", "3"); }
	else if ($hdr(X-Alg) == "4") { $var(ok) = ds_select_dst("1", "4"); }
	else { $var(ok) = ds_select_dst("1", "8"); }
	if ($var(ok) != 1) { sl_send_reply("500", "no destination"); exit; }
	t_on_failure("NEXT");
	t_relay();
}

failure_route[NEXT] {
	if (t_check_status("503") && ds_next_dst()) {
		t_on_failure("NEXT");
		t_relay();
	}
}
`

// dests are UDP endpoints standing for gateways: each INVITE that
// reaches one is reported with the endpoint's index and answered with
// the code the test gives for its Call-ID.
type dests struct {
	conns []*net.UDPConn
	got   chan hit
	code  func(callID string) int
}

type hit struct {
	idx    int
	callID string
}

func newDests(t *testing.T, n int, code func(string) int) *dests {
	d := &dests{got: make(chan hit, 64), code: code}
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		d.conns = append(d.conns, c)
		go d.serve(i, c)
	}
	return d
}

func (d *dests) serve(i int, c *net.UDPConn) {
	buf := make([]byte, 65536)
	seen := map[string]bool{}
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var m sip.Msg
		if m.Parse(buf[:n]) != nil || !m.IsRequest() || m.Method() != sip.MethodINVITE {
			continue
		}
		id := string(m.CallID())
		if !seen[id] {
			seen[id] = true
			d.got <- hit{i, id}
		}
		v := m.TopVia()
		out := sip.AppendReply(nil, &m, &sip.Reply{Code: d.code(id), Reason: "Test", ToTag: []byte(fmt.Sprintf("gw%d", i))})
		c.WriteToUDPAddrPort(out, netip.AddrPortFrom(netip.MustParseAddr(string(v.Host)), uint16(v.Port)))
	}
}

func (d *dests) list(t *testing.T, dir string) string {
	var b strings.Builder
	for _, c := range d.conns {
		fmt.Fprintf(&b, "1 sip:%s\n", c.LocalAddr())
	}
	path := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// call sends an INVITE with this Call-ID and algorithm through srv and
// returns the destinations it reached, in order, once the final reply
// came back (ACKed).
func call(t *testing.T, srv netip.AddrPort, d *dests, alg, n int) []int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	id := fmt.Sprintf("ds-%d-%d@test", alg, n) // the same Call-ID through both servers
	branch := fmt.Sprintf("z9hG4bK-ds-%d-%d-%d", alg, n, srv.Port())
	head := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:f%d@example.net>;tag=c%d\r\n", me, branch, n, n)
	inv := fmt.Sprintf("INVITE sip:r%d@example.com SIP/2.0\r\n%sTo: <sip:t%d@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nX-Alg: %d\r\nContact: <sip:c@%s>\r\nContent-Length: 0\r\n\r\n",
		n, head, n*7, id, alg, me)
	c.WriteToUDPAddrPort([]byte(inv), srv)
	buf := make([]byte, 65536)
	var seq []int
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case h := <-d.got:
			if h.callID == id {
				seq = append(seq, h.idx)
			}
			continue
		default:
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		k, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		var m sip.Msg
		if m.Parse(buf[:k]) != nil || m.IsRequest() || m.StatusCode() < 200 || string(m.CallID()) != id {
			continue
		}
		ack := fmt.Sprintf("ACK sip:r%d@example.com SIP/2.0\r\n%sTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
			n, head, m.To().Raw, id)
		c.WriteToUDPAddrPort([]byte(ack), srv)
		// Hits may still be in the channel: take what is there.
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
			select {
			case h := <-d.got:
				if h.callID == id {
					seq = append(seq, h.idx)
				}
			case <-time.After(10 * time.Millisecond):
			}
		}
		return seq
	}
	t.Fatalf("call %s through %s: no final reply; reached %v", id, srv, seq)
	return nil
}

// TestKamailioDifferential runs real Kamailio 5.6 and kemi on the same
// config and list and sends each the same calls: the destination each
// call reaches — by the hash of its Call-ID, From, To and request URI,
// round robin, and the failover order after 503s — must be the same.
func TestKamailioDifferential(t *testing.T) {
	kam := kamailiotest.Need(t)
	failing := func(id string) int {
		if strings.HasPrefix(id, "ds-8-") || strings.HasPrefix(id, "ds-0-9") {
			return 503 // fails over through the whole set
		}
		return 486
	}
	dir := t.TempDir()
	run := func(srv netip.AddrPort, d *dests) [][]int {
		var all [][]int
		for _, c := range []struct{ alg, calls int }{{0, 10}, {1, 6}, {2, 6}, {3, 6}, {4, 5}, {8, 2}} {
			for n := 0; n < c.calls; n++ {
				all = append(all, call(t, srv, d, c.alg, n))
			}
		}
		return all
	}
	// The same set of destinations (their ports differ) for each server.
	kd := newDests(t, 4, failing)
	kport := kamailiotest.FreePort(t)
	kcfg := filepath.Join(dir, "kamailio.cfg")
	os.WriteFile(kcfg, []byte(fmt.Sprintf(diffCfg, fmt.Sprintf("listen=udp:127.0.0.1:%d", kport), kd.list(t, dir))), 0o644)
	kp := kamailiotest.Start(t, kam, kcfg, dir, fmt.Sprintf("127.0.0.1:%d", kport))
	kamSeq := run(netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", kport)), kd)

	ed := newDests(t, 4, failing)
	edir := t.TempDir()
	ecfg := filepath.Join(edir, "kemi.cfg")
	os.WriteFile(ecfg, []byte(fmt.Sprintf(diffCfg, "", ed.list(t, edir))), 0o644)
	p := proxytest.Start(t, ecfg, nil)
	kemiSeq := run(p.Addr, ed)

	if fmt.Sprint(kamSeq) != fmt.Sprint(kemiSeq) {
		t.Errorf("destinations reached, per call:\nKamailio %v\nkemi     %v\nKamailio's log:\n%s\nkemi's log:\n%s", kamSeq, kemiSeq, tail(kp.Log()), tail(p.Logs.String()))
	}
	spread := map[int]bool{}
	for _, s := range kemiSeq[:10] {
		if len(s) > 0 {
			spread[s[0]] = true
		}
	}
	if len(spread) < 2 {
		t.Errorf("ten Call-IDs hashed to %d destination(s): %v", len(spread), kemiSeq[:10])
	}
	t.Logf("per call, the destinations reached (the same in both): %v", kemiSeq)
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
