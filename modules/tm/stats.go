package tm

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

func (tm *Module) frTimer() time.Duration    { return time.Duration(tm.frNow.Load()) }
func (tm *Module) frInvTimer() time.Duration { return time.Duration(tm.frInvNow.Load()) }

// registerStats: Kamailio's tmx names are tmx's; these are tm's own.
func (tm *Module) RegisterStats(r *stats.Registry) {
	r.Uint("tm", "timeouts", "branches that got no final reply in fr_timer", &tm.Stats.Timeouts)
	r.Uint("tm", "retransmissions", "retransmissions sent", &tm.Stats.Retrans)
	r.Uint("tm", "refused", "new requests answered 503 (max_transactions, overload)", &tm.Stats.Refused)
	r.Uint("tm", "overload_drops", "retransmissions dropped unanswered while overloaded", &tm.Stats.OverDrops)
	r.Uint("tm", "absorbed", "request retransmissions absorbed", &tm.Stats.Absorbed)
	r.Uint("tm", "cancelled", "CANCEL requests handled", &tm.Stats.Cancelled)
}

// RPCs is tm.stats.
func (tm *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{{Name: "tm.stats", Doc: "transaction counts", Fn: func([]any) (any, error) {
		s := &tm.Stats
		return map[string]any{"current": s.Active.Load(), "waiting": 0, "total": s.Created.Load(),
			"total_local": s.Local.Load(), "rpl_sent": s.Replies.Load(), "relayed": s.Relayed.Load(),
			"timeouts": s.Timeouts.Load(), "retransmissions": s.Retrans.Load(), "absorbed": s.Absorbed.Load()}, nil
	}}}
}

// Cfg is fr_timer and fr_inv_timer for cfg.set.
func (tm *Module) Cfg(*router.Env) []dispatch.CfgVar {
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
		ms("fr_timer", "ms a branch waits for a final reply (new transactions)", &tm.frNow),
		ms("fr_inv_timer", "ms an INVITE branch waits for a final reply after a provisional", &tm.frInvNow),
	}
}
