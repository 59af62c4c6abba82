package router

import (
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
