package dialog

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

// linkProfile adds a dialog to a profile; the lock is held.
func (m *Module) linkProfile(d *dialog, l link) {
	p := m.prof[l.profile]
	if p == nil {
		return
	}
	if l.puid == "" {
		m.puids++
		l.puid = fmt.Sprintf("dlgp-%x-%x-%x", m.started, os.Getpid(), m.puids)
	}
	d.profiles = append(d.profiles, l)
	if d.active() {
		p.size[l.value]++
	}
}

// profileArg checks a profile and its value as Kamailio's helpers do:
// a profile with values needs one, a profile without ignores it.
func (m *Module) profileArg(c *router.Ctx, name, value string) (*profile, string, bool) {
	p := m.prof[name]
	if name == "" || p == nil {
		c.Log().Error("dialog: profile <"+name+"> not defined", "route", c.Route)
		return nil, "", false
	}
	if !p.hasValue {
		return p, "", true
	}
	if value == "" {
		c.Log().Error("dialog: invalid value parameter", "route", c.Route)
		return nil, "", false
	}
	return p, value, true
}

// setProfile is set_dlg_profile: the dialog of the message joins the
// profile; before the dialog is made (request_route) it joins when made.
func (m *Module) setProfile(c *router.Ctx, name, value string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, v, ok := m.profileArg(c, name, value)
	if !ok {
		return -1
	}
	if d := m.current(c); d != nil {
		m.linkProfile(d, link{profile: name, value: v})
		m.store(d)
		return 1
	}
	if c.Kind != router.RouteRequest {
		c.Log().Error("dialog: no dialog for set_dlg_profile", "route", c.Route)
		return -1
	}
	st := state.Of(c)
	st.profiles = append(st.profiles, link{profile: name, value: v})
	return 1
}

// unsetProfile is unset_dlg_profile: the dialog leaves the profile
// (value, or any value for a profile without); -1 when it was not in.
func (m *Module) unsetProfile(c *router.Ctx, name, value string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, v, ok := m.profileArg(c, name, value)
	if !ok {
		return -1
	}
	d := m.current(c)
	if d == nil {
		c.Log().Warn("dialog: dialog not found", "route", c.Route)
		return -1
	}
	for i, l := range d.profiles {
		if l.profile == name && (!p.hasValue || l.value == v) {
			d.profiles = append(d.profiles[:i], d.profiles[i+1:]...)
			if d.active() {
				p.size[l.value]--
				if p.size[l.value] <= 0 {
					delete(p.size, l.value)
				}
			}
			m.store(d)
			return 1
		}
	}
	return -1
}

// inProfile is is_in_profile: 1 when the message's dialog is in the
// profile (with that value, for a profile with values).
func (m *Module) inProfile(c *router.Ctx, name, value string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, v, ok := m.profileArg(c, name, value)
	if !ok {
		return -1
	}
	d := m.current(c)
	if d == nil {
		return -1
	}
	for _, l := range d.profiles {
		if l.profile == name && (!p.hasValue || l.value == v) {
			return 1
		}
	}
	return -1
}

// profileSize is get_profile_size: the number of dialogs in the profile
// (with the value), into the variable named.
func (m *Module) profileSize(c *router.Ctx, name, value, dst string) int {
	if dst == "" {
		c.Log().Error("dialog: invalid destination var name", "route", c.Route)
		return -1
	}
	m.mu.Lock()
	p, v, ok := m.profileArg(c, name, value)
	n := 0
	if ok {
		n = m.size(p, v)
	}
	m.mu.Unlock()
	if !ok {
		return -1
	}
	pv, err := c.W.PV(dst)
	if err != nil || (pv.Class != "avp" && pv.Class != "var") {
		c.Log().Error("dialog: return must be an AVP or SCRIPT VAR!", "route", c.Route)
		return -1
	}
	if pv.Set(c, router.IntValue(int64(n))) != nil {
		return -1
	}
	return 1
}

