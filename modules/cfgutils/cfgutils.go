// Package cfgutils is Kamailio's cfgutils module: random events with a
// probability the script or the RPC commands set (rand_event,
// rand_set_prob), global flags (set_gflag, is_gflag), named locks
// (lock, unlock, trylock, with lock_set_size), core_hash, sleeping,
// memory reports, and running a route only when it exists.
package cfgutils

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the cfgutils module of one proxy.
type Module struct {
	initialProb int
	prob        atomic.Int32
	gflags      atomic.Uint32
	locks       []sync.Mutex // nil without lock_set_size
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "cfgutils",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "initial_probability", Kind: dispatch.Int, Default: "10", Doc: "rand_event's probability at start, in percent"},
			{Name: "initial_gflags", Kind: dispatch.Int, Default: "0", Doc: "the global flags at start (a bit mask)"},
			{Name: "lock_set_size", Kind: dispatch.Int, Default: "0", Doc: "2^N named locks for lock/unlock/trylock (0: none; at most 14)"},
			{Name: "hash_file", Kind: dispatch.Str, Doc: "refused: the config hash RPC commands are not there"},
		},
	})
	router.RegisterPV("RANDOM", router.PVClass{Get: func(*router.Ctx, *router.PV) router.Value {
		return router.IntValue(int64(rand.Int32()))
	}})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.initialProb = p.Int("initial_probability", 10)
	if m.initialProb < 0 || m.initialProb > 100 {
		return errors.New("initial_probability: want 0..100")
	}
	m.prob.Store(int32(m.initialProb))
	m.gflags.Store(uint32(p.Int("initial_gflags", 0)))
	if n := p.Int("lock_set_size", 0); n > 0 {
		m.locks = make([]sync.Mutex, 1<<min(n, 14))
	}
	if p.IsSet("hash_file") {
		return errors.New("hash_file: not supported by kemi (cfgutils.check_config_hash is not there)")
	}
	return nil
}

// Exports are KSR.cfgutils and the native gflag functions.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "rand_event", Ret: dispatch.Int, Fn: dispatch.F0(func(*router.Ctx) int { return dispatch.Result(m.event()) })},
		{Name: "rand_set_prob", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, p int) int {
			if p < 0 || p > 99 { // as Kamailio's fixup: 0..99
				c.Log().Error("cfgutils: rand_set_prob: "+strconv.Itoa(p)+" is not 0..99", "route", c.Route)
				return -1
			}
			m.prob.Store(int32(p))
			return 1
		})},
		{Name: "rand_reset_prob", Ret: dispatch.Int, Fn: dispatch.F0(func(*router.Ctx) int { m.prob.Store(int32(m.initialProb)); return 1 })},
		{Name: "rand_get_prob", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(*router.Ctx) int { return int(m.prob.Load()) })},
		{Name: "sleep", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, s int) int { time.Sleep(time.Duration(max(s, 0)) * time.Second); return 1 })},
		{Name: "usleep", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, us int) int {
			time.Sleep(time.Duration(max(us, 0)) * time.Microsecond)
			return 1
		})},
		{Name: "abort", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			// Kamailio dumps core; a kemi script error never takes the
			// proxy down.
			c.Log().Error("cfgutils: abort(): kemi does not stop on a script's request; the message goes on", "route", c.Route)
			return -1
		})},
		{Name: "pkg_status", Ret: dispatch.Int, Fn: dispatch.F0(m.memory)},
		{Name: "shm_status", Ret: dispatch.Int, Fn: dispatch.F0(m.memory)},
		{Name: "pkg_summary", Ret: dispatch.Int, Fn: dispatch.F0(m.memory)},
		{Name: "shm_summary", Ret: dispatch.Int, Fn: dispatch.F0(m.memory)},
		{Name: "lock", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, k string) int { return m.lock(c, k, 0) })},
		{Name: "unlock", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, k string) int { return m.lock(c, k, 1) })},
		{Name: "trylock", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, k string) int { return m.lock(c, k, 2) })},
		{Name: "core_hash", Ret: dispatch.Int, Value: true, Fn: dispatch.FSSI(func(c *router.Ctx, s1, s2 string, size int) int {
			n := uint32(2)
			if size > 0 {
				n = 1 << min(size, 31)
			}
			return int(CoreHash(s1, s2, n)) + 1 // as Kamailio's: more than 0
		})},
		{Name: "check_route_exists", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, r string) int {
			return dispatch.Result(c.HasRoute(router.RouteNamed, r))
		})},
		{Name: "route_if_exists", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, r string) int {
			if !c.HasRoute(router.RouteNamed, r) {
				return -1
			}
			rc, err := c.RunRoute(router.RouteNamed, r)
			if err != nil {
				c.Log().Error("cfgutils: route_if_exists: "+err.Error(), "route", c.Route)
				return -1
			}
			return rc
		})},
		{Name: "set_gflag", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.gflag(f, 1) })},
		{Name: "reset_gflag", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.gflag(f, 0) })},
		{Name: "is_gflag", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.gflag(f, -1) })},
	}
}

