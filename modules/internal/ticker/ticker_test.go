package ticker

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestStartStop: the job runs every interval until Stop, which waits for
// a run in progress; none runs after; a nil Ticker stops quietly.
func TestStartStop(t *testing.T) {
	var runs atomic.Int32
	var running atomic.Bool
	tk := Start(5*time.Millisecond, func(time.Time) {
		running.Store(true)
		time.Sleep(20 * time.Millisecond)
		runs.Add(1)
		running.Store(false)
	})
	time.Sleep(60 * time.Millisecond)
	tk.Stop()
	if running.Load() {
		t.Error("Stop returned during a run")
	}
	n := runs.Load()
	if n == 0 {
		t.Error("the job never ran")
	}
	time.Sleep(30 * time.Millisecond)
	if runs.Load() != n {
		t.Error("the job ran after Stop")
	}
	var none *Ticker
	none.Stop()
}
