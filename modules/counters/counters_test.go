package counters_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const snippet = "loadmodule \"counters.so\"\nloadmodule \"kex.so\"\n" +
	"modparam(\"counters\", \"script_counter\", \"calls\")\n" +
	"modparam(\"counters\", \"script_counter\", \"sip.failed: requests that failed\")\n"

func TestCounters(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"counters.inc", []any{"calls"}, "1"},
		{"counters.add", []any{"calls", 4}, "1"},
		{"counters.add", []any{"sip.failed", 2}, "1"},
		{"counters.inc", []any{"nope"}, "-1"}, // not declared
		{"pv.get", []any{"$stat(script:calls)"}, "5"},
		{"pv.get", []any{"$stat(sip:failed)"}, "2"},
		{"counters.reset", []any{"script.calls"}, "1"},
		{"pv.get", []any{"$stat(script:calls)"}, "0"},
	})
	k.Native("cnt_inc", "calls")
	k.Native("cnt_add", "sip.failed", "3")
	for _, c := range []struct {
		rpc  string
		args []any
		want string
	}{
		{"cnt.get", []any{"script", "calls"}, "1"},
		{"cnt.get", []any{"sip", "failed"}, "5"},
		{"cnt.help", []any{"sip", "failed"}, `"requests that failed"`},
		{"cnt.get_vars", []any{"sip"}, `{"failed":5}`},
		{"cnt.list_vars", []any{"script"}, `["calls"]`},
	} {
		res, err := k.Table.CallRPC(c.rpc, c.args...)
		if err != nil || moduletest.JSON(res) != c.want {
			t.Errorf("%s %v: %s %v, want %s", c.rpc, c.args, moduletest.JSON(res), err, c.want)
		}
	}
	if _, err := k.Table.CallRPC("cnt.get", "script", "nope"); err == nil {
		t.Error("cnt.get of a counter that does not exist: no error")
	}
}

// TestGroupName: script_cnt_grp_name names the default group.
func TestGroupName(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"counters.so\"\nmodparam(\"counters\", \"script_cnt_grp_name\", \"mine\")\nmodparam(\"counters\", \"script_counter\", \"x\")")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"counters.inc", []any{"x"}, "1"}, {"pv.get", []any{"$stat(mine:x)"}, "1"}})
}