// event is true with the probability set.
func (m *Module) event() bool {
	p := m.prob.Load()
	switch {
	case p <= 0:
		return false
	case p >= 100:
		return true
	}
	return rand.Float64() < float64(p)/100
}

// gflag sets (1), resets (0) or tests (-1) global flag f, 0..31.
func (m *Module) gflag(f, op int) int {
	if f < 0 || f > 31 {
		return -1
	}
	bit := uint32(1) << uint(f)
	for {
		old := m.gflags.Load()
		var v uint32
		switch op {
		case 1:
			v = old | bit
		case 0:
			v = old &^ bit
		default:
			return dispatch.Result(old&bit != 0)
		}
		if m.gflags.CompareAndSwap(old, v) {
			return 1
		}
	}
}

// lock takes (0), releases (1) or tries (2) the lock the key falls on.
func (m *Module) lock(c *router.Ctx, key string, op int) int {
	if m.locks == nil {
		c.Log().Error("cfgutils: no lock set: set modparam(\"cfgutils\", \"lock_set_size\", N)", "route", c.Route)
		return -1
	}
	h := uint64(router.FNVOffset) // of the key in lower case, without a copy of it
	for i := 0; i < len(key); i++ {
		b := key[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		h = router.FNV1aUint(h, uint64(b))
	}
	l := &m.locks[h%uint64(len(m.locks))]
	switch op {
	case 0:
		l.Lock()
	case 1:
		l.Unlock()
	default:
		return dispatch.Result(l.TryLock())
	}
	return 1
}

// memory logs the Go runtime's memory, what pkg_status and shm_status
// report of Kamailio's pools.
func (m *Module) memory(c *router.Ctx) int {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	c.Log().Log(context.Background(), router.LevelNotice, fmt.Sprintf("memory: heap in use %d, heap objects %d, stacks %d, from the system %d, GC cycles %d",
		s.HeapInuse, s.HeapObjects, s.StackInuse, s.Sys, s.NumGC), "route", c.Route)
	return 1
}

// CoreHash is Kamailio's core_hash (core/hashes.h) of s1 and s2 ("" for
// none) for a table of size entries (a power of 2), byte for byte: its
// bytes are C chars, signed.
func CoreHash(s1, s2 string, size uint32) uint32 {
	h := sip.CoreHash([]byte(s1), []byte(s2))
	if size != 0 {
		return h & (size - 1)
	}
	return h
}

// RPCs are cfgutils' commands for the probability and the global flags.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	flag := func(p []any) (int, error) {
		n, err := dispatch.ParamInt(p, 0, "flag")
		if err != nil {
			return 0, err
		}
		if n < 0 || n > 31 {
			return 0, dispatch.RPCErrorf(dispatch.RPCBadRequest, "flag %d: want 0..31", n)
		}
		return int(n), nil
	}
	return []dispatch.RPC{
		{Name: "cfgutils.rand_set_prob", Doc: "rand_event's probability: cfgutils.rand_set_prob PERCENT", Fn: func(p []any) (any, error) {
			n, err := dispatch.ParamInt(p, 0, "probability")
			if err != nil {
				return nil, err
			}
			if n < 0 || n > 100 {
				return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "probability %d: want 0..100", n)
			}
			m.prob.Store(int32(n))
			return 0, nil
		}},
		{Name: "cfgutils.rand_reset_prob", Doc: "rand_event's probability back to initial_probability", Fn: func([]any) (any, error) {
			m.prob.Store(int32(m.initialProb))
			return 0, nil
		}},
		{Name: "cfgutils.rand_get_prob", Doc: "rand_event's probability", Fn: func([]any) (any, error) {
			return fmt.Sprintf("actual probability: %d percent", m.prob.Load()), nil
		}},
		{Name: "cfgutils.set_gflag", Doc: "set a global flag: cfgutils.set_gflag N", Fn: func(p []any) (any, error) {
			f, err := flag(p)
			if err != nil {
				return nil, err
			}
			m.gflag(f, 1)
			return 0, nil
		}},
		{Name: "cfgutils.reset_gflag", Doc: "reset a global flag", Fn: func(p []any) (any, error) {
			f, err := flag(p)
			if err != nil {
				return nil, err
			}
			m.gflag(f, 0)
			return 0, nil
		}},
		{Name: "cfgutils.is_gflag", Doc: "whether a global flag is set", Fn: func(p []any) (any, error) {
			f, err := flag(p)
			if err != nil {
				return nil, err
			}
			return m.gflag(f, -1) > 0, nil
		}},
		{Name: "cfgutils.get_gflags", Doc: "the global flags, as a number", Fn: func([]any) (any, error) {
			return m.gflags.Load(), nil
		}},
	}
}
