// Package tm relays requests statefully, like Kamailio's tm module: server
// and client transactions (RFC 3261 §17) matched by Via branch,
// retransmissions over UDP absorbed on the way in and made on the way out,
// fr_timer/fr_inv_timer, parallel forking, CANCEL, and the routes that run
// in a transaction's context (branch_route, onreply_route, failure_route,
// branch failure).
package tm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// config holds the module parameters; set at Init, read-only after.
type config struct {
	t1, t2, fr, frInv, wt time.Duration
	failureReplyMode      int
	auto100               bool
	lifeInv, lifeNonInv   time.Duration // max_inv_lifetime, max_noninv_lifetime
	e2eReason             bool          // e2e_cancel_reason: a CANCEL's Reason goes on
	auto100Reason         string
	// kemi's overload limits: max_transactions (0: none; 50 000 unless set) and
	// overload_retry_after (seconds; 0: new INVITEs are not refused when
	// the socket's backlog says the workers are behind).
	maxTrans    int64
	retryAfter  int
	retryHeader []byte // "Retry-After: N\r\n"
}

// Tables: server transactions by request key, every transaction by id.
const shards = 64

type shard struct {
	mu sync.Mutex
	m  map[uint64]*Trans
}

// Module is the tm module of one proxy: its parameters, its transactions
// and the workers its timers run routes on.
type Module struct {
	conf config
	// fr_timer and fr_inv_timer as they are now: cfg.set tm fr_timer
	// changes them for the transactions made afterwards.
	frNow, frInvNow atomic.Int64

	// The proxy tm runs in, and the workers its timers run routes on (a
	// failure_route after fr_timer): set by Start.
	env  *router.Env
	pool chan *router.Worker

	byKey, byID [shards]shard
	nextID      atomic.Uint64
	// salt makes this proxy's branches its own: a reply to a request a
	// previous run relayed does not match a new transaction.
	salt        [8]byte
	finalHookFn atomic.Pointer[func(*Final)]
	// replyHooks run on every reply received for a transaction: set while
	// the modules initialise, read only after.
	replyHooks []ReplyHook
	// replyXAVPs: a reply hook works on the transaction's XAVPs
	// (OnReplyInXAVPs), so each reply lends them to its context
	replyXAVPs bool
	finalHooks []func(*Final)
	relayHooks []func(*router.Ctx)
	sendHooks  []func(*Sent)
	// branchHooks run for each branch: before its branch_route (when
	// one runs) and before the request of the branch is built;
	// replyOutHooks before a reply goes upstream.
	branchRouteHooks, branchOutHooks []func(c *router.Ctx, idx int)
	replyOutHooks                    []func(c *router.Ctx)
	// sendErrors logs the failed sends (a peer gone, a full stream) once a
	// second with their count: a dead peer must not write a line per
	// message.
	sendErrors db.Complainer

	// Stats are the module's counters.
	Stats struct {
		Active    atomic.Int64  // transactions in memory
		Created   atomic.Uint64 // transactions made
		Relayed   atomic.Uint64 // requests sent on a branch
		Replies   atomic.Uint64 // replies sent upstream (forwarded and local)
		Local     atomic.Uint64 // of those, made here
		Timeouts  atomic.Uint64 // branches that got no final reply in fr_timer
		Retrans   atomic.Uint64 // retransmissions sent
		Absorbed  atomic.Uint64 // request retransmissions absorbed
		Cancelled atomic.Uint64 // CANCEL requests handled
		Refused   atomic.Uint64 // new requests answered 503: max_transactions or overload
		OverDrops atomic.Uint64 // retransmissions dropped unanswered while overloaded
	}
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
	_ dispatch.CfgProvider   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// New makes a tm module with Kamailio's defaults.
func New() *Module {
	tm := &Module{sendErrors: db.Complainer{Every: time.Second}, conf: config{t1: 500 * time.Millisecond, t2: 4 * time.Second, fr: 30 * time.Second,
		frInv: 120 * time.Second, wt: 5 * time.Second, failureReplyMode: 3, auto100: true,
		lifeInv: 180 * time.Second, lifeNonInv: 32 * time.Second, e2eReason: true}}
	var b [4]byte
	rand.Read(b[:])
	hex.Encode(tm.salt[:], b[:])
	for i := range tm.byKey {
		tm.byKey[i].m = map[uint64]*Trans{}
		tm.byID[i].m = map[uint64]*Trans{}
	}
	return tm
}

// timerWorkers is how many workers run the routes timers trigger.
const timerWorkers = 2

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "tm",
		Params: []dispatch.Param{
			{Name: "fr_timer", Kind: dispatch.Int, Default: "30000"},
			{Name: "fr_inv_timer", Kind: dispatch.Int, Default: "120000"},
			{Name: "wt_timer", Kind: dispatch.Int, Default: "5000"},
			{Name: "retr_timer1", Kind: dispatch.Int, Default: "500"},
			{Name: "retr_timer2", Kind: dispatch.Int, Default: "4000"},
			{Name: "failure_reply_mode", Kind: dispatch.Int, Default: "3"},
			{Name: "auto_inv_100", Kind: dispatch.Int, Default: "1", Doc: "t_relay of an INVITE sends 100 first"},
			{Name: "auto_inv_100_reason", Kind: dispatch.Str, Default: "trying -- your call is important to us"},
			{Name: "max_inv_lifetime", Kind: dispatch.Int, Default: "180000 (ms an INVITE transaction lives at most)"},
			{Name: "max_noninv_lifetime", Kind: dispatch.Int, Default: "32000"},
			{Name: "e2e_cancel_reason", Kind: dispatch.Int, Default: "1 (a CANCEL's Reason headers go on to the branches)"},
			{Name: "max_transactions", Kind: dispatch.Int, Default: "50000 (pending transactions; a new request past it is answered 503; 0: no limit)"},
			{Name: "overload_retry_after", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return New() },
	})
}

