package permissions_test

import (
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
