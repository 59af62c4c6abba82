// Package dispatcher is Kamailio's dispatcher module: sets of destinations
// from a file or a database table, a destination chosen per request by
// one of Kamailio's algorithms (hashes over Call-ID, From, To, request
// URI, auth user or a format; round robin; random; weight; relative
// weight; call load; parallel; latency), the others kept in XAVPs for
// failover (ds_next_dst in failure_route), destinations probed with
// OPTIONS and marked inactive and active again, and the RPC commands.
package dispatcher

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
)

// settings are the module parameters.
type settings struct {
	listFile, dbURL, table                      string
	setCol, uriCol, flagsCol, prioCol, attrsCol string
	extraNames, extraCols                       []string // ds_db_extra_attrs
	forceDst, useDefault, attrsNone             bool
	flags                                       int
	xavpDst, xavpCtx                            string
	xavpDstMode, xavpCtxMode                    int
	hashPV, setidPV, attrsPV                    string
	probingThreshold, inactiveThreshold         int
	pingMethod, pingFrom                        string
	pingInterval                                time.Duration
	pingLatency                                 bool
	latencyAlpha                                float64
	replyCodes                                  []int // codes (>= 100) and classes (1-6) a probe may get
	probingMode                                 int
	hashSize                                    int
	hashExpire, hashInitExpire, hashCheck       time.Duration
	outboundProxy                               string
	defaultSocket, defaultSockname              string
	eventCallback                               string
	loadMode                                    int
	reloadDelta                                 time.Duration
}

// The probing modes.
const (
	probeNone         = 0 // only the destinations with the probing flag
	probeAll          = 1 // every destination
	probeInactive     = 2 // the inactive ones with the probing flag
	probeOnlyFlagged  = 3 // the probing flag only, kept by replies
	defaultListFile   = "/etc/kamailio/dispatcher.list"
	defaultPingFrom   = "sip:dispatcher@localhost"
	defaultPingMethod = "OPTIONS"
)

// Module is the dispatcher module of one proxy.
type Module struct {
	conf        settings
	list        atomic.Pointer[list]
	env         *router.Env
	tm          *tm.Module
	defaultSock *transport.Listener
	loads       loads
	pingActive  atomic.Bool
	lastReload  atomic.Int64 // unix seconds of the last reload, for reload_delta

	stop chan struct{}
	wg   sync.WaitGroup

	events router.EventWorker // for the routes probes run
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "dispatcher",
		Params: []dispatch.Param{
			p("list_file", s, defaultListFile, "the destinations: SETID URI [FLAGS [PRIORITY [ATTRS]]] per line"),
			p("db_url", s, "none (the list file)", "read the destinations from this database's table instead"),
			p("table_name", s, "dispatcher", "the table"),
			p("setid_col", s, "setid", "its columns"), p("destination_col", s, "destination", ""), p("flags_col", s, "flags", ""),
			p("priority_col", s, "priority", ""), p("attrs_col", s, "attrs", ""),
			p("force_dst", i, "1", "0: ds_select_dst fails when $du is already set"),
			p("flags", i, "0", "1: hash over the URI's user only; 2: failover (keep the other destinations in xavp_dst)"),
			p("use_default", i, "0", "1: the last destination of a set is used only when no other is"),
			p("xavp_dst", s, "_dsdst_", "the XAVP of the destinations kept for failover"),
			p("xavp_dst_mode", i, "0", "1: no attrs field; 2: a socket field; 4: a sockname field"),
			p("xavp_ctx", s, "_dsctx_", "the XAVP of the count of destinations kept (cnt)"),
			p("xavp_ctx_mode", i, "0", "1: no cnt"),
			p("hash_pvar", s, "", "the format algorithm 7 hashes"),
			p("setid_pvname", s, "", "the variable ds_is_from_list() sets to the matching set"),
			p("attrs_pvname", s, "", "the variable ds_is_from_list() sets to the matching destination's attributes"),
			p("ds_probing_threshold", i, "1", "failed requests before a destination is inactive"),
			p("ds_inactive_threshold", i, "1", "answered probes before an inactive destination is active"),
			p("ds_ping_method", s, defaultPingMethod, "the probes' method"),
			p("ds_ping_from", s, defaultPingFrom, "the probes' From"),
			p("ds_ping_interval", i, "0 (no probing)", "seconds between probes (needs tm)"),
			p("ds_ping_latency_stats", i, "0", "1: keep the probes' latency (dispatcher.list shows it; algorithm 13 uses it)"),
			p("ds_latency_estimator_alpha", i, "900", "the weight of the old estimate, in thousandths"),
			p("ds_ping_reply_codes", s, "", "replies to a probe that also mean up: code=404;class=4"),
			p("ds_probing_mode", i, "0", "0: probe the destinations flagged probing; 1: all; 2: the inactive flagged ones; 3: flagged only, kept"),
			p("ds_hash_size", i, "0 (no call load table)", "2^N slots of the call load table (algorithm 10)"),
			p("ds_hash_expire", i, "7200", "seconds a call stays in the load table"),
			p("ds_hash_initexpire", i, "7200", "seconds an unanswered call stays"),
			p("ds_hash_check_interval", i, "30", "seconds between expiry checks"),
			p("outbound_proxy", s, "", "where the probes go"),
			p("ds_default_socket", s, "", "the socket requests to the destinations leave from (proto:ip:port)"),
			p("ds_default_sockname", s, "", "the same by the socket's name"),
			p("ds_timer_mode", i, "0 (one timer either way)", "accepted, no effect"),
			p("event_callback", s, "", "the KEMI function run for dispatcher:dst-down and dst-up"),
			p("ds_attrs_none", i, "0", "1: a destination without attributes gets \"none=yes\""),
			p("ds_db_extra_attrs", s, "", "name=column;... columns added to the attributes"),
			p("ds_load_mode", i, "0", "1: a destination that fails to load fails the load"),
			p("reload_delta", i, "5", "seconds between two reloads"),
			p("ds_dns_mode", i, "1 (resolved at load)", "accepted; names are resolved at load"),
			p("ds_dns_interval", i, "600", "accepted, no effect"), p("ds_dns_ttl", i, "0", "accepted, no effect"),
		},
		New: func() dispatch.Module { return &Module{events: router.EventWorker{Rank: -8}} },
	})
	router.RegisterPV("dsv", router.PVClass{Arg: true, Parse: parseDSV, Get: getDSV})
}

