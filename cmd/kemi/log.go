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

// lineBufs are the handlers' line buffers: a line is built and written
// with nothing allocated.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	bp := lineBufs.Get().(*[]byte)
	b := append((*bp)[:0], h.prefix...)
	b = time.Now().AppendFormat(b, "15:04:05.000")
	b = append(b, ' ')
	b = append(b, h.pid...)
	b = append(b, ' ')
	// "src" names who logs (<core> when none: <script>, <debugger>);
	// "lname" replaces the level's name, as Kamailio's log_level_name does.
	name := levelName(r.Level)
	src, prefix := "core", h.msgPrefix
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "src":
			src = a.Value.String()
		case "lname":
			name = a.Value.String()
		case "prefix": // log_prefix, formatted for the message
			prefix = a.Value.String()
		}
		return true
	})
	if h.color && r.Level >= slog.LevelWarn {
		b = append(b, "\x1b[31m"...)
		b = append(b, name...)
		b = append(b, "\x1b[0m"...)
	} else {
		b = append(b, name...)
	}
	b = append(b, ": <"...)
	b = append(b, src...)
	b = append(b, "> "...)
	b = append(b, prefix...)
	b = append(b, r.Message...)
	b = append(b, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "src" || a.Key == "lname" || a.Key == "prefix" {
			return true // written before the message
		}
		b = appendAttr(b, a)
		return true
	})
	b = append(b, '\n')
	h.mu.Lock()
	_, err := h.w.Write(b)
	h.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b
		lineBufs.Put(bp)
	}
	return err
}

// appendAttr appends " key=value", quoting a value with spaces or control
// characters so that a log line never carries raw bytes from the wire.
func appendAttr(b []byte, a slog.Attr) []byte {
	b = append(b, ' ')
	b = append(b, a.Key...)
	b = append(b, '=')
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\r\n\"=") || !printable(v) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
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
	var b []byte
	n := *h
	for _, a := range as {
		if a.Key == "prefix" { // log_prefix, formatted for a message (Ctx.Log)
			n.msgPrefix = a.Value.String()
			continue
		}
		b = appendAttr(b, a)
	}
	n.attrs += string(b)
	return &n
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

var _ slog.Handler = (*logHandler)(nil)
