package auth_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/auth"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const snippet = "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nmodparam(\"auth\", \"secret\", \"s3cret\")\n"

var nonceRe = regexp.MustCompile(`nonce="([^"]+)"`)

// challenge sends the REGISTER, challenges it and returns the nonce.
func challenge(t *testing.T, k *moduletest.Kit) string {
	t.Helper()
	k.Request(moduletest.Register)
	if rc := k.CallInt("auth.auth_challenge", "example.com", 0); rc != 1 {
		t.Fatalf("auth_challenge: %d", rc)
	}
	r := k.Reply()
	h := r.Header("WWW-Authenticate")
	// No algorithm= unless the parameter says one, as Kamailio.
	if r.StatusCode() != 401 || !strings.HasPrefix(h, `Digest realm="example.com", nonce="`) || strings.Contains(h, "algorithm") {
		t.Fatalf("challenge %d: %q", r.StatusCode(), h)
	}
	return nonceRe.FindStringSubmatch(h)[1]
}

// withCredentials is the REGISTER with alice's Authorization for nonce.
func withCredentials(nonce, password string) string {
	var h, r [64]byte
	ha1 := auth.MD5.HA1(h[:], []byte("alice"), []byte("example.com"), []byte(password))
	resp := auth.MD5.Response(r[:], ha1, []byte(nonce), nil, nil, nil, []byte("REGISTER"), []byte("sip:example.com"), nil)
	cred := `Authorization: Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com", response="` + string(resp) + `", algorithm=MD5` + "\n"
	return strings.Replace(moduletest.Register, "Expires: 3600\n", "Expires: 3600\n"+cred, 1)
}

func TestChallengeAndCheck(t *testing.T) {
	k := moduletest.New(t, snippet)
	nonce := challenge(t, k)
	k.Request(withCredentials(nonce, "wrong"))
	k.Run([]moduletest.Case{
		{"auth.has_credentials", []any{"example.com"}, "1"},
		{"auth.has_credentials", []any{"other.realm"}, "-1"},
		{"auth.pv_auth_check", []any{"example.com", "secret", 0, 1}, "-2"}, // wrong password
		{"auth.consume_credentials", nil, "-1"},                            // nothing accepted
	})
	k.Request(withCredentials(nonce, "secret"))
	k.Run([]moduletest.Case{
		{"auth.pv_auth_check", []any{"example.com", "secret", 0, 1}, "1"},
		{"auth.consume_credentials", nil, "1"},
	})
	if out := k.Out(); strings.Contains(out, "Authorization:") {
		t.Errorf("consume_credentials left the credentials:\n%s", out)
	}
	// A nonce signed with another secret is not this proxy's.
	other := moduletest.New(t, strings.Replace(snippet, "s3cret", "another", 1))
	other.Request(withCredentials(nonce, "secret"))
	if rc := other.CallInt("auth.pv_auth_check", "example.com", "secret", 0, 1); rc == 1 {
		t.Error("a nonce from another proxy's secret was accepted")
	}
}

func TestNativeChallenges(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(moduletest.Invite)
	k.Native("proxy_challenge", "example.com", 0)
	if r := k.Reply(); r.StatusCode() != 407 || !strings.HasPrefix(r.Header("Proxy-Authenticate"), "Digest ") {
		t.Errorf("proxy_challenge:\n%s", r.Sent.Msg)
	}
	k.Request(moduletest.Register)
	k.Native("www_challenge", "", 1) // realm from the To URI, qop=auth
	if h := k.Reply().Header("WWW-Authenticate"); !strings.Contains(h, `realm="example.com"`) || !strings.Contains(h, `qop="auth"`) {
		t.Errorf("www_challenge: %q", h)
	}
}

func TestParameters(t *testing.T) {
	for _, bad := range []string{`modparam("auth", "qop", "nope")`, `modparam("auth", "algorithm", "SHA-1")`, `modparam("auth", "nonce_expire", 0)`} {
		if _, err := moduletest.NewErr(t, snippet+bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestAlgorithmSaid: with the algorithm parameter set, the challenge
// names it.
func TestAlgorithmSaid(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		k := moduletest.New(t, snippet+"modparam(\"auth\", \"algorithm\", \""+alg+"\")\n")
		k.Request(moduletest.Register)
		k.CallInt("auth.auth_challenge", "example.com", 0)
		if h := k.Reply().Header("WWW-Authenticate"); !strings.HasSuffix(h, ", algorithm="+alg) {
			t.Errorf("algorithm %s: %q", alg, h)
		}
	}
}
