package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/proxy"
)

const authCfg = `#!KAMAILIO
listen=udp:127.0.0.1:0
children=2
loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth", "nonce_expire", 2)
modparam("auth", "nonce_count", 1)
modparam("auth_db", "db_url", DBURL)

request_route {
	$var(rc) = auth_check("$fd", "subscriber", "1");
	append_to_reply("X-RC: $var(rc)\r\n");
	if (is_present_hf("X-Challenge")) {
		auth_challenge("$fd", "1");
		exit;
	}
	sl_send_reply("299", "Checked");
}
`

// startAuth starts authCfg with more modparam lines, on a subscriber table
// of user0001/pass0001 and bob/bobpass.
func startAuth(t *testing.T, modparams string) (*proxy.Proxy, *syncBuf) {
	t.Helper()
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(t, url, 1)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	writeFile(t, cfgPath, strings.Replace(authCfg, "\nrequest_route", modparams+"\nrequest_route", 1))
	return startFile(t, cfgPath, map[string]string{"DBURL": strconv.Quote(url)})
}

// TestAuthCheckCodes checks each return code of auth_check against a
// real subscriber table, with credentials computed by the test itself.
func TestAuthCheckCodes(t *testing.T) {
	s, logs := startAuth(t, "")
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	cseq := 0
	send := func(to, extra string) *sip.Msg {
		t.Helper()
		cseq++
		return authRegister(t, ua, to, extra, cseq, logs.String)
	}
	rc := func(m *sip.Msg) int { t.Helper(); return xrc(t, m) }
	challenge := func() *sip.Msg {
		t.Helper()
		ch := send("user0001", "X-Challenge: yes\r\n")
		if ch.StatusCode() != 401 {
			t.Fatalf("challenge: %d", ch.StatusCode())
		}
		return ch
	}
	creds := func(ch *sip.Msg, user, pass, nc string) string {
		return authHeader(user, pass, ch, nc, "c0ffee")
	}

	ch := challenge()
	if got := rc(ch); got != -5 {
		t.Errorf("no credentials: %d, want -5", got)
	}
	www, _ := ch.WWWAuthenticate()
	// No algorithm= (MD5) unless the auth module's parameter sets one, as Kamailio.
	if string(www.QOP) != "auth" || len(www.Algorithm) != 0 || string(www.Realm) != testDomain || len(www.Stale) != 0 {
		t.Errorf("challenge: %s", www.Params)
	}
	for i, tc := range []struct {
		name, to, auth string
		want           int
	}{
		{"right password", "user0001", creds(ch, "user0001", "pass0001", "00000001"), 1},
		{"the same nonce-count again (replay)", "user0001", creds(ch, "user0001", "pass0001", "00000001"), -6},
		{"wrong password", "user0001", creds(ch, "user0001", "wrong", "00000002"), -2},
		{"next nonce-count", "user0001", creds(ch, "user0001", "pass0001", "00000003"), 1},
		{"unknown user", "user0001", creds(ch, "nobody", "x", "00000004"), -3},
		{"authenticates as bob, registers user0001", "user0001", creds(ch, "bob", "bobpass", "00000005"), -8},
		{"nonce not ours", "user0001", strings.Replace(creds(ch, "user0001", "pass0001", "00000006"), string(www.Nonce), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1), -1},
		{"credentials for another realm", "user0001", strings.Replace(creds(ch, "user0001", "pass0001", "00000007"), `realm="kemi.test"`, `realm="other"`, 1), -5},
	} {
		if got := rc(send(tc.to, tc.auth)); got != tc.want {
			t.Errorf("case %d (%s): auth_check %d, want %d", i, tc.name, got, tc.want)
		}
	}
	time.Sleep(2100 * time.Millisecond) // nonce_expire is 2 s
	if got := rc(send("user0001", creds(ch, "user0001", "pass0001", "00000010"))); got != -4 {
		t.Errorf("expired nonce: %d, want -4", got)
	}
	stale := send("user0001", creds(ch, "user0001", "pass0001", "00000011")+"X-Challenge: yes\r\n")
	if w, _ := stale.WWWAuthenticate(); stale.StatusCode() != 401 || w == nil || string(w.Stale) != "true" {
		t.Errorf("challenge after an expired nonce: want stale=true, got %s", stale.Bytes())
	}
}

