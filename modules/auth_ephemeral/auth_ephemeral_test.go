package auth_ephemeral_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// passwordWith is password with another HMAC.
func passwordWith(h func() hash.Hash, secret, username string) string {
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

const kitCfg = "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_ephemeral.so\"\n" +
	"modparam(\"auth_ephemeral\", \"secret\", \"old\")\nmodparam(\"auth_ephemeral\", \"secret\", \"s3cret\")\n"

// TestDigest: a REGISTER with digest credentials made from an ephemeral
// password (either secret) passes autheph_check and the From check; an
// expired username, a wrong password and a username without a number are
// refused with Kamailio's codes; ACK passes.
func TestDigest(t *testing.T) {
	future := time.Now().Add(time.Hour).Unix()
	user := fmt.Sprintf("%d:alice", future)
	for _, tc := range []struct {
		name, user, password, want string
	}{
		{"second secret", user, password("s3cret", user), "1"},
		{"first secret", user, password("old", user), "1"},
		{"wrong password", user, password("other", user), "-2"},
		{"expired", "1000:alice", password("s3cret", "1000:alice"), "-7"},
		{"no timestamp", "alice", password("s3cret", "alice"), "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := moduletest.New(t, kitCfg)
			k.Request(k.Credentials(moduletest.Register, tc.user, "example.com", tc.password))
			k.Run([]moduletest.Case{{"auth_ephemeral.autheph_check", []any{"example.com"}, tc.want}})
			if tc.want == "1" {
				if got := k.Native("autheph_check_from").String(); got != "1" {
					t.Errorf("autheph_check_from() after the check: %s", got)
				}
				if got := k.Native("autheph_check_to", fmt.Sprintf("%d:bob", future)).String(); got != "-1" {
					t.Errorf("autheph_check_to(bob) for alice's To: %s", got)
				}
			}
		})
	}
	k := moduletest.New(t, kitCfg)
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{
		{"auth_ephemeral.autheph_www", []any{"example.com"}, "-5"}, // no credentials
		{"auth_ephemeral.autheph_www", []any{""}, "-1"},
		{"auth_ephemeral.autheph_www_method", []any{"example.com", ""}, "-1"},
	})
	k.Request(strings.Replace(strings.Replace(moduletest.Invite, "INVITE sip", "ACK sip", 1), "1 INVITE", "1 ACK", 1))
	k.Run([]moduletest.Case{{"auth_ephemeral.autheph_proxy", []any{"example.com"}, "1"}})
}

// TestAuthenticate: autheph_authenticate with SHA-256 and the deprecated
// user:timestamp format; the native checks of a timestamp and of a
// username against From.
func TestAuthenticate(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"auth_ephemeral.so\"\nmodparam(\"auth_ephemeral\", \"secret\", \"k\")\n"+
		"modparam(\"auth_ephemeral\", \"sha_algorithm\", 2)\nmodparam(\"auth_ephemeral\", \"username_format\", 0)\n")
	future := time.Now().Add(time.Hour).Unix()
	user := fmt.Sprintf("alice@example.com:%d", future)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"auth_ephemeral.autheph_authenticate", []any{user, passwordWith(sha256.New, "k", user)}, "1"},
		{"auth_ephemeral.autheph_authenticate", []any{user, password("k", user)}, "-1"},
		{"auth_ephemeral.autheph_authenticate", []any{"alice:1000", passwordWith(sha256.New, "k", "alice:1000")}, "-7"},
		{"auth_ephemeral.autheph_authenticate", []any{"", "x"}, "-1"},
	})
	for _, c := range []struct {
		fn   string
		arg  string
		want string
	}{
		{"autheph_check_timestamp", user, "1"},
		{"autheph_check_timestamp", "alice:1000", "-1"},
		{"autheph_check_timestamp", "alice:x", "-1"},
		{"autheph_check_from", user, "1"},
		{"autheph_check_from", fmt.Sprintf("alice@example.net:%d", future), "-1"},
		{"autheph_check_from", fmt.Sprintf("%d", future), "-2"},
		{"autheph_check_to", fmt.Sprintf("bob:%d", future), "1"},
	} {
		if got := k.Native(c.fn, c.arg).String(); got != c.want {
			t.Errorf("%s(%q): %s, want %s", c.fn, c.arg, got, c.want)
		}
	}
	if !strings.Contains(k.Logs.String(), "invalid username or password parameter - empty value") {
		t.Errorf("an empty username not logged:\n%s", k.Logs)
	}
}

// TestSecretsRPC: autheph.add_secret puts a secret first, rm_secret
// removes one by its position, dump_secrets lists them; a password of a
// removed secret no longer passes.
func TestSecretsRPC(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"auth_ephemeral.so\"\nmodparam(\"auth_ephemeral\", \"secret\", \"a\")\n")
	rpcs := map[string]dispatch.RPC{}
	for _, r := range k.Module("auth_ephemeral").(dispatch.RPCProvider).RPCs(k.Env) {
		rpcs[r.Name] = r
	}
	call := func(name string, params ...any) string {
		v, err := rpcs[name].Fn(params)
		if err != nil {
			return "error: " + err.Error()
		}
		return moduletest.JSON(v)
	}
	user := fmt.Sprintf("%d:alice", time.Now().Add(time.Hour).Unix())
	k.Request(moduletest.Invite)
	for _, s := range []struct{ got, want string }{
		{call("autheph.add_secret", "b"), "null"},
		{call("autheph.dump_secrets"), `["ID 0: b","ID 1: a"]`},
		{k.Call("auth_ephemeral.autheph_authenticate", user, password("a", user)).String(), "1"},
		{call("autheph.rm_secret", 1), "null"},
		{call("autheph.rm_secret", 5), "error: Failed removing secret"},
		{call("autheph.dump_secrets"), `["ID 0: b"]`},
		{k.Call("auth_ephemeral.autheph_authenticate", user, password("a", user)).String(), "-1"},
	} {
		if s.got != s.want {
			t.Errorf("got %s, want %s", s.got, s.want)
		}
	}
}
