package transport

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// GuardConfig says when a source is banned for what it sends.
type GuardConfig struct {
	// BadLimit messages that fail parsing within Unit ban the source for
	// BanTime; 0 never bans for bad input (it is still counted).
	BadLimit int
	Unit     time.Duration
	BanTime  time.Duration
	// MaxSources bounds the table; past it new sources are not tracked
	// (counted in GuardStats.Untracked), as pike does.
	MaxSources int
}

// GuardStats are the guard's counters.
type GuardStats struct {
	Bad        atomic.Uint64 // messages that failed parsing
	Bans       atomic.Uint64 // bans made (bad input or a module's)
	Dropped    atomic.Uint64 // messages from banned sources, dropped unparsed
	Suppressed atomic.Uint64 // log lines about bad input not written
	Untracked  atomic.Uint64 // bad messages from sources past MaxSources
}

// Guard counts, per source address, the messages that fail parsing, bans
// a source that sends too many of them (or that a module such as pike
// found flooding), and decides which bad-input log lines are written:
// one per second per source, with a count of the ones left out, and at
// most guardLogBurst a second in all, so that a flood from many sources
// cannot flood the log either. A banned source's datagrams and streams are
// dropped before they are parsed.
type Guard struct {
	cfg    GuardConfig
	shards [64]guardShard
	size   atomic.Int64
	banned atomic.Int64 // entries with a ban set: 0 makes Banned one load
	Stats  GuardStats

	logMu     sync.Mutex
	logSecond int64 // the second logLines counts in
	logLines  int
}

// guardLogBurst is how many bad-input lines all sources together may log
// in one second.
const guardLogBurst = 20

type guardShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*guardEntry
}

type guardEntry struct {
	unitStart   int64 // unix ns
	bad         int   // bad messages in the unit
	bannedUntil int64 // unix ns; 0 when not banned
	lastLog     int64 // unix ns of the last line logged about this source
	suppressed  uint64
	lastSeen    int64
}

// NewGuard makes a guard; zero fields of cfg get the defaults (10 bad
// messages in 2 s ban for 300 s; one million sources).
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Unit <= 0 {
		cfg.Unit = 2 * time.Second
	}
	if cfg.BanTime <= 0 {
		cfg.BanTime = 300 * time.Second
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = 1 << 20
	}
	g := &Guard{cfg: cfg}
	for i := range g.shards {
		g.shards[i].m = map[netip.Addr]*guardEntry{}
	}
	return g
}

// Config is what the guard was made with (defaults filled in).
func (g *Guard) Config() GuardConfig { return g.cfg }

func (g *Guard) shard(a netip.Addr) *guardShard {
	b := a.As16()
	return &g.shards[(uint(b[15])^uint(b[14])<<2^uint(b[13])<<4^uint(b[11]))%uint(len(g.shards))]
}

// entry finds or makes a's entry; nil when the table is full. The shard
// is locked by the caller.
func (g *Guard) entry(s *guardShard, a netip.Addr, now int64) *guardEntry {
	e := s.m[a]
	if e == nil {
		if g.size.Load() >= int64(g.cfg.MaxSources) {
			return nil
		}
		e = &guardEntry{unitStart: now}
		s.m[a] = e
		g.size.Add(1)
	}
	e.lastSeen = now
	return e
}

// Banned reports whether a is banned now. With no ban in force anywhere
// it is one atomic load.
func (g *Guard) Banned(a netip.Addr) bool {
	if g == nil || g.banned.Load() == 0 {
		return false
	}
	a = a.Unmap()
	s := g.shard(a)
	s.mu.Lock()
	e := s.m[a]
	banned := e != nil && e.bannedUntil > time.Now().UnixNano()
	s.mu.Unlock()
	return banned
}

// Drop counts a message dropped because its source is banned.
func (g *Guard) Drop() { g.Stats.Dropped.Add(1) }

