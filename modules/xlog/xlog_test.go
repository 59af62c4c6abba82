package xlog_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestXlog(t *testing.T) {
	k := moduletest.New(t, `loadmodule "xlog.so"`)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"xlog.xinfo", []any{"from $fu to $ru\n"}, "1"}, {"xlog.xlog", []any{"L_WARN", "warned $si"}, "1"},
		{"xlog.xlog", []any{"L_NOPE", "x"}, "-1"}, {"xlog.xerr", []any{"$nosuch"}, "-1"}, {"xlog.xdbg", []any{"debug"}, "1"},
	})
	l := k.Logs.String()
	for _, want := range []string{`level=INFO msg="from sip:alice@example.com to sip:bob@example.com"`, `level=WARN msg="warned 192.0.2.10"`, "level=DEBUG msg=debug"} {
		if !strings.Contains(l, want) {
			t.Errorf("no %s in the log:\n%s", want, l)
		}
	}
	// Natively the format is passed as written and expanded by xlog.
	k.Native("xlog", "L_INFO", "native $rm")
	if !strings.Contains(k.Logs.String(), `msg="native INVITE"`) {
		t.Errorf("native xlog:\n%s", k.Logs.String())
	}
}

// TestNativeForms: xlog(format) logs at L_ERR, xlog(facility, level,
// format) at level, as Kamailio's xlog_1 and xlog_3.
func TestNativeForms(t *testing.T) {
	k := moduletest.New(t, `loadmodule "xlog.so"`)
	k.Request(moduletest.Invite)
	k.Native("xlog", "one parameter $rm")
	k.Native("xlog", "LOG_LOCAL0", "L_WARN", "three parameters")
	l := k.Logs.String()
	if !strings.Contains(l, `level=ERROR msg="one parameter INVITE"`) || !strings.Contains(l, `level=WARN msg="three parameters"`) {
		t.Errorf("logs:\n%s", l)
	}
}
