package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestLogLine: lines are Kamailio's: "LEVEL: <who> message key=value";
// src names who logs, lname replaces the level's name (the debugger's
// log_level_name).
func TestLogLine(t *testing.T) {
	var b bytes.Buffer
	lv := &slog.LevelVar{}
	l := slog.New(newLogHandler(&b, lv, "", false))
	l.Error("*** cfgtrace:request_route=[DEFAULT] l=3 n=exit", "src", "debugger", "lname", "exec")
	l.Info("hello", "src", "script")
	l.Warn("plain", "k", "v")
	for _, want := range []string{" exec: <debugger> *** cfgtrace:request_route=[DEFAULT] l=3 n=exit\n", " INFO: <script> hello\n", " WARNING: <core> plain k=v\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}
