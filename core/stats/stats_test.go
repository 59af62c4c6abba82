package stats

import (
	"sync/atomic"
	"testing"
)

// TestGet: a statistic is found by group:name, and by its name alone when
// one group has it; a name two groups share needs its group.
func TestGet(t *testing.T) {
	r := New()
	var a, b atomic.Uint64
	a.Store(7)
	r.Uint("tm", "timeouts", "", &a)
	r.Uint("sl", "timeouts", "", &b)
	r.Uint("sl", "sent_replies", "", &b)
	v := r.Var("script", "calls", "", Counter)
	for _, tc := range []struct {
		name string
		want *Stat
	}{
		{"script:calls", v}, {"calls", v}, {"timeouts", nil}, {"nope", nil}, {"x:calls", nil},
	} {
		got, ok := r.Get(tc.name)
		if got != tc.want || ok != (tc.want != nil) {
			t.Errorf("Get(%q) = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
	if s, ok := r.Get("tm:timeouts"); !ok || s.Value() != 0 {
		t.Errorf("tm:timeouts: %v %v; want found, 0 (a counter starts at zero for a registry)", s, ok)
	}
	a.Add(3)
	sent, _ := r.Get("sent_replies")
	r.Uint("sl", "sent_replies", "", &a) // a module started again
	if s, _ := r.Get("sent_replies"); s == sent || s == nil || s.Value() != 0 {
		t.Errorf("re-registered sent_replies: %v (old %v)", s, sent)
	}
	if s, _ := r.Get("tm:timeouts"); s.Value() != 3 {
		t.Errorf("tm:timeouts after 3 more: %d", s.Value())
	}
	v.Add(5)
	v.Reset()
	g := r.Var("script", "level", "", Gauge)
	g.Add(4)
	g.Reset()
	if v.Value() != 0 || g.Value() != 4 {
		t.Errorf("after Reset: counter %d (want 0), gauge %d (want 4)", v.Value(), g.Value())
	}
}

// BenchmarkGetShortName is update_stat's look-up of a script counter.
func BenchmarkGetShortName(b *testing.B) {
	r := New()
	var c atomic.Uint64
	for _, g := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		for _, n := range []string{"one", "two", "three", "four", "five", "six", "seven", "eight"} {
			r.Uint(g, g+n, "", &c)
		}
	}
	r.Var("script", "calls", "", Counter)
	for b.Loop() {
		if _, ok := r.Get("calls"); !ok {
			b.Fatal("not found")
		}
	}
}
