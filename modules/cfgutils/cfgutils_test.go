package cfgutils_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/cfgutils"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestCoreHash: Kamailio's core_hash, to the bit (values computed with
// Kamailio's function, signed chars included).
func TestCoreHash(t *testing.T) {
	for _, c := range []struct {
		s1, s2 string
		full   uint32
	}{
		{"alice@example.com", "", 2920418261},
		{"call-1@192.0.2.10", "tag", 36226522},
		{"\xc3\xa9t\xc3\xa9", "x", 3139016560},
		{"abc", "", 7167810},
	} {
		if got := cfgutils.CoreHash(c.s1, c.s2, 0); got != c.full {
			t.Errorf("core_hash(%q, %q): %d, want %d", c.s1, c.s2, got, c.full)
		}
	}
	k := moduletest.New(t, `loadmodule "cfgutils.so"`)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"cfgutils.core_hash", []any{"alice@example.com", "", 4}, "6"},
		{"cfgutils.core_hash", []any{"call-1@192.0.2.10", "tag", 10}, "475"},
		{"cfgutils.core_hash", []any{"abc", "", 0}, "1"},
	})
}

func TestProbabilityAndFlags(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"cfgutils.so\"\nmodparam(\"cfgutils\", \"initial_probability\", 0)\nmodparam(\"cfgutils\", \"initial_gflags\", 2)")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"cfgutils.rand_event", nil, "-1"}, // 0 %
		{"cfgutils.rand_get_prob", nil, "0"},
		{"cfgutils.rand_set_prob", []any{100}, "-1"}, // 0..99 from a script
		{"cfgutils.rand_set_prob", []any{99}, "1"},
		{"cfgutils.rand_get_prob", nil, "99"},
		{"cfgutils.rand_reset_prob", nil, "1"},
		{"cfgutils.rand_get_prob", nil, "0"},
	})
	if _, err := k.Table.CallRPC("cfgutils.rand_set_prob", 100); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		k.Run([]moduletest.Case{{"cfgutils.rand_event", nil, "1"}})
	}
	for _, c := range []struct {
		fn   string
		flag int
		want string
	}{{"is_gflag", 1, "1"}, {"is_gflag", 0, "-1"}, {"set_gflag", 0, "1"}, {"is_gflag", 0, "1"}, {"reset_gflag", 1, "1"}, {"is_gflag", 1, "-1"}, {"is_gflag", 40, "-1"}} {
		if got := k.Native(c.fn, c.flag).String(); got != c.want {
			t.Errorf("%s(%d): %s, want %s", c.fn, c.flag, got, c.want)
		}
	}
	if res, err := k.Table.CallRPC("cfgutils.get_gflags"); err != nil || moduletest.JSON(res) != "1" {
		t.Errorf("cfgutils.get_gflags: %s %v", moduletest.JSON(res), err)
	}
}

func TestLocksAndRoutes(t *testing.T) {
	k := moduletest.New(t, `loadmodule "cfgutils.so"`)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"cfgutils.lock", []any{"x"}, "-1"}}) // no lock_set_size
	if !strings.Contains(k.Logs.String(), "lock_set_size") {
		t.Errorf("the missing lock set is not explained:\n%s", k.Logs.String())
	}
	k = moduletest.New(t, "loadmodule \"cfgutils.so\"\nmodparam(\"cfgutils\", \"lock_set_size\", 4)")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"cfgutils.lock", []any{"alice"}, "1"},
		{"cfgutils.trylock", []any{"ALICE"}, "-1"}, // the same key, case aside
		{"cfgutils.unlock", []any{"alice"}, "1"},
		{"cfgutils.trylock", []any{"alice"}, "1"},
		{"cfgutils.unlock", []any{"alice"}, "1"},
		{"cfgutils.check_route_exists", []any{"NOPE"}, "-1"},
		{"cfgutils.route_if_exists", []any{"NOPE"}, "-1"},
		{"cfgutils.abort", nil, "-1"},
		{"cfgutils.usleep", []any{10}, "1"},
		{"cfgutils.pkg_status", nil, "1"},
	})
	if _, err := moduletest.NewErr(t, "loadmodule \"cfgutils.so\"\nmodparam(\"cfgutils\", \"hash_file\", \"/etc/kamailio/kamailio.cfg\")"); err == nil {
		t.Error("hash_file: no error")
	}
}
