package sl

import "github.com/kemi-sip/kemi/core/stats"

// RegisterStats registers the reply counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	s := &m.Stats
	r.Uint("sl", "sent_replies", "replies sent statelessly", &s.SentReplies)
	r.Uint("sl", "1xx_replies", "1xx replies sent", &s.Sent1xx)
	r.Uint("sl", "2xx_replies", "2xx replies sent", &s.Sent2xx)
	r.Uint("sl", "3xx_replies", "3xx replies sent", &s.Sent3xx)
	r.Uint("sl", "4xx_replies", "4xx replies sent", &s.Sent4xx)
	r.Uint("sl", "5xx_replies", "5xx replies sent", &s.Sent5xx)
	r.Uint("sl", "6xx_replies", "6xx replies sent", &s.Sent6xx)
	r.Uint("sl", "failures", "replies that could not be sent", &s.Failures)
}
