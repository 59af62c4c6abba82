package pv_headers_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg relays every request to the callee %[2]s. Calls with X-Case:
// plain only go through pv_headers' own collect and apply; the others
// change headers in request_route, branch_route and onreply_route, and
// write what the $x_* variables read into X-Vals (textops) on the way.
const diffCfg = `#!KAMAILIO
%[1]s
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "uac.so"
loadmodule "textops.so"
loadmodule "pv_headers.so"
modparam("uac", "restore_mode", "none")
modparam("pv_headers", "split_headers", "Diversion")

request_route {
	if (is_method("OPTIONS")) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "plain" || is_method("ACK|BYE")) {
		t_relay_to_udp("127.0.0.1", "%[2]s");
		exit;
	}
	$x_hdr(X-Added) = "one";
	$x_hdr(X-Added) = "two";
	$(x_hdr(Subject)[0]) = "changed";
	pvh_remove_header("X-Gone");
	pvh_append_header("P-Asserted-Identity", "<sip:pai@example.com>");
	$(x_hdr(Diversion)[1]) = "<sip:d2new@x>";
	$x_fU = "carol";
	$x_tn = "Bobby";
	append_hf("X-Vals: fu=$x_fu fU=$x_fU fd=$x_fd fn=$x_fn ft=$x_ft tu=$x_tu tn=$x_tn hdr=$x_hdr(X-Added) last=$(x_hdr(X-Added)[-1]) div=$(x_hdr(Diversion)[1]) chk=$xavi(headers=>Subject)\r\n");
	if (pvh_check_header("X-Params")) {
		append_hf("X-Check: yes\r\n");
	}
	t_on_branch("BR");
	t_on_reply("RE");
	t_relay_to_udp("127.0.0.1", "%[2]s");
}

branch_route[BR] {
	$x_hdr(X-Branch) = "b" + $T_branch_idx;
	pvh_remove_header_param("X-Params", "b=2");
	if (pvh_header_param_exists("X-Params", "c=3")) {
		$x_hdr(X-Has-C) = "yes";
	}
}

onreply_route[RE] {
	$x_hdr(X-Reply) = "r" + $x_rs;
	pvh_remove_header("X-Secret");
	if ($rs == 180) {
		$x_rr = "Ringing Now";
	}
}
`

var proxyBranch = regexp.MustCompile(`(?m)^Via: SIP/2.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK[^-][^\r\n]*\r\n`)

// normal is a message with the proxy's own Via and the UAs' ports made
// alike: what is left must be the same from both servers.
func normal(m string, uas ...*kamailiotest.UA) string {
	m = proxyBranch.ReplaceAllString(m, "Via: <proxy>\r\n")
	for i, u := range uas {
		_, port, _ := strings.Cut(u.Addr(), ":")
		m = strings.ReplaceAll(m, ":"+port, fmt.Sprintf(":<ua%d>", i))
		m = strings.ReplaceAll(m, "="+port, fmt.Sprintf("=<ua%d>", i))
	}
	return m
}

// side is one server of the comparison with its caller and callee.
type side struct {
	srv            netip.AddrPort
	caller, callee *kamailiotest.UA
}

func invite(s side, id, xcase string) string {
	a := s.caller.Addr()
	return "INVITE sip:bob@" + s.callee.Addr() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + a + ";branch=z9hG4bK-" + id + ";rport\r\nMax-Forwards: 70\r\n" +
		"From: \"Alice A\" <sip:alice@example.com>;tag=ft1\r\nTo: <sip:bob@example.com>\r\nCall-ID: " + id + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@" + a + ">\r\nSubject: original\r\nX-Gone: bye\r\nDiversion: <sip:d1@x>,<sip:d2@x>\r\nX-Params: a=1, b=2, c=3\r\n" +
		"User-Agent: test\r\nX-Case: " + xcase + "\r\nX-Gone: bye2\r\nv: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-compact\r\nContent-Length: 0\r\n\r\n"
}

