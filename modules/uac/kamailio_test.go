package uac_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// diffCfg: X-Case picks what the proxy does with a request from the
// caller: "replace" rewrites From and To (auto restore, a password on
// the parameter), "auth" relays to a callee that challenges and answers
// in failure_route with uac_auth, "send" makes a request of its own with
// $uac_req (credentials, an event route that reports each final status
// in a MESSAGE), "reg" answers with the state of the uacreg registration.
// $du comes from X-Dst.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "db_sqlite.so"
loadmodule "uac.so"
modparam("rr", "append_fromtag", 1)
modparam("uac", "restore_passwd", "s3cret")
modparam("uac", "credential", "alice:carrier:pw")
modparam("uac", "reg_db_url", "%s")
modparam("uac", "reg_contact_addr", "127.0.0.1:5999")
modparam("uac", "reg_timer_interval", 1)
modparam("uac", "reg_retry_interval", 5)

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (loose_route()) {
		t_relay();
		exit;
	}
	if (is_method("ACK")) {
		t_relay();
		exit;
	}
	if ($hdr(X-Case) == "send") {
		$uac_req(method) = "OPTIONS";
		$uac_req(ruri) = "sip:carrier@carrier.example";
		$uac_req(ouri) = $hdr(X-Target);
		$uac_req(furi) = "sip:kemi@example.com";
		$uac_req(turi) = "sip:carrier@example.com";
		$uac_req(hdrs) = "X-Hello: 1\r\n";
		$uac_req(auser) = "alice";
		$uac_req(apasswd) = "pw";
		$uac_req(evroute) = 1;
		uac_req_send();
		sl_send_reply("200", "Sent");
		exit;
	}
	if ($hdr(X-Case) == "reg") {
		uac_reg_status("trunk1");
		$var(r) = "status=" + $rc;
		uac_reg_lookup("trunk1", "$var(u)");
		$var(r) = $var(r) + " lookup=" + $rc + " " + $var(u);
		uac_reg_lookup_uri("sip:trunk@local.test", "$var(id)");
		$var(r) = $var(r) + " uri=" + $rc + " " + $var(id);
		uac_reg_status("nobody");
		$var(r) = $var(r) + " none=" + $rc;
		append_to_reply("X-R: $var(r)\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	record_route();
	if ($hdr(X-Case) == "replace") {
		uac_replace_from("Carrier", "sip:+15551234@carrier.net");
		uac_replace_to("", "sip:bob@carrier.net");
	}
	$du = $hdr(X-Dst);
	t_on_failure("AUTH");
	t_relay();
}

failure_route[AUTH] {
	if (t_check_status("401|407")) {
		if (uac_auth()) {
			$du = $hdr(X-Dst);
			t_relay();
		}
	}
}

event_route[uac:reply] {
	$var(code) = $uac_req(evcode);
	$uac_req(method) = "MESSAGE";
	$uac_req(hdrs) = "X-Code: " + $var(code) + " " + $uac_req(evtype) + "\r\n";
	$uac_req(evroute) = 0;
	$uac_req(apasswd) = $null;
	uac_req_send();
}
`

var tagRe = regexp.MustCompile(`;tag=[^;>\s]+`)
var rrParams = regexp.MustCompile(`;(vsf|vst|ftag)=[^;>]+`)

// flowReplace: an INVITE with From and To replaced, its 200, then a BYE
// each way in the dialog; the From and To each side sees, and the
// proxy's Record-Route parameters.
func flowReplace(t *testing.T, proxy netip.AddrPort) []string {
	caller, callee := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	var seen []string
	note := func(where, m string) {
		seen = append(seen, where+": From: "+kamailiotest.Hdr(m, "From")+" | To: "+kamailiotest.Hdr(m, "To"))
	}
	callID := fmt.Sprintf("rep-%d", time.Now().UnixNano())
	caller.Send(proxy, "INVITE sip:bob@b.example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-r1\nMax-Forwards: 70\n"+
		"From: \"Alice\" <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@b.example.com>\nCall-ID: "+callID+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+">\nX-Case: replace\nX-Dst: sip:"+callee.Addr()+"\nContent-Length: 0\n\n")
	inv, _ := callee.Recv("INVITE ")
	note("callee INVITE", inv)
	rr := kamailiotest.Hdr(inv, "Record-Route")
	seen = append(seen, "Record-Route params: "+strings.Join(rrParams.FindAllString(rr, -1), ""))
	callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "200 OK", "e1", "Contact: <sip:bob@"+callee.Addr()+">\r\n"))
	ok, _ := caller.Recv("SIP/2.0 200")
	note("caller 200", ok)
	// The caller's BYE: its own From and To, by the Route.
	caller.Send(proxy, "BYE sip:bob@"+callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-r2\nMax-Forwards: 70\n"+
		"Route: "+rr+"\nFrom: \"Alice\" <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@b.example.com>;tag=e1\nCall-ID: "+callID+"\nCSeq: 2 BYE\nContent-Length: 0\n\n")
	bye, _ := callee.Recv("BYE ")
	note("callee BYE", bye)
	callee.Send(kamailiotest.ViaAddr(t, bye), kamailiotest.Reply(bye, "200 OK", "e1", ""))
	ok, _ = caller.Recv("SIP/2.0 200")
	note("caller BYE 200", ok)
	// The callee's BYE: From and To as the callee saw them.
	callee.Send(proxy, "BYE sip:alice@"+caller.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+callee.Addr()+";branch=z9hG4bK-r3\nMax-Forwards: 70\n"+
		"Route: "+rr+"\nFrom: "+kamailiotest.Hdr(inv, "To")+";tag=e1\nTo: "+kamailiotest.Hdr(inv, "From")+"\nCall-ID: "+callID+"\nCSeq: 1 BYE\nContent-Length: 0\n\n")
	bye, _ = caller.Recv("BYE ")
	note("caller BYE", bye)
	caller.Send(kamailiotest.ViaAddr(t, bye), kamailiotest.Reply(bye, "200 OK", "c1", ""))
	ok, _ = callee.Recv("SIP/2.0 200")
	note("callee BYE 200", ok)
	return seen
}

// flowAuth: the callee answers 407 (qop and not), the proxy's
// failure_route answers with uac_auth: the second INVITE's request line,
// CSeq and Proxy-Authorization.
func flowAuth(t *testing.T, proxy netip.AddrPort, challenge string) []string {
	caller, callee := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	callID := fmt.Sprintf("auth-%d", time.Now().UnixNano())
	caller.Send(proxy, "INVITE sip:bob@carrier.net SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-a1\nMax-Forwards: 70\n"+
		"From: <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@carrier.net>\nCall-ID: "+callID+"\nCSeq: 10 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+">\nX-Case: auth\nX-Dst: sip:"+callee.Addr()+"\nContent-Length: 0\n\n")
	inv, _ := callee.Recv("INVITE ")
	callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "407 Proxy Authentication Required", "e1", "Proxy-Authenticate: "+challenge+"\r\n"))
	inv2 := callee.RecvWith("INVITE ", "Proxy-Authorization:")
	callee.Send(kamailiotest.ViaAddr(t, inv2), kamailiotest.Reply(inv2, "200 OK", "e2", "Contact: <sip:bob@"+callee.Addr()+">\r\n"))
	ok, _ := caller.Recv("SIP/2.0 200")
	first, _, _ := strings.Cut(inv2, "\r\n")
	return []string{first, "CSeq: " + kamailiotest.Hdr(inv2, "CSeq"), "Proxy-Authorization: " + kamailiotest.Hdr(inv2, "Proxy-Authorization"),
		"caller got: " + strings.SplitN(ok, "\r\n", 2)[0]}
}

// flowSend: uac_req_send's OPTIONS, challenged with a 401, sent again
// with credentials in the same dialog; the event route's MESSAGE per
// final status.
func flowSend(t *testing.T, proxy netip.AddrPort) []string {
	caller, target := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	caller.Send(proxy, "MESSAGE sip:proxy@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-s1\nMax-Forwards: 70\n"+
		"From: <sip:t@example.com>;tag=c1\nTo: <sip:proxy@example.com>\nCall-ID: send-1\nCSeq: 1 MESSAGE\n"+
		"X-Case: send\nX-Target: sip:"+target.Addr()+"\nContent-Length: 0\n\n")
	caller.Recv("SIP/2.0 200")
	var seen []string
	o1, _ := target.Recv("OPTIONS ")
	first, _, _ := strings.Cut(o1, "\r\n")
	seen = append(seen, first, "From: "+tagRe.ReplaceAllString(kamailiotest.Hdr(o1, "From"), ";tag=T"), "To: "+kamailiotest.Hdr(o1, "To"),
		"X-Hello: "+kamailiotest.Hdr(o1, "X-Hello"), "CSeq: "+kamailiotest.Hdr(o1, "CSeq"))
	target.Send(kamailiotest.ViaAddr(t, o1), kamailiotest.Reply(o1, "401 Unauthorized", "t1", `WWW-Authenticate: Digest realm="carrier", nonce="n0nce-1", qop="auth"`+"\r\n"))
	m1, _ := target.Recv("MESSAGE ")
	seen = append(seen, "event: "+kamailiotest.Hdr(m1, "X-Code"))
	target.Send(kamailiotest.ViaAddr(t, m1), kamailiotest.Reply(m1, "200 OK", "t2", ""))
	o2 := target.RecvWith("OPTIONS ", "Authorization:")
	seen = append(seen, "Authorization: "+kamailiotest.Hdr(o2, "Authorization"), "CSeq: "+kamailiotest.Hdr(o2, "CSeq"),
		fmt.Sprintf("same Call-ID %v, same From tag %v", kamailiotest.Hdr(o2, "Call-ID") == kamailiotest.Hdr(o1, "Call-ID"),
			tagRe.FindString(kamailiotest.Hdr(o2, "From")) == tagRe.FindString(kamailiotest.Hdr(o1, "From"))), "X-Hello: "+kamailiotest.Hdr(o2, "X-Hello"))
	target.Send(kamailiotest.ViaAddr(t, o2), kamailiotest.Reply(o2, "200 OK", "t3", ""))
	m2, _ := target.Recv("MESSAGE ")
	seen = append(seen, "event: "+kamailiotest.Hdr(m2, "X-Code"))
	target.Send(kamailiotest.ViaAddr(t, m2), kamailiotest.Reply(m2, "200 OK", "t4", ""))
	return seen
}

// flowReg: the uacreg registration's REGISTER, its 401, the one with
// credentials, a 200; then the proxy's view of it.
func flowReg(t *testing.T, proxy netip.AddrPort, registrar *kamailiotest.UA) []string {
	var seen []string
	r1, _ := registrar.Recv("REGISTER ")
	first, _, _ := strings.Cut(r1, "\r\n")
	seen = append(seen, first, "From: "+tagRe.ReplaceAllString(kamailiotest.Hdr(r1, "From"), ";tag=T"), "To: "+kamailiotest.Hdr(r1, "To"),
		"Contact: "+kamailiotest.Hdr(r1, "Contact"), "Expires: "+kamailiotest.Hdr(r1, "Expires"))
	registrar.Send(kamailiotest.ViaAddr(t, r1), kamailiotest.Reply(r1, "401 Unauthorized", "g1", `WWW-Authenticate: Digest realm="carrier", nonce="reg-n0nce"`+"\r\n"))
	r2 := registrar.RecvWith("REGISTER ", "Authorization:")
	seen = append(seen, "Authorization: "+kamailiotest.Hdr(r2, "Authorization"), "CSeq: "+kamailiotest.Hdr(r2, "CSeq"))
	registrar.Send(kamailiotest.ViaAddr(t, r2), kamailiotest.Reply(r2, "200 OK", "g2", "Contact: <sip:trunk1@127.0.0.1:5999>;expires=300\r\n"))
	time.Sleep(200 * time.Millisecond)
	caller := kamailiotest.NewUA(t)
	caller.Send(proxy, "MESSAGE sip:proxy@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-g1\nMax-Forwards: 70\n"+
		"From: <sip:t@example.com>;tag=c1\nTo: <sip:proxy@example.com>\nCall-ID: reg-1\nCSeq: 1 MESSAGE\nX-Case: reg\nContent-Length: 0\n\n")
	ok, _ := caller.Recv("SIP/2.0 200")
	return append(seen, "X-R: "+kamailiotest.Hdr(ok, "X-R"))
}

// TestKamailioDifferential: Kamailio 5.6 and kemi run the same config;
// the caller, callee and registrar of the test see the same SIP from
// each: From and To replaced and restored both ways in the dialog, the
// Record-Route parameters byte for byte; uac_auth's Proxy-Authorization
// (with qop and without); uac_req_send's request, its answer to a
// challenge and the event route; a uacreg registration with credentials
// and what uac_reg_status/lookup say of it.
func TestKamailioDifferential(t *testing.T) {
	kamailiotest.Need(t)
	dir := t.TempDir()
	registrars := map[bool]*kamailiotest.UA{true: kamailiotest.NewUA(t), false: kamailiotest.NewUA(t)} // Kamailio's, kemi's
	// One row per server: each server's registrar is its own socket,
	// so each server gets a database file of its own.
	dbFor := func(kam bool) string {
		p := filepath.Join(dir, fmt.Sprintf("reg-%v.db", kam))
		d, err := db.Open("sqlite://" + p)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := d.ExecFiles(context.Background(), "/usr/share/kamailio/db_sqlite", db.KamailioScripts...); err != nil {
			t.Fatal(err)
		}
		addr := registrars[kam].Addr()
		if _, err := d.Exec(context.Background(), `INSERT INTO uacreg (l_uuid, l_username, l_domain, r_username, r_domain, realm,
			auth_username, auth_password, auth_proxy, expires) VALUES ('trunk1', 'trunk', 'local.test', 'acct', 'carrier.example', 'carrier', 'alice', 'pw', ?, 300)`,
			"sip:"+addr); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kdb, edb := dbFor(true), dbFor(false)
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" {
			return fmt.Sprintf(diffCfg, listen, "sqlite:///"+kdb)
		}
		return fmt.Sprintf(diffCfg, "", "sqlite://"+edb)
	})
	compare := func(name string, k, e []string) {
		t.Helper()
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", name, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
			return
		}
		t.Logf("%s:\n  %s", name, strings.Join(e, "\n  "))
	}
	// The registrations first: the timer's first run is a second after start.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			t.Logf("kemi's log:\n%s", pair.Logs.String())
		}
	})
	compare("uac_reg", flowReg(t, pair.Kamailio, registrars[true]), flowReg(t, pair.Kemi, registrars[false]))
	compare("replace", flowReplace(t, pair.Kamailio), flowReplace(t, pair.Kemi))
	for _, ch := range []string{`Digest realm="carrier", nonce="abc123", opaque="op-1"`, `Digest realm="carrier", nonce="q-n0nce", qop="auth,auth-int", algorithm=MD5`} {
		compare("uac_auth "+ch, flowAuth(t, pair.Kamailio, ch), flowAuth(t, pair.Kemi, ch))
	}
	compare("uac_req_send", flowSend(t, pair.Kamailio), flowSend(t, pair.Kemi))
}
