package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/core/transport"
)

// Env is what every worker shares: the engine, the sockets, the myself
// set, the counters and the settings of the config.
type Env struct {
	Engine    Engine
	Transport *transport.Server
	Myself    *transport.Myself
	Log       *slog.Logger
	Stats     Stats
	Defines   map[string]string // #!define names, for KSR.kx.get_def
	Limits    sip.Limits
	// UDPMTU (udp_mtu) is the largest request sent over UDP when
	// MTUTryProto (udp_mtu_try_proto), or the request's own
	// (udp_mtu_try_proto()), says where a larger one goes instead; 0 off.
	UDPMTU      int
	MTUTryProto sip.Transport

	// Level is the log level debug= set; cfg.set core debug changes it.
	Level *slog.LevelVar
	// LatencyCfg holds the latency_* core parameters.
	LatencyCfg LatencyCfg
	// RPC runs the RPC commands (the export table's), for jsonrpcs.
	RPC RPCHandler
	// Modules finds the proxy's value of a loaded module, for what a
	// module registered process-wide (a pseudo-variable class) and must
	// reach its own proxy's state from; nil in tests without modules.
	Modules ModuleFinder

	// ReplyHook, set by tm, sees every reply after reply_route.
	ReplyHook ReplyHook
	// PreRequest are what modules run on each request received before
	// request_route (Kamailio's pre-script callbacks); appended while the
	// modules start.
	PreRequest []func(c *Ctx)
	// WorkerInit are what modules run on each new worker before it takes
	// a message (Kamailio's child_init: pv's varset); appended while the
	// modules start.
	WorkerInit []func(w *Worker)
	// NetIn, when set, sees every message received (p.Buf) before it is
	// parsed (Kamailio's SREV_NET_DATA_IN: topoh unmasks there) and
	// returns the bytes to process instead, appended to scratch (the
	// worker's, kept until its next message), or nil to leave p.Buf as it
	// is. Set with HookWire while the modules start.
	NetIn func(p *transport.Packet, scratch []byte) []byte
	// netOwner is the module that set NetIn and the transport's Out.
	netOwner string
	// LogPrefix is log_prefix: what the lines logged about a message
	// start with, formatted for it; nil for none.
	LogPrefix *Format
	// ServerHeader is the header line (with its CRLF) the replies the
	// proxy makes carry: server_header, or "" with server_signature=no.
	ServerHeader string
	// ServerID is the server_id core parameter; XAVPViaParams names the
	// XAVP whose fields via_add_xavp_params adds to the Via, XAVPViaFields
	// the one whose address and port via_use_xavp_fields writes in it.
	ServerID                     int
	XAVPViaParams, XAVPViaFields string
	// HTTP, set by xhttp, takes the HTTP requests received on the SIP
	// TCP and TLS sockets; without it they are dropped as malformed.
	HTTP func(c *Ctx)

	// RouteTimer, when set, is told each main route's execution time
	// with the context it ran on (kemibench classifies the runs with it).
	// It is called by the worker that ran the route.
	RouteTimer func(c *Ctx, k RouteKind, d time.Duration)

	mu        sync.Mutex
	workers   []*Worker
	dns       dnsCache
	stats     *stats.Registry
	statsOnce sync.Once
}

// HookWire makes in and out the hooks of the messages received and sent
// (Env.NetIn, transport.Server.Out) for module; a second module is refused
// with an error naming both: kemi runs one rewriter of the wire.
func (e *Env) HookWire(module string, in func(p *transport.Packet, scratch []byte) []byte, out transport.OutHook) error {
	if e.netOwner != "" {
		return fmt.Errorf("%s: %s already rewrites the messages on the wire: load one of them", module, e.netOwner)
	}
	e.netOwner, e.NetIn = module, in
	if e.Transport != nil {
		e.Transport.Out = out
	}
	return nil
}

