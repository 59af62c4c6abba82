package tsilo_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: a registrar whose INVITEs are kept in the silo; a REGISTER
// appends its new contact to them (ts_append with X-Case "all",
// ts_append_by_contact with "contact").
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "tsilo.so"

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("REGISTER")) {
		save("location");
		if ($hdr(X-Case) == "contact") {
			ts_append_by_contact("location", "$tu");
		} else {
			ts_append("location", "$tu");
		}
		exit;
	}
	if (is_method("CANCEL") || is_method("ACK")) {
		t_relay();
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	t_newtran();
	ts_store();
	t_relay();
}
`

func register(t *testing.T, proxy netip.AddrPort, ua *kamailiotest.UA, cse string) {
	ua.Send(proxy, "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP "+ua.Addr()+";branch=z9hG4bK-r"+fmt.Sprint(time.Now().UnixNano())+"\nMax-Forwards: 70\n"+
		"From: <sip:bob@example.com>;tag=r1\nTo: <sip:bob@example.com>\nCall-ID: reg-"+ua.Addr()+"\nCSeq: 1 REGISTER\n"+
		"Contact: <sip:bob@"+ua.Addr()+">\nExpires: 60\nX-Case: "+cse+"\nContent-Length: 0\n\n")
	ua.Recv("SIP/2.0 200")
}

// flow: bob's first phone registers and rings; the call waits in the
// silo; bob's second phone registers and gets the call, answers it; the
// first is cancelled.
func flow(t *testing.T, proxy netip.AddrPort, cse string) []string {
	caller, a, b := kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	register(t, proxy, a, cse)
	callID := fmt.Sprintf("ts-%d", time.Now().UnixNano())
	caller.Send(proxy, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-i1\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: "+callID+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+">\nContent-Length: 0\n\n")
	inv1, _ := a.Recv("INVITE ")
	a.Send(kamailiotest.ViaAddr(t, inv1), kamailiotest.Reply(inv1, "180 Ringing", "ta", ""))
	caller.Recv("SIP/2.0 180")
	register(t, proxy, b, cse)
	var seen []string
	line := func(who string, m string, ua *kamailiotest.UA) {
		l, _, _ := strings.Cut(m, "\r\n")
		seen = append(seen, who+": "+strings.ReplaceAll(l, ua.Addr(), "UA")+" same call "+fmt.Sprint(kamailiotest.Hdr(m, "Call-ID") == callID))
	}
	line("a", inv1, a)
	inv2, ok := b.TryRecv("INVITE ", 2*time.Second)
	if !ok {
		return append(seen, "b: no INVITE")
	}
	line("b", inv2, b)
	b.Send(kamailiotest.ViaAddr(t, inv2), kamailiotest.Reply(inv2, "200 OK", "tb", "Contact: <sip:bob@"+b.Addr()+">\r\n"))
	ok200 := caller.RecvWith("SIP/2.0 ", "CSeq: 1 INVITE")
	for strings.HasPrefix(ok200, "SIP/2.0 1") {
		ok200 = caller.RecvWith("SIP/2.0 ", "CSeq: 1 INVITE")
	}
	st, _, _ := strings.Cut(ok200, "\r\n")
	seen = append(seen, "caller: "+st)
	if cancel, ok := a.TryRecv("CANCEL ", 2*time.Second); ok {
		line("a", cancel, a)
		a.Send(kamailiotest.ViaAddr(t, cancel), kamailiotest.Reply(cancel, "200 OK", "ta", ""))
	} else {
		seen = append(seen, "a: no CANCEL")
	}
	return seen
}

// TestKamailioDifferential: Kamailio 5.6 and kemi give a waiting call a
// branch to the contact registered after it, with ts_append and
// ts_append_by_contact, and cancel the first branch when the new one
// answers.
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	for _, cse := range []string{"all", "contact"} {
		k, e := flow(t, pair.Kamailio, cse), flow(t, pair.Kemi, cse)
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", cse, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
		} else {
			t.Logf("%s:\n  %s", cse, strings.Join(e, "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}
