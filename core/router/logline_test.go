package router

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkCtxLogLine is a request's log line through the context (the
// latency line of latency_cfg_log goes this way): the proxy's handler,
// writing to nowhere.
func BenchmarkCtxLogLine(b *testing.B) {
	c := FakedCtx(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.ReportAllocs()
	for b.Loop() {
		c.logLine(slog.LevelInfo, "request-route executed in: 42 usec")
	}
}