// ModuleFinder finds a loaded module's value by its loadmodule name, nil
// when the proxy does not load it.
type ModuleFinder interface {
	FindModule(name string) any
}

// Module is the proxy's value of a loaded module, nil when there is none.
func (e *Env) Module(name string) any {
	if e.Modules == nil {
		return nil
	}
	return e.Modules.FindModule(name)
}

// RPCHandler runs RPC commands by name.
type RPCHandler interface {
	CallRPC(name string, params ...any) (any, error)
}

// Statistics is the proxy's statistics registry; the router's own
// counters are in it under "core".
func (e *Env) Statistics() *stats.Registry {
	e.statsOnce.Do(func() {
		r := stats.New()
		s := &e.Stats
		r.Uint("core", "rcv_requests", "requests received", &s.Requests)
		r.Uint("core", "rcv_replies", "replies received", &s.Replies)
		r.Uint("core", "bad_msg_hdr", "messages that failed to parse", &s.Malformed)
		r.Uint("core", "bad_msg_replied", "malformed requests answered with 400", &s.BadReplied)
		r.Uint("core", "drop_requests", "messages the script dropped", &s.Dropped)
		r.Uint("core", "script_errors", "route runs that ended in a script error", &s.ScriptErrors)
		r.Uint("core", "panics", "panics recovered on the request path", &s.Panics)
		if t := e.Transport; t != nil {
			g := &t.Guard.Stats
			r.Uint("core", "banned_drops", "messages from banned sources, dropped unparsed", &g.Dropped)
			r.Uint("core", "bans", "sources banned (bad input, or a module such as pike)", &g.Bans)
			r.Uint("core", "bad_msg_log_suppressed", "bad-input log lines left out by the rate limit", &g.Suppressed)
			r.Func("core", "banned_sources", "sources with a ban in force", stats.Gauge, func() int64 { return t.Guard.BannedSources() })
			r.Uint("core", "tcp_refused", "TCP connections closed at accept (limit or ban)", &t.Stats.TCPRefused)
			r.Uint("core", "tcp_idle_closed", "TCP streams closed after tcp_connection_lifetime idle", &t.Stats.TCPIdle)
			r.Uint("core", "tcp_wq_full", "messages refused by a full TCP write queue (tcp_conn_wq_max, tcp_wq_max)", &t.Stats.TCPQueueFull)
			r.Uint("core", "tcp_send_timeout", "TCP streams closed: the peer took nothing for tcp_send_timeout", &t.Stats.TCPSendTimeout)
			r.Uint("core", "tls_handshake_failed", "TLS connections whose handshake failed", &t.Stats.TLSHandshake)
			r.Uint("core", "overload_readings", "looks at a UDP socket's backlog that found it over overload_backlog", &t.Stats.Overloaded)
		}
		e.stats = r
	})
	return e.stats
}

// Stats are the router's counters, read by RPC and kemibench.
type Stats struct {
	Requests     atomic.Uint64 // requests received and parsed
	Replies      atomic.Uint64 // replies received and parsed
	Malformed    atomic.Uint64 // messages that failed to parse
	BadReplied   atomic.Uint64 // malformed requests answered with 400
	ScriptErrors atomic.Uint64 // route runs that ended in a script error
	Panics       atomic.Uint64 // panics recovered on the request path
	Dropped      atomic.Uint64 // messages the script dropped
}

var _ transport.Handler = (*Worker)(nil)

