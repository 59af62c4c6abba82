package nat_traversal_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: a REGISTER is tested for NAT (each test alone and all, in
// X-NAT), its Contact fixed, kept alive, and relayed to the registrar of
// X-Dst — or saved here with X-Case "save"; an OPTIONS with X-Case "q"
// says $source_uri and the keepalive socket of X-U.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "nat_traversal.so"
modparam("nat_traversal", "keepalive_interval", 10)
modparam("nat_traversal", "keepalive_state_file", "%s")
modparam("nat_traversal", "keepalive_extra_headers", "X-KA: 1\r\n")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "q") {
		$var(u) = $hdr(X-U);
		append_to_reply("X-R: $source_uri $keepalive.socket($var(u))\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	$var(n) = "";
	client_nat_test("1"); $var(n) = $var(n) + $rc;
	client_nat_test("2"); $var(n) = $var(n) + " " + $rc;
	client_nat_test("4"); $var(n) = $var(n) + " " + $rc;
	client_nat_test("7"); $var(n) = $var(n) + " " + $rc;
	fix_contact();
	nat_keepalive();
	if ($hdr(X-Case) == "save") {
		save("location");
		exit;
	}
	append_hf("X-NAT: $var(n)\r\n");
	$du = $hdr(X-Dst);
	t_relay();
}
`

// register sends a REGISTER from ua (its Via and Contact saying a
// private address) through proxy; relayed to registrar when given, else
// saved there. It returns what the registrar saw.
func register(t *testing.T, proxy netip.AddrPort, ua, registrar *kamailiotest.UA) []string {
	cse, dst := "save", ""
	if registrar != nil {
		cse, dst = "relay", "X-Dst: sip:"+registrar.Addr()+"\n"
	}
	ua.Send(proxy, "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-n1;rport\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:alice@example.com>\nCall-ID: nat-"+cse+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 REGISTER\n"+
		"Contact: <sip:alice@192.168.1.10:5060;ob>\nExpires: 60\nX-Case: "+cse+"\n"+dst+"Content-Length: 0\n\n")
	if registrar == nil {
		ua.Recv("SIP/2.0 200")
		return nil
	}
	reg, _ := registrar.Recv("REGISTER ")
	registrar.Send(kamailiotest.ViaAddr(t, reg), kamailiotest.Reply(reg, "200 OK", "r1", "Contact: <"+contactURI(kamailiotest.Hdr(reg, "Contact"))+">;expires=60\r\n"))
	ua.Recv("SIP/2.0 200")
	return []string{"X-NAT: " + kamailiotest.Hdr(reg, "X-NAT"), "Contact: " + strings.ReplaceAll(kamailiotest.Hdr(reg, "Contact"), ua.Addr(), "UA")}
}

func contactURI(h string) string {
	h = strings.TrimPrefix(h, "<")
	u, _, _ := strings.Cut(h, ">")
	return u
}

var (
	tagRe    = regexp.MustCompile(`tag=[0-9a-f]+`)
	branchRe = regexp.MustCompile(`branch=z9hG4bK[0-9]{7}`)
	callRe   = regexp.MustCompile(`Call-ID: [0-9a-f]+-[0-9a-f]+-[0-9a-f]+@`)
)

// keepalive waits for the proxy's keepalive to ua and returns it, the
// random parts and the addresses written as names.
func keepalive(t *testing.T, proxy netip.AddrPort, ua *kamailiotest.UA) string {
	m, ok := ua.TryRecv("NOTIFY ", 12*time.Second)
	if !ok {
		t.Fatalf("no keepalive to %s in 12 s", ua.Addr())
	}
	m = strings.ReplaceAll(m, ua.Addr(), "UA")
	m = strings.ReplaceAll(m, proxy.String(), "PROXY")
	m = tagRe.ReplaceAllString(m, "tag=T")
	m = branchRe.ReplaceAllString(m, "branch=z9hG4bKB")
	return callRe.ReplaceAllString(m, "Call-ID: C-C-C@")
}

func query(t *testing.T, proxy netip.AddrPort, ua *kamailiotest.UA) string {
	q := kamailiotest.NewUA(t)
	q.Send(proxy, "OPTIONS sip:proxy SIP/2.0\nVia: SIP/2.0/UDP "+q.Addr()+";branch=z9hG4bK-q\nMax-Forwards: 70\nFrom: <sip:q@x>;tag=q\nTo: <sip:proxy>\n"+
		"Call-ID: q-"+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 OPTIONS\nX-Case: q\nX-U: sip:"+ua.Addr()+"\nContent-Length: 0\n\n")
	r, _ := q.Recv("SIP/2.0 200")
	x := strings.ReplaceAll(kamailiotest.Hdr(r, "X-R"), q.Addr(), "Q")
	return strings.ReplaceAll(x, proxy.String(), "PROXY")
}

// TestKamailioDifferential: Kamailio 5.6 and kemi agree on the NAT tests
// and the fixed Contact of a REGISTER from behind a NAT, keep the
// binding alive after the relayed REGISTER's 200 and after a 200 of
// their own registrar, with the same NOTIFY (the random parts aside),
// and say the same $source_uri and $keepalive.socket.
func TestKamailioDifferential(t *testing.T) {
	dir := t.TempDir()
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" {
			return fmt.Sprintf(diffCfg, listen, filepath.Join(dir, "kamailio.state"))
		}
		return fmt.Sprintf(diffCfg, "", filepath.Join(dir, "kemi.state"))
	})
	compare := func(name string, k, e []string) {
		t.Helper()
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", name, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
		} else {
			t.Logf("%s:\n  %s", name, strings.Join(e, "\n  "))
		}
	}
	kua, eua, kreg, ereg := kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	compare("relayed REGISTER", register(t, pair.Kamailio, kua, kreg), register(t, pair.Kemi, eua, ereg))
	ksave, esave := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	register(t, pair.Kamailio, ksave, nil)
	register(t, pair.Kemi, esave, nil)
	compare("query", []string{query(t, pair.Kamailio, ksave)}, []string{query(t, pair.Kemi, esave)})
	compare("keepalive after a local REGISTER", []string{keepalive(t, pair.Kamailio, ksave)}, []string{keepalive(t, pair.Kemi, esave)})
	// The relayed REGISTER's 200 names the fixed Contact, the request the
	// one received: they do not match (contact_match 0), and neither
	// keeps that binding alive.
	none := func(ua *kamailiotest.UA) []string {
		if m, ok := ua.TryRecv("NOTIFY ", 100*time.Millisecond); ok {
			return []string{"a keepalive: " + m}
		}
		return []string{"no keepalive"}
	}
	compare("relayed REGISTER, keepalive", none(kua), none(eua))
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}

// dlgCfg: with the dialog module (dlg_flag 4), an initial INVITE has the
// flag before the script runs; X-KA asks nat_keepalive; the callee sees
// both in X-Flag. An OPTIONS with X-Case "q" says the statistics.
const dlgCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "kex.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "dialog.so"
loadmodule "nat_traversal.so"
modparam("dialog", "dlg_flag", 4)
modparam("nat_traversal", "keepalive_interval", 10)
modparam("nat_traversal", "keepalive_state_file", "%s")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "q") {
		append_to_reply("X-R: dialogs=$stat(dialog_endpoints) bindings=$stat(keepalive_endpoints)\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	if (has_totag()) {
		if (loose_route() || is_method("ACK")) {
			t_relay();
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	$var(f) = "unset";
	if (isflagset(4)) {
		$var(f) = "set";
	}
	$var(ka) = "none";
	if ($hdr(X-KA) != $null) {
		nat_keepalive();
		$var(ka) = $rc;
	}
	append_hf("X-Flag: $var(f) $var(ka)\r\n");
	$du = $hdr(X-Dst);
	t_relay();
}
`

// TestKamailioDialogs: Kamailio 5.6 and kemi keep a caller that asked
// nat_keepalive on its INVITE alive while the call lasts — the same
// NOTIFY to it, one dialog endpoint — and forget it once the call ended.
func TestKamailioDialogs(t *testing.T) {
	dir := t.TempDir()
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" {
			return fmt.Sprintf(dlgCfg, listen, filepath.Join(dir, "kamailio.state"))
		}
		return fmt.Sprintf(dlgCfg, "", filepath.Join(dir, "kemi.state"))
	})
	stats := func(proxy netip.AddrPort) string {
		q := kamailiotest.NewUA(t)
		q.Send(proxy, "OPTIONS sip:proxy SIP/2.0\nVia: SIP/2.0/UDP "+q.Addr()+";branch=z9hG4bK-q\nMax-Forwards: 70\nFrom: <sip:q@x>;tag=q\nTo: <sip:proxy>\n"+
			"Call-ID: q-"+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 OPTIONS\nX-Case: q\nContent-Length: 0\n\n")
		r, _ := q.Recv("SIP/2.0 200")
		return kamailiotest.Hdr(r, "X-R")
	}
	type call struct {
		proxy          netip.AddrPort
		caller, callee *kamailiotest.UA
		rr, callID     string
	}
	start := func(proxy netip.AddrPort) (*call, []string) {
		c := &call{proxy: proxy, caller: kamailiotest.NewUA(t), callee: kamailiotest.NewUA(t), callID: fmt.Sprintf("natdlg-%d", time.Now().UnixNano())}
		c.caller.Send(proxy, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-i1\nMax-Forwards: 70\n"+
			"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: "+c.callID+"\nCSeq: 1 INVITE\n"+
			"Contact: <sip:alice@"+c.caller.Addr()+">\nX-KA: 1\nX-Dst: sip:"+c.callee.Addr()+"\nContent-Length: 0\n\n")
		inv, _ := c.callee.Recv("INVITE ")
		c.rr = kamailiotest.Hdr(inv, "Record-Route")
		c.callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "180 Ringing", "b1", "Contact: <sip:bob@"+c.callee.Addr()+">\r\n"))
		c.callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "200 OK", "b1", "Contact: <sip:bob@"+c.callee.Addr()+">\r\n"))
		c.caller.Recv("SIP/2.0 200")
		c.caller.Send(proxy, "ACK sip:bob@"+c.callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-a1\nMax-Forwards: 70\n"+
			"Route: "+c.rr+"\nFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: "+c.callID+"\nCSeq: 1 ACK\nContent-Length: 0\n\n")
		c.callee.Recv("ACK ")
		return c, []string{"X-Flag: " + kamailiotest.Hdr(inv, "X-Flag"), "answered: " + stats(proxy)}
	}
	compare := func(name string, k, e []string) {
		t.Helper()
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", name, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
		} else {
			t.Logf("%s:\n  %s", name, strings.Join(e, "\n  "))
		}
	}
	kc, kout := start(pair.Kamailio)
	ec, eout := start(pair.Kemi)
	compare("call", kout, eout)
	compare("keepalive", []string{keepalive(t, pair.Kamailio, kc.caller)}, []string{keepalive(t, pair.Kemi, ec.caller)})
	for _, c := range []*call{kc, ec} {
		c.caller.Send(c.proxy, "BYE sip:bob@"+c.callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-b1\nMax-Forwards: 70\n"+
			"Route: "+c.rr+"\nFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: "+c.callID+"\nCSeq: 2 BYE\nContent-Length: 0\n\n")
		b, _ := c.callee.Recv("BYE ")
		c.callee.Send(kamailiotest.ViaAddr(t, b), kamailiotest.Reply(b, "200 OK", "b1", ""))
		c.caller.Recv("SIP/2.0 200")
	}
	// Both forget a dialog a few seconds after its BYE (tm's wait time).
	// (Kamailio drops a binding when the timer reaches its slot, once in
	// keepalive_interval; kemi looks at every binding each second: the
	// bindings are not compared.)
	time.Sleep(7 * time.Second)
	dialogs := func(proxy netip.AddrPort) []string {
		d, _, _ := strings.Cut(stats(proxy), " bindings=")
		return []string{d}
	}
	compare("after the BYE", dialogs(pair.Kamailio), dialogs(pair.Kemi))
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}
