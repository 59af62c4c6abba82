package uac_test

import (
	"context"
	"fmt"
	"net"
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

// ua is a UDP endpoint of the test: the caller or the callee.
type ua struct {
	t *testing.T
	c *net.UDPConn
}

func newUA(t *testing.T) *ua {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ua{t, c}
}

func (u *ua) addr() string { return u.c.LocalAddr().String() }

func (u *ua) send(to netip.AddrPort, msg string) {
	u.t.Helper()
	if !strings.Contains(msg, "\r\n") {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
	}
	if _, err := u.c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		u.t.Fatal(err)
	}
}

// recv waits for a message whose first line starts with prefix ("BYE ",
// "SIP/2.0 200"), skipping the others (100 Trying, ACKs).
func (u *ua) recv(prefix string) (string, netip.AddrPort) {
	u.t.Helper()
	buf := make([]byte, 65536)
	u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, from, err := u.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			u.t.Fatalf("%s waiting for %q: %v", u.addr(), prefix, err)
		}
		m := string(buf[:n])
		if strings.HasPrefix(m, prefix) {
			return m, from
		}
	}
}

// recvWith is recv for a message with text in it (a retransmission of
// the one before does not count).
func (u *ua) recvWith(prefix, text string) string {
	u.t.Helper()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		m, _ := u.recv(prefix)
		if strings.Contains(m, text) {
			return m
		}
	}
	u.t.Fatalf("%s: no %q with %q in 5 s", u.addr(), prefix, text)
	return ""
}

// hdr is the value of the first header name in a message, "" if none.
func hdr(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n")[1:] {
		if l == "" {
			break
		}
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// hdrs is every header line of names, in order, for a reply.
func hdrs(msg string, names ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(msg, "\r\n")[1:] {
		if l == "" {
			break
		}
		n, _, _ := strings.Cut(l, ":")
		for _, name := range names {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				b.WriteString(l + "\r\n")
			}
		}
	}
	return b.String()
}

// reply answers req with code, a To tag added when it has none, extra
// header lines after.
func reply(req, code, totag, extra string) string {
	to := hdr(req, "To")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=" + totag
	}
	return "SIP/2.0 " + code + "\r\n" + hdrs(req, "Via", "Record-Route") + "From: " + hdr(req, "From") + "\r\nTo: " + to +
		"\r\nCall-ID: " + hdr(req, "Call-ID") + "\r\nCSeq: " + hdr(req, "CSeq") + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
}

var tagRe = regexp.MustCompile(`;tag=[^;>\s]+`)
var rrParams = regexp.MustCompile(`;(vsf|vst|ftag)=[^;>]+`)

