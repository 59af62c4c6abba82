package transport

import (
	"testing"
	"time"
)

// A set chosen for a call holds on that context for that call only.
func TestCtlRelaySetChoice(t *testing.T) {
	cfg, err := NewCtlConfig("sock", []string{"udp:127.0.0.1:2223", "1 == udp:127.0.0.1:2224=2 udp:127.0.0.1:2225"}, -1, time.Second, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Default != 0 || len(cfg.Sets[1]) != 2 || cfg.Sets[1][0].Weight != 2 {
		t.Fatalf("config: default %d, sets %v", cfg.Default, cfg.Sets)
	}
	r := &CtlRelay{Config: cfg}
	a, b := new(int), new(int)
	if err := r.Choose(a, "call-1", 1, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ctx    any
		key    string
		answer bool
		want   int
	}{{a, "call-1", false, 1}, {a, "call-1", true, 0}, {a, "call-2", false, 0}, {b, "call-1", false, 0}} {
		if got := r.Set(c.ctx, c.key, c.answer); got != c.want {
			t.Errorf("Set(%p, %s, answer %v) = %d, want %d", c.ctx, c.key, c.answer, got, c.want)
		}
	}
	if r.Choose(a, "call-1", 7, 0) == nil {
		t.Error("a set that does not exist was chosen")
	}
	for _, bad := range [][]string{nil, {"tcp://x:1"}, {"udp:127.0.0.1:1=0"}, {"x == udp:127.0.0.1:1"}} {
		if _, err := NewCtlConfig("sock", bad, -1, time.Second, 1, time.Second); err == nil {
			t.Errorf("NewCtlConfig(%q): no error", bad)
		}
	}
	if _, _, err := r.Ask(0, "k", nil); err == nil {
		t.Error("Ask before Start: no error")
	}
}
