package domain_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/domain"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestDomains(t *testing.T) {
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for _, s := range []string{
		"INSERT INTO domain (domain, did) VALUES ('example.com', 'd1')",
		"INSERT INTO domain (domain, did) VALUES ('Example.NET', NULL)",
		"INSERT INTO domain_attrs (did, name, type, value) VALUES ('d1', 'max', 0, '5')",
		"INSERT INTO domain_attrs (did, name, type, value) VALUES ('d1', 'tier', 2, 'gold')",
	} {
		if _, err := d.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	k := moduletest.New(t, "loadmodule \"domain.so\"\nmodparam(\"domain\", \"db_url\", \""+url+"\")\nmodparam(\"domain\", \"register_myself\", 1)")
	k.Request(moduletest.Invite) // from alice@example.com to bob@example.com
	k.Run([]moduletest.Case{
		{"domain.is_from_local", nil, "1"},
		{"domain.is_uri_host_local", nil, "1"},
		{"domain.is_domain_local", []any{"example.net"}, "1"},
		{"domain.is_domain_local", []any{"example.org"}, "-1"},
		{"domain.is_domain_local", []any{"EXAMPLE.com"}, "1"},
		{"domain.lookup_domain_prefix", []any{"example.com", "f_"}, "1"},
		{"pv.get", []any{"$avp(f_did)"}, "d1"},
		{"pv.geti", []any{"$avp(f_max)"}, "5"},
		{"pv.get", []any{"$avp(f_tier)"}, "gold"},
		{"domain.lookup_domain", []any{"example.net"}, "1"},
		{"pv.get", []any{"$avp(did)"}, "Example.NET"},    // a NULL did: the domain as the table has it
		{"is_myself", []any{"sip:bob@example.com"}, "1"}, // register_myself
	})
	// myself asks every request's host: the look-up does not allocate.
	mod := k.Module("domain").(*domain.Module)
	host := []byte("Example.Com")
	if n := testing.AllocsPerRun(100, func() { mod.DID(host) }); n != 0 {
		t.Errorf("DID: %v allocations, want 0", n)
	}
	if _, err := d.Exec(ctx, "INSERT INTO domain (domain, did) VALUES ('example.org', 'd3')"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Table.CallRPC("domain.reload"); err != nil {
		t.Fatal(err)
	}
	k.Run([]moduletest.Case{{"domain.is_domain_local", []any{"example.org"}, "1"}})
	res, err := k.Table.CallRPC("domain.dump")
	if err != nil || !strings.Contains(moduletest.JSON(res), `{"did":"d3","domain":"example.org"}`) {
		t.Errorf("domain.dump: %s %v", moduletest.JSON(res), err)
	}
	kn := moduletest.New(t, "loadmodule \"domain.so\"\nmodparam(\"domain\", \"db_url\", \""+url+"\")")
	kn.Request(moduletest.Invite)
	kn.Run([]moduletest.Case{{"is_myself", []any{"sip:bob@example.com"}, "-1"}}) // no register_myself
}
