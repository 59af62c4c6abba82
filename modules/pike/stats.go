package pike

import "github.com/kemi-sip/kemi/core/stats"

// RegisterStats registers pike's counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	r.Uint("pike", "blocked_requests", "requests reported as flooding", &m.Stats.Blocked)
	r.Uint("pike", "detected_sources", "addresses newly found flooding", &m.Stats.Detected)
	r.Uint("pike", "untracked_requests", "requests from addresses past the table's limit", &m.Stats.Untracked)
	r.Func("pike", "tracked_sources", "addresses tracked", stats.Gauge, m.size.Load)
}