// flowReplace: an INVITE with From and To replaced, its 200, then a BYE
// each way in the dialog; the From and To each side sees, and the
// proxy's Record-Route parameters.
func flowReplace(t *testing.T, proxy netip.AddrPort) []string {
	caller, callee := newUA(t), newUA(t)
	var seen []string
	note := func(where, m string) {
		seen = append(seen, where+": From: "+hdr(m, "From")+" | To: "+hdr(m, "To"))
	}
	callID := fmt.Sprintf("rep-%d", time.Now().UnixNano())
	caller.send(proxy, "INVITE sip:bob@b.example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.addr()+";branch=z9hG4bK-r1\nMax-Forwards: 70\n"+
		"From: \"Alice\" <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@b.example.com>\nCall-ID: "+callID+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.addr()+">\nX-Case: replace\nX-Dst: sip:"+callee.addr()+"\nContent-Length: 0\n\n")
	inv, _ := callee.recv("INVITE ")
	note("callee INVITE", inv)
	rr := hdr(inv, "Record-Route")
	seen = append(seen, "Record-Route params: "+strings.Join(rrParams.FindAllString(rr, -1), ""))
	callee.send(mustAddr(t, hdrVia(inv)), reply(inv, "200 OK", "e1", "Contact: <sip:bob@"+callee.addr()+">\r\n"))
	ok, _ := caller.recv("SIP/2.0 200")
	note("caller 200", ok)
	// The caller's BYE: its own From and To, by the Route.
	caller.send(proxy, "BYE sip:bob@"+callee.addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.addr()+";branch=z9hG4bK-r2\nMax-Forwards: 70\n"+
		"Route: "+rr+"\nFrom: \"Alice\" <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@b.example.com>;tag=e1\nCall-ID: "+callID+"\nCSeq: 2 BYE\nContent-Length: 0\n\n")
	bye, _ := callee.recv("BYE ")
	note("callee BYE", bye)
	callee.send(mustAddr(t, hdrVia(bye)), reply(bye, "200 OK", "e1", ""))
	ok, _ = caller.recv("SIP/2.0 200")
	note("caller BYE 200", ok)
	// The callee's BYE: From and To as the callee saw them.
	callee.send(proxy, "BYE sip:alice@"+caller.addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+callee.addr()+";branch=z9hG4bK-r3\nMax-Forwards: 70\n"+
		"Route: "+rr+"\nFrom: "+hdr(inv, "To")+";tag=e1\nTo: "+hdr(inv, "From")+"\nCall-ID: "+callID+"\nCSeq: 1 BYE\nContent-Length: 0\n\n")
	bye, _ = caller.recv("BYE ")
	note("caller BYE", bye)
	caller.send(mustAddr(t, hdrVia(bye)), reply(bye, "200 OK", "c1", ""))
	ok, _ = callee.recv("SIP/2.0 200")
	note("callee BYE 200", ok)
	return seen
}

// flowAuth: the callee answers 407 (qop and not), the proxy's
// failure_route answers with uac_auth: the second INVITE's request line,
// CSeq and Proxy-Authorization.
func flowAuth(t *testing.T, proxy netip.AddrPort, challenge string) []string {
	caller, callee := newUA(t), newUA(t)
	callID := fmt.Sprintf("auth-%d", time.Now().UnixNano())
	caller.send(proxy, "INVITE sip:bob@carrier.net SIP/2.0\nVia: SIP/2.0/UDP "+caller.addr()+";branch=z9hG4bK-a1\nMax-Forwards: 70\n"+
		"From: <sip:alice@a.example.com>;tag=c1\nTo: <sip:bob@carrier.net>\nCall-ID: "+callID+"\nCSeq: 10 INVITE\n"+
		"Contact: <sip:alice@"+caller.addr()+">\nX-Case: auth\nX-Dst: sip:"+callee.addr()+"\nContent-Length: 0\n\n")
	inv, _ := callee.recv("INVITE ")
	callee.send(mustAddr(t, hdrVia(inv)), reply(inv, "407 Proxy Authentication Required", "e1", "Proxy-Authenticate: "+challenge+"\r\n"))
	inv2 := callee.recvWith("INVITE ", "Proxy-Authorization:")
	callee.send(mustAddr(t, hdrVia(inv2)), reply(inv2, "200 OK", "e2", "Contact: <sip:bob@"+callee.addr()+">\r\n"))
	ok, _ := caller.recv("SIP/2.0 200")
	first, _, _ := strings.Cut(inv2, "\r\n")
	return []string{first, "CSeq: " + hdr(inv2, "CSeq"), "Proxy-Authorization: " + hdr(inv2, "Proxy-Authorization"),
		"caller got: " + strings.SplitN(ok, "\r\n", 2)[0]}
}

