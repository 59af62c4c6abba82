// Package pike detects request floods per source address, like Kamailio's
// pike module: an address that sends reqs_density_per_unit requests or
// more within one sampling_time_unit is reported as flooding while it
// keeps that rate. What to do about it is the script's choice — unless
// kemi's ban_time parameter is set: then the address is also banned in the
// transport for that long, its messages dropped before they are parsed
// (the ban that bad input gets, see transport.Guard).
package pike

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

var conf = struct {
	unit          time.Duration
	density       int
	removeLatency time.Duration
	banTime       time.Duration // 0: report only, as Kamailio's pike
}{unit: 2 * time.Second, density: 30, removeLatency: 120 * time.Second}

// guard bans flooding addresses when ban_time is set; set at Start.
var guard atomic.Pointer[transport.Guard]

// MaxAddresses bounds the table: past it, new addresses are not tracked
// (and counted in Stats.Untracked) rather than letting a spoofed-source
// flood grow memory without end.
const MaxAddresses = 1 << 20

type node struct {
	start    int64 // the current sampling unit began (unix ns)
	count    int   // requests in it
	prev     int   // requests in the unit before
	red      bool
	lastSeen int64
}

type shard struct {
	mu sync.Mutex
	m  map[netip.Addr]*node
}

var (
	shards [32]shard
	size   atomic.Int64
	stopCh chan struct{}
	// Stats are the module's counters.
	Stats struct {
		Blocked   atomic.Uint64 // requests reported as flooding
		Detected  atomic.Uint64 // addresses newly found flooding
		Untracked atomic.Uint64 // requests from addresses past MaxAddresses
	}
)

func init() {
	for i := range shards {
		shards[i].m = map[netip.Addr]*node{}
	}
	dispatch.RegisterLegacy(dispatch.Legacy{Name: "pike", Stats: registerStats,
		Params: []dispatch.Param{
			{Name: "sampling_time_unit", Kind: dispatch.Int},
			{Name: "reqs_density_per_unit", Kind: dispatch.Int},
			{Name: "remove_latency", Kind: dispatch.Int},
			{Name: "ban_time", Kind: dispatch.Int},
		},
		Init: func(p *dispatch.Params) error {
			conf.unit = time.Duration(max(1, p.Int("sampling_time_unit", 2))) * time.Second
			conf.density = max(1, p.Int("reqs_density_per_unit", 30))
			conf.removeLatency = time.Duration(max(1, p.Int("remove_latency", 120))) * time.Second
			bt := p.Int("ban_time", 0)
			if bt < 0 {
				return errors.New("ban_time must not be negative")
			}
			conf.banTime = time.Duration(bt) * time.Second
			return nil
		},
		Start: func(env *router.Env) error {
			if conf.banTime > 0 && env.Transport != nil {
				guard.Store(env.Transport.Guard)
			}
			stopCh = make(chan struct{})
			go sweeper(stopCh, conf.unit, conf.removeLatency)
			return nil
		},
		Stop: func() {
			guard.Store(nil)
			if stopCh != nil {
				close(stopCh)
				stopCh = nil
			}
			// A proxy started again in the same process (the tests) starts
			// with no history, as a restarted Kamailio does.
			for i := range shards {
				shards[i].mu.Lock()
				clear(shards[i].m)
				shards[i].mu.Unlock()
			}
			size.Store(0)
		},
		Exports: []dispatch.Export{
			{Name: "pike_check_req", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
				return checkAndBan(c.Src().Addr())
			}), Native: "pike_check_req"},
			{Name: "pike_check_ip", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, ip string) int {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					c.Log().Error("pike: pike_check_ip: bad address "+ip, "route", c.Route)
					return 1
				}
				return checkAndBan(a)
			}), Native: "pike_check_ip"},
		},
	})
}

// checkAndBan is Check, and with ban_time set, a ban of a flooding address.
func checkAndBan(ip netip.Addr) int {
	rc := Check(ip, time.Now())
	if rc < 0 {
		if g := guard.Load(); g != nil {
			g.Ban(ip, conf.banTime)
		}
	}
	return rc
}

// Check counts a request from ip: 1 when it may go on, -1 when ip floods
// and was found so before, -2 when this request is the one that found it.
func Check(ip netip.Addr, now time.Time) int {
	if !ip.IsValid() {
		return 1
	}
	ip = ip.Unmap()
	b := ip.As16()
	s := &shards[(uint(b[15])^uint(b[14])<<3^uint(b[13])<<1)%uint(len(shards))]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.m[ip]
	if n == nil {
		if size.Load() >= MaxAddresses {
			Stats.Untracked.Add(1)
			return 1
		}
		n = &node{start: t}
		s.m[ip] = n
		size.Add(1)
	}
	n.lastSeen = t
	unit := conf.unit.Nanoseconds()
	if elapsed := t - n.start; elapsed >= unit {
		if elapsed < 2*unit {
			n.prev = n.count
		} else {
			n.prev = 0
		}
		n.count = 0
		n.start = t - elapsed%unit
	}
	n.count++
	flooding := n.count >= conf.density || n.prev >= conf.density
	switch {
	case flooding && !n.red:
		n.red = true
		Stats.Detected.Add(1)
		Stats.Blocked.Add(1)
		return -2
	case flooding:
		Stats.Blocked.Add(1)
		return -1
	}
	n.red = false
	return 1
}

// sweeper forgets addresses not seen for remove_latency.
func sweeper(done chan struct{}, unit, removeLatency time.Duration) {
	tick := time.NewTicker(unit)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			old := now.Add(-removeLatency).UnixNano()
			for i := range shards {
				s := &shards[i]
				s.mu.Lock()
				for ip, n := range s.m {
					if n.lastSeen < old {
						delete(s.m, ip)
						size.Add(-1)
					}
				}
				s.mu.Unlock()
			}
		}
	}
}