// Exports are KSR.tm.
func (tm *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "t_relay", Ret: dispatch.Int, Fn: dispatch.F0(tm.relay)},
		{Name: "t_relay_to_proxy", Ret: dispatch.Int, Fn: dispatch.FS(tm.relayToProxy)},
		{Name: "t_relay_to_proto_addr", Ret: dispatch.Int, Fn: dispatch.FSSI(tm.relayToProtoAddr)},
		{Name: "t_newtran", Ret: dispatch.Int, Fn: dispatch.F0(tm.newtran)},
		{Name: "t_check_trans", Ret: dispatch.Int, Fn: dispatch.F0(tm.checkTrans)},
		{Name: "t_lookup_request", Ret: dispatch.Int, Fn: dispatch.F0(tm.lookupRequest)},
		{Name: "t_lookup_cancel", Ret: dispatch.Int, Fn: dispatch.F0(tm.lookupCancel)},
		{Name: "t_reply", Ret: dispatch.Int, Fn: dispatch.FIS(tm.tReply)},
		{Name: "t_send_reply", Ret: dispatch.Int, Fn: dispatch.FIS(tm.tReply)},
		{Name: "t_on_reply", Ret: dispatch.Int, Fn: dispatch.FS(onReplyRoute)},
		{Name: "t_on_failure", Ret: dispatch.Int, Fn: dispatch.FS(onFailureRoute)},
		{Name: "t_on_branch", Ret: dispatch.Int, Fn: dispatch.FS(onBranchRoute)},
		{Name: "t_on_branch_failure", Ret: dispatch.Int, Fn: dispatch.FS(onBranchFailureRoute)},
		{Name: "t_is_set", Ret: dispatch.Int, Fn: dispatch.FS(isSet)},
		{Name: "t_get_branch_index", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(branchIndex)},
		{Name: "t_is_canceled", Ret: dispatch.Int, Fn: dispatch.F0(tm.isCanceled)},
		{Name: "t_any_timeout", Ret: dispatch.Int, Fn: dispatch.F0(anyTimeout)},
		{Name: "t_any_replied", Ret: dispatch.Int, Fn: dispatch.F0(anyReplied)},
		{Name: "t_branch_timeout", Ret: dispatch.Int, Fn: dispatch.F0(branchTimeout)},
		{Name: "t_branch_replied", Ret: dispatch.Int, Fn: dispatch.F0(branchReplied)},
		{Name: "t_get_status_code", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(statusCode)},
		{Name: "t_check_status", Ret: dispatch.Int, Fn: dispatch.FS(checkStatus)},
		{Name: "t_load_contacts", Ret: dispatch.Int, Fn: dispatch.F0(tm.loadContacts)},
		{Name: "t_next_contacts", Ret: dispatch.Int, Fn: dispatch.F0(tm.nextContacts)},
		{Name: "t_release", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return 1 })},
	}, slices.Concat(tm.settingsExports(), tm.moreExports(), tm.uacExports())...)
}