// size is a profile's count: of one value, or all of them for a profile
// without.
func (m *Module) size(p *profile, value string) int {
	if p.hasValue && value != "" {
		return p.size[value]
	}
	n := 0
	for _, s := range p.size {
		n += s
	}
	return n
}

// flags is dlg_setflag/dlg_resetflag/dlg_isflagset on the message's
// dialog (and the flags given to a dialog made later).
func (m *Module) flag(c *router.Ctx, f int, op byte) int {
	if f < 0 || f > 31 {
		return -1
	}
	bit := uint32(1) << uint(f)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := state.Of(c)
	d := m.current(c)
	switch op {
	case 's':
		st.flags |= bit
		if d != nil {
			d.sflags |= bit
			m.store(d)
		}
	case 'r':
		st.flags &^= bit
		if d != nil {
			d.sflags &^= bit
			m.store(d)
		}
	default:
		if d != nil {
			return dispatch.Result(d.sflags&bit != 0)
		}
		return dispatch.Result(st.flags&bit != 0)
	}
	return 1
}

// property is dlg_set_property/dlg_reset_property: ka-src, ka-dst,
// timeout-noreset.
func (m *Module) property(c *router.Ctx, name string, set bool) int {
	var bit uint32
	switch name {
	case "ka-src":
		bit = iflagKASrc
	case "ka-dst":
		bit = iflagKADst
	case "timeout-noreset":
		bit = iflagTimeoutReset
	default:
		c.Log().Error("dialog: unknown property value ["+name+"]", "route", c.Route)
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := state.Of(c)
	d := m.current(c)
	if set {
		st.iflags |= bit
		if d != nil {
			d.iflags |= bit
		}
	} else {
		st.iflags &^= bit
		if d != nil {
			d.iflags &^= bit
		}
	}
	if d != nil {
		m.store(d)
	}
	return 1
}

// setTimeout is dlg_set_timeout: the message's dialog's lifetime, from
// now when it is confirmed; -1 without a dialog.
func (m *Module) setTimeout(c *router.Ctx, to int) int {
	if to <= 0 {
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.current(c)
	if d == nil {
		return -1 // no dialog found (use $dlg_ctx(timeout) before one is made)
	}
	m.timeoutOf(d, to)
	return 1
}

// timeoutOf sets a dialog's lifetime; the lock is held.
func (m *Module) timeoutOf(d *dialog, to int) {
	d.lifetime = to
	if d.state == stateConfirmed || d.state == stateConfirmedNA {
		d.timerAt = time.Now().Unix() + int64(to)
	}
	m.store(d)
}

// byID is the dialog of h_entry and h_id; the lock is held.
func (m *Module) byID(he, hi uint32) *dialog {
	return m.byKey[strconv.FormatUint(uint64(he), 10)+":"+strconv.FormatUint(uint64(hi), 10)]
}

// bye is dlg_bye: BYE to the caller, the callee, or both ("all"); the
// dialog ends.
func (m *Module) bye(c *router.Ctx, side string) int {
	m.mu.Lock()
	d := m.current(c)
	m.mu.Unlock()
	if d == nil {
		return -1
	}
	return m.byeDialog(d, side, "")
}

func (m *Module) byeDialog(d *dialog, side, extra string) int {
	m.mu.Lock()
	ok := d.state == stateConfirmed || d.state == stateConfirmedNA
	m.mu.Unlock()
	if !ok {
		m.log.Error("dialog: terminating non-confirmed dialogs not supported")
		return -1
	}
	var errs []error
	switch strings.ToLower(side) {
	case "caller":
		errs = append(errs, m.sendBye(d, caller, extra))
	case "callee":
		errs = append(errs, m.sendBye(d, callee, extra))
	default:
		errs = append(errs, m.sendBye(d, caller, extra), m.sendBye(d, callee, extra))
	}
	m.mu.Lock()
	m.end(d, false, true)
	m.mu.Unlock()
	m.flushEvents()
	for _, err := range errs {
		if err != nil {
			m.log.Error("dialog: failed to send the BYE request: " + err.Error())
			return -1
		}
	}
	return 1
}

// vars: $dlg_var and var_*.

func (m *Module) getVar(c *router.Ctx, name string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vars := state.Of(c).vars
	if d := m.current(c); d != nil {
		vars = d.vars
	}
	for i := len(vars) - 1; i >= 0; i-- {
		if vars[i].k == name {
			return vars[i].v, true
		}
	}
	return "", false
}

func (m *Module) setVar(c *router.Ctx, name string, v *string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.current(c)
	vars := &state.Of(c).vars
	if d != nil {
		vars = &d.vars
	}
	for i := range *vars {
		if (*vars)[i].k == name {
			*vars = append((*vars)[:i], (*vars)[i+1:]...)
			break
		}
	}
	if v != nil {
		*vars = append(*vars, kv{name, *v})
	}
	if d != nil {
		m.store(d)
	}
}

func getDlgVar(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("dialog").(*Module)
	if m == nil {
		return router.Value{}
	}
	if v, ok := m.getVar(c, pv.Arg); ok {
		return router.StrValue(v)
	}
	return router.Value{}
}

func setDlgVar(c *router.Ctx, pv *router.PV, v router.Value) error {
	m, _ := c.Env().Module("dialog").(*Module)
	if m == nil {
		return fmt.Errorf("dialog is not loaded")
	}
	if v.IsNull() {
		m.setVar(c, pv.Arg, nil)
		return nil
	}
	s := v.String()
	m.setVar(c, pv.Arg, &s)
	return nil
}

// dlgKeys are $dlg's names.
var dlgKeys = map[string]bool{"ref": true, "h_id": true, "state": true, "to_rs": true, "dflags": true, "sflags": true, "callid": true,
	"to_uri": true, "to_tag": true, "toroute": true, "to_cseq": true, "from_rs": true, "h_entry": true, "from_uri": true, "from_tag": true,
	"lifetime": true, "start_ts": true, "from_cseq": true, "to_contact": true, "to_bindaddr": true, "from_contact": true, "from_bindaddr": true}

func parseDlgPV(pv *router.PV) error {
	if !dlgKeys[pv.Arg] {
		return fmt.Errorf("dialog: unknown $dlg name %q", pv.Arg)
	}
	return nil
}

func getDlgPV(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("dialog").(*Module)
	if m == nil {
		return router.Value{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.current(c)
	if d == nil {
		return router.Value{}
	}
	str := func(s string) router.Value {
		if s == "" {
			return router.Value{}
		}
		return router.StrValue(s)
	}
	sock := func(l leg) router.Value {
		if l.sock == nil {
			return router.Value{}
		}
		return router.StrValue(l.sock.String())
	}
	switch pv.Arg {
	case "h_id":
		return router.IntValue(int64(d.hID))
	case "h_entry":
		return router.IntValue(int64(d.hEntry))
	case "state":
		return router.IntValue(int64(d.state))
	case "to_rs":
		return str(strings.Join(d.legs[callee].routeSet, ","))
	case "from_rs":
		return str(strings.Join(d.legs[caller].routeSet, ","))
	case "dflags":
		return router.IntValue(int64(d.iflags))
	case "sflags":
		return router.IntValue(int64(d.sflags))
	case "callid":
		return str(d.callID)
	case "to_uri":
		return str(d.toURI)
	case "to_tag":
		return str(d.legs[callee].tag)
	case "toroute":
		return router.IntValue(0)
	case "to_cseq":
		return str(d.legs[callee].cseq)
	case "from_uri":
		return str(d.fromURI)
	case "from_tag":
		return str(d.legs[caller].tag)
	case "lifetime":
		return router.IntValue(int64(d.lifetime))
	case "start_ts":
		return router.IntValue(d.startTS)
	case "from_cseq":
		return str(d.legs[caller].cseq)
	case "to_contact":
		return str(d.legs[callee].contact)
	case "from_contact":
		return str(d.legs[caller].contact)
	case "to_bindaddr":
		return sock(d.legs[callee])
	case "from_bindaddr":
		return sock(d.legs[caller])
	}
	return router.IntValue(1) // ref
}

// $dlg_ctx(on|set|dir|flags|timeout|timeout_bye): the context the next
// dialog of the message gets, and whether one is set.
func parseDlgCtx(pv *router.PV) error {
	switch pv.Arg {
	case "on", "set", "dir", "flags", "timeout", "timeout_bye", "timeout_route", "timeout_route_id":
		return nil
	}
	return fmt.Errorf("dialog: unknown $dlg_ctx name %q", pv.Arg)
}

func getDlgCtx(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("dialog").(*Module)
	if m == nil {
		return router.Value{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := state.Of(c)
	d := m.current(c)
	switch pv.Arg {
	case "set":
		return router.IntValue(map[bool]int64{true: 1, false: 0}[d != nil])
	case "dir":
		return router.IntValue(int64(st.dir + 1))
	case "flags":
		if d != nil {
			return router.IntValue(int64(d.sflags))
		}
		return router.IntValue(int64(st.flags))
	case "timeout":
		if d != nil {
			return router.IntValue(int64(d.lifetime))
		}
		return router.IntValue(int64(st.timeout))
	case "timeout_bye":
		if d != nil {
			return router.IntValue(int64(d.iflags & iflagTimeoutBye))
		}
		return router.IntValue(int64(st.iflags & iflagTimeoutBye))
	case "on":
		return router.IntValue(map[bool]int64{true: 1, false: 0}[st.manage || d != nil])
	}
	return router.Value{}
}

func setDlgCtx(c *router.Ctx, pv *router.PV, v router.Value) error {
	m, _ := c.Env().Module("dialog").(*Module)
	if m == nil {
		return fmt.Errorf("dialog is not loaded")
	}
	n, _ := v.Int64()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := state.Of(c)
	d := m.current(c)
	switch pv.Arg {
	case "on":
		st.manage = n != 0
	case "flags":
		st.flags = uint32(n)
		if d != nil {
			d.sflags = uint32(n)
		}
	case "timeout":
		if n > 0 {
			st.timeout = int(n)
			if d != nil {
				m.timeoutOf(d, int(n))
			}
		}
	case "timeout_bye": // for the dialog made next, as Kamailio's context
		if n != 0 {
			st.iflags |= iflagTimeoutBye
		} else {
			st.iflags &^= iflagTimeoutBye
		}
	default:
		return fmt.Errorf("$dlg_ctx(%s) is read-only here", pv.Arg)
	}
	return nil
}

// Exports are KSR.dialog and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I, X := dispatch.Int, dispatch.XVal
	varGet := func(null router.Value) func(c *router.Ctx, name string) router.Value {
		return func(c *router.Ctx, name string) router.Value {
			if v, ok := m.getVar(c, name); ok {
				return router.StrValue(v)
			}
			return null
		}
	}
	return []dispatch.Export{
		{Name: "dlg_manage", Ret: I, Fn: dispatch.F0(m.manage)},
		{Name: "dlg_bye", Ret: I, Fn: dispatch.FS(m.bye)},
		{Name: "is_known_dlg", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.current(c) != nil {
				return 1
			}
			if to := c.Msg.To(); to != nil && len(to.Tag) > 0 && c.Msg.IsRequest() {
				if d, _ := m.byTags(string(c.Msg.CallID()), string(c.Msg.From().Tag), string(to.Tag)); d != nil {
					return 1
				}
			}
			return -1
		})},
		{Name: "dlg_get", Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, callID, ftag, ttag string) int {
			if callID == "" || ftag == "" || ttag == "" {
				c.Log().Error("dialog: dlg_get: invalid Call-ID or tag parameter", "route", c.Route)
				return -1
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			d, dir := m.byTags(callID, ftag, ttag)
			if d == nil {
				return -1
			}
			st := state.Of(c)
			st.key, st.dir = d.key(), dir
			return 1
		})},
		{Name: "dlg_setflag", Ret: I, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.flag(c, f, 's') })},
		{Name: "dlg_resetflag", Ret: I, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.flag(c, f, 'r') })},
		{Name: "dlg_isflagset", Ret: I, Fn: dispatch.FI(func(c *router.Ctx, f int) int { return m.flag(c, f, 'i') })},
		{Name: "dlg_set_property", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.property(c, p, true) })},
		{Name: "dlg_reset_property", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.property(c, p, false) })},
		{Name: "dlg_set_timeout", Ret: I, Fn: dispatch.FI(m.setTimeout)},
		{Name: "dlg_set_timeout_id", Ret: I, Native: "dlg_set_timeout", Fn: dispatch.FIII(func(c *router.Ctx, to, he, hi int) int {
			m.mu.Lock()
			defer m.mu.Unlock()
			d := m.byID(uint32(he), uint32(hi))
			if d == nil || to <= 0 {
				return -1
			}
			m.timeoutOf(d, to)
			return 1
		})},
		{Name: "set_dlg_profile", Ret: I, Fn: dispatch.FSS(m.setProfile)},
		{Name: "set_dlg_profile_static", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.setProfile(c, p, "") })},
		{Name: "unset_dlg_profile", Ret: I, Fn: dispatch.FSS(m.unsetProfile)},
		{Name: "unset_dlg_profile_static", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.unsetProfile(c, p, "") })},
		{Name: "is_in_profile", Ret: I, Fn: dispatch.FSS(m.inProfile)},
		{Name: "is_in_profile_static", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.inProfile(c, p, "") })},
		{Name: "get_profile_size", Ret: I, Raw: true, Fn: dispatch.FSSS(func(c *router.Ctx, p, v, dst string) int {
			return m.profileSize(c, expand(c, p), expand(c, v), dst)
		})},
		{Name: "get_profile_size_static", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, p, dst string) int { return m.profileSize(c, p, "", dst) })},
		{Name: "var_sets", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FSS(func(c *router.Ctx, name, v string) int {
			m.setVar(c, name, &v)
			return 1
		})},
		{Name: "var_get", Ret: X, Native: dispatch.NoNative, Fn: dispatch.VS(varGet(router.Value{}))},
		{Name: "var_gete", Ret: X, Native: dispatch.NoNative, Fn: dispatch.VS(varGet(router.StrValue("")))},
		{Name: "var_getw", Ret: X, Native: dispatch.NoNative, Fn: dispatch.VS(varGet(router.StrValue("<null>")))},
		{Name: "var_rm", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			m.setVar(c, name, nil)
			return 1
		})},
		{Name: "var_is_null", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			if _, ok := m.getVar(c, name); ok {
				return -1
			}
			return 1
		})},
		{Name: "dlg_bridge", Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, from, to, op string) int {
			if err := m.bridge(from, to, op); err != nil {
				c.Log().Error("dialog: dlg_bridge: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		{Name: "dlg_db_load_callid", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, callID string) int {
			if m.db == nil {
				c.Log().Error("dialog: dlg_db_load_callid needs db_url", "route", c.Route)
				return -1
			}
			if err := m.loadDB(callID); err != nil {
				c.Log().Error("dialog: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		{Name: "dlg_db_load_extra", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			if m.db == nil {
				c.Log().Error("dialog: dlg_db_load_extra needs db_url", "route", c.Route)
				return -1
			}
			if err := m.loadDB(""); err != nil {
				c.Log().Error("dialog: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		// Native forms with fewer parameters.
		{Name: "set_dlg_profile", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.setProfile(c, p, "") })},
		{Name: "unset_dlg_profile", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.unsetProfile(c, p, "") })},
		{Name: "is_in_profile", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, p string) int { return m.inProfile(c, p, "") })},
		{Name: "get_profile_size", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, p, dst string) int {
			return m.profileSize(c, expand(c, p), "", dst)
		})},
		{Name: "dlg_bye", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.bye(c, "all") })},
		{Name: "dlg_bridge", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, from, to string) int {
			if err := m.bridge(from, to, ""); err != nil {
				c.Log().Error("dialog: dlg_bridge: "+err.Error(), "route", c.Route)
				return -1
			}
			return 1
		})},
		{Name: "dlg_set_timeout", NativeOnly: true, Ret: I, Fn: dispatch.FI(m.setTimeout)},
	}
}

