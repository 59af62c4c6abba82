package auth_db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/auth"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// subscribers makes a SQLite database with Kamailio's tables and the
// users given as user, password pairs.
func subscribers(t *testing.T, users ...string) string {
	t.Helper()
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for i := 0; i < len(users); i += 2 {
		if err := d.AddUser(ctx, users[i], "example.com", users[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

func config(url string) string {
	return "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\"\n" +
		"modparam(\"auth_db\", \"db_url\", \"" + url + "\")\nmodparam(\"auth_db\", \"load_credentials\", \"$avp(pw)=password\")\n"
}

// register is the REGISTER of user with credentials for the proxy's
// last challenge.
func register(k *moduletest.Kit, user, password string) string {
	return k.Credentials(strings.ReplaceAll(moduletest.Register, "alice", user), user, "example.com", password)
}

func TestAuthCheck(t *testing.T) {
	k := moduletest.New(t, config(subscribers(t, "alice", "secret")))
	cases := []struct {
		name, user, password string
		want                 int
	}{
		{"right password", "alice", "secret", auth.OK},
		{"wrong password", "alice", "nope", auth.InvalidPassword},
		{"unknown user", "mallory", "x", auth.UserUnknown},
	}
	for i, c := range cases {
		k.Request(register(k, c.user, c.password))
		if rc := k.CallInt("auth_db.auth_check", "example.com", "subscriber", 1); rc != c.want {
			t.Errorf("case %d (%s): auth_check %d, want %d", i, c.name, rc, c.want)
		}
	}
	k.Request(register(k, "alice", "secret"))
	k.Run([]moduletest.Case{
		{"auth_db.auth_check", []any{"example.com", "subscriber", 1}, "1"},
		{"pv.get", []any{"$avp(pw)"}, "secret"}, // load_credentials
		{"auth.consume_credentials", nil, "1"},
		{"auth_db.is_subscriber", []any{"sip:alice@example.com", "subscriber", 0}, "1"},
		{"auth_db.is_subscriber", []any{"sip:bob@example.com", "subscriber", 0}, "-1"},
		{"auth_db.auth_check", []any{"example.com", "no such table;", 1}, "-1"},
	})
	k.Request(moduletest.Register)
	if rc := k.Native("www_authorize", "example.com", "subscriber"); rc.I != int64(auth.NoCredentials) {
		t.Errorf("www_authorize without credentials: %d", rc.I)
	}
}

func TestNeedsAuthAndURL(t *testing.T) {
	if _, err := moduletest.NewErr(t, "loadmodule \"auth_db.so\"\nmodparam(\"auth_db\", \"db_url\", \"sqlite:///tmp/x.db\")"); err == nil || !strings.Contains(err.Error(), `loadmodule "auth.so"`) {
		t.Errorf("without auth: %v", err)
	}
	// Without db_url, Kamailio's default (MySQL on localhost, a server
	// this test does not have): the error says where it came from.
	if _, err := moduletest.NewErr(t, "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\""); err == nil ||
		!strings.Contains(err.Error(), `Kamailio's default db_url: set modparam("auth_db", "db_url", ...)`) {
		t.Errorf("without db_url: %v", err)
	}
}
