package tmx

import (
	"github.com/kemi-sip/kemi/core/stats"
)

// RegisterStats gives tm's counters Kamailio's tmx names.
func (m *Module) RegisterStats(r *stats.Registry) {
	s := &m.tm.Stats
	r.Func("tmx", "active_transactions", "transactions in memory", stats.Gauge, s.Active.Load)
	r.Func("tmx", "inuse_transactions", "transactions in memory", stats.Gauge, s.Active.Load)
	r.Uint("tmx", "UAS_transactions", "transactions made for received requests", &s.Created)
	r.Uint("tmx", "UAC_transactions", "requests sent on a branch", &s.Relayed)
	r.Uint("tmx", "rpl_sent", "replies sent upstream, relayed and local", &s.Replies)
	r.Uint("tmx", "local_replies", "replies made here", &s.Local)
}
