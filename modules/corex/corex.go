// Package corex holds extra core functions, like Kamailio's corex module:
// has_ruri_user, has_user_agent, append_branch, the extended flags,
// file_read/file_write.
package corex

import (
	"os"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "corex", New: func() dispatch.Module { return Module{} }})
}

// Module is the corex module; it keeps no state.
type Module struct{}

// Exports are KSR.corex.
func (Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "has_ruri_user", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if !c.Msg.IsRequest() {
				return -1
			}
			u, err := c.RURI()
			return dispatch.Result(err == nil && len(u.User) > 0)
		})},
		{Name: "has_user_agent", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(len(c.Msg.UserAgent()) > 0)
		})},
		{Name: "setxflag", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, 1) })},
		{Name: "resetxflag", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, 0) })},
		{Name: "isxflagset", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return xflag(c, f, -1) })},
		{Name: "append_branch", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return appendBranch(c, "", -1)
		})},
		{Name: "append_branch_uri", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, uri string) int {
			return appendBranch(c, uri, -1)
		})},
		{Name: "append_branch_uri_q", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, uri, q string) int {
			qv, err := router.ParseQ(q)
			if err != nil {
				c.Log().Error("corex: append_branch: "+err.Error(), "route", c.Route)
				return -1
			}
			return appendBranch(c, uri, qv)
		})},
		// Native append_branch() is a core function (modules/core).
		{Name: "is_faked_msg", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Pkt == nil) })},
		{Name: "file_read", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, path string) router.Value {
			b, err := os.ReadFile(path)
			if err != nil {
				c.Log().Error("corex: file_read: "+err.Error(), "route", c.Route)
				return router.Value{}
			}
			return router.StrValue(string(b))
		})},
		{Name: "file_write", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, path, text string) int {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				c.Log().Error("corex: file_write: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
	}
}

// appendBranch adds a branch for tm to fork to: uri, or the current
// request URI with $du and its path when uri is ""; q ×1000, -1 for none.
func appendBranch(c *router.Ctx, uri string, q int) int {
	if err := c.AppendBranchURI(uri, q); err != nil {
		c.Log().Error("corex: append_branch: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// xflag sets (op 1), resets (0) or tests (-1) extended flag f (0..127).
func xflag(c *router.Ctx, f, op int) int {
	if f < 0 || f > 127 {
		return -1
	}
	w, bit := &c.XFlags[f/64], uint64(1)<<uint(f%64)
	switch op {
	case 1:
		*w |= bit
	case 0:
		*w &^= bit
	default:
		return dispatch.Result(*w&bit != 0)
	}
	return 1
}
