// Package pv_headers is Kamailio's pv_headers module: a message's headers
// collected into an XAVI ($xavi(headers=>Name)), changed there by the
// script ($x_hdr(Name), pvh_append_header, pvh_modify_header, ...) and
// applied back to the message when it leaves: each header the XAVI names
// is removed from the message and its values added again, after the last
// header of that name or at the end of the headers. With auto_msg (the
// default, when tm is loaded) a request's headers are collected before
// request_route and applied to each branch as it is sent (a branch_route
// works on a copy of its own, "headers.N"), and each reply's are
// collected as it comes in ("headers.r.N") and applied as it goes
// upstream.
package pv_headers

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
	"github.com/kemi-sip/kemi/modules/uac"
)

const (
	helperName  = "modparam_pv_headers" // $xavi(modparam_pv_headers=>reply_counter)
	replyReason = "@Reply-Reason"
)

// Module is the pv_headers module of one proxy.
type Module struct {
	xavi          string
	valueSize     int
	collectedFlag uint
	appliedFlag   uint
	skip, split   []string
	auto          bool
	uac           *uac.Module
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
)

func init() {
	i, s := dispatch.Int, dispatch.Str
	dispatch.Register(dispatch.ModuleInfo{Name: "pv_headers",
		Params: []dispatch.Param{
			dispatch.P("xavi_name", s, "headers", "the XAVI the headers are collected into: `$xavi(headers=>From)`"),
			dispatch.P("header_value_size", i, "1024", "the longest header value kept; longer ones are cut"),
			dispatch.P("header_collect_flag", i, "27", "the flag (a branch flag for requests, a message flag for replies) marking headers collected: a second collect is refused"),
			dispatch.P("header_apply_flag", i, "28", "the flag marking headers applied: a second apply is refused"),
			dispatch.P("skip_headers", s, "Record-Route,Via,Route,Content-Length,Max-Forwards,CSeq", "headers apply leaves alone, comma separated"),
			dispatch.P("split_headers", s, "", "headers whose comma separated values are collected as headers of their own, comma separated"),
			dispatch.P("auto_msg", i, "1", "1: collect and apply by themselves (needs tm): requests before request_route and on each branch, replies as they come in and go upstream"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
	registerPVs()
}

// Init reads the parameters and binds tm and uac when they are loaded.
func (m *Module) Init(p *dispatch.Params) error {
	m.xavi = p.Str("xavi_name", "headers")
	if m.xavi == "" {
		return errors.New("pv_headers: xavi_name is empty")
	}
	m.valueSize = p.Int("header_value_size", 1024)
	if m.valueSize < 2 {
		return errors.New("pv_headers: header_value_size must be 2 or more")
	}
	cf, af := p.Int("header_collect_flag", 27), p.Int("header_apply_flag", 28)
	if cf < 0 || cf > 63 || af < 0 || af > 63 {
		return errors.New("pv_headers: header_collect_flag and header_apply_flag are flags, 0 to 63")
	}
	m.collectedFlag, m.appliedFlag = uint(cf), uint(af)
	m.skip = list(p.Str("skip_headers", "Record-Route,Via,Route,Content-Length,Max-Forwards,CSeq"))
	m.split = list(p.Str("split_headers", ""))
	m.uac, _ = p.Module("uac").(*uac.Module)
	t, _ := p.Module("tm").(*tm.Module)
	m.auto = p.Int("auto_msg", 1) != 0 && t != nil
	if m.auto {
		t.OnBranchRoute(func(c *router.Ctx, idx int) { m.cloneBranch(c, idx) })
		t.OnBranchOut(func(c *router.Ctx, idx int) {
			if c.Msg.IsRequest() {
				m.apply(c, idx+1)
			}
		})
		// every reply of a transaction is collected, as Kamailio's
		// pre-script callbacks of replies run whether or not a route does
		t.OnReplyInXAVPs(func(c *router.Ctx, _ []byte) {
			m.replyAppend(c)
			m.collect(c, 0)
		})
		t.OnReplyOut(func(c *router.Ctx) { m.apply(c, 0) })
	}
	return nil
}

// Start collects each request's headers before request_route (auto_msg).
func (m *Module) Start(env *router.Env) error {
	if m.auto {
		env.PreRequest = append(env.PreRequest, func(c *router.Ctx) { m.collect(c, 0) })
	}
	return nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func has(l []string, name string) bool {
	for _, s := range l {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// branch is the branch a context works on, Kamailio's _branch: 0 for the
// request (or a reply), idx+1 in the branch_route of branch idx.
func branch(c *router.Ctx) int {
	if c.Kind == router.RouteBranch && c.Msg.IsRequest() {
		if i := tm.BranchIndex(c); i >= 0 {
			return i + 1
		}
	}
	return 0
}

// brName is the XAVI of the headers for branch br of c's message:
// "headers", "headers.N" for branch N-1, with ".r.K" for the K-th reply.
func (m *Module) brName(c *router.Ctx, base string, br int) string {
	name := base
	if br > 0 {
		name += "." + strconv.Itoa(br-1)
	}
	if !c.Msg.IsRequest() {
		name += ".r." + strconv.Itoa(replyCounter(c))
	}
	return name
}

// replyCounter is the number of the reply being worked on, from 0; -1
// before the first.
func replyCounter(c *router.Ctx) int {
	v := c.XGet(router.XAVI, helperName, 0, "reply_counter", 0)
	if v.Kind != router.Int {
		return -1
	}
	return int(v.I)
}

// replyAppend counts a reply (Kamailio's pvh_reply_append).
func (m *Module) replyAppend(c *router.Ctx) int {
	n := replyCounter(c) + 1
	if !c.XSetField(router.XAVI, helperName, "reply_counter", 0, router.IntValue(int64(n))) {
		c.XSetChild(router.XAVI, helperName, "reply_counter", router.IntValue(int64(n)))
	}
	return n
}

// root is the XAVI of the headers of c for branch br: the branch's own,
// or the request's.
func (m *Module) root(c *router.Ctx, br int) (string, bool) {
	name := m.brName(c, m.xavi, br)
	if _, list, ok := c.XValue(router.XAVI, name, 0); ok {
		return name, list
	}
	if name != m.xavi {
		if _, list, ok := c.XValue(router.XAVI, m.xavi, 0); ok {
			return m.xavi, list
		}
	}
	return name, false
}

func (m *Module) flag(c *router.Ctx, f uint) bool {
	if c.Msg.IsRequest() {
		return c.BFlags&(1<<f) != 0
	}
	return c.Flags&(1<<f) != 0
}

func (m *Module) setFlag(c *router.Ctx, f uint, on bool) {
	p := &c.Flags
	if c.Msg.IsRequest() {
		p = &c.BFlags
	}
	if on {
		*p |= 1 << f
	} else {
		*p &^= 1 << f
	}
}

// cut is a value no longer than header_value_size allows.
func (m *Module) cut(v string) string {
	if len(v) > m.valueSize-1 {
		v = v[:m.valueSize-1]
	}
	return v
}

// collect is pvh_collect_headers: every header of the message into the
// XAVI, in their order (From and To under those names whatever form they
// have; the split_headers' values one by one).
func (m *Module) collect(c *router.Ctx, br int) int {
	if string(c.Msg.Version()) != "SIP/2.0" {
		return 1
	}
	if m.flag(c, m.collectedFlag) {
		c.Log().Error("pv_headers: headers are already collected", "route", c.Route)
		return -1
	}
	name := m.brName(c, m.xavi, br)
	msg := c.Msg
	fields := make([]router.XField, 0, msg.NumHeaders())
	for i := 0; i < msg.NumHeaders(); i++ {
		h := msg.Header(i)
		var key string
		switch h.Type {
		case sip.HdrFrom:
			key = "From"
		case sip.HdrTo:
			key = "To"
		default:
			key = string(h.Name)
		}
		val := h.Value[:min(len(h.Value), m.valueSize-1)]
		if has(m.split, key) && bytes.IndexByte(val, ',') >= 0 {
			for _, part := range splitValues(string(val)) {
				fields = append(fields, router.XField{Key: key, Val: part})
			}
			continue
		}
		fields = append(fields, router.XField{Key: key, Val: router.BytesValue(val)})
	}
	if _, _, ok := c.XValue(router.XAVI, name, 0); ok || br > 0 {
		// added to what is there (or to the branch's copy of the request's)
		for _, f := range fields {
			m.set(c, name, f.Key, f.Val, 0, true)
		}
	} else {
		c.XAddItem(router.XAVI, name, fields) // one item, the values copied once
	}
	c.XSetChild(router.XAVI, helperName, "xavi_name", router.StrValue(m.xavi))
	m.setFlag(c, m.collectedFlag, true)
	return 1
}

// splitValues splits at the commas outside double quotes; the pieces keep
// their spaces, empty ones are left out (Kamailio's pvh_split_values).
func splitValues(s string) []router.Value {
	var out []router.Value
	quoted, start := false, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] == '"' {
			quoted = !quoted
		}
		if i == len(s) || (s[i] == ',' && !quoted) {
			if i > start {
				out = append(out, router.StrValue(s[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

// set is pvh_set_xavi: value v (Null: the header is to be removed) for
// header key of the XAVI name, appended as the last value (append, or
// when the header is not there yet) or in place of its value idx (from
// the last when negative). A branch's XAVI is made from the request's on
// its first change.
func (m *Module) set(c *router.Ctx, name, key string, v router.Value, idx int, appendV bool) int {
	if _, _, ok := c.XValue(router.XAVI, name, 0); !ok && name != m.xavi && c.Msg.IsRequest() && strings.HasPrefix(name, m.xavi+".") {
		m.cloneTo(c, name)
	}
	n := m.count(c, name, key)
	if n == 0 {
		appendV = true
	}
	if appendV {
		c.XAppendField(router.XAVI, name, key, v)
		return 1
	}
	if idx < 0 {
		idx += n
		if idx < 0 {
			c.Log().Error("pv_headers: wrong calculated idx", "header", key, "route", c.Route)
			return -1
		}
	}
	if !c.XSetField(router.XAVI, name, key, idx, v) {
		c.Log().Error("pv_headers: error modify xavi", "xavi", name, "header", key, "idx", idx, "route", c.Route)
		return -1
	}
	return 1
}

// count is the number of values of header key in the XAVI name.
func (m *Module) count(c *router.Ctx, name, key string) int {
	n := 0
	c.XEachField(router.XAVI, name, 0, func(k string, _ router.Value) {
		if strings.EqualFold(k, key) {
			n++
		}
	})
	return n
}

// values are the values of header key for branch br, the first first.
func (m *Module) values(c *router.Ctx, br int, key string) []router.Value {
	name, ok := m.root(c, br)
	if !ok {
		return nil
	}
	var out []router.Value
	c.XEachField(router.XAVI, name, 0, func(k string, v router.Value) {
		if strings.EqualFold(k, key) {
			out = append(out, v)
		}
	})
	return out
}

// cloneBranch copies the request's XAVI as branch idx's before its
// branch_route.
func (m *Module) cloneBranch(c *router.Ctx, idx int) {
	name := m.xavi + "." + strconv.Itoa(idx)
	m.cloneTo(c, name)
}

func (m *Module) cloneTo(c *router.Ctx, name string) {
	var fields []router.XField
	list, ok := c.XEachField(router.XAVI, m.xavi, 0, func(k string, v router.Value) {
		fields = append(fields, router.XField{Key: k, Val: v})
	})
	if !ok || !list || len(fields) == 0 {
		return
	}
	c.XAddItem(router.XAVI, name, fields)
}

// apply is pvh_apply_headers: the message gets the headers of the XAVI
// of branch br.
func (m *Module) apply(c *router.Ctx, br int) int {
	if string(c.Msg.Version()) != "SIP/2.0" {
		return 1
	}
	if br == 0 && m.flag(c, m.appliedFlag) {
		c.Log().Error("pv_headers: headers are already applied", "route", c.Route)
		return -1
	}
	name, ok := m.root(c, br)
	if !ok {
		if c.Msg.IsRequest() || br != 0 {
			c.Log().Error("pv_headers: missing xavi "+m.xavi+", run pv_collect_headers() first", "route", c.Route)
		}
		return -1
	}
	type hv struct {
		key string
		val router.Value
	}
	var hs []hv
	c.XEachField(router.XAVI, name, 0, func(k string, v router.Value) { hs = append(hs, hv{k, v}) })
	if len(hs) == 0 {
		c.Log().Error("pv_headers: no keys found: "+name, "route", c.Route)
		return -1
	}
	msg := c.Msg
	skipFromTo := !msg.IsRequest()
	if !skipFromTo {
		switch msg.Method() {
		case sip.MethodACK, sip.MethodPRACK, sip.MethodBYE:
			skipFromTo = true
		}
	}
	var done []string
	fromDone, toDone := false, false
	for _, h := range hs {
		switch {
		case has(m.skip, h.key):
			continue
		case strings.EqualFold(h.key, "From") || strings.EqualFold(h.key, "To"):
			from := strings.EqualFold(h.key, "From")
			if skipFromTo || (from && fromDone) || (!from && toDone) || h.val.Kind != router.Str {
				continue
			}
			t := sip.HdrTo
			if from {
				t = sip.HdrFrom
			}
			if i := msg.NextHeader(t, -1); i >= 0 && string(msg.Header(i).Value) == h.val.String() {
				continue // unchanged
			}
			display, uri, ok := displayURI(h.val.String())
			if !ok {
				c.Log().Error("pv_headers: error parsing "+h.key+" header", "route", c.Route)
				return -1
			}
			if m.uac != nil {
				m.uac.Replace(c, from, display, uri)
			}
			if from {
				fromDone = true
			} else {
				toDone = true
			}
			continue
		case strings.EqualFold(h.key, replyReason):
			if has(done, h.key) || msg.IsRequest() {
				continue
			}
			if err := msg.Replace(msg.Reason(), []byte(h.val.String())); err != nil {
				c.Log().Error("pv_headers: set reply reason: "+err.Error(), "route", c.Route)
			}
			done = append(done, h.key)
			continue
		}
		last := -1
		if !has(done, h.key) {
			for i := 0; i < msg.NumHeaders(); i++ {
				if strings.EqualFold(string(msg.Header(i).Name), h.key) {
					msg.RemoveHeader(i)
				}
			}
			done = append(done, h.key)
		}
		if isNull(h.val) {
			continue
		}
		for i := 0; i < msg.NumHeaders(); i++ {
			if strings.EqualFold(string(msg.Header(i).Name), h.key) {
				last = i
			}
		}
		line := h.key + ": " + m.cut(h.val.String())
		var err error
		if last >= 0 {
			err = msg.AppendHeaderAfter(last, []byte(line))
		} else {
			err = msg.AppendHeader([]byte(line))
		}
		if err != nil {
			c.Log().Error("pv_headers: cannot insert header: "+err.Error(), "header", h.key, "route", c.Route)
		}
	}
	if br == 0 {
		m.setFlag(c, m.appliedFlag, true)
	}
	return 1
}

// isNull: a value that is null or starts with "NULL" is not written
// (Kamailio's pvh_avp_is_null).
func isNull(v router.Value) bool {
	if v.Kind != router.Str {
		return true
	}
	s := v.String()
	return len(s) >= 4 && strings.EqualFold(s[:4], "NULL")
}

// displayURI splits "Name <uri>" (or a bare URI) into the display part
// before '<', as written, and the URI (Kamailio's pvh_extract_display_uri).
func displayURI(s string) (display, uri string, ok bool) {
	lt, gt := strings.IndexByte(s, '<'), strings.IndexByte(s, '>')
	switch {
	case lt < 0 && gt < 0:
		return "", s, s != ""
	case lt < 0 || gt < 0 || gt <= lt+1:
		return "", "", false
	}
	return s[:lt], s[lt+1 : gt], true
}

// reset is pvh_reset_headers: the XAVIs of the branch gone, the flags
// cleared.
func (m *Module) reset(c *router.Ctx) int {
	br := branch(c)
	c.XDel(router.XAVI, m.brName(c, m.xavi, br), -1, "")
	c.XDel(router.XAVI, m.brName(c, "parsed_pv_headers", br), -1, "")
	m.setFlag(c, m.collectedFlag, false)
	m.setFlag(c, m.appliedFlag, false)
	return 1
}

// Exports are KSR.pv_headers and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "pvh_collect_headers", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			if !c.Msg.IsRequest() {
				m.replyAppend(c)
			}
			return m.collect(c, branch(c))
		})},
		{Name: "pvh_apply_headers", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.apply(c, branch(c)) })},
		{Name: "pvh_reset_headers", Ret: I, Fn: dispatch.F0(m.reset)},
		{Name: "pvh_check_header", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			return dispatch.Result(len(m.values(c, branch(c), name)) > 0)
		})},
		{Name: "pvh_append_header", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, name, val string) int {
			return m.set(c, m.brName(c, m.xavi, branch(c)), name, router.StrValue(val), 0, true)
		})},
		{Name: "pvh_modify_header", Ret: I, Fn: dispatch.FSSI(func(c *router.Ctx, name, val string, idx int) int {
			return m.set(c, m.brName(c, m.xavi, branch(c)), name, router.StrValue(val), idx, false)
		})},
		{Name: "pvh_modify_header", NativeOnly: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, name, val string) int {
			return m.set(c, m.brName(c, m.xavi, branch(c)), name, router.StrValue(val), 0, false)
		})},
		{Name: "pvh_remove_header", Ret: I, Fn: dispatch.FSI(m.remove)},
		{Name: "pvh_remove_header", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, name string) int { return m.remove(c, name, -1) })},
		// only the branch's own XAVI, the value's case as written
		{Name: "pvh_header_param_exists", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, name, param string) int {
			found := false
			c.XEachField(router.XAVI, m.brName(c, m.xavi, branch(c)), 0, func(k string, v router.Value) {
				found = found || strings.EqualFold(k, name) && v.Kind == router.Str && strings.Contains(v.String(), param)
			})
			return dispatch.Result(found)
		})},
		{Name: "pvh_remove_header_param", Ret: I, Fn: dispatch.FSS(m.removeParam)},
	}
}