// Worker owns a message, a context and an interpreter state. It is the
// transport.Handler of one worker goroutine.
type Worker struct {
	env    *Env
	Rank   int
	runner Runner
	msg    sip.Msg
	ctx    Ctx
	fmsg   sip.Msg // the request of a transaction, for routes run on it
	fctx   Ctx

	prefixBuf []byte // log_prefix formatted for the latency line (Ctx.logLine)

	hasOnSend bool     // the script defines onsend_route: asked once, not per message
	netIn     []byte   // the message Env.NetIn rewrote
	hasReply  bool     // and reply_route
	reload    Reloader // the engine, when its script can be reloaded
	gen       uint64   // the script generation runner was built from

	// Latency of the main routes, per kind (request_route, reply_route).
	Latency [numRouteKinds]Latency

	vars    map[string]*varSlot // $var(x): per worker, kept across messages
	varSeq  []string            // the $var names, the first set first
	out     []byte
	hdrBuf  []byte
	viaBuf  []byte
	Scratch []byte // a buffer modules may use during one call
	pvs     parseCache[*PV]
	fmts    parseCache[*Format]
	tbufs   [][]byte // scratch buffers of transformations
	avpBuf  []byte   // RecarryAVPs' comparison

	SFlags uint64 // script flags (setsflag): per worker, as per process in Kamailio
	// viaMark is PushViaMTU's saved edits, kept here rather than made per
	// request
	viaMark sip.EditMark
	// SBranch is pv's static branch ($sbranch, KSR.pvx.sbranch_*): per
	// worker, as per process in Kamailio.
	SBranch Branch

	// log is the worker's logger when kex's setdebug gave it a level of
	// its own (as a Kamailio process's); nil: the proxy's.
	log *slog.Logger
}

// Runner is the worker's script runner, for the app_* modules (Caller).
func (w *Worker) Runner() Runner { return w.runner }

// SetDebug gives the worker a log level of its own, in Kamailio's debug
// numbers (-5 alert ... 3 debug), the global level's filter aside; reset
// returns it to the proxy's (kex's setdebug, resetdebug).
func (w *Worker) SetDebug(d int, reset bool) {
	w.ctx.log, w.fctx.log = nil, nil
	if reset {
		w.log = nil
		return
	}
	w.log = slog.New(levelHandler{w.env.Log.Handler(), LevelFromDebug(d)})
}

// levelHandler logs what is at or above its level through h, whatever
// h's own level.
type levelHandler struct {
	h     slog.Handler
	level slog.Level
}

func (l levelHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.level }
func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return l.h.Handle(ctx, r)
}
func (l levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{l.h.WithAttrs(a), l.level}
}
func (l levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{l.h.WithGroup(n), l.level}
}

type varSlot struct {
	val Value
	buf []byte
}

// NewWorker makes a worker with its own interpreter state.
func (e *Env) NewWorker(rank int) (*Worker, error) {
	w := &Worker{env: e, Rank: rank, vars: map[string]*varSlot{}, out: make([]byte, 0, 4096)}
	w.msg.Limits = e.Limits
	w.ctx.W, w.fctx.W = w, w
	for _, f := range e.WorkerInit {
		f(w)
	}
	if e.Engine != nil {
		w.reload, _ = e.Engine.(Reloader)
		if w.reload != nil {
			w.gen = w.reload.Generation() // before the state: a reload in between is seen at the first message
		}
		r, err := e.Engine.NewRunner(rank)
		if err != nil {
			return nil, err
		}
		w.setRunner(r)
	}
	e.mu.Lock()
	e.workers = append(e.workers, w)
	e.mu.Unlock()
	return w, nil
}

// Workers lists the workers made so far.
func (e *Env) Workers() []*Worker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Worker(nil), e.workers...)
}

// LatencyTotal merges every worker's latency of one route kind.
func (e *Env) LatencyTotal(k RouteKind) LatencySnapshot {
	var s LatencySnapshot
	for _, w := range e.Workers() {
		s.Merge(w.Latency[k].Snapshot())
	}
	return s
}

// ResetLatency zeroes every worker's route latencies (a run that is being
// read may see a mix of before and after).
func (e *Env) ResetLatency() {
	for _, w := range e.Workers() {
		for k := range w.Latency {
			w.Latency[k].Reset()
		}
	}
}

// Var returns $var(name); 0 when it was never set, as Kamailio declares
// every $var with 0.
func (w *Worker) Var(name string) Value {
	if s := w.vars[name]; s != nil {
		return s.val
	}
	return IntValue(0) // as Kamailio's: a $var starts as 0
}

