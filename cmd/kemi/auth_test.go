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

// TestAuthCheckCodes checks each return code of auth_check against a
// real subscriber table, with credentials computed by the test itself.
func TestAuthCheckCodes(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(t, url, 1) // user0001/pass0001 and bob/bobpass
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	writeFile(t, cfgPath, authCfg)
	s, logs := startFile(t, cfgPath, map[string]string{"DBURL": strconv.Quote(url)})
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	cseq := 0
	send := func(to, extra string) *sip.Msg {
		t.Helper()
		cseq++
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
			t.Fatalf("no reply\n%s", logs.String())
		}
		return m
	}
	rc := func(m *sip.Msg) int {
		i := m.NextHeaderNamed([]byte("X-RC"), -1)
		if i < 0 {
			t.Fatalf("reply without X-RC:\n%s", m.Bytes())
		}
		n, _ := strconv.Atoi(string(m.Header(i).Value))
		return n
	}
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
	if string(www.QOP) != "auth" || string(www.Algorithm) != "MD5" || string(www.Realm) != testDomain || len(www.Stale) != 0 {
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

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
