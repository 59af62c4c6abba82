package pike_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/pike"
)

func TestCheck(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"pike.so\"\nmodparam(\"pike\", \"reqs_density_per_unit\", 3)\nmodparam(\"pike\", \"sampling_time_unit\", 2)")
	pk := k.Module("pike").(*pike.Module)
	ip := netip.MustParseAddr("198.51.100.7")
	other := netip.MustParseAddr("198.51.100.8")
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		ip   netip.Addr
		at   time.Duration
		want int
	}{
		{ip, 0, 1}, {ip, 100 * time.Millisecond, 1}, {ip, 200 * time.Millisecond, -2}, {ip, 300 * time.Millisecond, -1},
		{other, 300 * time.Millisecond, 1}, // another address is not affected
		{ip, 2100 * time.Millisecond, -1},  // the unit before was over the limit
		{ip, 6 * time.Second, 1},           // two quiet units later
	}
	for i, s := range steps {
		if got := pk.Check(s.ip, t0.Add(s.at)); got != s.want {
			t.Errorf("case %d (%s at %v): got %d, want %d", i, s.ip, s.at, got, s.want)
		}
	}
	if n := pk.Stats.Detected.Load(); n != 1 {
		t.Errorf("detected %d, want 1", n)
	}
}

// TestCheckReq: pike_check_req counts the source of the message; with
// ban_time the flooding source is banned at the transport.
func TestCheckReq(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"pike.so\"\nmodparam(\"pike\", \"reqs_density_per_unit\", 2)\nmodparam(\"pike\", \"ban_time\", 60)")
	var rcs []int
	for range 3 {
		k.Request(moduletest.Options)
		rcs = append(rcs, k.CallInt("pike.pike_check_req"))
	}
	if rcs[0] != 1 || rcs[1] != -2 || rcs[2] != -1 {
		t.Errorf("pike_check_req: %v, want [1 -2 -1]", rcs)
	}
	if !k.Transport.Guard.Banned(moduletest.Client.Addr()) {
		t.Error("the flooding source is not banned")
	}
	k.Run([]moduletest.Case{{"pike.pike_check_ip", []any{"203.0.113.9"}, "1"}, {"pike.pike_check_ip", []any{"not an ip"}, "1"}})
}