// Init reads the parameters. The list is read at Start: as in Kamailio,
// a config check does not read it, a start fails without it.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.listFile, c.dbURL, c.table = p.Str("list_file", defaultListFile), p.Str("db_url", ""), p.Str("table_name", "dispatcher")
	c.setCol, c.uriCol, c.flagsCol = p.Str("setid_col", "setid"), p.Str("destination_col", "destination"), p.Str("flags_col", "flags")
	c.prioCol, c.attrsCol = p.Str("priority_col", "priority"), p.Str("attrs_col", "attrs")
	c.forceDst, c.flags, c.useDefault = p.Int("force_dst", 1) != 0, p.Int("flags", 0), p.Int("use_default", 0) != 0
	c.xavpDst, c.xavpDstMode = p.Str("xavp_dst", "_dsdst_"), p.Int("xavp_dst_mode", 0)
	c.xavpCtx, c.xavpCtxMode = p.Str("xavp_ctx", "_dsctx_"), p.Int("xavp_ctx_mode", 0)
	c.hashPV, c.setidPV, c.attrsPV = p.Str("hash_pvar", ""), p.Str("setid_pvname", ""), p.Str("attrs_pvname", "")
	c.probingThreshold, c.inactiveThreshold = p.Int("ds_probing_threshold", 1), p.Int("ds_inactive_threshold", 1)
	c.pingMethod, c.pingFrom = p.Str("ds_ping_method", defaultPingMethod), p.Str("ds_ping_from", defaultPingFrom)
	c.pingInterval = time.Duration(p.Int("ds_ping_interval", 0)) * time.Second
	c.pingLatency = p.Int("ds_ping_latency_stats", 0) != 0
	c.latencyAlpha = 0.9
	if a := p.Int("ds_latency_estimator_alpha", 900); a > 0 && a < 1000 {
		c.latencyAlpha = float64(a) / 1000
	}
	var err error
	if c.replyCodes, err = parseReplyCodes(p.Str("ds_ping_reply_codes", "")); err != nil {
		return err
	}
	c.probingMode = p.Int("ds_probing_mode", probeNone)
	c.hashSize = p.Int("ds_hash_size", 0)
	c.hashExpire = time.Duration(p.Int("ds_hash_expire", 7200)) * time.Second
	c.hashInitExpire = time.Duration(p.Int("ds_hash_initexpire", 7200)) * time.Second
	c.hashCheck = time.Duration(max(p.Int("ds_hash_check_interval", 30), 1)) * time.Second
	c.outboundProxy = p.Str("outbound_proxy", "")
	c.defaultSocket, c.defaultSockname = p.Str("ds_default_socket", ""), p.Str("ds_default_sockname", "")
	c.eventCallback = p.Str("event_callback", "")
	c.attrsNone = p.Int("ds_attrs_none", 0) != 0
	c.loadMode = p.Int("ds_load_mode", 0)
	c.reloadDelta = time.Duration(p.Int("reload_delta", 5)) * time.Second
	if ex := strings.TrimSuffix(p.Str("ds_db_extra_attrs", ""), ";"); ex != "" {
		for _, kv := range strings.Split(ex, ";") {
			n, col, _ := strings.Cut(kv, "=")
			if n = strings.TrimSpace(n); n == "" || strings.TrimSpace(col) == "" {
				return fmt.Errorf("dispatcher: ds_db_extra_attrs: %q: want name=column", kv)
			}
			c.extraNames, c.extraCols = append(c.extraNames, n), append(c.extraCols, strings.TrimSpace(col))
		}
	}
	for _, pv := range []struct{ name, v string }{{"setid_pvname", c.setidPV}, {"attrs_pvname", c.attrsPV}} {
		if pv.v == "" {
			continue
		}
		if x, err := router.ParsePV(pv.v); err != nil || !x.Writable() {
			return fmt.Errorf("dispatcher: %s: %q is not a writable variable", pv.name, pv.v)
		}
	}
	if c.hashPV != "" {
		if _, err := router.ParseFormat(c.hashPV); err != nil {
			return fmt.Errorf("dispatcher: hash_pvar: %w", err)
		}
	}
	if c.pingInterval > 0 {
		if m.tm, err = dispatch.Need[*tm.Module](p, "tm"); err != nil {
			return fmt.Errorf("dispatcher: ds_ping_interval: %w", err)
		}
	}
	m.loads = loads{m: m, on: c.hashSize > 0, calls: map[string]*loadCell{}, expire: c.hashExpire, initExp: c.hashInitExpire}
	m.pingActive.Store(true)
	return nil
}

