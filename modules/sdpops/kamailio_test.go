package sdpops_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg runs the sdpops operations X-Op names on the request, puts the
// results in X-R and forwards it to X-Dst: the test compares the SDP and
// X-R that arrive from each server.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "sdpops.so"

request_route {
	if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
	if (is_method("ACK")) { exit; }
	if ($hdr(X-Op) == "sipp") {
		# the sipp run: keep PCMU only and answer 488 when no audio is left
		if (!sdp_with_active_media("audio")) { sl_send_reply("488", "No audio"); exit; }
		sdp_keep_codecs_by_name("PCMU");
		if (sdp_with_codecs_by_id("0")) { sl_send_reply("200", "OK"); } else { sl_send_reply("488", "Not PCMU"); }
		exit;
	}
	$var(r) = "";
	$var(op) = $hdr(X-Op);
	if ($var(op) == "1") { sdp_remove_codecs_by_id("8,101"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "2") { sdp_remove_codecs_by_id("0,96", "video"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "3") { sdp_remove_codecs_by_name("PCMA,telephone-event"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "4") { sdp_keep_codecs_by_id("0,101"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "5") { sdp_keep_codecs_by_name("H264", "video"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "6") { sdp_remove_media("video"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "7") { sdp_remove_transport("RTP/SAVP"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "8") {
		sdp_remove_line_by_prefix("a=rtcp-fb"); $var(r) = $var(r) + " rc=" + $rc;
		sdp_remove_line_by_prefix("a=candidate", "audio"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "9") {
		sdp_remove_codecs_by_name("PCMU"); $var(r) = $var(r) + " rc=" + $rc;
		sdp_keep_codecs_by_id("8,0"); $var(r) = $var(r) + " rc=" + $rc;
		sdp_remove_media("video"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "10") { $sdp(sess_version) = -1; }
	if ($var(op) == "11") { $sdp(sess_version) = 77; sdp_remove_codecs_by_id("0"); }
	sdp_with_media("video"); $var(r) = $var(r) + " wm=" + $rc;
	sdp_with_active_media("video"); $var(r) = $var(r) + " wam=" + $rc;
	sdp_with_active_media("audio"); $var(r) = $var(r) + " waa=" + $rc;
	sdp_with_codecs_by_id("0,99"); $var(r) = $var(r) + " wci=" + $rc;
	sdp_with_codecs_by_id("0,8"); $var(r) = $var(r) + " wci2=" + $rc;
	sdp_with_codecs_by_name("PCMA,G729"); $var(r) = $var(r) + " wcn=" + $rc;
	sdp_with_codecs_by_name("opus"); $var(r) = $var(r) + " wcn2=" + $rc;
	sdp_with_transport("RTP/AVP"); $var(r) = $var(r) + " wt=" + $rc;
	sdp_with_transport_like("SAVP"); $var(r) = $var(r) + " wtl=" + $rc;
	sdp_with_ice(); $var(r) = $var(r) + " ice=" + $rc;
	sdp_content(); $var(r) = $var(r) + " ct=" + $rc;
	sdp_get_line_startswith("$avp(l)", "a=rtpmap:101"); $var(r) = $var(r) + " gl=" + $rc + "/" + $avp(l);
	sdp_transport("$avp(t)"); $var(r) = $var(r) + " tr=" + $rc + "/" + $avp(t);
	$var(r) = $var(r) + " sv=" + $sdp(sess_version);
	append_hf("X-R:$var(r)\r\n");
	$du = $hdr(X-Dst);
	forward();
}
`

const richSDP = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 49170 RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=candidate:1 1 UDP 2130706431 192.0.2.10 49170 typ host\r\na=sendrecv\r\n" +
	"m=video 51372 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f\r\na=rtcp-fb:96 nack\r\n" +
	"a=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack pli\r\na=candidate:2 1 UDP 2130706431 192.0.2.10 51372 typ host\r\n" +
	"m=audio 0 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"

const holdSDP = "v=0\r\no=bob 1 7 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 8 0\r\na=inactive\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"

// send sends an INVITE with op and body (and Content-Type ct) to srv,
// forwarded to dst; it returns what dst receives.
func send(t *testing.T, srv netip.AddrPort, dst *net.UDPConn, op, ct, body string) *sip.Msg {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	id := fmt.Sprintf("sdp-%d", time.Now().UnixNano())
	hdrs := ""
	if ct != "" {
		hdrs = "Content-Type: " + ct + "\r\n"
	}
	msg := fmt.Sprintf("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:a@%s>\r\nX-Op: %s\r\nX-Dst: sip:%s\r\n%sContent-Length: %d\r\n\r\n%s",
		me, id, id, me, op, dst.LocalAddr(), hdrs, len(body), body)
	c.WriteToUDPAddrPort([]byte(msg), srv)
	buf := make([]byte, 65536)
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := dst.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("op %s: nothing forwarded by %s: %v", op, srv, err)
		}
		var m sip.Msg
		if m.Parse(append([]byte(nil), buf[:n]...)) == nil && string(m.CallID()) == id {
			return &m
		}
	}
}

// TestKamailioDifferential: Kamailio 5.6 and kemi on the same config edit
// the same SDPs the same way — codecs removed and kept by id and name
// (with their rtpmap, fmtp and rtcp-fb lines), streams removed by media
// and transport, lines by prefix, edits that overlap, the session
// version set — and answer the same to every test; then sipp calls
// through kemi on the same config.
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	dst, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	type tc struct{ op, ct, body string }
	var cases []tc
	for _, op := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"} {
		cases = append(cases, tc{op, "application/sdp", richSDP})
	}
	cases = append(cases, tc{"0", "application/sdp", holdSDP}, tc{"4", "application/sdp", holdSDP},
		tc{"6", "application/sdp", holdSDP}, tc{"0", "", ""}, tc{"1", "text/plain", "v=0\r\n"},
		tc{"1", "application/sdp", "v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"})
	for _, c := range cases {
		km, em := send(t, pair.Kamailio, dst, c.op, c.ct, c.body), send(t, pair.Kemi, dst, c.op, c.ct, c.body)
		kb, eb := string(km.Body()), string(em.Body())
		kr, er := kamailiotest.Header(km, "X-R"), kamailiotest.Header(em, "X-R")
		if kb != eb || kr != er {
			t.Errorf("op %s, %q body of %d bytes:\nKamailio %s\n%s\nkemi     %s\n%s", c.op, c.ct, len(c.body), kr, kb, er, eb)
		} else {
			t.Logf("op %s: %s (%d bytes left)", c.op, er, len(eb))
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
	sipp := sipptest.Need(t)
	sipptest.Run(t, sipp, sipptest.Scenario("invite-sdp.xml"), "u1", pair.Kemi.String(), 50, 50, "-s", "bob")
}
