package auth_ephemeral_test

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: a REGISTER is checked with autheph_check (challenged when it
// has no credentials), then its From and To against the authorized
// username; X-Case "plain" checks X-U and X-P with autheph_authenticate
// and the timestamp and To checks.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "auth.so"
loadmodule "auth_ephemeral.so"
modparam("auth_ephemeral", "secret", "first-s3cret")
modparam("auth_ephemeral", "secret", "second-s3cret")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "plain") {
		autheph_authenticate("$hdr(X-U)", "$hdr(X-P)");
		$var(a) = $rc;
		autheph_check_timestamp("$hdr(X-U)");
		$var(b) = $rc;
		autheph_check_to("$hdr(X-U)");
		$var(c) = $rc;
		append_to_reply("X-R: $var(a) $var(b) $var(c)\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	autheph_check("example.com");
	$var(rc) = $rc;
	if ($var(rc) == -5) {
		auth_challenge("example.com", "0");
		exit;
	}
	$var(f) = 0;
	$var(t) = 0;
	if ($var(rc) == 1) {
		autheph_check_from();
		$var(f) = $rc;
		autheph_check_to();
		$var(t) = $rc;
	}
	append_to_reply("X-R: $var(rc) $var(f) $var(t)\r\n");
	sl_send_reply("200", "OK");
}
`

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func password(secret, username string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

var nonceRe = regexp.MustCompile(`nonce="([^"]+)"`)

// register sends a REGISTER of to-user, is challenged, answers with the
// username and password given, and returns X-R.
func register(t *testing.T, srv netip.AddrPort, toUser, username, pass string) string {
	ua := kamailiotest.NewUA(t)
	req := func(cseq int, auth string) string {
		return fmt.Sprintf("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-e%d-%d\nMax-Forwards: 70\n"+
			"From: <sip:%s@example.com>;tag=a1\nTo: <sip:%s@example.com>\nCall-ID: eph-%d\nCSeq: %d REGISTER\n"+
			"Contact: <sip:%s@%s>\n%sContent-Length: 0\n\n", ua.Addr(), cseq, time.Now().UnixNano(), toUser, toUser, time.Now().UnixNano(), cseq, toUser, ua.Addr(), auth)
	}
	ua.Send(srv, req(1, ""))
	ch := ua.RecvWith("SIP/2.0 401", "WWW-Authenticate")
	m := nonceRe.FindStringSubmatch(kamailiotest.Hdr(ch, "WWW-Authenticate"))
	if m == nil {
		t.Fatalf("no nonce in %s", ch)
	}
	ha1 := md5hex(username + ":example.com:" + pass)
	resp := md5hex(ha1 + ":" + m[1] + ":" + md5hex("REGISTER:sip:example.com"))
	ua.Send(srv, req(2, fmt.Sprintf("Authorization: Digest username=\"%s\", realm=\"example.com\", nonce=\"%s\", uri=\"sip:example.com\", response=\"%s\", algorithm=MD5\n",
		username, m[1], resp)))
	ok := ua.RecvWith("SIP/2.0 200", "X-R")
	return kamailiotest.Hdr(ok, "X-R")
}

func plain(t *testing.T, srv netip.AddrPort, username, pass string) string {
	m := kamailiotest.Ask(t, srv, 5*time.Second, func(local, id string) string {
		return fmt.Sprintf("OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\n"+
			"To: <sip:alice@example.com>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nX-Case: plain\r\nX-U: %s\r\nX-P: %s\r\nContent-Length: 0\r\n\r\n", local, id, id, username, pass)
	})
	return kamailiotest.Header(m, "X-R")
}

// TestKamailioDifferential: Kamailio 5.6 and kemi give the same answers
// for ephemeral credentials: each secret's, a wrong password, an expired
// or malformed timestamp, a user other than From and To, a domain in the
// username; and autheph_authenticate and the checks given a username.
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	future := fmt.Sprint(time.Now().Unix() + 3600)
	past := fmt.Sprint(time.Now().Unix() - 10)
	cases := []struct{ to, user, pass string }{
		{"alice", future + ":alice", password("first-s3cret", future+":alice")},
		{"alice", future + ":alice", password("second-s3cret", future+":alice")},
		{"alice", future + ":alice", "wrong"},
		{"alice", past + ":alice", password("first-s3cret", past+":alice")},
		{"alice", "soon:alice", password("first-s3cret", "soon:alice")},
		{"bob", future + ":alice", password("first-s3cret", future+":alice")},
		{"alice", future + ":alice@example.com", password("first-s3cret", future+":alice@example.com")},
		{"alice", future + ":alice@other.org", password("first-s3cret", future+":alice@other.org")},
		{"alice", future, password("first-s3cret", future)},
	}
	for _, c := range cases {
		k, e := register(t, pair.Kamailio, c.to, c.user, c.pass), register(t, pair.Kemi, c.to, c.user, c.pass)
		if k != e {
			t.Errorf("REGISTER to %s as %s: Kamailio %q, kemi %q", c.to, c.user, k, e)
		} else {
			t.Logf("REGISTER to %s as %s: %s", c.to, c.user, e)
		}
	}
	for _, c := range cases {
		k, e := plain(t, pair.Kamailio, c.user, c.pass), plain(t, pair.Kemi, c.user, c.pass)
		if k != e {
			t.Errorf("plain %s: Kamailio %q, kemi %q", c.user, k, e)
		} else {
			t.Logf("plain %s %s: %s", c.user, strings.Repeat("", 0), e)
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
}
