// Package rr records the route of dialogs and routes in-dialog requests by
// it, like Kamailio's rr module: record_route adds this proxy's
// Record-Route to a request it forwards, loose_route follows the Route set
// of a request inside a dialog (RFC 3261 §16.4, strict routers included).
package rr

import (
	"bytes"
	"net/netip"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/outbound"
)

// Module is the rr module of one proxy: its parameters.
type Module struct {
	appendFromTag bool
	fullLR        bool
	doubleRR      int
	// callbacks run when loose_route took this proxy's Route off a
	// request (Kamailio's rr callbacks: uac restores From and To there);
	// added while the modules initialise, read only after.
	callbacks []func(c *router.Ctx, params []byte)
	// ob is the outbound module when loaded (RFC 5626 flow tokens in the
	// Record-Route's user part, flows followed by loose_route).
	ob *outbound.Module
}

var _ dispatch.Initializer = (*Module)(nil)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "rr",
		Params: []dispatch.Param{
			{Name: "append_fromtag", Kind: dispatch.Int, Default: "1"},
			{Name: "enable_full_lr", Kind: dispatch.Int, Default: "0"},
			{Name: "enable_double_rr", Kind: dispatch.Int, Default: "1", Doc: "two Record-Routes when a request leaves by another socket or transport than it came (2: always)"},
		},
		New: func() dispatch.Module { return &Module{appendFromTag: true, doubleRR: 1} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.appendFromTag = p.Int("append_fromtag", 1) != 0
	m.fullLR = p.Int("enable_full_lr", 0) != 0
	m.doubleRR = p.Int("enable_double_rr", 1)
	m.ob, _ = p.Module("outbound").(*outbound.Module)
	return nil
}

// Exports are KSR.rr.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "record_route", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.recordRoute(c, "") })},
		{Name: "record_route_params", Ret: dispatch.Int, Fn: dispatch.FS(m.recordRoute), Native: "record_route"},
		{Name: "record_route_preset", Ret: dispatch.Int, Fn: dispatch.FSS(m.preset)},
		{Name: "record_route_preset_one", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, addr string) int { return m.preset(c, addr, "") }), Native: dispatch.NoNative},
		{Name: "remove_record_route", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { state.Of(c).Want = false; return 1 })},
		{Name: "next_hop_route", Native: "rr_next_hop_route", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(state.Of(c).NextHopRoute)
		})},
		{Name: "loose_route", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.looseRouteMode(c, 0) })},
		// loose_route_mode(1): the request's own Route entries are taken
		// off, the next hop is not made $du.
		{Name: "loose_route_mode", Ret: dispatch.Int, Fn: dispatch.FI(m.looseRouteMode)},
		// loose_route_preloaded(): loose_route for an initial request (no To
		// tag) with a Route set of its own.
		{Name: "loose_route_preloaded", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if m.looseRouteMode(c, 0) == rrPreloaded {
				return 1
			}
			return -1
		})},
		{Name: "record_route_advertised_address", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, addr string) int { return m.preset(c, addr, "") })},
		{Name: "add_rr_param", Ret: dispatch.Int, Fn: dispatch.FS(addParam)},
		{Name: "check_route_param", Ret: dispatch.Int, Fn: dispatch.FS(checkParam)},
		{Name: "is_direction", Ret: dispatch.Int, Fn: dispatch.FS(isDirection)},
	}
}

// Request is what rr keeps on a request: the Record-Route this proxy adds
// when the request is forwarded, and what loose_route found. It goes with
// the request into its transaction (a failure_route's new branches are
// record-routed alike).
type Request struct {
	Want        bool   // record_route was called
	Params      []byte // add_rr_param: ";nat=yes"
	FromTag     []byte // append_fromtag: the From tag to write as ftag
	Preset      []byte // record_route_preset: the address written instead of ours
	RouteParams []byte // the parameters of our Route that loose_route took
	TopRoute    []byte // with outbound: our Route's URI that loose_route took
	User        []byte // the Record-Route's user part: outbound's flow token
	// NextHopRoute: loose_route took the next hop from a Route after
	// removing ours (rr's next_hop_route).
	NextHopRoute bool
	double       int    // enable_double_rr when record_route was called
	line         []byte // the Record-Route header being written
}

