package registrar

import "github.com/kemi-sip/kemi/core/stats"

func registerStats(r *stats.Registry) {
	r.Uint("registrar", "accepted_regs", "REGISTER requests saved", &Stats.Accepted)
	r.Uint("registrar", "rejected_regs", "REGISTER requests refused", &Stats.Rejected)
}