// call runs a call through s: INVITE, 180 and 200 from the callee, ACK
// and BYE from the caller, 200 to the BYE; it returns what each end got.
func call(t *testing.T, s side, id, xcase string) []string {
	var got []string
	s.caller.Send(s.srv, invite(s, id, xcase))
	inv, _ := s.callee.Recv("INVITE ")
	got = append(got, normal(inv, s.caller, s.callee))
	back := kamailiotest.ViaAddr(t, inv)
	s.callee.Send(back, kamailiotest.Reply(inv, "180 Ringing", "tt1", "Server: uas\r\nX-Secret: s\r\nAllow: INVITE\r\nX-Secret: s2\r\n"))
	r, _ := s.caller.Recv("SIP/2.0 180")
	got = append(got, normal(r, s.caller, s.callee))
	s.callee.Send(back, kamailiotest.Reply(inv, "200 OK", "tt1", "Server: uas\r\nX-Secret: s\r\nContact: <sip:bob@"+s.callee.Addr()+">\r\n"))
	r, _ = s.caller.Recv("SIP/2.0 200")
	got = append(got, normal(r, s.caller, s.callee))
	to := kamailiotest.Hdr(r, "To")
	a := s.caller.Addr()
	for _, m := range []string{"ACK", "BYE"} {
		s.caller.Send(s.srv, m+" sip:bob@"+s.callee.Addr()+" SIP/2.0\r\nVia: SIP/2.0/UDP "+a+";branch=z9hG4bK-"+id+m+";rport\r\nMax-Forwards: 70\r\n"+
			"From: \"Alice A\" <sip:alice@example.com>;tag=ft1\r\nTo: "+to+"\r\nCall-ID: "+id+"\r\nCSeq: 2 "+m+"\r\nX-Gone: a\r\nUser-Agent: test\r\nX-Gone: b\r\nContent-Length: 0\r\n\r\n")
		req, _ := s.callee.Recv(m + " ")
		got = append(got, normal(req, s.caller, s.callee))
		if m == "BYE" {
			s.callee.Send(kamailiotest.ViaAddr(t, req), kamailiotest.Reply(req, "200 OK", "tt1", "X-Secret: s\r\n"))
			r, _ = s.caller.Recv("SIP/2.0 200")
			got = append(got, normal(r, s.caller, s.callee))
		}
	}
	return got
}

// TestKamailioDifferential: the same calls through Kamailio 5.6 and kemi
// with pv_headers reach each end the same, byte for byte but the proxy's
// Via and the ports: the INVITE with its headers changed in
// request_route (added, modified, removed, split Diversion values, From
// and To parts through uac) and in branch_route (a branch copy; a
// parameter removed), the 180 and 200 changed in onreply_route (a header
// removed and one added, the reason phrase), the ACK and BYE relayed
// without apply; and a call the script leaves alone, whose headers
// pv_headers' own collect and apply still regroup as Kamailio's do.
func TestKamailioDifferential(t *testing.T) {
	sides := map[bool]*side{}
	pair := kamailiotest.StartPair(t, func(listen string) string {
		s := &side{caller: kamailiotest.NewUA(t), callee: kamailiotest.NewUA(t)}
		sides[listen != ""] = s
		_, port, _ := strings.Cut(s.callee.Addr(), ":")
		return fmt.Sprintf(diffCfg, listen, port)
	})
	sides[true].srv, sides[false].srv = pair.Kamailio, pair.Kemi
	what := []string{"INVITE", "180", "200", "ACK", "BYE", "200 to BYE"}
	for _, xcase := range []string{"full", "plain"} {
		k := call(t, *sides[true], "pvh-"+xcase, xcase)
		e := call(t, *sides[false], "pvh-"+xcase, xcase)
		for i := range k {
			if k[i] != e[i] {
				t.Errorf("%s call, %s:\nKamailio:\n%s\nkemi:\n%s", xcase, what[i], k[i], e[i])
			}
		}
		t.Logf("%s call: the INVITE Kamailio and kemi sent on:\n%s", xcase, k[0])
	}
}