// authRegister sends a REGISTER of user to from ua with extra headers and
// returns the reply.
func authRegister(t *testing.T, ua *sipUA, to, extra string, cseq int, logs func() string) *sip.Msg {
	t.Helper()
	ua.send(fmt.Sprintf("REGISTER sip:%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[3]s;branch=z9hG4bK-auth-%[4]d;rport\r\n"+
		"From: <sip:%[1]s@%[2]s>;tag=a1\r\n"+
		"To: <sip:%[1]s@%[2]s>\r\n"+
		"Call-ID: auth-test\r\n"+
		"CSeq: %[4]d REGISTER\r\n"+
		"Contact: <sip:%[1]s@%[3]s>\r\n"+
		"%[5]s"+
		"Content-Length: 0\r\n\r\n", to, testDomain, ua.addr(), cseq, extra), nil)
	m, _ := ua.recv(3 * time.Second)
	if m == nil {
		t.Fatalf("no reply\n%s", logs())
	}
	return m
}

// xrc is the X-RC header authCfg's script appends: auth_check's result.
func xrc(t *testing.T, m *sip.Msg) int {
	t.Helper()
	i := m.NextHeaderNamed([]byte("X-RC"), -1)
	if i < 0 {
		t.Fatalf("reply without X-RC:\n%s", m.Bytes())
	}
	n, _ := strconv.Atoi(string(m.Header(i).Value))
	return n
}

// TestAuthNonceBoundToSource: with auth_checks_register 8 a nonce is good
// only from the address it was given to; credentials replayed from
// another address are stale (-4) and get a new challenge, and an unknown
// user gets the same 401 as a wrong password.
func TestAuthNonceBoundToSource(t *testing.T) {
	s, logs := startAuth(t, `modparam("auth", "auth_checks_register", 8)`)
	proxy := s.Addr(sip.TransportUDP).String()
	ua, thief := newUAOn(t, proxy, "127.0.0.1"), newUAOn(t, proxy, "127.0.0.2")
	ch := authRegister(t, ua, "user0001", "X-Challenge: yes\r\n", 1, logs.String)
	if ch.StatusCode() != 401 {
		t.Fatalf("challenge: %s", ch.Bytes())
	}
	stolen := authRegister(t, thief, "user0001", authHeader("user0001", "pass0001", ch, "00000001", "c0ffee")+"X-Challenge: yes\r\n", 2, logs.String)
	if got := xrc(t, stolen); got != -4 {
		t.Errorf("credentials from another address: auth_check %d, want -4 (stale)", got)
	}
	if w, _ := stolen.WWWAuthenticate(); w == nil || string(w.Stale) != "true" {
		t.Errorf("the other address's new challenge: want stale=true, got\n%s", stolen.Bytes())
	}
	if got := xrc(t, authRegister(t, ua, "user0001", authHeader("user0001", "pass0001", ch, "00000002", "c0ffee"), 3, logs.String)); got != 1 {
		t.Errorf("credentials from the address challenged: auth_check %d, want 1", got)
	}
	// No enumeration: an unknown user and a wrong password get the same
	// challenge (only the script's X-RC, a test aid, differs).
	ch2 := authRegister(t, ua, "user0001", "X-Challenge: yes\r\n", 4, logs.String)
	wrong := authRegister(t, ua, "user0001", authHeader("user0001", "nope", ch2, "00000001", "c0ffee")+"X-Challenge: yes\r\n", 5, logs.String)
	unknown := authRegister(t, ua, "nobody", authHeader("nobody", "nope", ch2, "00000002", "c0ffee")+"X-Challenge: yes\r\n", 6, logs.String)
	if xrc(t, wrong) != -2 || xrc(t, unknown) != -3 {
		t.Fatalf("auth_check: wrong password %d, unknown user %d; want -2, -3", xrc(t, wrong), xrc(t, unknown))
	}
	if wrong.StatusCode() != unknown.StatusCode() || string(wrong.Reason()) != string(unknown.Reason()) {
		t.Errorf("wrong password: %d %s; unknown user: %d %s", wrong.StatusCode(), wrong.Reason(), unknown.StatusCode(), unknown.Reason())
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFailedAuthLimit: with failed_auth_limit 3, a user's fourth try
// within the window is refused as a wrong password even when it is right;
// another user is not affected.
func TestFailedAuthLimit(t *testing.T) {
	s, logs := startAuth(t, `modparam("auth", "failed_auth_limit", 3)`)
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	ch := authRegister(t, ua, "user0001", "X-Challenge: yes\r\n", 1, logs.String)
	for i, tc := range []struct {
		user, pass string
		want       int
	}{
		{"user0001", "guess1", -2}, {"user0001", "guess2", -2}, {"user0001", "guess3", -2},
		{"user0001", "pass0001", -2}, // right, but past the limit
		{"bob", "bobpass", 1},
	} {
		auth := authHeader(tc.user, tc.pass, ch, fmt.Sprintf("%08x", i+1), "c0ffee")
		if got := xrc(t, authRegister(t, ua, tc.user, auth, i+2, logs.String)); got != tc.want {
			t.Errorf("try %d (%s/%s): auth_check %d, want %d", i, tc.user, tc.pass, got, tc.want)
		}
	}
}
