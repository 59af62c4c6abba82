package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// rtpproxyPeer is a scripted rtpproxy: it records the commands it gets
// and answers U with port 35000, L with 35002 (address 192.0.2.9), D with 0.
type rtpproxyPeer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	cmds []string
}

func startRtpproxyPeer(t *testing.T) *rtpproxyPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpproxyPeer{conn: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			cookie, cmd, _ := strings.Cut(string(buf[:n]), " ")
			p.mu.Lock()
			p.cmds = append(p.cmds, cmd)
			p.mu.Unlock()
			ans := "E1"
			switch cmd[0] {
			case 'U':
				ans = "35000 192.0.2.9"
			case 'L':
				ans = "35002 192.0.2.9"
			case 'D':
				ans = "0"
			}
			c.WriteToUDP([]byte(cookie+" "+ans+"\n"), from)
		}
	}()
	return p
}

func (p *rtpproxyPeer) commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.cmds...)
}

func sdpBody(port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", port)
}

// inviteSDP is an INVITE from caller@example.com (From tag "ftag") at ua
// to uri, with an SDP offering media on port.
func inviteSDP(ua *sipUA, uri, callID string, port int) string {
	body := sdpBody(port)
	return "INVITE " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + ua.addr() + ";branch=z9hG4bK-" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@example.com>;tag=ftag\r\nTo: <" + uri + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@" + ua.addr() + ">\r\n" +
		fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n", len(body)) + body
}

// answerOn receives a request at the callee's socket and answers it with
// status (its Via, From, To with tag "ttag", Call-ID, CSeq and
// Record-Route copied) and body as SDP; it returns the request.
func answerOn(t *testing.T, callee *net.UDPConn, status, body string) *sip.Msg {
	t.Helper()
	buf := make([]byte, 65536)
	callee.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := callee.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the callee got no request: %v", err)
	}
	req := new(sip.Msg)
	if err := req.Parse(buf[:n]); err != nil {
		t.Fatal(err)
	}
	var hdrs []string
	for _, l := range strings.Split(string(buf[:n]), "\r\n") {
		for _, h := range []string{"Via:", "v:", "From:", "To:", "Call-ID:", "CSeq:", "Record-Route:"} {
			if strings.HasPrefix(l, h) {
				if h == "To:" {
					l += ";tag=ttag"
				}
				hdrs = append(hdrs, l)
			}
		}
	}
	reply := "SIP/2.0 " + status + "\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContact: <sip:callee@" + callee.LocalAddr().String() + ">\r\n"
	if body != "" {
		reply += "Content-Type: application/sdp\r\n"
	}
	reply += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	callee.WriteToUDP([]byte(reply), from)
	return req
}

// TestRtpproxyCommands: an INVITE/200/BYE through kemi with rtpproxy_offer,
// rtpproxy_answer and rtpproxy_destroy; the peer checks the exact command
// strings, the SDP each side gets carries the relay's address and ports.
func TestRtpproxyCommands(t *testing.T) {
	peer := startRtpproxyPeer(t)
	uas, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer uas.Close()
	cfg := fmt.Sprintf(`#!KAMAILIO
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rtpproxy.so"
modparam("rtpproxy", "rtpproxy_sock", "udp:%s")
request_route {
	if (is_method("INVITE")) {
		rtpproxy_offer("ie");
		$du = "sip:%s";
		t_on_reply("ANSWER");
		t_relay();
		exit;
	}
	if (is_method("BYE")) {
		rtpproxy_destroy();
		sl_send_reply("200", "OK");
	}
}
onreply_route[ANSWER] {
	if (status == "200") {
		rtpproxy_answer("ei");
	}
}
`, peer.conn.LocalAddr(), uas.LocalAddr())
	p := filepath.Join(t.TempDir(), "k.cfg")
	os.WriteFile(p, []byte(cfg), 0o644)
	s, logs := startFile(t, p, map[string]string{})
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	ua.send(inviteSDP(ua, "sip:bob@example.com", "call-1", 6000), nil)
	inv := answerOn(t, uas, "200 OK", sdpBody(7000))
	if b := string(inv.Body()); !strings.Contains(b, "m=audio 35000 RTP/AVP 0") || !strings.Contains(b, "c=IN IP4 192.0.2.9") {
		t.Errorf("INVITE's SDP not rewritten with the offer's answer:\n%s\n%s", b, logs)
	}
	var ok *sip.Msg
	for ok == nil || ok.StatusCode() < 200 {
		if ok, _ = ua.recv(3 * time.Second); ok == nil {
			t.Fatalf("no 200 at the caller\n%s", logs)
		}
	}
	if b := string(ok.Body()); ok.StatusCode() != 200 || !strings.Contains(b, "m=audio 35002 RTP/AVP 0") || !strings.Contains(b, "c=IN IP4 192.0.2.9") {
		t.Errorf("200's SDP not rewritten with the answer's: %d\n%s", ok.StatusCode(), b)
	}
	ua.send("BYE sip:bob@"+uas.LocalAddr().String()+" SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+ua.addr()+";branch=z9hG4bK-rtpp-2;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:caller@example.com>;tag=ftag\r\nTo: <sip:bob@example.com>;tag=ttag\r\n"+
		"Call-ID: call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", nil)
	if r, _ := ua.recv(3 * time.Second); r == nil || r.StatusCode() != 200 {
		t.Fatalf("BYE: %v", r)
	}
	want := []string{
		"UIE call-1 127.0.0.1 6000 ftag;1",
		"LEI call-1 127.0.0.1 7000 ttag;1 ftag;1",
		"D call-1 ftag ttag",
	}
	if got := peer.commands(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rtpproxy commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