var state = router.NewSlot[Request]()

var (
	_ router.Forwarder = (*Request)(nil)
	_ router.Carrier   = (*Request)(nil)
)

// Reset clears the state for the next message.
func (r *Request) Reset() {
	r.Want, r.NextHopRoute, r.double = false, false, 0
	r.Params, r.FromTag, r.Preset, r.RouteParams = r.Params[:0], r.FromTag[:0], r.Preset[:0], r.RouteParams[:0]
	r.TopRoute, r.User = r.TopRoute[:0], r.User[:0]
}

// AppendCarried writes the Record-Route to write: Want (and
// enable_double_rr in the bits above it), then Params,
// FromTag, Preset and User, each after its 16-bit length; nothing when there
// is none.
func (r *Request) AppendCarried(dst []byte) []byte {
	if !r.Want && len(r.Params) == 0 && len(r.FromTag) == 0 && len(r.Preset) == 0 {
		return dst
	}
	want := byte(r.double) << 1 // and enable_double_rr above it
	if r.Want {
		want |= 1
	}
	dst = append(dst, want)
	for _, f := range [...][]byte{r.Params, r.FromTag, r.Preset, r.User} {
		dst = append(append(dst, byte(len(f)>>8), byte(len(f))), f...)
	}
	return dst
}

// RestoreCarried reads back what AppendCarried wrote (nil: no
// Record-Route); what loose_route found is the request's own and stays.
func (r *Request) RestoreCarried(b []byte) {
	r.Want, r.double, r.Params, r.FromTag, r.Preset, r.User = false, 0, r.Params[:0], r.FromTag[:0], r.Preset[:0], r.User[:0]
	if len(b) == 0 {
		return
	}
	r.Want, r.double, b = b[0]&1 == 1, int(b[0]>>1), b[1:]
	for _, f := range [...]*[]byte{&r.Params, &r.FromTag, &r.Preset, &r.User} {
		if len(b) < 2 {
			return
		}
		n := int(b[0])<<8 | int(b[1])
		if 2+n > len(b) {
			return
		}
		*f, b = append((*f)[:0], b[2:2+n]...), b[2+n:]
	}
}

// PrepareForward writes the Record-Route into a request leaving, when
// record_route asked for one: <sip:address;lr;ftag=...;params>.
//
// With enable_double_rr (1, the default) a request leaving by another
// socket or transport than it came (UDP in, TCP out; WebSocket in, UDP
// out) gets two, each marked ;r2=on: the sending socket's on top, for the
// side it goes to, and the receiving socket's below it, for the side it
// came from (Kamailio's conditional lumps, COND_IF_DIFF_REALMS); 2 writes
// both always.
func (r *Request) PrepareForward(c *router.Ctx) error {
	if !r.Want || c.Pkt == nil || c.Pkt.Local == nil {
		return nil
	}
	in, inProto := c.Pkt.Local, c.Pkt.Proto
	out := c.OutHop()
	double := r.double != 0 && len(r.Preset) == 0 && out.Local != nil &&
		(r.double == 2 || out.Local != in || out.Proto != inProto)
	if double {
		// AddRecordRoute writes each where the message's own start: the
		// second below the first.
		if err := c.Msg.AddRecordRoute(r.build(c, out.Local, out.Proto, true)); err != nil {
			return err
		}
		return c.Msg.AddRecordRoute(r.build(c, in, inProto, true))
	}
	return c.Msg.AddRecordRoute(r.build(c, in, inProto, false)) // on top, above this proxy's Via, as Kamailio's
}

