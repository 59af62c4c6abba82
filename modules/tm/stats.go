package tm

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

// fr_timer and fr_inv_timer as they are now: cfg.set tm fr_timer changes
// them for the transactions made afterwards.
var frNow, frInvNow atomic.Int64

func frTimer() time.Duration    { return time.Duration(frNow.Load()) }
func frInvTimer() time.Duration { return time.Duration(frInvNow.Load()) }

// registerStats: Kamailio's tmx names are tmx's; these are tm's own.
func registerStats(r *stats.Registry) {
	r.Uint("tm", "timeouts", "branches that got no final reply in fr_timer", &Stats.Timeouts)
	r.Uint("tm", "retransmissions", "retransmissions sent", &Stats.Retrans)
	r.Uint("tm", "refused", "new requests answered 503 (max_transactions, overload)", &Stats.Refused)
	r.Uint("tm", "overload_drops", "retransmissions dropped unanswered while overloaded", &Stats.OverDrops)
	r.Uint("tm", "absorbed", "request retransmissions absorbed", &Stats.Absorbed)
	r.Uint("tm", "cancelled", "CANCEL requests handled", &Stats.Cancelled)
}

func rpcs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{{Name: "tm.stats", Doc: "transaction counts", Fn: func([]any) (any, error) {
		s := &Stats
		return map[string]any{"current": s.Active.Load(), "waiting": 0, "total": s.Created.Load(),
			"total_local": s.Local.Load(), "rpl_sent": s.Replies.Load(), "relayed": s.Relayed.Load(),
			"timeouts": s.Timeouts.Load(), "retransmissions": s.Retrans.Load(), "absorbed": s.Absorbed.Load()}, nil
	}}}
}

func runtimeCfg(*router.Env) []dispatch.CfgVar {
	ms := func(name, doc string, v *atomic.Int64) dispatch.CfgVar {
		return dispatch.CfgVar{Group: "tm", Name: name, Doc: doc, Int: true,
			Get: func() any { return time.Duration(v.Load()).Milliseconds() },
			Set: func(x any) error {
				n := x.(int64)
				if n <= 0 {
					return errors.New("want more than 0 ms")
				}
				v.Store(int64(time.Duration(n) * time.Millisecond))
				return nil
			}}
	}
	return []dispatch.CfgVar{
		ms("fr_timer", "ms a branch waits for a final reply (new transactions)", &frNow),
		ms("fr_inv_timer", "ms an INVITE branch waits for a final reply after a provisional", &frInvNow),
	}
}
