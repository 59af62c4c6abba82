package uac_redirect_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const load = "loadmodule \"tm.so\"\nloadmodule \"uac_redirect.so\"\nmodparam(\"uac_redirect\", \"acc_function\", \"\")\n"

// TestParams: the parameters Kamailio refuses are refused at start-up
// with its reason.
func TestParams(t *testing.T) {
	for params, want := range map[string]string{
		`modparam("uac_redirect", "default_filter", "maybe")`:                              "unknown default filter <maybe>",
		`modparam("uac_redirect", "accept_filter", "sip:(")`:                               "failed to init accept filter",
		`modparam("uac_redirect", "deny_filter", "[")`:                                     "failed to init deny filter",
		`modparam("uac_redirect", "acc_function", "acc_request")`:                          "cannot bind to ACC API",
		`loadmodule "acc.so"` + "\n" + `modparam("uac_redirect", "acc_function", "acc_x")`: `acc_function "acc_x"`,
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"tm.so\"\nloadmodule \"uac_redirect.so\"\n"+params+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", params, err, want)
		}
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"uac_redirect.so\"\n"); err == nil || !strings.Contains(err.Error(), "failed to load TM API") {
		t.Errorf("without tm: %v", err)
	}
}

// TestOutsideFailureRoute: get_redirects needs the failure route's
// transaction: -1 and Kamailio's reason elsewhere; the filter functions
// take their reset types and refuse others.
func TestOutsideFailureRoute(t *testing.T) {
	k := moduletest.New(t, load)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"uac_redirect.get_redirects", []any{2, 1}, "-1"},
		{"uac_redirect.get_redirects_all", nil, "-1"},
	})
	if !strings.Contains(k.Logs.String(), "no current transaction found (in failure_route only)") {
		t.Errorf("the log:\n%s", k.Logs)
	}
	for _, c := range []struct {
		fn, re, flags, want string
	}{
		{"set_accept_filter", "sip:.*@gw1", "", "1"},
		{"set_accept_filter", "sip:.*@gw2", "reset_added", "1"},
		{"set_deny_filter", ".*", "reset_all", "1"},
		{"set_deny_filter", ".*", "reset_default", "1"},
		{"set_deny_filter", ".*", "reset_some", "-1"},
		{"set_accept_filter", "(", "", "-1"},
	} {
		if got := k.Native(c.fn, c.re, c.flags).String(); got != c.want {
			t.Errorf("%s(%q, %q): %s, want %s", c.fn, c.re, c.flags, got, c.want)
		}
	}
	for _, want := range []string{"unknown reset type <reset_some>", "cannot init filter <(>"} {
		if !strings.Contains(k.Logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
	for _, bad := range []string{"x", "256", "3:y"} {
		if got := k.Native("get_redirects", bad).String(); got != "-1" {
			t.Errorf("get_redirects(%q): %s", bad, got)
		}
	}
}
