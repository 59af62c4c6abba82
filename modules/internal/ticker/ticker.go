// Package ticker runs a module's periodic work, as Kamailio's timer
// processes do: a function every interval on a goroutine of its own, until
// the module stops.
package ticker

import "time"

// Ticker is one periodic job.
type Ticker struct {
	stop, done chan struct{}
}

// Start calls f every interval, with the tick's time, until Stop.
func Start(every time.Duration, f func(now time.Time)) *Ticker {
	t := &Ticker{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-t.stop:
				return
			case now := <-tk.C:
				f(now)
			}
		}
	}()
	return t
}

// Stop ends the job and waits for a run in progress; a nil Ticker (a
// module that never started) does nothing.
func (t *Ticker) Stop() {
	if t == nil {
		return
	}
	close(t.stop)
	<-t.done
}