// Ban bans a for d (the configured ban time when d <= 0); true when a
// was not banned before. An address the table has no room for is not
// banned (and counted untracked).
func (g *Guard) Ban(a netip.Addr, d time.Duration) bool {
	if d <= 0 {
		d = g.cfg.BanTime
	}
	a = a.Unmap()
	now := time.Now().UnixNano()
	s := g.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := g.entry(s, a, now)
	if e == nil {
		g.Stats.Untracked.Add(1)
		return false
	}
	return g.ban(e, now, d)
}

func (g *Guard) ban(e *guardEntry, now int64, d time.Duration) bool {
	fresh := e.bannedUntil <= now
	if e.bannedUntil == 0 {
		g.banned.Add(1)
	}
	if until := now + d.Nanoseconds(); until > e.bannedUntil {
		e.bannedUntil = until
	}
	if fresh {
		g.Stats.Bans.Add(1)
	}
	return fresh
}

// BadVerdict is what Bad decided about one bad message.
type BadVerdict struct {
	Log        bool   // write a line about it
	Suppressed uint64 // lines left out for this source since its last one
	Banned     bool   // this message got the source banned
}

// Bad counts a message from a that failed parsing (or broke a stream's
// framing) and says whether to log it and whether it banned a.
func (g *Guard) Bad(a netip.Addr) BadVerdict {
	var v BadVerdict
	g.Stats.Bad.Add(1)
	a = a.Unmap()
	now := time.Now().UnixNano()
	s := g.shard(a)
	s.mu.Lock()
	e := g.entry(s, a, now)
	if e == nil {
		s.mu.Unlock()
		g.Stats.Untracked.Add(1)
		v.Log = g.logSlot(now)
		return v
	}
	unit := g.cfg.Unit.Nanoseconds()
	if now-e.unitStart >= unit {
		e.unitStart, e.bad = now, 0
	}
	e.bad++
	if g.cfg.BadLimit > 0 && e.bad >= g.cfg.BadLimit && e.bannedUntil <= now {
		v.Banned = g.ban(e, now, g.cfg.BanTime)
	}
	perSource := now-e.lastLog >= int64(time.Second)
	if perSource || v.Banned {
		if g.logSlot(now) || v.Banned {
			v.Log, v.Suppressed = true, e.suppressed
			e.lastLog, e.suppressed = now, 0
			s.mu.Unlock()
			return v
		}
	}
	e.suppressed++
	s.mu.Unlock()
	g.Stats.Suppressed.Add(1)
	return v
}

// logSlot takes one of the second's log lines; false when they are used up.
func (g *Guard) logSlot(now int64) bool {
	sec := now / int64(time.Second)
	g.logMu.Lock()
	defer g.logMu.Unlock()
	if sec != g.logSecond {
		g.logSecond, g.logLines = sec, 0
	}
	if g.logLines >= guardLogBurst {
		return false
	}
	g.logLines++
	return true
}

// Sources is how many addresses the guard holds; BannedSources how many
// of them have a ban in force or expired but not yet swept.
func (g *Guard) Sources() int64       { return g.size.Load() }
func (g *Guard) BannedSources() int64 { return g.banned.Load() }

// Sweep forgets sources not seen for idle whose ban has ended.
func (g *Guard) Sweep(idle time.Duration) {
	now := time.Now().UnixNano()
	old := now - idle.Nanoseconds()
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for a, e := range s.m {
			if e.bannedUntil != 0 && e.bannedUntil <= now {
				e.bannedUntil = 0
				g.banned.Add(-1)
			}
			if e.bannedUntil == 0 && e.lastSeen < old {
				delete(s.m, a)
				g.size.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}

// sweeper runs Sweep every unit until the server closes.
func (s *Server) sweeper(done <-chan struct{}) {
	defer s.wg.Done()
	unit := s.Guard.cfg.Unit
	tick := time.NewTicker(unit)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			s.Guard.Sweep(max(unit*2, 10*time.Second))
		}
	}
}
