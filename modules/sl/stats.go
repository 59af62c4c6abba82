package sl

import "github.com/kemi-sip/kemi/core/stats"

func registerStats(r *stats.Registry) {
	r.Uint("sl", "sent_replies", "replies sent statelessly", &Stats.SentReplies)
	r.Uint("sl", "1xx_replies", "1xx replies sent", &Stats.Sent1xx)
	r.Uint("sl", "2xx_replies", "2xx replies sent", &Stats.Sent2xx)
	r.Uint("sl", "3xx_replies", "3xx replies sent", &Stats.Sent3xx)
	r.Uint("sl", "4xx_replies", "4xx replies sent", &Stats.Sent4xx)
	r.Uint("sl", "5xx_replies", "5xx replies sent", &Stats.Sent5xx)
	r.Uint("sl", "6xx_replies", "6xx replies sent", &Stats.Sent6xx)
	r.Uint("sl", "failures", "replies that could not be sent", &Stats.Failures)
}