// Init reads the parameters.
func (tm *Module) Init(p *dispatch.Params) error {
	ms := func(name string, d *time.Duration) error {
		if !p.IsSet(name) {
			return nil
		}
		v := p.Int(name, 0)
		if v <= 0 {
			return errors.New(name + " must be more than 0 ms")
		}
		*d = time.Duration(v) * time.Millisecond
		return nil
	}
	for name, d := range map[string]*time.Duration{"fr_timer": &tm.conf.fr, "fr_inv_timer": &tm.conf.frInv,
		"wt_timer": &tm.conf.wt, "retr_timer1": &tm.conf.t1, "retr_timer2": &tm.conf.t2,
		"max_inv_lifetime": &tm.conf.lifeInv, "max_noninv_lifetime": &tm.conf.lifeNonInv} {
		if err := ms(name, d); err != nil {
			return err
		}
	}
	tm.frNow.Store(int64(tm.conf.fr))
	tm.frInvNow.Store(int64(tm.conf.frInv))
	tm.conf.failureReplyMode = p.Int("failure_reply_mode", 3)
	if tm.conf.failureReplyMode < 0 || tm.conf.failureReplyMode > 3 {
		return errors.New("failure_reply_mode must be 0 to 3")
	}
	tm.conf.auto100 = p.Int("auto_inv_100", 1) != 0
	tm.conf.e2eReason = p.Int("e2e_cancel_reason", 1) != 0
	tm.conf.auto100Reason = p.Str("auto_inv_100_reason", "trying -- your call is important to us")
	// A flood of unanswered INVITEs must not grow memory without bound:
	// about 3.3 KB each, 50 000 take some 165 MB (Kamailio's bound is its
	// shared memory, 64 MB by default, answered 500 when it runs out).
	tm.conf.maxTrans = int64(p.Int("max_transactions", 50000))
	tm.conf.retryAfter = p.Int("overload_retry_after", 0)
	if tm.conf.maxTrans < 0 || tm.conf.retryAfter < 0 {
		return errors.New("max_transactions and overload_retry_after must not be negative")
	}
	tm.conf.retryHeader = fmt.Appendf(nil, "Retry-After: %d\r\n", max(tm.conf.retryAfter, 5))
	return nil
}

// Start makes the timers' workers and takes the proxy's replies.
func (tm *Module) Start(e *router.Env) error {
	p := make(chan *router.Worker, timerWorkers)
	for i := range timerWorkers {
		w, err := e.NewWorker(-1 - i) // Kamailio's timer processes have negative ranks
		if err != nil {
			return err
		}
		p <- w
	}
	tm.env, tm.pool = e, p
	e.ReplyHook = tm.onReply
	return nil
}

// Stop drops every transaction, its timers stopped.
func (tm *Module) Stop() {
	for i := range tm.byID {
		s := &tm.byID[i]
		s.mu.Lock()
		ts := make([]*Trans, 0, len(s.m))
		for _, t := range s.m {
			ts = append(ts, t)
		}
		s.mu.Unlock()
		for _, t := range ts {
			t.mu.Lock()
			t.remove()
			t.mu.Unlock()
		}
	}
}

