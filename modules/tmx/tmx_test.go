package tmx_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestTmx(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"tmx.t_is_request_route", nil, "1"}, {"tmx.t_is_failure_route", nil, "-1"},
		{"tmx.t_is_branch_route", nil, "-1"}, {"tmx.t_is_reply_route", nil, "-1"},
		{"tmx.t_precheck_trans", nil, "-1"}, // marked now
		{"tmx.t_precheck_trans", nil, "-1"}, // by this worker already
		{"pv.get", []any{"$T_reply_code"}, "0"}, {"pv.get", []any{"$T_branch_idx"}, "0"},
	})
	// Another proxy does not see the first one's mark.
	other := moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"")
	other.Request(moduletest.Invite)
	other.Run([]moduletest.Case{{"tmx.t_precheck_trans", nil, "-1"}})
	// Once the request has a transaction, precheck says so.
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"tm.t_newtran", nil, "1"}})
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"tmx.t_precheck_trans", nil, "1"}})
}