// expand is a native parameter with its variables replaced by their
// values (for the functions whose last parameter names a variable).
func expand(c *router.Ctx, s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	f, err := c.W.Format(s)
	if err != nil {
		return s
	}
	return string(f.Append(nil, c))
}

// RPCs are dlg.*.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	list := func(filter func(d *dialog) bool) []any {
		m.mu.Lock()
		defer m.mu.Unlock()
		out := []any{}
		for _, d := range m.byKey {
			if filter != nil && !filter(d) {
				continue
			}
			out = append(out, m.rpcNode(d))
		}
		return out
	}
	return []dispatch.RPC{
		{Name: "dlg.list", Doc: "Print all dialogs", Fn: func([]any) (any, error) { return list(nil), nil }},
		{Name: "dlg.dlg_list", Doc: "Print dialog based on callid and fromtag: dlg.dlg_list CALLID [FROMTAG]", Fn: func(p []any) (any, error) {
			callID, err := dispatch.ParamStr(p, 0, "callid")
			if err != nil {
				return nil, err
			}
			ftag, _ := dispatch.ParamStr(p, 1, "from tag")
			return list(func(d *dialog) bool { return d.callID == callID && (ftag == "" || d.legs[caller].tag == ftag) }), nil
		}},
		{Name: "dlg.end_dlg", Doc: "End a given dialog based on [h_entry] [h_id]", Fn: func(p []any) (any, error) {
			he, err := dispatch.ParamInt(p, 0, "h_entry")
			if err != nil {
				return nil, err
			}
			hi, err := dispatch.ParamInt(p, 1, "h_id")
			if err != nil {
				return nil, err
			}
			extra, _ := dispatch.ParamStr(p, 2, "extra headers")
			if extra != "" && !strings.HasSuffix(extra, "\n") {
				extra += "\r\n"
			}
			m.mu.Lock()
			d := m.byID(uint32(he), uint32(hi))
			m.mu.Unlock()
			if d == nil {
				return nil, dispatch.RPCErrorf(404, "Requested Dialog not found")
			}
			if m.byeDialog(d, "all", extra) < 0 {
				return nil, dispatch.RPCErrorf(500, "Failed to end dialog")
			}
			return nil, nil
		}},
		{Name: "dlg.profile_get_size", Doc: "Returns the number of dialogs belonging to a profile: dlg.profile_get_size PROFILE [VALUE]", Fn: func(p []any) (any, error) {
			name, err := dispatch.ParamStr(p, 0, "profile")
			if err != nil {
				return nil, err
			}
			value, _ := dispatch.ParamStr(p, 1, "value")
			m.mu.Lock()
			defer m.mu.Unlock()
			pr := m.prof[name]
			if pr == nil {
				return nil, dispatch.RPCErrorf(404, "Profile not found: %s", name)
			}
			return map[string]any{"profile": name, "value": value, "count": m.size(pr, value)}, nil
		}},
		{Name: "dlg.profile_list", Doc: "Lists all the dialogs belonging to a profile: dlg.profile_list PROFILE [VALUE]", Fn: func(p []any) (any, error) {
			name, err := dispatch.ParamStr(p, 0, "profile")
			if err != nil {
				return nil, err
			}
			value, _ := dispatch.ParamStr(p, 1, "value")
			m.mu.Lock()
			pr := m.prof[name]
			m.mu.Unlock()
			if pr == nil {
				return nil, dispatch.RPCErrorf(404, "Profile not found: %s", name)
			}
			return list(func(d *dialog) bool {
				for _, l := range d.profiles {
					if l.profile == name && (value == "" || l.value == value) {
						return true
					}
				}
				return false
			}), nil
		}},
		{Name: "dlg.stats_active", Doc: "Get stats about active dialogs", Fn: func([]any) (any, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			var st [6]int
			for _, d := range m.byKey {
				st[d.state]++
			}
			return map[string]any{"starting": st[stateUnconfirmed], "connecting": st[stateEarly], "answering": st[stateConfirmedNA],
				"ongoing": st[stateConfirmed], "all": st[1] + st[2] + st[3] + st[4]}, nil
		}},
		{Name: "dlg.set_state", Doc: "Set state for a dialog: dlg.set_state H_ENTRY H_ID STATE", Fn: func(p []any) (any, error) {
			he, err := dispatch.ParamInt(p, 0, "h_entry")
			if err != nil {
				return nil, err
			}
			hi, err := dispatch.ParamInt(p, 1, "h_id")
			if err != nil {
				return nil, err
			}
			s, err := dispatch.ParamInt(p, 2, "state")
			if err != nil || s < stateUnconfirmed || s > stateDeleted {
				return nil, dispatch.RPCErrorf(500, "Invalid state value")
			}
			m.mu.Lock()
			d := m.byID(uint32(he), uint32(hi))
			if d == nil {
				m.mu.Unlock()
				return nil, dispatch.RPCErrorf(404, "Requested Dialog not found")
			}
			if s == stateDeleted {
				m.end(d, false, false)
			} else {
				d.state = int(s)
				m.store(d)
			}
			m.mu.Unlock()
			m.flushEvents()
			return nil, nil
		}},
	}
}