// checkTrans is t_check_trans: for a CANCEL, 1 when its INVITE has a
// transaction; for an ACK, 0 (absorbed) when it acknowledges our non-2xx
// reply, 1 when it belongs to an INVITE transaction answered with a 2xx;
// for anything else, 0 when it is a retransmission (its last reply is sent
// again); -1 when nothing matches.
func (tm *Module) checkTrans(c *router.Ctx) int {
	m := c.Msg
	if !m.IsRequest() {
		return -1
	}
	if current(c) != nil {
		return 1
	}
	switch m.Method() {
	case sip.MethodCANCEL:
		if tm.find(c, sip.MethodINVITE) != nil {
			return 1
		}
		return -1
	case sip.MethodACK:
		t := tm.find(c, sip.MethodOther)
		if t == nil {
			return -1
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.final && t.status >= 300 {
			t.retransmission(c)
			return 0
		}
		return 1
	}
	t := tm.find(c, sip.MethodOther)
	if t == nil {
		return -1
	}
	t.mu.Lock()
	t.retransmission(c)
	t.mu.Unlock()
	return 0
}

// Exists reports whether c's request has a transaction (tmx's
// t_precheck_trans asks).
func (tm *Module) Exists(c *router.Ctx) bool { return tm.find(c, sip.MethodOther) != nil }

func (tm *Module) lookupRequest(c *router.Ctx) int {
	if current(c) != nil || tm.find(c, sip.MethodOther) != nil {
		return 1
	}
	return -1
}

func (tm *Module) lookupCancel(c *router.Ctx) int {
	if c.Msg.Method() == sip.MethodCANCEL && tm.find(c, sip.MethodINVITE) != nil {
		return 1
	}
	return -1
}

// tReply is t_reply: a reply sent through the transaction, made first if
// the request has none.
func (tm *Module) tReply(c *router.Ctx, code int, reason string) int {
	if code < 100 || code > 699 {
		c.Log().Error("tm: t_reply: invalid code", "code", code, "route", c.Route)
		return -1
	}
	if current(c) == nil {
		if rc := tm.newtran(c); rc <= 0 {
			return rc
		}
	}
	if err := current(c).Reply(c, code, reason, nil, nil); err != nil {
		c.Log().Error("tm: t_reply: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}

// relayToProxy relays to a proxy given as a SIP URI or [proto:]host[:port].
func (tm *Module) relayToProxy(c *router.Ctx, proxy string) int {
	uri := proxy
	if !strings.HasPrefix(proxy, "sip:") && !strings.HasPrefix(proxy, "sips:") {
		proto, hostport, ok := strings.Cut(proxy, ":")
		if !ok || sip.ParseTransport([]byte(proto)) == sip.TransportOther {
			proto, hostport = "udp", proxy
		}
		uri = "sip:" + hostport + ";transport=" + strings.ToLower(proto)
	}
	if err := c.SetDstURI([]byte(uri)); err != nil {
		c.Log().Error("tm: t_relay_to_proxy: bad proxy "+strconv.Quote(proxy), "route", c.Route)
		return -1
	}
	return tm.relay(c)
}

func (tm *Module) relayToProtoAddr(c *router.Ctx, proto, addr string, port int) int {
	ip, err := netip.ParseAddr(addr)
	host := addr
	if err == nil && ip.Is6() {
		host = "[" + addr + "]"
	}
	return tm.relayToProxy(c, proto+":"+host+":"+strconv.Itoa(port))
}

// The t_on_* functions name the route to run; the name must exist, so that
// a misspelling is an error where it is made, not a silent stall.
func onRoute(c *router.Ctx, kind router.RouteKind, name string, slot *string, what string) int {
	if name != "" && !c.HasRoute(kind, name) {
		c.Log().Error("tm: "+what+": no route "+strconv.Quote(name), "route", c.Route)
		return -1
	}
	*slot = name
	if t := current(c); t != nil {
		switch what {
		case "t_on_reply":
			t.onReply = name
		case "t_on_branch":
			t.onBranch = name
		case "t_on_branch_failure":
			t.onBranchFailure = name
		}
	}
	return 1
}

func onReplyRoute(c *router.Ctx, name string) int {
	return onRoute(c, router.RouteOnReply, name, &state(c).onReply, "t_on_reply")
}

func onFailureRoute(c *router.Ctx, name string) int {
	rc := onRoute(c, router.RouteFailure, name, &state(c).onFailure, "t_on_failure")
	if t := current(c); t != nil && rc > 0 && c.Kind != router.RouteFailure {
		t.onFailure = name
	}
	return rc
}

func onBranchRoute(c *router.Ctx, name string) int {
	return onRoute(c, router.RouteBranch, name, &state(c).onBranch, "t_on_branch")
}

// branchFailurePrefix names the native route of t_on_branch_failure("x"):
// event_route[tm:branch-failure:x]; script engines call the function x.
const branchFailurePrefix = "tm:branch-failure:"

func branchFailureKind(name string) router.RouteKind {
	if strings.HasPrefix(name, branchFailurePrefix) {
		return router.RouteEvent
	}
	return router.RouteFailure
}

func onBranchFailureRoute(c *router.Ctx, name string) int {
	if name != "" && c.HasRoute(router.RouteEvent, branchFailurePrefix+name) {
		name = branchFailurePrefix + name
	}
	return onRoute(c, branchFailureKind(name), name, &state(c).onBranchFailure, "t_on_branch_failure")
}

// isSet is t_is_set("branch_route" | "failure_route" | "onreply_route" |
// "branch_failure_route").
func isSet(c *router.Ctx, target string) int {
	var v string
	switch target {
	case "branch_route":
		v = state(c).onBranch
	case "failure_route":
		v = state(c).onFailure
	case "onreply_route":
		v = state(c).onReply
	case "branch_failure_route":
		v = state(c).onBranchFailure
	default:
		c.Log().Error("tm: t_is_set: unknown route type "+strconv.Quote(target), "route", c.Route)
		return -1
	}
	return dispatch.Result(v != "")
}

func branchIndex(c *router.Ctx) int { return state(c).branchIdx }

func (tm *Module) isCanceled(c *router.Ctx) int {
	t := current(c)
	if t == nil {
		if c.Msg.IsRequest() {
			t = tm.find(c, sip.MethodOther)
		}
		if t == nil {
			return -1
		}
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	return dispatch.Result(t.canceled)
}

// withTrans runs f on the transaction the route runs for (failure_route,
// onreply_route, branch_route); -1 without one.
func withTrans(c *router.Ctx, f func(t *Trans) bool) int {
	if t := current(c); t != nil {
		return dispatch.Result(f(t))
	}
	return -1
}

func anyTimeout(c *router.Ctx) int {
	return withTrans(c, func(t *Trans) bool {
		for _, b := range t.branches {
			if b.done && b.local && b.status == 408 {
				return true
			}
		}
		return false
	})
}

func anyReplied(c *router.Ctx) int {
	return withTrans(c, func(t *Trans) bool {
		for _, b := range t.branches {
			if !b.local && b.status > 0 {
				return true
			}
		}
		return false
	})
}

func thisBranch(t *Trans, c *router.Ctx) *branch {
	if i := state(c).branchIdx; i >= 0 && i < len(t.branches) {
		return t.branches[i]
	}
	return nil
}

func branchTimeout(c *router.Ctx) int {
	return withTrans(c, func(t *Trans) bool {
		b := thisBranch(t, c)
		return b != nil && b.local && b.status == 408
	})
}

func branchReplied(c *router.Ctx) int {
	return withTrans(c, func(t *Trans) bool {
		b := thisBranch(t, c)
		return b != nil && !b.local && b.status > 0
	})
}

// statusCode is t_get_status_code: the reply the route runs for, else the
// last status sent upstream.
func statusCode(c *router.Ctx) int {
	if state(c).replyCode > 0 {
		return state(c).replyCode
	}
	if !c.Msg.IsRequest() {
		return c.Msg.StatusCode()
	}
	if t := current(c); t != nil && t.status > 0 {
		return t.status
	}
	return -1
}

// checkStatus is t_check_status(re): the status of the reply the route
// runs for (a failure_route's winning reply) against a regular expression.
func checkStatus(c *router.Ctx, re string) int {
	rx, err := router.Regexp(re)
	if err != nil {
		c.Log().Error("tm: t_check_status: "+err.Error(), "route", c.Route)
		return -1
	}
	code := statusCode(c)
	if code < 0 {
		return -1
	}
	var num [4]byte
	return dispatch.Result(rx.Match(strconv.AppendInt(num[:0], int64(code), 10)))
}
