package ndb_redis

import (
	"strings"
	"testing"
)

// TestFormat: commands split as hiredis splits them — spaces separate
// arguments (several count as one), %s puts a parameter inside the
// argument it is in (spaces and all; an empty one is still an argument),
// %% is a '%'.
func TestFormat(t *testing.T) {
	for _, c := range []struct {
		cmd    string
		params []string
		want   string
	}{
		{"SET k v", nil, "SET|k|v"},
		{"  SET   k  v ", nil, "SET|k|v"},
		{"SET k:%s %s", []string{"a b", "hello world"}, "SET|k:a b|hello world"},
		{"SET k %s", []string{""}, "SET|k|"},
		{"SET 100%% %s", []string{"x"}, "SET|100%|x"},
	} {
		args, err := format(c.cmd, c.params)
		if err != nil || strings.Join(args, "|") != c.want {
			t.Errorf("format(%q, %q) = %q, %v; want %q", c.cmd, c.params, args, err, c.want)
		}
	}
	if _, err := format("SET %s %s", []string{"a"}); err == nil {
		t.Error("more specifiers than parameters: no error")
	}
}
