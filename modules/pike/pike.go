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

// settings are the module parameters.
type settings struct {
	unit          time.Duration
	density       int
	removeLatency time.Duration
	banTime       time.Duration // 0: report only, as Kamailio's pike
}

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

// Module is the pike module of one proxy: its parameters, the table of
// addresses and the counters.
type Module struct {
	conf   settings
	shards [32]shard
	size   atomic.Int64
	stopCh chan struct{}
	// guard bans flooding addresses when ban_time is set; set at Start.
	guard *transport.Guard
	// Stats are the module's counters.
	Stats struct {
		Blocked   atomic.Uint64 // requests reported as flooding
		Detected  atomic.Uint64 // addresses newly found flooding
		Untracked atomic.Uint64 // requests from addresses past MaxAddresses
	}
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "pike",
		Params: []dispatch.Param{
			{Name: "sampling_time_unit", Kind: dispatch.Int, Default: "2"},
			{Name: "reqs_density_per_unit", Kind: dispatch.Int, Default: "30"},
			{Name: "remove_latency", Kind: dispatch.Int, Default: "120"},
			{Name: "ban_time", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return New() },
	})
}

// New makes a pike module with Kamailio's defaults.
func New() *Module {
	m := &Module{conf: settings{unit: 2 * time.Second, density: 30, removeLatency: 120 * time.Second}}
	for i := range m.shards {
		m.shards[i].m = map[netip.Addr]*node{}
	}
	return m
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.conf.unit = time.Duration(max(1, p.Int("sampling_time_unit", 2))) * time.Second
	m.conf.density = max(1, p.Int("reqs_density_per_unit", 30))
	m.conf.removeLatency = time.Duration(max(1, p.Int("remove_latency", 120))) * time.Second
	bt := p.Int("ban_time", 0)
	if bt < 0 {
		return errors.New("ban_time must not be negative")
	}
	m.conf.banTime = time.Duration(bt) * time.Second
	return nil
}

// Start starts the sweeper and, with ban_time, takes the sockets' guard.
func (m *Module) Start(env *router.Env) error {
	if m.conf.banTime > 0 && env.Transport != nil {
		m.guard = env.Transport.Guard
	}
	m.stopCh = make(chan struct{})
	go m.sweeper(m.stopCh, m.conf.unit, m.conf.removeLatency)
	return nil
}

// Stop stops the sweeper.
func (m *Module) Stop() {
	if m.stopCh != nil {
		close(m.stopCh)
		m.stopCh = nil
	}
}

// Exports are KSR.pike.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "pike_check_req", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return m.checkAndBan(c.Src().Addr())
		})},
		{Name: "pike_check_ip", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, ip string) int {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				c.Log().Error("pike: pike_check_ip: bad address "+ip, "route", c.Route)
				return 1
			}
			return m.checkAndBan(a)
		})},
	}
}

// checkAndBan is Check, and with ban_time set, a ban of a flooding address.
func (m *Module) checkAndBan(ip netip.Addr) int {
	rc := m.Check(ip, time.Now())
	if rc < 0 {
		if m.guard != nil {
			m.guard.Ban(ip, m.conf.banTime)
		}
	}
	return rc
}

// Check counts a request from ip: 1 when it may go on, -1 when ip floods
// and was found so before, -2 when this request is the one that found it.
func (m *Module) Check(ip netip.Addr, now time.Time) int {
	if !ip.IsValid() {
		return 1
	}
	ip = ip.Unmap()
	b := ip.As16()
	s := &m.shards[(uint(b[15])^uint(b[14])<<3^uint(b[13])<<1)%uint(len(m.shards))]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.m[ip]
	if n == nil {
		if m.size.Load() >= MaxAddresses {
			m.Stats.Untracked.Add(1)
			return 1
		}
		n = &node{start: t}
		s.m[ip] = n
		m.size.Add(1)
	}
	n.lastSeen = t
	unit := m.conf.unit.Nanoseconds()
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
	flooding := n.count >= m.conf.density || n.prev >= m.conf.density
	switch {
	case flooding && !n.red:
		n.red = true
		m.Stats.Detected.Add(1)
		m.Stats.Blocked.Add(1)
		return -2
	case flooding:
		m.Stats.Blocked.Add(1)
		return -1
	}
	n.red = false
	return 1
}

// sweeper forgets addresses not seen for remove_latency.
func (m *Module) sweeper(done chan struct{}, unit, removeLatency time.Duration) {
	tick := time.NewTicker(unit)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			old := now.Add(-removeLatency).UnixNano()
			for i := range m.shards {
				s := &m.shards[i]
				s.mu.Lock()
				for ip, n := range s.m {
					if n.lastSeen < old {
						delete(s.m, ip)
						m.size.Add(-1)
					}
				}
				s.mu.Unlock()
			}
		}
	}
}