// HasVar reports whether $var(name) was set in this worker.
func (w *Worker) HasVar(name string) bool { return w.vars[name] != nil }

// SetVar sets $var(name); Null sets it to 0 as Kamailio does.
func (w *Worker) SetVar(name string, v Value) {
	s := w.vars[name]
	if s == nil {
		s = &varSlot{}
		w.vars[name] = s
		w.varSeq = append(w.varSeq, name)
	}
	if v.Kind == Null {
		v = IntValue(0)
	}
	s.val = ownValue(v, &s.buf)
}

// Env is what the worker shares with the others.
func (w *Worker) Env() *Env { return w.env }

// Ctx is the worker's context, for tests and benchmarks that run routes
// without a socket.
func (w *Worker) Ctx() *Ctx { return &w.ctx }

// Handle parses a packet and runs the routes for it.
func (w *Worker) Handle(p *transport.Packet) {
	defer w.recoverPanic(p)
	w.Sync()
	e := w.env
	m := &w.msg
	if e.NetIn != nil {
		if b := e.NetIn(p, w.netIn[:0]); b != nil {
			w.netIn, p.Buf = b, b
		}
	}
	if err := m.Parse(p.Buf); err != nil {
		e.Stats.Malformed.Add(1)
		w.rejectMalformed(p, err)
		return
	}
	c := &w.ctx
	if m.IsHTTP() {
		if e.HTTP == nil || p.Proto == sip.TransportUDP {
			e.Stats.Malformed.Add(1)
			w.rejectMalformed(p, errNoHTTP)
			return
		}
		c.reset(m, p)
		defer c.Finish()
		c.Kind = RouteEvent
		e.HTTP(c)
		return
	}
	c.reset(m, p)
	defer c.Finish()
	if m.IsRequest() {
		e.Stats.Requests.Add(1)
		for _, f := range e.PreRequest {
			f(c)
		}
		w.runMain(c, RouteRequest)
	} else {
		e.Stats.Replies.Add(1)
		c.Kind = RouteReply
		if w.hasReply {
			w.runMain(c, RouteReply)
		}
		if !c.Drop && e.Transport != nil {
			if e.ReplyHook == nil || !e.ReplyHook(c) {
				w.forwardReply(c)
			}
		}
	}
	if c.Drop {
		e.Stats.Dropped.Add(1)
	}
}

var errNoHTTP = errors.New("an HTTP request: served on TCP and TLS when the xhttp module is loaded")

// RunRequest runs request_route on an already parsed message, the way
// Handle does; for benchmarks and tests.
func (w *Worker) RunRequest(p *transport.Packet, m *sip.Msg) (int, error) {
	w.Sync()
	c := &w.ctx
	c.reset(m, p)
	defer c.Finish()
	return w.runMain(c, RouteRequest)
}

// Begin makes m, received as p, the worker's current message without
// running a route, for calls made on it from outside a script (the module
// test kit); what the previous message left for its end is done first.
func (w *Worker) Begin(p *transport.Packet, m *sip.Msg) *Ctx {
	c := &w.ctx
	c.Finish()
	w.Sync()
	c.reset(m, p)
	return c
}

// latencyNames are the routes in latency_cfg_log lines, as Kamailio
// names them there.
var latencyNames = [RouteNamed]string{RouteRequest: "request-route", RouteReply: "reply-route"}

