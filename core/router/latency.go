package router

import (
	"log/slog"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latency counts route execution times of one worker: count, sum, min,
// max and a log-linear histogram (16 sub-buckets per power of two, so a
// percentile is within 6.25%). Written by its worker, read by anyone.
type Latency struct {
	count, sum, min, max atomic.Uint64
	buckets              [latBuckets]atomic.Uint64
}

const (
	latSub     = 16
	latBuckets = 64 * latSub
)

func latBucket(ns uint64) int {
	if ns < latSub {
		return int(ns)
	}
	e := bits.Len64(ns) - 5 // ns >> e is in [16, 32)
	return (e+1)*latSub + int(ns>>uint(e)) - latSub
}

// latLow is the lowest value in bucket b.
func latLow(b int) uint64 {
	if b < latSub {
		return uint64(b)
	}
	e := b/latSub - 1
	return uint64(b%latSub+latSub) << uint(e)
}

// Record adds one run.
func (l *Latency) Record(d time.Duration) {
	ns := uint64(d)
	if d < 0 {
		ns = 0
	}
	if l.count.Add(1) == 1 || ns < l.min.Load() {
		l.min.Store(ns)
	}
	if ns > l.max.Load() {
		l.max.Store(ns)
	}
	l.sum.Add(ns)
	l.buckets[latBucket(ns)].Add(1)
}

// Snapshot copies the counters.
func (l *Latency) Snapshot() LatencySnapshot {
	s := LatencySnapshot{Count: l.count.Load(), Sum: l.sum.Load(), Min: l.min.Load(), Max: l.max.Load()}
	for i := range l.buckets {
		s.Buckets[i] = l.buckets[i].Load()
	}
	return s
}

// Reset zeroes the counters.
func (l *Latency) Reset() {
	l.count.Store(0)
	l.sum.Store(0)
	l.min.Store(0)
	l.max.Store(0)
	for i := range l.buckets {
		l.buckets[i].Store(0)
	}
}

// LatencySnapshot is a copy of Latency counters (merged over workers).
type LatencySnapshot struct {
	Count, Sum, Min, Max uint64 // nanoseconds
	Buckets              [latBuckets]uint64
}

// Merge adds o into s.
func (s *LatencySnapshot) Merge(o LatencySnapshot) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 || o.Min < s.Min {
		s.Min = o.Min
	}
	if o.Max > s.Max {
		s.Max = o.Max
	}
	s.Count += o.Count
	s.Sum += o.Sum
	for i := range s.Buckets {
		s.Buckets[i] += o.Buckets[i]
	}
}

// Avg is the mean run time.
func (s *LatencySnapshot) Avg() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return time.Duration(s.Sum / s.Count)
}

// Quantile is the q-th quantile (0 < q ≤ 1): the middle of the bucket that
// holds it, clamped to [Min, Max].
func (s *LatencySnapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, n := range s.Buckets {
		seen += n
		if seen >= rank {
			lo, hi := latLow(b), latLow(b+1)
			v := (lo + hi) / 2
			v = max(v, s.Min)
			v = min(v, s.Max)
			return time.Duration(v)
		}
	}
	return time.Duration(s.Max)
}

// LatencyCfg holds Kamailio's latency_* core parameters. They can change
// while workers read them (cfg.set core ...).
//
//   - latency_cfg_log: each main route's execution time is logged at this
//     level (a Kamailio level: 3 debug, 2 info, ...); off unless set.
//   - latency_log: the level of the "took too long" lines.
//   - latency_limit_action: a KSR function (an action) that takes this many
//     microseconds or more is logged; 0 turns it off.
//   - latency_limit_db: the same for a database query (core/db).
type LatencyCfg struct {
	cfgLog      atomic.Int64 // level + 1<<32 when on, 0 off
	log         atomic.Int64
	limitAction atomic.Int64 // microseconds
}

const latOn = 1 << 32

// SetCfgLog turns latency_cfg_log on at a Kamailio level.
func (l *LatencyCfg) SetCfgLog(level int) { l.cfgLog.Store(int64(level) + latOn) }

// CfgLog is latency_cfg_log's level and whether it is on.
func (l *LatencyCfg) CfgLog() (int, bool) {
	v := l.cfgLog.Load()
	return int(v - latOn), v != 0
}

// CfgLogLevel is CfgLog as a slog level.
func (l *LatencyCfg) CfgLogLevel() (slog.Level, bool) {
	lvl, on := l.CfgLog()
	return LevelFromDebug(lvl), on
}

// SetLog sets latency_log.
func (l *LatencyCfg) SetLog(level int) { l.log.Store(int64(level)) }

// Log is latency_log.
func (l *LatencyCfg) Log() int { return int(l.log.Load()) }

// SetLimitAction sets latency_limit_action in microseconds.
func (l *LatencyCfg) SetLimitAction(us int) { l.limitAction.Store(int64(us)) }

// LimitAction is latency_limit_action, 0 when off.
func (l *LatencyCfg) LimitAction() time.Duration {
	return time.Duration(l.limitAction.Load()) * time.Microsecond
}

// CountAtMost is how many runs took at most d, counting the histogram's
// buckets that end at or below d (a bucket that d cuts is left out: the
// count is within one bucket, 6.25%, of the exact one).
func (s *LatencySnapshot) CountAtMost(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	var n uint64
	for b, c := range s.Buckets {
		if b+1 < latBuckets && latLow(b+1) > uint64(d)+1 {
			break
		}
		n += c
	}
	if uint64(d) >= s.Max {
		return s.Count // everything is at or below the largest
	}
	return n
}
