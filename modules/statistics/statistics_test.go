package statistics_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestUpdateStat(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"statistics.so\"\nloadmodule \"kex.so\"\nmodparam(\"statistics\", \"variable\", \"calls/no_reset\")")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$stat(calls)"}, "0"},
		{"statistics.update_stat", []any{"calls", 3}, "1"},
		{"statistics.update_stat", []any{"made_up", 2}, "1"}, // a new script counter
		{"pv.get", []any{"$stat(calls)"}, "3"}, {"pv.get", []any{"$stat(made_up)"}, "2"},
		{"statistics.reset_stat", []any{"calls"}, "1"}, {"pv.get", []any{"$stat(calls)"}, "0"},
		{"statistics.update_stat", []any{"rcv_requests", 1}, "-1"}, // the core's
	})
	other := moduletest.New(t, "loadmodule \"statistics.so\"\nloadmodule \"kex.so\"")
	other.Request(moduletest.Invite)
	other.Run([]moduletest.Case{{"pv.get", []any{"$stat(made_up)"}, ""}})
}