// flowSend: uac_req_send's OPTIONS, challenged with a 401, sent again
// with credentials in the same dialog; the event route's MESSAGE per
// final status.
func flowSend(t *testing.T, proxy netip.AddrPort) []string {
	caller, target := newUA(t), newUA(t)
	caller.send(proxy, "MESSAGE sip:proxy@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.addr()+";branch=z9hG4bK-s1\nMax-Forwards: 70\n"+
		"From: <sip:t@example.com>;tag=c1\nTo: <sip:proxy@example.com>\nCall-ID: send-1\nCSeq: 1 MESSAGE\n"+
		"X-Case: send\nX-Target: sip:"+target.addr()+"\nContent-Length: 0\n\n")
	caller.recv("SIP/2.0 200")
	var seen []string
	o1, _ := target.recv("OPTIONS ")
	first, _, _ := strings.Cut(o1, "\r\n")
	seen = append(seen, first, "From: "+tagRe.ReplaceAllString(hdr(o1, "From"), ";tag=T"), "To: "+hdr(o1, "To"),
		"X-Hello: "+hdr(o1, "X-Hello"), "CSeq: "+hdr(o1, "CSeq"))
	target.send(mustAddr(t, hdrVia(o1)), reply(o1, "401 Unauthorized", "t1", `WWW-Authenticate: Digest realm="carrier", nonce="n0nce-1", qop="auth"`+"\r\n"))
	m1, _ := target.recv("MESSAGE ")
	seen = append(seen, "event: "+hdr(m1, "X-Code"))
	target.send(mustAddr(t, hdrVia(m1)), reply(m1, "200 OK", "t2", ""))
	o2 := target.recvWith("OPTIONS ", "Authorization:")
	seen = append(seen, "Authorization: "+hdr(o2, "Authorization"), "CSeq: "+hdr(o2, "CSeq"),
		fmt.Sprintf("same Call-ID %v, same From tag %v", hdr(o2, "Call-ID") == hdr(o1, "Call-ID"),
			tagRe.FindString(hdr(o2, "From")) == tagRe.FindString(hdr(o1, "From"))), "X-Hello: "+hdr(o2, "X-Hello"))
	target.send(mustAddr(t, hdrVia(o2)), reply(o2, "200 OK", "t3", ""))
	m2, _ := target.recv("MESSAGE ")
	seen = append(seen, "event: "+hdr(m2, "X-Code"))
	target.send(mustAddr(t, hdrVia(m2)), reply(m2, "200 OK", "t4", ""))
	return seen
}

// flowReg: the uacreg registration's REGISTER, its 401, the one with
// credentials, a 200; then the proxy's view of it.
func flowReg(t *testing.T, proxy netip.AddrPort, registrar *ua) []string {
	var seen []string
	r1, _ := registrar.recv("REGISTER ")
	first, _, _ := strings.Cut(r1, "\r\n")
	seen = append(seen, first, "From: "+tagRe.ReplaceAllString(hdr(r1, "From"), ";tag=T"), "To: "+hdr(r1, "To"),
		"Contact: "+hdr(r1, "Contact"), "Expires: "+hdr(r1, "Expires"))
	registrar.send(mustAddr(t, hdrVia(r1)), reply(r1, "401 Unauthorized", "g1", `WWW-Authenticate: Digest realm="carrier", nonce="reg-n0nce"`+"\r\n"))
	r2 := registrar.recvWith("REGISTER ", "Authorization:")
	seen = append(seen, "Authorization: "+hdr(r2, "Authorization"), "CSeq: "+hdr(r2, "CSeq"))
	registrar.send(mustAddr(t, hdrVia(r2)), reply(r2, "200 OK", "g2", "Contact: <sip:trunk1@127.0.0.1:5999>;expires=300\r\n"))
	time.Sleep(200 * time.Millisecond)
	caller := newUA(t)
	caller.send(proxy, "MESSAGE sip:proxy@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.addr()+";branch=z9hG4bK-g1\nMax-Forwards: 70\n"+
		"From: <sip:t@example.com>;tag=c1\nTo: <sip:proxy@example.com>\nCall-ID: reg-1\nCSeq: 1 MESSAGE\nX-Case: reg\nContent-Length: 0\n\n")
	ok, _ := caller.recv("SIP/2.0 200")
	return append(seen, "X-R: "+hdr(ok, "X-R"))
}

func hdrVia(m string) string {
	v := hdr(m, "Via")
	v, _, _ = strings.Cut(v, ";")
	f := strings.Fields(v)
	return f[len(f)-1]
}

func mustAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a
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
	registrars := map[bool]*ua{true: newUA(t), false: newUA(t)} // Kamailio's, kemi's
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
		addr := registrars[kam].addr()
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
