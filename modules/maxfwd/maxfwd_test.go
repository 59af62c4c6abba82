package maxfwd_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestProcessMaxfwd(t *testing.T) {
	k := moduletest.New(t, `loadmodule "maxfwd.so"`)
	cases := []struct {
		name   string
		header string // the Max-Forwards line, "" for none
		limit  int
		rc     int
		out    string // the Max-Forwards forwarded
	}{
		{"decremented", "Max-Forwards: 70\n", 10, 1, "Max-Forwards: 69\r\n"},
		{"added when missing", "", 10, 2, "Max-Forwards: 10\r\n"},
		{"zero", "Max-Forwards: 0\n", 10, -1, "Max-Forwards: 0\r\n"},
		{"capped by max_limit", "Max-Forwards: 200\n", 10, 1, "Max-Forwards: 70\r\n"},
		{"bad limit", "Max-Forwards: 5\n", 300, -2, "Max-Forwards: 5\r\n"},
	}
	for i, c := range cases {
		k.Request(strings.Replace(moduletest.Invite, "Max-Forwards: 70\n", c.header, 1))
		if rc := k.CallInt("maxfwd.process_maxfwd", c.limit); rc != c.rc {
			t.Errorf("case %d (%s): rc %d, want %d", i, c.name, rc, c.rc)
		}
		if out := k.Out(); !strings.Contains(out, c.out) {
			t.Errorf("case %d (%s): want %q in\n%s", i, c.name, c.out, out)
		}
	}
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"maxfwd.is_maxfwd_lt", []any{71}, "1"}, {"maxfwd.is_maxfwd_lt", []any{70}, "-1"}})
	if rc := k.Native("mf_process_maxfwd_header", 10); rc.I != 1 {
		t.Errorf("native mf_process_maxfwd_header: %d", rc.I)
	}
}

func TestMaxLimit(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"maxfwd.so\"\nmodparam(\"maxfwd\", \"max_limit\", 16)")
	k.Request(moduletest.Invite)
	k.Call("maxfwd.process_maxfwd", 10)
	if out := k.Out(); !strings.Contains(out, "Max-Forwards: 16\r\n") {
		t.Errorf("max_limit 16:\n%s", out)
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"maxfwd.so\"\nmodparam(\"maxfwd\", \"max_limit\", 0)"); err == nil || !strings.Contains(err.Error(), "max_limit 0") {
		t.Errorf("max_limit 0: %v", err)
	}
}