func (w *Worker) runMain(c *Ctx, k RouteKind) (int, error) {
	if w.runner == nil {
		return 1, nil
	}
	c.Route = k.String()
	start := time.Now()
	rc, err := w.runner.Run(c, k, "")
	d := time.Since(start)
	e := w.env
	if e.RouteTimer != nil {
		e.RouteTimer(c, k, d) // first: once Latency counts the run, the timer has seen it
	}
	w.Latency[k].Record(d)
	if lvl, on := e.LatencyCfg.CfgLogLevel(); on && e.Log.Enabled(context.Background(), lvl) {
		// Kamailio's line, which operators' log tooling greps.
		name := latencyNames[k]
		if name == "" {
			name = k.String()
		}
		c.logLine(lvl, name+" executed in: "+strconv.FormatInt(d.Microseconds(), 10)+" usec")
	}
	if err != nil {
		e.Stats.ScriptErrors.Add(1)
		e.Log.Error("script error", "route", c.Route, "err", err.Error())
		c.Drop = true
	}
	return rc, err
}

// rejectMalformed counts a message that failed to parse against its
// source (the transport's guard: enough of them ban it), logs it when the
// guard says so (the error names what failed, never the message's bytes)
// and answers 400 when it is a request with enough headers to be answered.
func (w *Worker) rejectMalformed(p *transport.Packet, err error) {
	e := w.env
	v := transport.BadVerdict{Log: true} // no transport (tests): every one logged
	msg := "malformed message"
	if e.Transport != nil {
		if v = e.Transport.Guard.Bad(p.Src.Addr()); v.Banned {
			msg = "malformed message; source banned for " + e.Transport.Guard.Config().BanTime.String()
		}
	}
	if v.Log {
		e.Log.Warn(msg, "src", p.Src.String(), "proto", p.Proto.String(), "err", err.Error(), "suppressed", v.Suppressed)
	}
	if v.Banned {
		return // its next message is dropped unparsed: no answer to this one
	}
	m := &w.msg
	if !m.IsRequest() || !m.CanReply() || m.Method() == sip.MethodACK {
		return
	}
	code, reason := 400, "Bad Request"
	if pe, ok := errors.AsType[*sip.ParseError](err); ok {
		switch pe.Kind {
		case sip.ErrTooLarge:
			code, reason = 513, "Message Too Large"
		case sip.ErrVersion:
			code, reason = 505, "Version Not Supported" // RFC 3261 8.2.2, RFC 4475 3.1.2.16
		}
	}
	c := &w.ctx
	c.reset(m, p)
	if c.Reply(code, reason, nil, nil, nil) == nil {
		e.Stats.BadReplied.Add(1)
	}
}

// LogPanic counts a panic recovered on the request path and logs it with
// the stack of the goroutine that recovered it (called from the deferred
// recover, the stack still holds the panic's frames).
func (e *Env) LogPanic(r any, attrs ...any) {
	e.Stats.Panics.Add(1)
	e.Log.Error("panic on the request path, message dropped",
		append(attrs, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))...)
}

func (w *Worker) recoverPanic(p *transport.Packet) {
	r := recover()
	if r == nil {
		return
	}
	w.env.LogPanic(r, "src", p.Src.String())
	w.msg.ResetEdits()
	if w.runner != nil {
		// The panic may have left the interpreter half-way through a call:
		// the next message gets a fresh state.
		w.rebuild(w.gen, "panic")
	}
}

// RunRoute runs a named route (route[NAME] / a script function) from
// inside another route, as KSR.route and the native route(NAME) do.
func (c *Ctx) RunRoute(kind RouteKind, name string) (int, error) {
	r := c.W.runner
	if r == nil || !r.Has(kind, name) {
		return -1, errors.New("route " + strconv.Quote(name) + " not found")
	}
	return r.Run(c, kind, name)
}

// EachVar calls f with every $var of the worker, in name order.
func (w *Worker) EachVar(f func(name string, v Value)) {
	names := slices.Clone(w.varSeq)
	slices.Sort(names)
	for _, n := range names {
		f(n, w.vars[n].val)
	}
}

// EachVarInOrder calls f with every $var of the worker, the first set
// first (the order Kamailio declares them in).
func (w *Worker) EachVarInOrder(f func(name string, v Value)) {
	for _, n := range w.varSeq {
		f(n, w.vars[n].val)
	}
}
