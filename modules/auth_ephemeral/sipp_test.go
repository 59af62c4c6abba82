package auth_ephemeral_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// TestRegisterWithSipp: 20 sipp users register with ephemeral
// credentials (their passwords made from the shared secret, as the web
// service would) through digest auth; every one is let in.
func TestRegisterWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "sl.so"
loadmodule "auth.so"
loadmodule "auth_ephemeral.so"
modparam("auth_ephemeral", "secret", "sipp-s3cret")

request_route {
	if (!is_method("REGISTER")) {
		sl_send_reply("404", "Not here");
		exit;
	}
	if (!autheph_check("example.com")) {
		auth_challenge("example.com", "0");
		exit;
	}
	sl_send_reply("200", "OK");
}
`), 0o644)
	var users strings.Builder
	users.WriteString("SEQUENTIAL\n")
	exp := fmt.Sprint(time.Now().Unix() + 600)
	for i := range 20 {
		u := fmt.Sprintf("%s:user%d", exp, i)
		fmt.Fprintf(&users, "%s;example.com;%s\n", u, password("sipp-s3cret", u))
	}
	inf := filepath.Join(dir, "users.csv")
	os.WriteFile(inf, []byte(users.String()), 0o644)
	p := proxytest.Start(t, cfg, nil)
	sipptest.Run(t, sipp, sipptest.Scenario("register-auth.xml"), "u1", p.Addr.String(), 20, 20, "-inf", inf)
}
