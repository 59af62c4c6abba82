package pike

import "github.com/kemi-sip/kemi/core/stats"

func registerStats(r *stats.Registry) {
	r.Uint("pike", "blocked_requests", "requests reported as flooding", &Stats.Blocked)
	r.Uint("pike", "detected_sources", "addresses newly found flooding", &Stats.Detected)
	r.Uint("pike", "untracked_requests", "requests from addresses past the table's limit", &Stats.Untracked)
	r.Func("pike", "tracked_sources", "addresses tracked", stats.Gauge, size.Load)
}
