package registrar

import "github.com/kemi-sip/kemi/core/stats"

// RegisterStats registers the REGISTER counters.
func (reg *Module) RegisterStats(r *stats.Registry) {
	r.Uint("registrar", "accepted_regs", "REGISTER requests saved", &reg.Stats.Accepted)
	r.Uint("registrar", "rejected_regs", "REGISTER requests refused", &reg.Stats.Rejected)
}