// load reads the destinations from the table or the file.
func (m *Module) load() (*list, error) {
	var rows []row
	var err error
	if m.conf.dbURL != "" {
		rows, err = m.readTable()
	} else {
		rows, err = readFile(m.conf.listFile)
	}
	if err != nil {
		return nil, err
	}
	return m.build(rows, m.env != nil)
}

// Start reads the destinations, binds their sockets and starts the timers: probing
// every ds_ping_interval, the call load table's expiry.
func (m *Module) Start(env *router.Env) error {
	m.env = env
	c := &m.conf
	switch {
	case c.defaultSockname != "":
		if m.defaultSock = m.socketNamed(c.defaultSockname); m.defaultSock == nil {
			return fmt.Errorf("dispatcher: ds_default_sockname: non-local socket name <%s>", c.defaultSockname)
		}
	case c.defaultSocket != "":
		if m.defaultSock = env.Socket(c.defaultSocket); m.defaultSock == nil {
			return fmt.Errorf("dispatcher: ds_default_socket: non-local socket <%s>", c.defaultSocket)
		}
	}
	l, err := m.load()
	if err != nil {
		return err
	}
	m.list.Store(l)
	m.stop = make(chan struct{})
	if c.pingInterval > 0 {
		m.every(c.pingInterval, m.probeAll)
	}
	if m.loads.on {
		m.every(c.hashCheck, func() { m.loads.expireOld(time.Now()) })
	}
	return nil
}

