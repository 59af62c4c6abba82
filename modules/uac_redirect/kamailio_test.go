package uac_redirect_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: the call goes to X-Dst; its 3xx is turned into branches in
// failure_route by get_redirects(X-Max), with the filters X-Accept and
// X-Deny when given, and relayed.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "uac_redirect.so"
modparam("uac_redirect", "deny_filter", "^sip:blocked@")
modparam("uac_redirect", "acc_function", "")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("ACK")) {
		t_relay();
		exit;
	}
	$du = $hdr(X-Dst);
	t_on_failure("REDIRECT");
	t_relay();
}

failure_route[REDIRECT] {
	if (!t_check_status("3[0-9][0-9]")) {
		exit;
	}
	if ($hdr(X-Accept) == "blocked") {
		set_accept_filter("^sip:blocked@", "");
	}
	if ($hdr(X-Deny) == "c1") {
		set_deny_filter("^sip:c1@", "reset_default");
	}
	$du = $null;
	if ($hdr(X-Max) == "1") {
		$var(rc) = get_redirects("1");
	} else if ($hdr(X-Max) == "2:1") {
		$var(rc) = get_redirects("2:1");
	} else {
		$var(rc) = get_redirects("*");
	}
	if ($var(rc) > 0) {
		t_relay();
	} else {
		t_reply("404", "No redirect taken");
	}
}
`

// flow: the caller's INVITE, a 302 with the contacts given (each %s is a
// UA of the test, named by its letter), then which UA gets an INVITE,
// with what request URI; every one answers 486, the caller's final
// reply.
func flow(t *testing.T, proxy netip.AddrPort, max, accept, deny string, contacts []string) []string {
	caller, first := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	uas := map[string]*kamailiotest.UA{}
	for _, l := range "abcd" {
		uas[string(l)] = kamailiotest.NewUA(t)
	}
	var cts []string
	for _, c := range contacts {
		for l, u := range uas {
			c = strings.ReplaceAll(c, "@"+l+">", "@"+u.Addr()+">")
		}
		cts = append(cts, "Contact: "+c+"\r\n")
	}
	extra := ""
	if accept != "" {
		extra += "X-Accept: " + accept + "\n"
	}
	if deny != "" {
		extra += "X-Deny: " + deny + "\n"
	}
	caller.Send(proxy, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-d1\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=c1\nTo: <sip:bob@example.com>\nCall-ID: rd-"+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+">\nX-Case: rd\nX-Max: "+max+"\nX-Dst: sip:"+first.Addr()+"\n"+extra+"Content-Length: 0\n\n")
	inv, _ := first.Recv("INVITE ")
	first.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "302 Moved", "f1", strings.Join(cts, "")))
	var seen []string
	for l, u := range uas {
		m, ok := u.TryRecv("INVITE ", 300*time.Millisecond)
		if !ok {
			continue
		}
		line, _, _ := strings.Cut(m, "\r\n")
		seen = append(seen, l+": "+strings.ReplaceAll(line, u.Addr(), l))
		u.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "486 Busy", "u"+l, ""))
	}
	if m, ok := first.TryRecv("INVITE ", 100*time.Millisecond); ok {
		line, _, _ := strings.Cut(m, "\r\n")
		seen = append(seen, "the first again: "+line)
	}
	sort.Strings(seen)
	fin := caller.RecvWith("SIP/2.0 ", "CSeq: 1 INVITE")
	for strings.HasPrefix(fin, "SIP/2.0 1") {
		fin = caller.RecvWith("SIP/2.0 ", "CSeq: 1 INVITE")
	}
	status, _, _ := strings.Cut(fin, "\r\n")
	return append(seen, "caller: "+status)
}

// TestKamailioDifferential: Kamailio 5.6 and kemi take the same contacts
// of a 302 as branches: the highest q within the limits ("*", "N",
// "N:M"), the module's deny filter, the script's accept and deny
// filters (reset_default), and none left (404 from the script).
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	cts := []string{"<sip:b1@b>;q=0.5", "<sip:c1@c>;q=0.9", "<sip:blocked@d>;q=1.0", "<sip:a1@a>"}
	for _, c := range []struct {
		max, accept, deny string
		contacts          []string
	}{
		{"*", "", "", cts},
		{"1", "", "", cts},
		{"2:1", "", "", cts},
		{"*", "blocked", "", cts},
		{"*", "", "c1", cts},
		{"*", "", "", []string{"<sip:blocked@a>"}},
	} {
		k, e := flow(t, pair.Kamailio, c.max, c.accept, c.deny, c.contacts), flow(t, pair.Kemi, c.max, c.accept, c.deny, c.contacts)
		name := fmt.Sprintf("max %s accept %q deny %q", c.max, c.accept, c.deny)
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", name, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
		} else {
			t.Logf("%s:\n  %s", name, strings.Join(e, "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}
