package main

import (
	"context"
	"github.com/kemi-sip/kemi/core/router"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logHandler writes Kamailio-style lines:
// " 0(1234) INFO: <core> message key=value".
type logHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	level  *slog.LevelVar
	prefix string
	color  bool
	attrs  string
	// msgPrefix is log_prefix as formatted for the message being routed.
	msgPrefix string
	pid       string // kemi never forks: read once, not a getpid per line
}

func newLogHandler(w io.Writer, level *slog.LevelVar, prefix string, color bool) *logHandler {
	return &logHandler{mu: &sync.Mutex{}, w: fileWriter(w), level: level, prefix: prefix, color: color,
		pid: strconv.Itoa(os.Getpid())}
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < router.LevelNotice:
		return "INFO"
	case l < slog.LevelWarn:
		return "NOTICE"
	case l < slog.LevelError:
		return "WARNING"
	case l < router.LevelCrit:
		return "ERROR"
	case l < router.LevelAlert:
		return "CRITICAL"
	}
	return "ALERT"
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(time.Now().Format("15:04:05.000"))
	b.WriteString(" ")
	b.WriteString(h.pid)
	b.WriteString(" ")
	// "src" names who logs (<core> when none: <script>, <debugger>);
	// "lname" replaces the level's name, as Kamailio's log_level_name does.
	name := levelName(r.Level)
	src, prefix := "<core>", h.msgPrefix
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "src":
			src = "<" + a.Value.String() + ">"
		case "lname":
			name = a.Value.String()
		case "prefix": // log_prefix, formatted for the message
			prefix = a.Value.String()
		}
		return true
	})
	if h.color && r.Level >= slog.LevelWarn {
		name = "\x1b[31m" + name + "\x1b[0m"
	}
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(src)
	b.WriteString(" ")
	b.WriteString(prefix)
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "src" || a.Key == "lname" || a.Key == "prefix" {
			return true // written before the message
		}
		writeAttr(&b, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// writeAttr writes " key=value", quoting a value with spaces or control
// characters so that a log line never carries raw bytes from the wire.
func writeAttr(b *strings.Builder, a slog.Attr) {
	b.WriteByte(' ')
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\r\n\"=") || !printable(v) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	n := *h
	for _, a := range as {
		if a.Key == "prefix" { // log_prefix, formatted for a message (Ctx.Log)
			n.msgPrefix = a.Value.String()
			continue
		}
		writeAttr(&b, a)
	}
	n.attrs += b.String()
	return &n
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

var _ slog.Handler = (*logHandler)(nil)
