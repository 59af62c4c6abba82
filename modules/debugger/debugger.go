// Package debugger is Kamailio's debugger module, its non-interactive
// part: cfgtrace logs each action of the native config as it runs
// ("*** cfgtrace:request_route=[DEFAULT] c=[kamailio.cfg] l=581
// n=mf_process_maxfwd_header"), switched at run time by the dbg.trace
// RPC command; dbg_pv_dump() logs the message's variables. Breakpoints
// and stepping (breakpoint, dbg.bp, step_*) need a debugger at a
// terminal and are refused at start-up, as are the parameters whose
// effect kemi does not have.
package debugger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the debugger of one proxy.
type Module struct {
	tracing atomic.Bool
	level   slog.Level
	prefix  string
	lname   string
	noFile  bool // cfgtrace_format 1: no config file in the line
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
	_ router.Tracer        = (*Module)(nil)
)

func init() {
	unsupported := "refused when set other than 0: kemi has no interactive debugger"
	dispatch.Register(dispatch.ModuleInfo{
		Name: "debugger",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "cfgtrace", Kind: dispatch.Int, Default: "0", Doc: "log each action of the native config as it runs (dbg.trace on|off changes it)"},
			{Name: "cfgtrace_format", Kind: dispatch.Int, Default: "0", Doc: "1: leave the config file out of the trace lines"},
			{Name: "log_level", Kind: dispatch.Int, Default: "-1", Doc: "the level of the trace lines (-1 L_ERR .. 3 L_DBG)"},
			{Name: "log_facility", Kind: dispatch.Str, Doc: "accepted; kemi logs to stderr"},
			{Name: "log_prefix", Kind: dispatch.Str, Default: "*** cfgtrace:", Doc: "what trace lines start with"},
			{Name: "log_level_name", Kind: dispatch.Str, Doc: "the name written instead of the level's in trace lines"},
			{Name: "breakpoint", Kind: dispatch.Int, Default: "0", Doc: unsupported},
			{Name: "step_usleep", Kind: dispatch.Int, Doc: "accepted; used by breakpoints only"},
			{Name: "step_loops", Kind: dispatch.Int, Doc: "accepted; used by breakpoints only"},
			{Name: "log_assign", Kind: dispatch.Int, Default: "0", Doc: "refused when set other than 0: assignments are not logged"},
			{Name: "mod_hash_size", Kind: dispatch.Int, Doc: "accepted"},
			{Name: "mod_level_mode", Kind: dispatch.Int, Default: "0", Doc: "refused when set other than 0: kemi has one log level, not one per module"},
			{Name: "mod_level", Kind: dispatch.Str, Multi: true, Doc: "refused: kemi has one log level, not one per module"},
			{Name: "mod_facility_mode", Kind: dispatch.Int, Default: "0", Doc: "refused when set other than 0"},
			{Name: "mod_facility", Kind: dispatch.Str, Multi: true, Doc: "refused: kemi logs to stderr"},
			{Name: "reset_msgid", Kind: dispatch.Int, Default: "0", Doc: "refused when set other than 0"},
			{Name: "cfgpkgcheck", Kind: dispatch.Int, Default: "0", Doc: "accepted; Go manages memory"},
			{Name: "cfgtest", Kind: dispatch.Int, Default: "0", Doc: "refused when set other than 0: no config unit tests"},
		},
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	for _, name := range []string{"breakpoint", "log_assign", "mod_level_mode", "mod_facility_mode", "reset_msgid", "cfgtest"} {
		if p.Int(name, 0) != 0 {
			return fmt.Errorf("%s: not supported by kemi (set it to 0, or leave it out)", name)
		}
	}
	for _, name := range []string{"mod_level", "mod_facility"} {
		if p.IsSet(name) {
			return fmt.Errorf("%s: not supported by kemi: it has one log level for all", name)
		}
	}
	lvl := p.Int("log_level", -1)
	if lvl < -5 || lvl > 3 {
		return errors.New("log_level: want -5 (L_ALERT) .. 3 (L_DBG)")
	}
	m.level = router.LevelFromDebug(lvl)
	m.prefix = p.Str("log_prefix", "*** cfgtrace:")
	m.lname = p.Str("log_level_name", "")
	m.noFile = p.Int("cfgtrace_format", 0)&1 != 0
	m.tracing.Store(p.Int("cfgtrace", 0) != 0)
	return nil
}

// Tracing reports whether cfgtrace is on.
func (m *Module) Tracing() bool { return m.tracing.Load() }

// Trace logs an action about to run, as Kamailio's cfgtrace line (without
// its a=, the number of the action in Kamailio's own interpreter).
func (m *Module) Trace(c *router.Ctx, block, file string, line int, action string) {
	var b strings.Builder
	b.WriteString(m.prefix)
	b.WriteString(c.Kind.String())
	b.WriteString("=[" + block + "]")
	if !m.noFile {
		b.WriteString(" c=[" + file + "]")
	}
	fmt.Fprintf(&b, " l=%d n=%s", line, action)
	args := []any{"src", "debugger"}
	if m.lname != "" {
		args = append(args, "lname", m.lname)
	}
	c.Log().Log(context.Background(), m.level, b.String(), args...)
}

// Exports are KSR.debugger and the native dbg_pv_dump and dbg_breakpoint.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "dbg_pv_dump", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.dump(c, 31, -1) })},
		{Name: "dbg_pv_dump_ex", Native: "dbg_pv_dump", Ret: dispatch.Int, Fn: dispatch.FII(m.dump)},
		{Name: "dbg_pv_dump", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, mask int) int { return m.dump(c, mask, -1) })},
		// Without breakpoint=1 (which kemi refuses) Kamailio's does nothing.
		{Name: "dbg_breakpoint", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(*router.Ctx, int) int { return 1 })},
	}
}

// dump logs the message's script variables ($var, mask bit 1) and AVPs
// (mask bit 2) at level, one line.
func (m *Module) dump(c *router.Ctx, mask, level int) int {
	var b strings.Builder
	b.WriteString("dbg_pv_dump:")
	if mask&1 != 0 {
		c.W.EachVar(func(name string, v router.Value) { fmt.Fprintf(&b, " $var(%s)=%q", name, v.String()) })
	}
	if mask&2 != 0 {
		c.EachAVP(func(name string, v router.Value) { fmt.Fprintf(&b, " $avp(%s)=%q", name, v.String()) })
	}
	c.Log().Log(context.Background(), router.LevelFromDebug(level), b.String(), "src", "debugger")
	return 1
}

// RPCs are dbg.trace.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{{Name: "dbg.trace", Doc: "cfgtrace on or off: dbg.trace on|off", Fn: func(p []any) (any, error) {
		s, err := dispatch.ParamStr(p, 0, "on|off")
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(s) {
		case "on":
			m.tracing.Store(true)
		case "off":
			m.tracing.Store(false)
		default:
			return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "dbg.trace: want on or off, got %q", s)
		}
		return 200, nil
	}}}
}
