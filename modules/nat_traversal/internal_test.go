package nat_traversal

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

func TestPrivate(t *testing.T) {
	for ip, want := range map[string]bool{"10.1.2.3": true, "172.16.0.1": true, "172.32.0.1": false, "192.168.9.9": true,
		"100.64.0.1": true, "100.128.0.1": false, "192.0.0.7": true, "192.0.0.8": false, "8.8.8.8": false, "example.com": false, "fd00::1": false} {
		if got := private(ip); got != want {
			t.Errorf("%s: %v", ip, got)
		}
	}
}

// TestStateFile: the bindings written at stop come back at start, but
// the expired ones and those of a socket the proxy no longer has.
func TestStateFile(t *testing.T) {
	tr := transport.NewRecorder(netip.MustParseAddrPort("127.0.0.1:5060"))
	env := &router.Env{Transport: tr, Log: slog.Default()}
	sock := tr.Listeners[0]
	path := filepath.Join(t.TempDir(), "state")
	m := &Module{table: map[string]*binding{}, interval: 10, stateFile: path, env: env, log: slog.Default()}
	now := time.Now().Unix()
	m.update(sock, netip.MustParseAddrPort("192.0.2.1:5060"), false, now+100)
	m.update(sock, netip.MustParseAddrPort("192.0.2.2:5070"), true, now+50)
	m.save()
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, []byte("sip:192.0.2.3:5060 "+sock.String()+" 1 1\nsip:192.0.2.4:5060 udp:10.9.9.9:5060 "+
		"9999999999 0\n")...), 0o644)
	back := &Module{table: map[string]*binding{}, interval: 10, stateFile: path, env: env, log: slog.Default()}
	back.restore()
	if len(back.table) != 2 || back.table["sip:192.0.2.1:5060"] == nil || back.table["sip:192.0.2.2:5070"].subExpire != now+50 {
		t.Errorf("restored %v from:\n%s", back.table, b)
	}
	if back.registered.Load() != 1 || back.subscribed.Load() != 1 {
		t.Errorf("counts %d %d", back.registered.Load(), back.subscribed.Load())
	}
	if !strings.HasPrefix(string(b), "# Automatically generated") {
		t.Errorf("file:\n%s", b)
	}
	_ = sip.TransportUDP
}