// every runs f every d until Stop.
func (m *Module) every(d time.Duration, f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// Stop ends the timers.
func (m *Module) Stop() {
	if m.stop != nil {
		close(m.stop)
		m.wg.Wait()
	}
}

func (m *Module) socketNamed(name string) *transport.Listener {
	if m.env == nil || m.env.Transport == nil {
		return nil
	}
	for _, l := range m.env.Transport.Listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}

func (m *Module) log() *slog.Logger {
	if m.env != nil && m.env.Log != nil {
		return m.env.Log
	}
	return slog.Default()
}

func (m *Module) errorf(c *router.Ctx, msg string) {
	c.Log().Error("dispatcher: "+msg, "route", c.Route)
}

// Reload reads the list again; on an error the old one stays. Within
// reload_delta of the last reload it is refused, as in Kamailio.
func (m *Module) Reload() error {
	now := time.Now().Unix()
	if last := m.lastReload.Load(); last != 0 && last > now-int64(m.conf.reloadDelta/time.Second) {
		return fmt.Errorf("dispatcher: ongoing reload")
	}
	m.lastReload.Store(now)
	l, err := m.load()
	if err != nil {
		return err
	}
	m.list.Store(l)
	return nil
}

// Exports are KSR.dispatcher and the native functions.
func (m *Module) Exports() []dispatch.Export {
	const noLimit = 0xffff
	sel := func(mode int) func(*router.Ctx, int, int) int {
		return func(c *router.Ctx, set, alg int) int { return m.selectDst(c, set, alg, noLimit, mode) }
	}
	selLimit := func(mode int) func(*router.Ctx, int, int, int) int {
		return func(c *router.Ctx, set, alg, limit int) int { return m.selectDst(c, set, alg, limit, mode) }
	}
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "ds_select", Ret: I, Fn: dispatch.FII(sel(setXAVP))},
		{Name: "ds_select_limit", Native: "ds_select", Ret: I, Fn: dispatch.FIII(selLimit(setXAVP))},
		{Name: "ds_select_dst", Ret: I, Fn: dispatch.FII(sel(setDstURI))},
		{Name: "ds_select_dst_limit", Native: "ds_select_dst", Ret: I, Fn: dispatch.FIII(selLimit(setDstURI))},
		{Name: "ds_select_domain", Ret: I, Fn: dispatch.FII(sel(setRURI))},
		{Name: "ds_select_domain_limit", Native: "ds_select_domain", Ret: I, Fn: dispatch.FIII(selLimit(setRURI))},
		{Name: "ds_select_routes", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, rules, mode string) int { return m.selectRoutes(c, rules, mode, 0) })},
		{Name: "ds_select_routes_limit", Native: "ds_select_routes", Ret: I, Fn: dispatch.FSSI(m.selectRoutes)},
		{Name: "ds_next_dst", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.updateDst(c, true, setDstURI) })},
		{Name: "ds_next_domain", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.updateDst(c, true, setRURI) })},
		{Name: "ds_set_dst", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.updateDst(c, false, setDstURI) })},
		{Name: "ds_set_domain", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.updateDst(c, false, setRURI) })},
		{Name: "ds_mark_dst", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.markDst(c, m.markState()) })},
		{Name: "ds_mark_dst_state", Native: "ds_mark_dst", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, s string) int {
			if s == "" {
				return m.markDst(c, m.markState())
			}
			st, ok := parseStateFlags(s)
			if !ok {
				c.Log().Warn("dispatcher: failed to parse state flags: "+s, "route", c.Route)
				return -1
			}
			return m.markDst(c, st)
		})},
		{Name: "ds_is_from_lists", Native: "ds_is_from_list", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.isFromList(c, -1, "", matchNoProto) })},
		{Name: "ds_is_from_list", Ret: I, Fn: dispatch.FI(func(c *router.Ctx, set int) int { return m.isFromList(c, set, "", matchNoProto) })},
		{Name: "ds_is_from_list_mode", Native: "ds_is_from_list", Ret: I, Fn: dispatch.FII(func(c *router.Ctx, set, mode int) int { return m.isFromList(c, set, "", mode) })},
		{Name: "ds_is_from_list_uri", Native: "ds_is_from_list", Ret: I, Fn: dispatch.FIIS(func(c *router.Ctx, set, mode int, uri string) int {
			return m.isFromList(c, set, uri, mode)
		})},
		{Name: "ds_list_exists", Ret: I, Fn: dispatch.FI(m.listExists)},
		{Name: "ds_list_exist", NativeOnly: true, Ret: I, Fn: dispatch.FI(m.listExists)},
		{Name: "ds_is_active", Ret: I, Fn: dispatch.FI(func(c *router.Ctx, set int) int { return m.isActive(set, "") })},
		{Name: "ds_is_active_uri", Native: "ds_is_active", Ret: I, Fn: dispatch.FIS(func(c *router.Ctx, set int, uri string) int { return m.isActive(set, uri) })},
		// Kamailio's KEMI ds_load_update and ds_load_unset return 0 when
		// done (Value: a 0 that does not end the script), its native
		// functions 1.
		{Name: "ds_load_update", Ret: I, Value: true, Native: dispatch.NoNative, Fn: dispatch.F0(m.loadUpdate)},
		{Name: "ds_load_update", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return native(m.loadUpdate(c)) })},
		{Name: "ds_load_unset", Ret: I, Value: true, Native: dispatch.NoNative, Fn: dispatch.F0(m.loadUnset)},
		{Name: "ds_load_unset", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return native(m.loadUnset(c)) })},
		{Name: "ds_reload", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int {
			if err := m.Reload(); err != nil {
				m.errorf(c, err.Error())
				return -1
			}
			return 1
		})},
	}
}

