package tm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// stateCfg relays an INVITE to the callee %[2]s with an AVP, an XAVP and
// flag 3 set; onreply_route writes what it reads of them into each reply
// and sets more, failure_route writes what it reads into its own reply.
const stateCfg = `#!KAMAILIO
%[1]s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"

request_route {
	if (is_method("OPTIONS")) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (!is_method("INVITE")) {
		t_relay_to_udp("127.0.0.1", "%[2]s");
		exit;
	}
	$avp(a) = "req";
	$xavp(x=>y) = "reqx";
	setflag(3);
	t_on_reply("RE");
	t_on_failure("FA");
	t_relay_to_udp("127.0.0.1", "%[2]s");
}

onreply_route[RE] {
	$var(f) = "no";
	if (isflagset(3)) { $var(f) = "yes"; }
	append_hf("X-R: $rs a=$avp(a) b=$avp(b) x=$xavp(x=>y) z=$xavp(x=>z) f3=$var(f)\r\n");
	$avp(b) = "rpl" + $rs;
	$xavp(x=>z) = "rplx" + $rs;
	setflag(4);
}

failure_route[FA] {
	$var(f) = "no";
	if (isflagset(4)) { $var(f) = "yes"; }
	append_to_reply("X-F: a=$avp(a) b=$avp(b) x=$xavp(x=>y) z=$xavp(x=>z) f4=$var(f)\r\n");
	t_reply("500", "Failed");
}
`

// TestKamailioReplyRouteState: onreply_route reads and writes the
// transaction's AVPs, XAVPs and flags, as Kamailio 5.6's tm has it — what
// the request route set is there for each reply, and what it sets is there
// for the next reply and for failure_route.
func TestKamailioReplyRouteState(t *testing.T) {
	callee := map[string]*kamailiotest.UA{}
	pair := kamailiotest.StartPair(t, func(listen string) string {
		ua := kamailiotest.NewUA(t)
		if strings.Contains(listen, "listen") {
			callee["kamailio"] = ua
		} else {
			callee["kemi"] = ua
		}
		_, port, _ := strings.Cut(ua.Addr(), ":")
		return fmt.Sprintf(stateCfg, listen, port)
	})
	run := func(who string) []string {
		srv, uas := pair.Kemi, callee["kemi"]
		if who == "kamailio" {
			srv, uas = pair.Kamailio, callee["kamailio"]
		}
		caller := kamailiotest.NewUA(t)
		a := caller.Addr()
		caller.Send(srv, "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "+a+";branch=z9hG4bK-st1;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\nCall-ID: state-"+who+"\r\nCSeq: 1 INVITE\r\n"+
			"Contact: <sip:alice@"+a+">\r\nContent-Length: 0\r\n\r\n")
		inv, _ := uas.Recv("INVITE ")
		back := kamailiotest.ViaAddr(t, inv)
		var got []string
		uas.Send(back, kamailiotest.Reply(inv, "180 Ringing", "t1", ""))
		r, _ := caller.Recv("SIP/2.0 180")
		got = append(got, kamailiotest.Hdrs(r, "X-R"))
		uas.Send(back, kamailiotest.Reply(inv, "486 Busy Here", "t1", ""))
		r, _ = caller.Recv("SIP/2.0 500")
		got = append(got, kamailiotest.Hdrs(r, "X-R", "X-F"))
		return got
	}
	k, e := run("kamailio"), run("kemi")
	if strings.Join(k, "") != strings.Join(e, "") {
		t.Errorf("Kamailio:\n%s\nkemi:\n%s", strings.Join(k, ""), strings.Join(e, ""))
	} else {
		t.Logf("both:\n%s", strings.Join(e, ""))
	}
}
