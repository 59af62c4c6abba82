package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
)

// TestNativeProxyConfig runs scripts/native/kamailio.cfg, the registrar/
// proxy routing in the native language, with what exists today.
func TestNativeProxyConfig(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "native", "kamailio.cfg")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	lv := &slog.LevelVar{}
	logs := &syncBuf{}
	o := &options{cfgFile: path, level: lv, log: slog.New(newLogHandler(logs, lv, "", false)),
		defines: map[string]string{"LISTEN": `"udp:127.0.0.1:0"`, "LISTEN_TCP": `"tcp:127.0.0.1:0"`}}
	s, err := start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	addr := s.Addr(sip.TransportUDP).String()
	cases := []struct {
		name, method, uri, extra string
		code                     int
	}{
		{"keepalive", "OPTIONS", "sip:proxy.example.com", "", 200},
		{"loop", "MESSAGE", "sip:bob@proxy.example.com", "Max-Forwards: 0\r\n", 483},
		{"bad expires", "MESSAGE", "sip:bob@proxy.example.com", "Expires: soon\r\n", 400},
		{"cancel", "CANCEL", "sip:bob@proxy.example.com", "", 481},
		{"register", "REGISTER", "sip:proxy.example.com", "", 501},
		{"no user", "INVITE", "sip:proxy.example.com", "", 484},
		{"relay", "INVITE", "sip:bob@proxy.example.com", "", 501},
	}
	for i, c := range cases {
		m := exchange(t, "udp", addr, request(c.method, c.uri, c.extra, 100+i))
		if c.name == "bad expires" && string(m.Reason()) != "Bad Expires Header" {
			t.Errorf("case %d (%s): reason %q: not sanity's answer", i, c.name, m.Reason())
		}
		if m.StatusCode() != c.code {
			t.Errorf("case %d (%s): got %d %s, want %d", i, c.name, m.StatusCode(), m.Reason(), c.code)
		}
	}
}