// build makes the Record-Route header value for socket l and transport
// proto: <sip:address;transport=..;r2=on;lr;ftag=...;params>.
func (r *Request) build(c *router.Ctx, l *transport.Listener, proto sip.Transport, r2 bool) []byte {
	dst := append(r.line[:0], "<sip:"...)
	if len(r.User) > 0 {
		dst = append(append(dst, r.User...), '@')
	}
	if len(r.Preset) > 0 {
		dst = append(dst, r.Preset...)
	} else {
		dst = c.AppendAdvertised(dst, l)
		switch {
		case proto == sip.TransportWS || proto == sip.TransportWSS:
			dst = append(dst, ";transport=ws"...) // RFC 7118 §5.2: ws for both
		case l.Proto == sip.TransportTCP:
			dst = append(dst, ";transport=tcp"...)
		case l.Proto == sip.TransportTLS:
			dst = append(dst, ";transport=tls"...)
		}
	}
	if r2 {
		dst = append(dst, ";r2=on"...)
	}
	dst = append(dst, ";lr"...)
	if len(r.FromTag) > 0 {
		dst = append(append(dst, ";ftag="...), r.FromTag...)
	}
	dst = append(dst, r.Params...)
	r.line = append(dst, '>')
	return r.line
}

// recordRoute asks for this proxy's Record-Route on the request when it is
// forwarded, with extra parameters when given. Only for requests that
// create a dialog; the header is written at forwarding time, so that
// add_rr_param before or after it, and in a branch_route, all count.
func (mod *Module) recordRoute(c *router.Ctx, params string) int {
	st := state.Of(c)
	m := c.Msg
	if !m.IsRequest() {
		return -1
	}
	if st.Want {
		c.Log().Warn("rr: record_route called twice, the second is ignored", "route", c.Route)
		return -1
	}
	st.Want, st.double = true, mod.doubleRR
	mod.flowUser(c, st)
	if mod.appendFromTag {
		st.FromTag = append(st.FromTag[:0], m.From().Tag...)
	}
	if mod.fullLR {
		st.Params = append(st.Params, "=on"...)
	}
	if params != "" {
		addParam(c, params)
	}
	return 1
}

// preset records addr ("host:port;params") as the Record-Route instead of
// the receiving socket.
func (mod *Module) preset(c *router.Ctx, addr, second string) int {
	st := state.Of(c)
	if addr == "" || !c.Msg.IsRequest() {
		return -1
	}
	addr = trimSIP(addr)
	st.Want = true
	mod.flowUser(c, st)
	st.Preset = append(st.Preset[:0], addr...)
	if mod.appendFromTag {
		st.FromTag = append(st.FromTag[:0], c.Msg.From().Tag...)
	}
	return 1
}

// flowUser puts outbound's flow token in the Record-Route's user part
// when the request uses outbound: the token of the flow it came on, or
// the one its top Route (ours) carried.
func (mod *Module) flowUser(c *router.Ctx, st *Request) {
	if mod.ob == nil {
		return
	}
	var route *sip.URI
	var u sip.URI
	if len(st.TopRoute) > 0 { // loose_route took it off
		if sip.ParseURI(st.TopRoute, &u) == nil {
			route = &u
		}
	} else {
		it := c.Msg.Addrs(sip.HdrRoute)
		var na sip.NameAddr
		if it.Next(&na) {
			route = &na.URI
		}
	}
	switch mod.ob.Use(c, route) {
	case 1:
		if f, ok := outbound.FlowOf(c); ok {
			st.User = append(st.User[:0], mod.ob.Encode(f)...)
		}
	case 2:
		st.User = append(st.User[:0], route.User...)
	}
}

