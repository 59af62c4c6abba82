package corex_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestCorex(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	c := k.Request(moduletest.Invite)
	file := filepath.Join(t.TempDir(), "f.txt")
	k.Run([]moduletest.Case{
		{"corex.has_ruri_user", nil, "1"}, {"corex.has_user_agent", nil, "-1"},
		{"corex.setxflag", []any{100}, "1"}, {"corex.isxflagset", []any{100}, "1"}, {"corex.isxflagset", []any{99}, "-1"},
		{"corex.resetxflag", []any{100}, "1"}, {"corex.isxflagset", []any{100}, "-1"},
		{"corex.append_branch", nil, "1"}, {"corex.append_branch_uri", []any{"sip:carol@example.net"}, "1"},
		{"corex.append_branch_uri_q", []any{"sip:dave@example.net", "0.5"}, "1"},
		{"corex.append_branch_uri_q", []any{"sip:dave@example.net", "2"}, "-1"},
		{"corex.is_faked_msg", nil, "-1"},
		{"corex.file_write", []any{file, "text"}, "1"}, {"corex.file_read", []any{file}, "text"},
		{"corex.file_read", []any{filepath.Join(t.TempDir(), "none")}, ""},
	})
	bs := c.Branches()
	if len(bs) != 3 || string(bs[0].URI) != "sip:bob@example.com" || string(bs[2].URI) != "sip:dave@example.net" || bs[2].Q != 500 {
		t.Errorf("branches %+v", bs)
	}
	if b, _ := os.ReadFile(file); string(b) != "text" {
		t.Errorf("file_write wrote %q", b)
	}
}
