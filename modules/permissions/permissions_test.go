package permissions_test

import (
	"context"
	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/permissions"
)

func TestAddressFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "address.list")
	os.WriteFile(path, []byte("# group address port tag\n1 192.0.2.0/24 0 office\n2 198.51.100.7 5060\n"), 0o644)
	k := moduletest.New(t, "loadmodule \"permissions.so\"\nmodparam(\"permissions\", \"address_file\", \""+path+"\")")
	k.Request(moduletest.Invite) // from 192.0.2.10
	k.Run([]moduletest.Case{
		{"permissions.allow_source_address", []any{1}, "1"},
		{"permissions.allow_source_address", []any{2}, "-1"},
		{"permissions.allow_address", []any{2, "198.51.100.7", 5060}, "1"},
		{"permissions.allow_address", []any{2, "198.51.100.7", 5061}, "-1"},
		{"permissions.allow_source_address_group", nil, "1"},
		{"permissions.allow_address_group", []any{"198.51.100.7", 5060}, "2"},
		{"permissions.allow_address_group", []any{"198.51.100.8", 5060}, "-1"},
	})
	if got := k.Native("allow_source_address"); got.String() != "1" { // group 1
		t.Errorf("allow_source_address(): %s", got)
	}
	os.WriteFile(path, []byte("1 not-an-address\n"), 0o644)
	if err := k.Module("permissions").(*permissions.Module).Reload(); err == nil || !strings.Contains(err.Error(), "address.list:1") {
		t.Errorf("a bad line: got %v, want an error naming the file and line", err)
	}
	k.Run([]moduletest.Case{{"permissions.allow_source_address", []any{1}, "1"}}) // the old entries stay
}

func TestNeedsASource(t *testing.T) {
	if _, err := moduletest.NewErr(t, `loadmodule "permissions.so"`); err == nil || !strings.Contains(err.Error(), "db_url") {
		t.Errorf("no db_url and no address_file: %v", err)
	}
}

// TestTrusted: allow_trusted on the trusted table, queried per request
// (db_mode 0) and read at start (db_mode 1): source address, transport,
// From and request URI patterns, the highest priority first, the tag in
// peer_tag_avp; peer_tag_mode counts every row that matches. The address
// table comes from the same database.
func TestTrusted(t *testing.T) {
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO address (grp, ip_addr, mask, port) VALUES (3, '192.0.2.0', 24, 0)`,
		`INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES ('192.0.2.10', 'tcp', NULL, NULL, 'tcp-only', 9)`,
		`INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES ('192.0.2.10', 'any', '^sip:alice@', NULL, 'alice', 5)`,
		`INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES ('192.0.2.10', 'udp', NULL, '@example\.com$', 'to-example', 1)`,
		`INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES ('198.51.100.7', 'any', NULL, NULL, NULL, 0)`,
	} {
		if _, err := d.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	for _, mode := range []string{"0", "1"} {
		t.Run("db_mode "+mode, func(t *testing.T) {
			k := moduletest.New(t, "loadmodule \"permissions.so\"\nmodparam(\"permissions\", \"db_url\", \""+url+"\")\n"+
				"modparam(\"permissions\", \"db_mode\", "+mode+")\nmodparam(\"permissions\", \"peer_tag_avp\", \"$avp(s:peer)\")")
			k.Request(moduletest.Invite) // UDP from 192.0.2.10, From alice, R-URI bob@example.com
			k.Run([]moduletest.Case{
				{"permissions.allow_trusted", nil, "1"}, {"pv.get", []any{"$avp(s:peer)"}, "alice"},
				{"permissions.allow_source_address", []any{3}, "1"},
			})
			k.Request(strings.Replace(moduletest.Invite, "<sip:alice@", "<sip:carol@", 1))
			k.Run([]moduletest.Case{{"permissions.allow_trusted", nil, "1"}, {"pv.get", []any{"$avp(s:peer)"}, "to-example"}})
			k.Request(strings.NewReplacer("<sip:alice@", "<sip:carol@", "INVITE sip:bob@example.com", "INVITE sip:bob@example.net").Replace(moduletest.Invite))
			k.Run([]moduletest.Case{{"permissions.allow_trusted", nil, "-1"}})
			k.Receive(sip.TransportTCP, moduletest.Client, moduletest.Invite)
			k.Run([]moduletest.Case{{"permissions.allow_trusted", nil, "1"}, {"pv.get", []any{"$avp(s:peer)"}, "tcp-only"}})
			k.Receive(sip.TransportUDP, netip.MustParseAddrPort("203.0.113.1:5060"), moduletest.Invite)
			k.Run([]moduletest.Case{{"permissions.allow_trusted", nil, "-1"}})
		})
	}
	k := moduletest.New(t, "loadmodule \"permissions.so\"\nmodparam(\"permissions\", \"db_url\", \""+url+"\")\n"+
		"modparam(\"permissions\", \"peer_tag_mode\", 1)")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"permissions.allow_trusted", nil, "2"}})
}