// followFlow is loose_route's outbound step (Kamailio's process_outbound)
// for the user part of our Route: 0 when it is no flow token or names
// the flow the request came on, 1 when the request now goes out on that
// flow (its socket forced, $du its client), -1 for a token that fails its
// check.
func (mod *Module) followFlow(c *router.Ctx, user []byte) int {
	f, r := mod.ob.Decode(user)
	switch {
	case r == -2:
		return 0
	case r == -1:
		c.Log().Info("rr: failed to decode flow token", "route", c.Route)
		return -1
	case f.Src == c.Src():
		return 0
	}
	l := c.SocketAt(f.Proto, f.Local)
	if l == nil {
		c.Log().Info("rr: cannot find socket from flow-token", "route", c.Route)
		return -1
	}
	c.SetSendSocket(l)
	// $du: sip:ip:port;transport=proto, written in place.
	var b [96]byte
	dst := append(b[:0], "sip:"...)
	dst = netip.AddrPortFrom(f.Src.Addr().Unmap(), f.Src.Port()).AppendTo(dst) // [v6]:port
	dst = append(dst, ";transport="...)
	for _, ch := range []byte(f.Proto.String()) {
		dst = append(dst, ch|0x20) // lower case
	}
	if err := c.SetDstURI(dst); err != nil {
		c.Log().Error("rr: failed to set dst_uri: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

func trimSIP(s string) string {
	for _, p := range []string{"sip:", "<sip:"} {
		if len(s) > len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	if n := len(s); n > 0 && s[n-1] == '>' {
		s = s[:n-1]
	}
	return s
}

// OnLooseRoute adds a callback run when loose_route has taken this
// proxy's Route off a request, with that Route's parameters (";lr;ftag=
// ..."): Kamailio's register_rrcb. Modules add theirs while they
// initialise.
func (mod *Module) OnLooseRoute(f func(c *router.Ctx, params []byte)) {
	mod.callbacks = append(mod.callbacks, f)
}

// AppendFromTag reports the append_fromtag parameter.
func (mod *Module) AppendFromTag() bool { return mod.appendFromTag }

// AddParam is add_rr_param: p (";name=value", the ';' added when missing)
// goes into the Record-Route written for the request.
func AddParam(c *router.Ctx, p string) int { return addParam(c, p) }

// RouteParam is a parameter of the Route loose_route took (Kamailio's
// get_route_param).
func RouteParam(c *router.Ctx, name string) ([]byte, bool) {
	return sip.Param(state.Of(c).RouteParams, name)
}

// Downstream reports whether the request goes from the caller (its From
// tag is the ftag of the Route loose_route took); ok is false without
// an ftag (Kamailio's is_direction).
func Downstream(c *router.Ctx) (down, ok bool) {
	ftag, ok := sip.Param(state.Of(c).RouteParams, "ftag")
	if !ok {
		return false, false
	}
	return bytes.Equal(ftag, c.Msg.From().Tag), true
}

func addParam(c *router.Ctx, p string) int {
	st := state.Of(c)
	if p == "" {
		return -1
	}
	if p[0] != ';' {
		st.Params = append(st.Params, ';')
	}
	st.Params = append(st.Params, p...)
	return 1
}

// looseRoute routes a request by its Route set: a request URI that is our
// own Record-Route (from a strict router) is replaced by the last Route;
// our Route on top is removed, its parameters kept for check_route_param;
// the next Route, if any, becomes $du. 1 when routed by Route, -1 when the
// request has no Route to follow.
func (mod *Module) looseRouteMode(c *router.Ctx, mode int) int {
	noDst := mode&1 != 0
	st := state.Of(c)
	m := c.Msg
	if !m.IsRequest() || !m.Has(sip.HdrRoute) {
		return -1
	}
	if u, err := c.RURI(); err == nil && c.IsMyself(u) && hasParam(u.Params, "lr") {
		if strictRoute(c) {
			return 1
		}
	}
	it := m.Addrs(sip.HdrRoute)
	var na sip.NameAddr
	if !it.Next(&na) {
		return -1
	}
	if !c.IsMyself(&na.URI) {
		// A Route to someone else (preloaded): the request goes there.
		if !noDst {
			c.SetDstURI(na.URI.Raw)
		}
		return 1
	}
	st.RouteParams = append(st.RouteParams[:0], na.URI.Params...)
	useOb := 0
	if mod.ob != nil {
		st.TopRoute = append(st.TopRoute[:0], na.URI.Raw...) // for record_route's flow token
		if useOb = mod.followFlow(c, na.URI.User); useOb < 0 {
			return rrFlowTokenBroken
		}
	}
	if err := removeFirst(c, it.Header()); err != nil {
		c.Log().Error("rr: loose_route: "+err.Error(), "route", c.Route)
		return -1
	}
	// The next Route, unless it is ours too (a double Record-Route).
	next := false
	for it.Next(&na) {
		if c.IsMyself(&na.URI) {
			continue
		}
		st.NextHopRoute, next = true, true
		if !noDst && useOb == 0 {
			c.SetDstURI(na.URI.Raw)
		}
		break
	}
	// The callbacks run last, as Kamailio's: path's received overrides
	// the next hop.
	for _, f := range mod.callbacks {
		f(c, st.RouteParams)
	}
	if useOb == 1 {
		return rrOBDriven
	}
	if !next {
		if to := m.To(); to == nil || len(to.Tag) == 0 {
			return rrPreloaded // an initial request whose Route set was ours alone
		}
	}
	return 1
}

// loose_route's answers beyond 1 and -1, Kamailio's: RR_PRELOADED for an
// initial request (no To tag) whose Route set was only this proxy,
// RR_OB_DRIVEN when outbound's flow token chose the next hop,
// RR_FLOW_TOKEN_BROKEN for a token that fails its check.
const (
	rrPreloaded       = -3
	rrOBDriven        = 2
	rrFlowTokenBroken = -2
)

// strictRoute handles a request whose request URI is our Record-Route:
// the last Route value becomes the request URI and is removed.
func strictRoute(c *router.Ctx) bool {
	m := c.Msg
	it := m.Addrs(sip.HdrRoute)
	var na, last sip.NameAddr
	lastHdr, n := -1, 0
	for it.Next(&na) {
		last, lastHdr = na, it.Header()
		n++
	}
	if lastHdr < 0 {
		return false
	}
	if err := c.SetRURI(last.URI.Raw); err != nil {
		return false
	}
	// Remove the last value: its header when it is alone in it.
	vals := 0
	it = m.Addrs(sip.HdrRoute)
	for it.Next(&na) {
		if it.Header() == lastHdr {
			vals++
		}
	}
	if vals == 1 {
		m.RemoveHeader(lastHdr)
	} else {
		rewriteWithout(c, lastHdr, vals-1)
	}
	return true
}

// removeFirst removes the first Route value, which is in header h.
func removeFirst(c *router.Ctx, h int) error {
	m := c.Msg
	it := m.Addrs(sip.HdrRoute)
	var na sip.NameAddr
	vals := 0
	for it.Next(&na) {
		if it.Header() == h {
			vals++
		}
	}
	if vals <= 1 {
		return m.RemoveHeader(h)
	}
	return rewriteWithout(c, h, 0)
}

// rewriteWithout replaces header h by one without its value number skip.
func rewriteWithout(c *router.Ctx, h, skip int) error {
	m := c.Msg
	line := append(c.W.Scratch[:0], "Route: "...)
	it := m.Addrs(sip.HdrRoute)
	var na sip.NameAddr
	i, n := 0, 0
	for it.Next(&na) {
		if it.Header() != h {
			continue
		}
		if i != skip {
			if n > 0 {
				line = append(line, ", "...)
			}
			line = append(line, bytes.TrimSpace(na.Raw)...)
			n++
		}
		i++
	}
	c.W.Scratch = line
	if err := m.InsertHeaderBefore(h, line); err != nil {
		return err
	}
	return m.RemoveHeader(h)
}

func hasParam(params []byte, name string) bool {
	_, ok := sip.Param(params, name)
	return ok
}

// checkParam matches the parameters of the Route loose_route took against
// a regular expression (check_route_param).
func checkParam(c *router.Ctx, re string) int {
	st := state.Of(c)
	rx, err := router.Regexp(re)
	if err != nil {
		c.Log().Error("rr: check_route_param: "+err.Error(), "route", c.Route)
		return -1
	}
	return dispatch.Result(len(st.RouteParams) > 0 && rx.Match(st.RouteParams))
}

// isDirection tells "downstream" (from the caller: the From tag is the
// ftag of our Route) from "upstream".
func isDirection(c *router.Ctx, dir string) int {
	st := state.Of(c)
	ftag, ok := sip.Param(st.RouteParams, "ftag")
	if !ok {
		return -1
	}
	down := bytes.Equal(ftag, c.Msg.From().Tag)
	switch dir {
	case "downstream":
		return dispatch.Result(down)
	case "upstream":
		return dispatch.Result(!down)
	}
	c.Log().Error("rr: is_direction: want downstream or upstream", "route", c.Route)
	return -1
}