// remove is pvh_remove_header: value idx of the header, or with idx < 0
// all of them, set to null (apply removes them).
func (m *Module) remove(c *router.Ctx, name string, idx int) int {
	vals := m.values(c, branch(c), name)
	if len(vals) == 0 {
		return 1
	}
	xn := m.brName(c, m.xavi, branch(c))
	if idx >= 0 {
		if m.set(c, xn, name, router.Value{}, idx, false) < 1 {
			return -1
		}
		return 1
	}
	for i := range vals {
		if m.set(c, xn, name, router.Value{}, i, false) < 1 {
			return -1
		}
	}
	return 1
}

// removeParam is pvh_remove_header_param: each value of the header that
// has the token param (in a list separated by ", ") loses it; a value
// left empty removes the header.
func (m *Module) removeParam(c *router.Ctx, name, param string) int {
	xn := m.brName(c, m.xavi, branch(c))
	for idx, v := range m.values(c, branch(c), name) {
		if v.Kind != router.Str || !strings.Contains(strings.ToLower(v.String()), strings.ToLower(param)) {
			continue
		}
		var keep []string
		found := false
		for _, tok := range strings.FieldsFunc(v.String(), func(r rune) bool { return r == ',' || r == ' ' }) {
			if len(tok) >= len(param) && strings.EqualFold(tok[:len(param)], param) {
				found = true
				continue
			}
			keep = append(keep, tok)
		}
		switch {
		case found && len(keep) == 0:
			if m.remove(c, name, idx) < 0 {
				return -1
			}
		case found:
			if m.set(c, xn, name, router.StrValue(strings.Join(keep, ", ")), idx, false) < 0 {
				return -1
			}
		}
	}
	return 1
}
