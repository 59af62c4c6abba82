package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxStep is one rate --max tried.
type MaxStep struct {
	Engine              string
	Rate                float64 // registrations per second asked
	Achieved            float64 // and achieved
	OK, Failed, Retrans int
	Held                bool
}

// searchMax finds the highest rate held for o.hold with no failure and no
// retransmission: after 5 s of warm-up at -r, doubling from -r until a
// rate fails, then bisecting until the bounds are within 5%. p may be nil
// (an external target).
func searchMax(ctx context.Context, o *benchOptions, rep *Report, name string, lc LoadConfig, p target, log io.Writer) error {
	lc.Progress = nil
	var (
		lo, hi   float64
		best     *LoadResult
		bestProx *ProxyStats
	)
	rate := o.rate
	// Warm up at the first rate, uncounted: a proxy's first seconds (heap
	// growth, caches, prepared statements) are not its capacity.
	warm := lc
	warm.Rate, warm.Total = rate, max(1, int(rate*5))
	if _, err := RunLoad(ctx, warm); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	for step := 0; step < 16; step++ {
		lc.Rate, lc.Total = rate, max(1, int(rate*o.hold.Seconds()))
		if p != nil {
			if err := p.Reset(); err != nil {
				return err
			}
		}
		lr, err := RunLoad(ctx, lc)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ps *ProxyStats
		if p != nil {
			s, err := p.Stats()
			if err != nil {
				return err
			}
			ps = &s
		}
		// Held: everything answered, nothing retransmitted, and the rate
		// really reached (the generator itself may fall behind).
		held := lr.Failed == 0 && lr.Retrans == 0 && lr.OK == lc.Total && lr.RegsPerSec() >= 0.95*rate
		rep.MaxSteps = append(rep.MaxSteps, MaxStep{Engine: name, Rate: rate, Achieved: lr.RegsPerSec(),
			OK: lr.OK, Failed: lr.Failed, Retrans: lr.Retrans, Held: held})
		fmt.Fprintf(log, "kemibench: %s at %.0f/s for %v: %d ok, %d failed, %d retransmissions, %.0f/s achieved: %s\n",
			name, rate, o.hold, lr.OK, lr.Failed, lr.Retrans, lr.RegsPerSec(), map[bool]string{true: "held", false: "not held"}[held])
		if held {
			lo, best, bestProx = rate, lr, ps
		} else {
			hi = rate
		}
		switch {
		case hi == 0:
			rate *= 2
		case lo == 0:
			rate /= 2
		default:
			rate = (lo + hi) / 2
		}
		if (hi > 0 && lo > 0 && (hi-lo)/hi < 0.05) || rate < 1 {
			break
		}
		time.Sleep(2 * time.Second) // let the last transactions and timers go
	}
	if best == nil {
		return errors.New(name + ": no rate held, not even " + fmt.Sprint(rate*2) + "/s")
	}
	rep.add(name, best, bestProx)
	rep.Results[len(rep.Results)-1].MaxRate = lo
	return nil
}