// selectDst is ds_select*: a destination of set by alg, the rest for
// failover in the XAVPs, at most limit of them (0: no limit).
func (m *Module) selectDst(c *router.Ctx, set, alg, limit, mode int) int {
	sel := selection{limit: uint32(limit), mode: mode}
	if limit == 0 {
		sel.limit = 0xffffffff
	}
	rc := m.route(c, set, alg, &sel)
	if rc < 0 {
		return rc
	}
	m.writeXAVPs(c, &sel)
	return rc
}

// selectRoutes is ds_select_routes: rules "set=alg;set=alg...", each
// selected in turn into one list; the first that selects applies mode
// ("0"/"d": $du, "1"/"r": the request URI, "2"/"x": the XAVPs only).
func (m *Module) selectRoutes(c *router.Ctx, rules, umode string, limit int) int {
	sel := selection{limit: uint32(limit)}
	if limit == 0 {
		sel.limit = 0xffffffff
	}
	mode := -1
	if umode != "" {
		switch umode[0] {
		case '0', 'd', 'D':
			mode = setDstURI
		case '1', 'r', 'R':
			mode = setRURI
		case '2', 'x', 'X':
			mode = setXAVP
		}
	}
	if mode < 0 {
		m.errorf(c, "invalid routing mode parameter: "+umode)
		return -1
	}
	vret, gret := -1, -1
	for _, rule := range strings.Split(strings.TrimSuffix(rules, ";"), ";") {
		s, a, _ := strings.Cut(rule, "=")
		set, err1 := strconv.Atoi(s)
		alg, err2 := strconv.Atoi(a)
		if err1 != nil || err2 != nil && a != "" || set < 0 || alg < 0 {
			m.errorf(c, "invalid rule ["+rule+"] in ["+rules+"]")
			return -1
		}
		sel.mode = setXAVP
		if !sel.done {
			sel.mode = mode
		}
		if vret = m.route(c, set, alg, &sel); vret > 0 {
			gret = vret
		}
	}
	if gret < 0 {
		return vret
	}
	m.writeXAVPs(c, &sel)
	return gret
}

// writeXAVPs puts the selection's destinations in the XAVPs, the first
// selected as item 0, and its count in the context XAVP.
func (m *Module) writeXAVPs(c *router.Ctx, sel *selection) {
	name := m.conf.xavpDst
	if name != "" && len(sel.recs) > 0 {
		for i := len(sel.recs) - 1; i >= 0; i-- {
			r := sel.recs[i]
			d := r.d
			c.XAVPAdd(name, -1, "uri", router.StrValue(d.uri))
			c.XAVPAdd(name, 0, "grp", router.IntValue(int64(r.set.id)))
			if m.conf.xavpDstMode&1 == 0 && d.attrs.body != "" {
				c.XAVPAdd(name, 0, "attrs", router.StrValue(d.attrs.body))
			}
			if d.sock != nil {
				c.XAVPAdd(name, 0, "sock", router.StrValue(d.sock.String()))
				if m.conf.xavpDstMode&2 != 0 && d.attrs.socket != "" {
					c.XAVPAdd(name, 0, "socket", router.StrValue(d.attrs.socket))
				}
				if m.conf.xavpDstMode&4 != 0 && d.attrs.sockname != "" {
					c.XAVPAdd(name, 0, "sockname", router.StrValue(d.attrs.sockname))
				}
			}
			if r.alg == algCallLoad && d.attrs.duid != "" {
				c.XAVPAdd(name, 0, "dstid", router.StrValue(d.attrs.duid))
			}
		}
	}
	if m.conf.xavpCtxMode&1 == 0 && m.conf.xavpCtx != "" {
		c.XAVPAdd(m.conf.xavpCtx, -1, "cnt", router.IntValue(int64(len(sel.recs))))
	}
}

