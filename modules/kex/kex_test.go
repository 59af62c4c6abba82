package kex_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestStatsRPC: the stats.* commands read the proxy's statistics.
func TestStatsRPC(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"kex.so\"")
	k.Request(moduletest.Options)
	k.Call("sl.send_reply", 200, "OK")
	res, err := k.Table.CallRPC("stats.get_statistics", "sl:")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.([]string), "\n"), "sl:sent_replies = 1") {
		t.Errorf("stats.get_statistics sl: %v", res)
	}
	if _, err := k.Table.CallRPC("stats.reset_statistics", "sl:sent_replies"); err != nil {
		t.Fatal(err)
	}
	k.Run([]moduletest.Case{{"pv.get", []any{"$stat(sent_replies)"}, "0"}})
	if _, err := k.Table.CallRPC("stats.fetch", "nope:nothing"); err == nil {
		t.Error("stats.fetch of a statistic that does not exist: no error")
	}
}

// TestSetDebug: setdebug gives the worker its own level, below the
// proxy's; resetdebug takes it back.
func TestSetDebug(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"kex.so\"")
	k.Request(moduletest.Options)
	k.Env.Log = slog.New(slog.NewTextHandler(k.Logs, &slog.HandlerOptions{Level: slog.LevelError}))
	k.Call("dbg", "before")
	k.Run([]moduletest.Case{{"kex.setdebug", []any{3}, "1"}})
	k.Call("dbg", "while-debug")
	k.Run([]moduletest.Case{{"kex.resetdebug", nil, "1"}})
	k.Call("dbg", "after")
	logs := k.Logs.String()
	if strings.Contains(logs, "before") || !strings.Contains(logs, "while-debug") || strings.Contains(logs, "after") {
		t.Errorf("setdebug 3 then resetdebug, with the proxy at ERROR; logged:\n%s", logs)
	}
}
