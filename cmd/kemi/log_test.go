package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
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

// TestLogPrefix: log_prefix, formatted for each message, starts the
// lines logged about it: the script's and the latency line, as Kamailio's.
func TestLogPrefix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.cfg")
	os.WriteFile(path, []byte(`log_prefix="NAT {$rm}: "
latency_cfg_log = 2
loadmodule "sl.so"
loadmodule "xlog.so"
request_route {
	xlog("L_INFO", "hello $rU\n");
	sl_send_reply("200", "OK");
}
`), 0o644)
	s, logs := startListening(t, path, nil, "udp:127.0.0.1:0")
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	ua.send(fmt.Sprintf("OPTIONS sip:bob@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-lp\r\n"+
		"From: <sip:a@b>;tag=p\r\nTo: <sip:x@y>\r\nCall-ID: lp-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ua.addr()), nil)
	if m, _ := ua.recv(2 * time.Second); m == nil {
		t.Fatal("no reply")
	}
	// The route's time is logged when the route ends, after its reply
	// left: wait for it.
	for _, want := range []string{" INFO: <script> NAT {OPTIONS}: hello bob", " NAT {OPTIONS}: request-route executed in: "} {
		if !eventually(2*time.Second, func() bool { return strings.Contains(logs.String(), want) }) {
			t.Errorf("no %q in:\n%s", want, logs.String())
		}
	}
}

// A log going to a regular file is written with write(2) made directly
// (log_linux.go): every line arrives whole and in order, with the pid.
func TestLogToRegularFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "kemi-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lv := &slog.LevelVar{}
	log := slog.New(newLogHandler(f, lv, "", false))
	for i := range 200 {
		log.Info("line", "n", i, "pad", strings.Repeat("x", i))
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200", len(lines))
	}
	pid := strconv.Itoa(os.Getpid())
	for i, l := range lines {
		if !strings.Contains(l, " "+pid+" ") || !strings.Contains(l, "n="+strconv.Itoa(i)+" ") {
			t.Fatalf("line %d: %q", i, l)
		}
	}
}

// BenchmarkLogLine is the latency line of every request, with log_prefix.
func BenchmarkLogLine(b *testing.B) {
	l := slog.New(newLogHandler(io.Discard, &slog.LevelVar{}, "", false)).With("prefix", "{1 REGISTER abc@h} ")
	b.ReportAllocs()
	for b.Loop() {
		l.Info("request-route executed in: 42 usec")
	}
}
