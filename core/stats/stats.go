// Package stats is the statistics registry: Kamailio's named counters
// ("core:rcv_requests", "usrloc:registered_users"), read by the
// stats.get_statistics RPC command, the $stat pseudo-variable, kex's
// update_stat and the Prometheus exporter.
//
// A statistic is either a variable of its own (a counter kex's
// update_stat changes) or a reading of a module's counter (an atomic the
// module keeps anyway): the request path pays nothing for being counted
// here. Resetting a reading records its value as the new zero.
package stats

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind says how a statistic moves.
type Kind uint8

const (
	// Counter only grows (between resets): requests received.
	Counter Kind = iota
	// Gauge goes up and down and is never reset: transactions in memory.
	Gauge
)

// Stat is one named statistic.
type Stat struct {
	Group, Name, Help string
	Kind              Kind

	v    atomic.Int64
	read func() int64 // a module's counter, nil for a variable
	base atomic.Int64 // what read returned at the last reset
}

// FullName is "group:name".
func (s *Stat) FullName() string { return s.Group + ":" + s.Name }

// Value is the statistic now.
func (s *Stat) Value() int64 {
	if s.read != nil {
		return s.read() - s.base.Load()
	}
	return s.v.Load()
}

// Add changes a variable statistic by n (update_stat); a reading cannot
// be changed and reports false.
func (s *Stat) Add(n int64) bool {
	if s.read != nil {
		return false
	}
	s.v.Add(n)
	return true
}

// Reset zeroes a counter; a gauge keeps its value.
func (s *Stat) Reset() {
	if s.Kind == Gauge {
		return
	}
	if s.read != nil {
		s.base.Store(s.read())
		return
	}
	s.v.Store(0)
}

// Registry holds the statistics of one proxy.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*Stat
	// byShort finds a statistic by its name alone (update_stat("x"),
	// $stat(x)); nil for a name that more than one group has.
	byShort map[string]*Stat
}

// New makes an empty registry.
func New() *Registry { return &Registry{byName: map[string]*Stat{}, byShort: map[string]*Stat{}} }

// add puts s in both indexes, replacing one of the same group:name; r.mu
// is held.
func (r *Registry) add(s *Stat) {
	full := s.FullName()
	if old := r.byName[full]; old != nil {
		if r.byShort[s.Name] == old {
			r.byShort[s.Name] = s
		}
		r.byName[full] = s
		return
	}
	r.byName[full] = s
	if _, seen := r.byShort[s.Name]; seen {
		r.byShort[s.Name] = nil // in two groups: only group:name finds it
	} else {
		r.byShort[s.Name] = s
	}
}

// Var returns the variable statistic group:name, made on first use.
func (r *Registry) Var(group, name, help string, kind Kind) *Stat {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.byName[group+":"+name]; ok {
		return s
	}
	s := &Stat{Group: group, Name: name, Help: help, Kind: kind}
	r.add(s)
	return s
}

// Func registers group:name as a reading of read. Registering a name
// again replaces the reading (a module started again). A counter starts
// at zero for this registry, as a new process's would, whatever the
// module's counter held from a proxy run before in the same process.
func (r *Registry) Func(group, name, help string, kind Kind, read func() int64) {
	s := &Stat{Group: group, Name: name, Help: help, Kind: kind, read: read}
	if kind == Counter {
		s.base.Store(read())
	}
	r.mu.Lock()
	r.add(s)
	r.mu.Unlock()
}

// Guarded is a reading of *v made under mu, for Func: a module's
// counters kept under its own lock.
func Guarded(mu sync.Locker, v *int64) func() int64 {
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return *v
	}
}

// Uint is Func for a module's unsigned counter.
func (r *Registry) Uint(group, name, help string, c *atomic.Uint64) {
	r.Func(group, name, help, Counter, func() int64 { return int64(c.Load()) })
}

// Get finds a statistic by "group:name", or by its name alone when only
// one group has it.
func (r *Registry) Get(name string) (*Stat, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s, ok := r.byName[name]; ok {
		return s, true
	}
	s := r.byShort[name] // a name with a ':' is in byName or nowhere
	return s, s != nil
}

// All lists the statistics by group, then name.
func (r *Registry) All() []*Stat {
	r.mu.RLock()
	out := make([]*Stat, 0, len(r.byName))
	for _, s := range r.byName {
		out = append(out, s)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Select lists the statistics a stats.get_statistics argument names:
// "all", "group:" (every statistic of the group), "group:name", "name",
// or a shell pattern over "group:name" ("tmx:*_transactions").
func (r *Registry) Select(arg string) ([]*Stat, error) {
	var out []*Stat
	for _, s := range r.All() {
		full := s.FullName()
		switch {
		case arg == "all":
		case strings.HasSuffix(arg, ":") && s.Group == arg[:len(arg)-1]:
		case full == arg || s.Name == arg:
		default:
			ok, err := path.Match(arg, full)
			if err != nil {
				return nil, fmt.Errorf("statistic pattern %q: %w", arg, err)
			}
			if !ok {
				continue
			}
		}
		out = append(out, s)
	}
	return out, nil
}
