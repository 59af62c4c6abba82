package htable

import (
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
)

// TestSlotLock: a slot locked by one worker is locked again by it
// (recursive, as Kamailio's within a process) and another worker waits
// until every hold is released; an unlock by a worker that does not hold
// it is refused.
func TestSlotLock(t *testing.T) {
	var l slotLock
	a, b := &router.Worker{}, &router.Worker{}
	l.lock(a)
	l.lock(a)
	got := make(chan bool)
	go func() {
		l.lock(b)
		got <- true
	}()
	select {
	case <-got:
		t.Fatal("b took the slot while a held it")
	case <-time.After(50 * time.Millisecond):
	}
	if l.unlock(b) {
		t.Error("b released a slot it does not hold")
	}
	l.unlock(a)
	select {
	case <-got:
		t.Fatal("b took the slot while a held it once more")
	case <-time.After(50 * time.Millisecond):
	}
	l.unlock(a)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("b never got the slot a released")
	}
	if !l.unlock(b) {
		t.Error("b could not release the slot it holds")
	}
}
