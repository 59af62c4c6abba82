package alias_db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// exec runs statements on the database at url.
func exec(t *testing.T, url string, stmts ...string) {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, s := range stmts {
		if _, err := d.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestLookup(t *testing.T) {
	url := moduletest.SQLite(t)
	exec(t, url,
		"INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES ('sales', 'example.com', 'alice', 'example.com')",
		"INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES ('sales', 'other.net', 'carol', 'other.net')",
		"INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES ('help', 'example.com', 'bob', 'example.com')",
		"INSERT INTO dbaliases (alias_username, alias_domain, username, domain) VALUES ('help', 'example.com', 'dave', 'example.com')")
	k := moduletest.New(t, "loadmodule \"alias_db.so\"\nmodparam(\"alias_db\", \"db_url\", \""+url+"\")\nmodparam(\"alias_db\", \"use_domain\", 1)")
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:sales@example.com SIP", 1))
	k.Run([]moduletest.Case{
		{"alias_db.lookup", []any{"dbaliases"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:alice@example.com"},
		{"alias_db.lookup", []any{"dbaliases"}, "-1"},        // alice is no alias
		{"alias_db.lookup_ex", []any{"dbaliases", "r"}, "1"}, // and back
		{"pv.get", []any{"$ru"}, "sip:sales@example.com"},
		{"alias_db.lookup", []any{"nope;"}, "-1"},
	})
	// use_domain 1 with "d": the user alone; several matches, no
	// append_branches: the first.
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:help@elsewhere.org SIP", 1))
	k.Run([]moduletest.Case{
		{"alias_db.lookup", []any{"dbaliases"}, "-1"},
		{"alias_db.lookup_ex", []any{"dbaliases", "d"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:bob@example.com"},
	})
	if n := len(k.Ctx().Branches()); n != 0 {
		t.Errorf("%d branches without append_branches", n)
	}
	k2 := moduletest.New(t, "loadmodule \"alias_db.so\"\nmodparam(\"alias_db\", \"db_url\", \""+url+"\")\nmodparam(\"alias_db\", \"append_branches\", 1)")
	k2.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:help@example.com SIP", 1))
	if got := k2.Native("alias_db_lookup", "dbaliases"); got.String() != "1" {
		t.Fatal(got)
	}
	if br := k2.Ctx().Branches(); len(br) != 1 || string(br[0].URI) != "sip:dave@example.com" {
		t.Errorf("branches %v", br)
	}
}
