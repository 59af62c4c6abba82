// Package xlog logs format strings with pseudo-variables, like Kamailio's
// xlog module: KSR.xlog.xinfo("from $fu to $ru\n").
package xlog

import (
	"context"
	"log/slog"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "xlog", New: func() dispatch.Module { return Module{} }})
}

// Module is the xlog module; it keeps no state.
type Module struct{}

// Exports are KSR.xlog; natively their format strings are passed as
// written, to be expanded here.
func (Module) Exports() []dispatch.Export {
	at := func(name string, l slog.Level) dispatch.Export {
		return dispatch.Export{Name: name, Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, f string) int { return Log(c, l, f) })}
	}
	return []dispatch.Export{
		{Name: "xlog", Ret: dispatch.Int, Raw: true, Fn: dispatch.FSS(func(c *router.Ctx, level, f string) int {
			l, ok := router.ParseLevel(level)
			if !ok {
				c.Log().Error("xlog: unknown level "+level, "route", c.Route)
				return -1
			}
			return Log(c, l, f)
		})},
		at("xdbg", slog.LevelDebug), at("xinfo", slog.LevelInfo), at("xnotice", router.LevelNotice),
		at("xwarn", slog.LevelWarn), at("xerr", slog.LevelError), at("xcrit", router.LevelCrit),
		at("xalert", router.LevelAlert),
		// Native xlog(format) logs at L_ERR, and xlog(facility, level,
		// format) names a syslog facility kemi's log has no use for.
		{Name: "xlog", NativeOnly: true, Ret: dispatch.Int, Raw: true, Fn: dispatch.FS(func(c *router.Ctx, f string) int { return Log(c, slog.LevelError, f) })},
		{Name: "xlog", NativeOnly: true, Ret: dispatch.Int, Raw: true, Fn: dispatch.FSSS(func(c *router.Ctx, facility, level, f string) int {
			l, ok := router.ParseLevel(level)
			if !ok {
				c.Log().Error("xlog: unknown level "+level, "route", c.Route)
				return -1
			}
			return Log(c, l, f)
		})},
	}
}

// Log expands the format and logs it at level l. The expansion is skipped
// when the level is off.
func Log(c *router.Ctx, l slog.Level, format string) int {
	lg := c.Log()
	if !lg.Enabled(context.Background(), l) {
		return 1
	}
	f, err := c.W.Format(format)
	if err != nil {
		c.Log().Error("xlog: "+err.Error(), "route", c.Route)
		return -1
	}
	b := f.Append(make([]byte, 0, 256), c) // not Worker.Scratch: a pseudo-variable may use it
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	lg.Log(context.Background(), l, string(b), "src", "script")
	return 1
}
