package uri_db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// subscribers makes a SQLite database with the subscriber alice (password
// secret) and uri rows letting alice use the URI users alice and 1001.
func subscribers(t *testing.T) string {
	t.Helper()
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.AddUser(ctx, "alice", "example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO uri (username, domain, uri_user) VALUES ('alice', 'example.com', 'alice')`,
		`INSERT INTO uri (username, domain, uri_user) VALUES ('alice', 'example.com', '1001')`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// authorized makes msg (a REGISTER of alice) carry credentials that pass
// auth_check, and checks them.
func authorized(t *testing.T, k *moduletest.Kit, msg string) {
	t.Helper()
	k.Request(k.Credentials(msg, "alice", "example.com", "secret"))
	if rc := k.CallInt("auth_db.auth_check", "example.com", "subscriber", 0); rc != 1 {
		t.Fatalf("auth_check = %d", rc)
	}
}

// TestChecks: check_to / check_from / check_uri against the authorized
// user, by name and through the uri table; check_uri_realm with the user
// given; does_uri_exist in the subscriber table and the uri table.
func TestChecks(t *testing.T) {
	url := subscribers(t)
	base := "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\"\nloadmodule \"uri_db.so\"\n" +
		"modparam(\"auth_db\", \"db_url\", \"" + url + "\")\nmodparam(\"uri_db\", \"db_url\", \"" + url + "\")\n"
	k := moduletest.New(t, base)
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"uri_db.check_to", nil, "-2"}}) // no credentials
	authorized(t, k, moduletest.Register)
	k.Run([]moduletest.Case{
		{"uri_db.check_to", nil, "1"},
		{"uri_db.check_from", nil, "1"},
		{"uri_db.check_uri", []any{"sip:ALICE@example.com"}, "1"},
		{"uri_db.check_uri", []any{"sip:1001@example.com"}, "-10"},
		{"uri_db.check_uri", []any{"sip:example.com"}, "-4"},
		{"uri_db.check_uri_realm", []any{"sip:bob@x", "bob", "example.com"}, "1"},
	})
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:alice@example.com SIP", 1))
	k.Run([]moduletest.Case{{"uri_db.does_uri_exist", nil, "1"}})
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"uri_db.does_uri_exist", nil, "-5"}})

	k2 := moduletest.New(t, base+"modparam(\"uri_db\", \"use_uri_table\", 1)\nmodparam(\"uri_db\", \"db_table\", \"uri\")\nmodparam(\"uri_db\", \"use_domain\", 1)\n")
	authorized(t, k2, moduletest.Register)
	k2.Run([]moduletest.Case{
		{"uri_db.check_uri", []any{"sip:1001@example.com"}, "1"},
		{"uri_db.check_uri", []any{"sip:1002@example.com"}, "-9"},
	})
	k2.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:1001@example.com SIP", 1))
	k2.Run([]moduletest.Case{{"uri_db.does_uri_exist", nil, "1"}})
	k2.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:1001@other.org SIP", 1))
	k2.Run([]moduletest.Case{{"uri_db.does_uri_exist", nil, "-5"}})
}