// updateDst is ds_next_dst / ds_set_dst (and _domain): the destination of
// the XAVPs' first item, after taking it off with next.
func (m *Module) updateDst(c *router.Ctx, next bool, mode int) int {
	name := m.conf.xavpDst
	if next && (m.conf.flags&flagFailover == 0 || name == "") {
		c.Log().Warn("dispatcher: failover support disabled", "route", c.Route)
		return -1
	}
	has := func() bool { return c.XAVPFields(name, 0, func(string, router.Value) {}) }
	for {
		if name == "" || !has() {
			return -1
		}
		if next {
			c.XAVPDel(name, 0, "")
			if !has() {
				return -1
			}
		}
		uri := c.XAVP(name, 0, "uri", 0)
		if uri.Kind != router.Str {
			c.Log().Warn("dispatcher: no xavp uri field in next destination record", "route", c.Route)
			return -1
		}
		var sock *transport.Listener
		if s := c.XAVP(name, 0, "sock", 0); s.Kind == router.Str {
			sock = c.Env().Socket(s.String())
		}
		if !m.pushURI(c, uri.String(), sock, mode) {
			return -1
		}
		id := c.XAVP(name, 0, "dstid", 0)
		if id.Kind != router.Str || !next {
			return 1
		}
		switch m.loads.replace(c, id.String()) {
		case 0:
			return 1
		case -2:
			continue // that destination is gone: the next one
		default:
			return -1
		}
	}
}

// markState is the state ds_mark_dst() sets: inactive, and probing with
// ds_probing_mode 1.
func (m *Module) markState() int {
	if m.conf.probingMode == probeAll {
		return stInactive | stProbing
	}
	return stInactive
}

// parseStateFlags reads ds_mark_dst's letters: a active, i inactive,
// d disabled, t trying, p probing.
func parseStateFlags(s string) (int, bool) {
	st := 0
	for _, ch := range strings.ToLower(s) {
		switch ch {
		case 'a':
			st &^= stAll
		case 'i':
			st |= stInactive
		case 'd':
			st |= stDisabled
		case 't':
			st |= stTrying
		case 'p':
			st |= stProbing
		default:
			return 0, false
		}
	}
	return st, true
}

// markDst sets the state of the destination in use (the XAVPs' first
// item).
func (m *Module) markDst(c *router.Ctx, state int) int {
	name := m.conf.xavpDst
	if m.conf.flags&flagFailover == 0 || name == "" {
		c.Log().Warn("dispatcher: failover support disabled", "route", c.Route)
		return -1
	}
	grp, uri := c.XAVP(name, 0, "grp", 0), c.XAVP(name, 0, "uri", 0)
	if grp.Kind != router.Int || uri.Kind != router.Str {
		return -1
	}
	rc := rctx{code: 820}
	if !c.Msg.IsRequest() {
		rc = rctx{flags: 1, code: c.Msg.StatusCode(), reason: string(c.Msg.Reason())}
	}
	if !m.updateState(c, int(grp.I), uri.String(), state, rc) {
		return -1
	}
	return 1
}

// listExists is ds_list_exists.
func (m *Module) listExists(_ *router.Ctx, set int) int {
	return dispatch.Result(m.list.Load().set(set) != nil)
}

// isActive is ds_is_active: set has a destination in use (uri "") or
// that destination is in use.
func (m *Module) isActive(id int, uri string) int {
	s := m.list.Load().set(id)
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if !skipped(d.flags) && (uri == "" || d.uri == uri) {
			return 1
		}
	}
	return -1
}

// native is a native wrapper's result of a KEMI one: -1 for an error,
// else 1.
func native(rc int) int {
	if rc < 0 {
		return -1
	}
	return 1
}

// loadUpdate is ds_load_update: 0 done, -1 without a Call-ID.
func (m *Module) loadUpdate(c *router.Ctx) int {
	if len(c.Msg.CallID()) == 0 {
		return -1
	}
	if m.loads.on {
		m.loads.update(c)
	}
	return 0
}

// loadUnset is ds_load_unset: the call's load off its destination (an
// INVITE only once its destinations were selected with call load): 0
// done or nothing to do, -1 when the call has no load.
func (m *Module) loadUnset(c *router.Ctx) int {
	if m.conf.xavpDst == "" {
		return 0
	}
	if c.Msg.IsRequest() && c.Msg.Method() == sip.MethodINVITE {
		if c.XAVP(m.conf.xavpDst, 0, "dstid", 0).Kind != router.Str {
			return 0
		}
	}
	if !m.loads.on || !m.loads.remove(c) {
		return -1
	}
	return 0
}
