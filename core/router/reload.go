package router

import (
	"sync"
	"sync/atomic"
)

// Reloader is an engine whose script can be replaced while the proxy runs
// (the app_lua.reload, app_jsdt.reload and app_python3.reload RPCs).
type Reloader interface {
	Engine
	// Reload compiles the script again and checks it by building one
	// interpreter state; when that fails the running script stays and the
	// error is returned. It gives the generation before and after.
	Reload() (old, new uint64, err error)
	// Generation counts the successful reloads; workers compare it per
	// message and build a new state when it moved.
	Generation() uint64
}

// Script holds an engine's current compiled script, the way to compile it
// and its generation: a reload compiles once, publishes with one atomic
// store, and each worker sees the new generation at its next message. An
// engine embeds it, which gives it Reloader's Reload and Generation.
type Script[T any] struct {
	mu      sync.Mutex // one reload at a time
	cur     atomic.Pointer[T]
	gen     atomic.Uint64
	compile func() (*T, error)
}

// Current is the compiled script new interpreter states are built from.
func (s *Script[T]) Current() *T { return s.cur.Load() }

// Generation is the number of scripts published after the first.
func (s *Script[T]) Generation() uint64 { return s.gen.Load() }

// Load compiles the first script with compile (which also checks it),
// kept for the reloads.
func (s *Script[T]) Load(compile func() (*T, error)) error {
	v, err := compile()
	if err != nil {
		return err
	}
	s.compile = compile
	s.cur.Store(v)
	return nil
}

// Reload compiles again and publishes what it gives; on an error the
// current script stays.
func (s *Script[T]) Reload() (old, new uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.gen.Load()
	v, err := s.compile()
	if err != nil {
		return old, old, err
	}
	s.cur.Store(v)
	return old, s.gen.Add(1), nil
}

// Sync gives the worker a new interpreter state when the engine's script
// was reloaded since its state was built. Workers call it before each
// message; tm calls it for a timer worker before it runs a route.
func (w *Worker) Sync() {
	if w.reload == nil {
		return
	}
	if g := w.reload.Generation(); g != w.gen {
		w.rebuild(g, "reloaded script")
	}
}

// rebuild replaces the worker's interpreter state by one built from the
// engine's current script; on failure the old state stays.
func (w *Worker) rebuild(gen uint64, why string) {
	r, err := w.env.Engine.NewRunner(w.Rank)
	if err != nil {
		w.env.Log.Error("cannot build a new interpreter state; the old one stays", "worker", w.Rank, "why", why, "err", err.Error())
		w.gen = gen // do not retry every message
		return
	}
	w.setRunner(r)
	w.gen = gen
}

func (w *Worker) setRunner(r Runner) {
	w.runner = r
	w.hasOnSend = r.Has(RouteOnSend, "")
	w.hasReply = r.Has(RouteReply, "")
}