// rpcNode is a dialog as dlg.list shows it (Kamailio's field names).
func (m *Module) rpcNode(d *dialog) map[string]any {
	vars := map[string]any{}
	for _, x := range d.vars {
		vars[x.k] = x.v
	}
	var profiles []any
	for _, l := range d.profiles {
		if l.value != "" {
			profiles = append(profiles, map[string]any{l.profile: l.value})
		} else {
			profiles = append(profiles, l.profile)
		}
	}
	sock := func(l leg) string {
		if l.sock == nil {
			return ""
		}
		return l.sock.String()
	}
	return map[string]any{
		"h_entry": d.hEntry, "h_id": d.hID, "call-id": d.callID, "from_uri": d.fromURI, "to_uri": d.toURI,
		"state": d.state, "start_ts": d.startTS, "init_ts": d.initTS, "end_ts": d.endTS, "timeout": d.timerAt,
		"lifetime": d.lifetime, "dflags": d.iflags, "sflags": d.sflags, "iflags": d.iflags,
		"caller": map[string]any{"tag": d.legs[caller].tag, "contact": d.legs[caller].contact, "cseq": d.legs[caller].cseq,
			"route_set": strings.Join(d.legs[caller].routeSet, ","), "socket": sock(d.legs[caller])},
		"callee": map[string]any{"tag": d.legs[callee].tag, "contact": d.legs[callee].contact, "cseq": d.legs[callee].cseq,
			"route_set": strings.Join(d.legs[callee].routeSet, ","), "socket": sock(d.legs[callee])},
		"profiles": profiles, "variables": vars,
	}
}

// RegisterStats registers Kamailio's dialog statistics.
func (m *Module) RegisterStats(r *stats.Registry) {
	read := func(v *int64) func() int64 { return stats.Guarded(&m.mu, v) }
	r.Func("dialog", "active_dialogs", "dialogs confirmed and not ended", stats.Gauge, read(&m.stats.active))
	r.Func("dialog", "early_dialogs", "dialogs with a provisional reply", stats.Gauge, read(&m.stats.early))
	r.Func("dialog", "processed_dialogs", "dialogs made", stats.Counter, read(&m.stats.processed))
	r.Func("dialog", "expired_dialogs", "dialogs ended by their timeout", stats.Counter, read(&m.stats.expired))
	r.Func("dialog", "failed_dialogs", "dialogs whose INVITE failed", stats.Counter, read(&m.stats.failed))
}
