package usrloc_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/usrloc"
)

const snippet = "loadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"

// TestRPCs: ul.dump, ul.lookup, ul.add and ul.rm on a binding registrar
// saved through the kit.
func TestRPCs(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"registrar.save", []any{"location", 0}, "1"}})
	res, err := k.Table.CallRPC("ul.lookup", "location", "alice")
	if err != nil || !strings.Contains(moduletest.JSON(res), "sip:alice@192.0.2.10:5062") {
		t.Errorf("ul.lookup: %v %v", moduletest.JSON(res), err)
	}
	if _, err := k.Table.CallRPC("ul.add", "location", "bob", "sip:bob@198.51.100.1", 60); err != nil {
		t.Fatal(err)
	}
	if dump, _ := k.Table.CallRPC("ul.dump"); !strings.Contains(moduletest.JSON(dump), "sip:bob@198.51.100.1") {
		t.Errorf("ul.dump: %s", moduletest.JSON(dump))
	}
	if _, err := k.Table.CallRPC("ul.rm", "location", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Table.CallRPC("ul.lookup", "location", "alice"); err == nil {
		t.Error("ul.lookup after ul.rm: no error")
	}
	if n := k.Module("usrloc").(*usrloc.Module).Stats.Contacts.Load(); n != 1 {
		t.Errorf("%d contacts in memory, want 1 (bob)", n)
	}
}

// TestTwoProxies: each proxy's location table is its own.
func TestTwoProxies(t *testing.T) {
	a, b := moduletest.New(t, snippet), moduletest.New(t, snippet)
	a.Request(moduletest.Register)
	a.Run([]moduletest.Case{{"registrar.save", []any{"location", 0}, "1"}})
	b.Request(moduletest.Invite)
	b.Run([]moduletest.Case{{"registrar.registered_uri", []any{"location", "sip:alice@example.com"}, "-1"}})
	a.Run([]moduletest.Case{{"registrar.registered_uri", []any{"location", "sip:alice@example.com"}, "1"}})
}

func TestBadParameters(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`modparam("usrloc", "db_mode", 4)`, "db_mode 4"},
		{`modparam("usrloc", "db_mode", 1)`, "needs db_url"},
		{`modparam("usrloc", "timer_interval", 0)`, "timer_interval"},
	} {
		if _, err := moduletest.NewErr(t, snippet+c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.cfg, err, c.want)
		}
	}
}
