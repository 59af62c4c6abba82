package siptrace_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg traces a call in transaction mode to the capture server of the
// test (HEP 3, or the version given), with a log line (hlog) too.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siptrace.so"
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", %d)
modparam("siptrace", "hep_capture_id", 7)
modparam("siptrace", "duplicate_uri", "sip:%s")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "log") {
		hlog("$ci", "hello $fU");
		sl_send_reply("200", "Logged");
		exit;
	}
	sip_trace_mode("t");
	$du = $hdr(X-Dst);
	t_relay();
}
`

// hepPacket is a HEP packet decoded: its fields written as text, the
// addresses as names.
func decode(b []byte, names map[string]string) string {
	name := func(a string) string {
		if n, ok := names[a]; ok {
			return n
		}
		return a
	}
	if len(b) >= 4 && string(b[:4]) == "HEP3" {
		var f []string
		var src, dst string
		var sport, dport uint16
		for p := 6; p+6 <= len(b); {
			typ, l := binary.BigEndian.Uint16(b[p+2:]), int(binary.BigEndian.Uint16(b[p+4:]))
			if l < 6 || p+l > len(b) {
				return "bad chunk"
			}
			d := b[p+6 : p+l]
			switch typ {
			case 0x01:
				f = append(f, fmt.Sprintf("family=%d", d[0]))
			case 0x02:
				f = append(f, fmt.Sprintf("proto=%d", d[0]))
			case 0x03:
				src = netip.AddrFrom4([4]byte(d)).String()
			case 0x04:
				dst = netip.AddrFrom4([4]byte(d)).String()
			case 0x07:
				sport = binary.BigEndian.Uint16(d)
			case 0x08:
				dport = binary.BigEndian.Uint16(d)
			case 0x0b:
				f = append(f, fmt.Sprintf("type=%d", d[0]))
			case 0x0c:
				f = append(f, fmt.Sprintf("capture=%d", binary.BigEndian.Uint32(d)))
			case 0x11:
				f = append(f, "cid="+name(string(d)))
			case 0x0f:
				line, _, _ := strings.Cut(string(d), "\r\n")
				for a, n := range names {
					line = strings.ReplaceAll(line, a, n)
				}
				f = append(f, "payload="+line)
			case 0x09, 0x0a:
			default:
				f = append(f, fmt.Sprintf("chunk%#x", typ))
			}
			p += l
		}
		f = append(f, "src="+name(fmt.Sprintf("%s:%d", src, sport)), "dst="+name(fmt.Sprintf("%s:%d", dst, dport)))
		sort.Strings(f)
		return strings.Join(f, " ")
	}
	if len(b) < 16 {
		return "short"
	}
	v, hl := b[0], int(b[1])
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), binary.BigEndian.Uint16(b[4:]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), binary.BigEndian.Uint16(b[6:]))
	off := hl
	extra := ""
	if v == 2 {
		extra = fmt.Sprintf(" capture=%d", binary.LittleEndian.Uint16(b[hl+8:]))
		off += 12
	}
	line, _, _ := strings.Cut(string(b[off:]), "\r\n")
	for a, n := range names {
		line = strings.ReplaceAll(line, a, n)
	}
	return fmt.Sprintf("v%d family=%d proto=%d src=%s dst=%s%s payload=%s", v, b[2], b[3], name(src.String()), name(dst.String()), extra, line)
}

// collect reads HEP packets for d.
func collect(c *net.UDPConn, d time.Duration) [][]byte {
	var out [][]byte
	c.SetReadDeadline(time.Now().Add(d))
	for {
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, buf[:n])
	}
}

// TestKamailioDifferential: Kamailio 5.6 and kemi send the capture
// server the same HEP packets (versions 3, 2, 1) for a call traced in
// transaction mode — the INVITE received and relayed, the 200 received
// and relayed — and the same hlog packet.
func TestKamailioDifferential(t *testing.T) {
	for _, v := range []int{3, 2, 1} {
		t.Run(fmt.Sprintf("HEP%d", v), func(t *testing.T) {
			hk, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			he, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			defer hk.Close()
			defer he.Close()
			pair := kamailiotest.StartPair(t, func(listen string) string {
				if listen != "" {
					return fmt.Sprintf(diffCfg, listen, v, hk.LocalAddr())
				}
				return fmt.Sprintf(diffCfg, "", v, he.LocalAddr())
			})
			flow := func(proxy netip.AddrPort, hep *net.UDPConn) []string {
				caller, callee := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
				callID := fmt.Sprintf("tr-%d", time.Now().UnixNano())
				caller.Send(proxy, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-t1\nMax-Forwards: 70\n"+
					"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: "+callID+"\nCSeq: 1 INVITE\nContact: <sip:alice@"+caller.Addr()+">\n"+
					"X-Dst: sip:"+callee.Addr()+"\nContent-Length: 0\n\n")
				inv, _ := callee.Recv("INVITE ")
				callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "200 OK", "b1", "Contact: <sip:bob@"+callee.Addr()+">\r\n"))
				caller.Recv("SIP/2.0 200")
				logUA := kamailiotest.NewUA(t)
				logUA.Send(proxy, "MESSAGE sip:p SIP/2.0\nVia: SIP/2.0/UDP "+logUA.Addr()+";branch=z9hG4bK-l1\nMax-Forwards: 70\nFrom: <sip:carol@x>;tag=l\nTo: <sip:p>\n"+
					"Call-ID: log-"+callID+"\nCSeq: 1 MESSAGE\nX-Case: log\nContent-Length: 0\n\n")
				logUA.Recv("SIP/2.0 200")
				names := map[string]string{caller.Addr(): "CALLER", callee.Addr(): "CALLEE", proxy.String(): "PROXY", callID: "CALLID",
					"log-" + callID: "LOGCALLID", hep.LocalAddr().String(): "HEP", logUA.Addr(): "LOGUA"}
				var out []string
				for _, p := range collect(hep, 500*time.Millisecond) {
					out = append(out, decode(p, names))
				}
				sort.Strings(out)
				return out
			}
			k, e := flow(pair.Kamailio, hk), flow(pair.Kemi, he)
			if strings.Join(k, "\n") != strings.Join(e, "\n") {
				t.Errorf("HEP %d:\nKamailio:\n  %s\nkemi:\n  %s", v, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
			} else {
				t.Logf("HEP %d:\n  %s", v, strings.Join(e, "\n  "))
			}
		})
	}
}
