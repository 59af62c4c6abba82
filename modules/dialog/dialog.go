// Package dialog is Kamailio's dialog module: the proxy keeps the state
// of the calls it relays — created by dlg_manage() (or the dlg_flag) on
// an INVITE, early on a 1xx with a To tag, confirmed by the 2xx and its
// ACK, ended by a BYE, a failure or its timeout (with BYEs sent both ways
// when asked) — with profiles that count calls, variables, flags, the
// $dlg pseudo-variables, statistics, RPC commands and persistence in the
// database.
package dialog

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ticker"
	"github.com/kemi-sip/kemi/modules/rr"
	"github.com/kemi-sip/kemi/modules/tm"
)

// The dialog states, Kamailio's numbers ($dlg(state)).
const (
	stateUnconfirmed = 1
	stateEarly       = 2
	stateConfirmedNA = 3 // 2xx, no ACK yet
	stateConfirmed   = 4
	stateDeleted     = 5
)

// The legs: the caller (who sent the INVITE), the callee.
const (
	caller = 0
	callee = 1
)

// Internal flags (iflags, Kamailio's DLG_IFLAG_*).
const (
	iflagTimeoutBye   = 1 << 0 // BYE both ways on timeout
	iflagKASrc        = 1 << 1 // keepalive to the caller (accepted, not sent)
	iflagKADst        = 1 << 2 // keepalive to the callee (accepted, not sent)
	iflagTimeoutReset = 1 << 3 // timeout-noreset: in-dialog requests do not restart the timer
)

// leg is one side of a dialog.
type leg struct {
	tag, contact string
	cseq         string
	routeSet     []string // Route values toward this leg, in order
	sock         *transport.Listener
}

// dialog is one call.
type dialog struct {
	hEntry, hID            uint32
	callID, fromURI, toURI string
	reqURI                 string
	legs                   [2]leg
	state                  int
	initTS, startTS, endTS int64
	lifetime               int // seconds once confirmed
	timerAt                int64
	sflags                 uint32
	iflags                 uint32
	toroute                string
	vars                   []kv
	profiles               []link
	dirty                  bool // to be written (db_mode 2)
	inDB                   bool
	early                  bool // was early: for the early_dialogs gauge
}

type kv struct{ k, v string }

// link is a dialog's membership of a profile; puid names it as
// Kamailio's sruid does ("dlgp-..."), kept in the xdata column.
type link struct{ profile, value, puid string }

func (d *dialog) key() string {
	return strconv.FormatUint(uint64(d.hEntry), 10) + ":" + strconv.FormatUint(uint64(d.hID), 10)
}

func (d *dialog) active() bool { return d.state != stateDeleted }

// profile is one dialog profile.
type profile struct {
	hasValue bool
	size     map[string]int // by value ("" for a profile without)
}

// Module is the dialog module of one proxy.
type Module struct {
	conf    config
	tm      *tm.Module
	rr      *rr.Module
	env     *router.Env
	log     *slog.Logger
	db      *db.DB
	timer   *ticker.Ticker
	mu      sync.Mutex
	puids   uint32 // profile links made, for their uids
	started int64  // the Unix time of the module's making, in the uids (Kamailio's sruid)
	byKey   map[string]*dialog
	nextID  []uint32
	prof    map[string]*profile
	stats   struct{ active, early, processed, expired, failed int64 }
	events  router.EventWorker // runs the dialog's event routes
	// seqHooks see each request matched to a dialog (siptrace's dialog
	// mode); set while the modules initialise.
	seqHooks []func(c *router.Ctx)
	hooks    []Hook
	// pending are the events of changes made under mu, run (in order)
	// by flushEvents once it is released; flushing is set while one
	// goroutine runs them, so that an event route that ends a dialog
	// (dlg_bye) queues its event instead of waiting for itself.
	pending  []event
	flushing bool
}

type event struct {
	d    *dialog
	name string
}

// flushEvents runs the events the last changes made, in order, unless
// another call is running them already (it runs these too); mu is not
// held.
func (m *Module) flushEvents() {
	m.mu.Lock()
	if m.flushing {
		m.mu.Unlock()
		return
	}
	m.flushing = true
	for len(m.pending) > 0 {
		evs := m.pending
		m.pending = nil
		m.mu.Unlock()
		for _, e := range evs {
			m.runEvent(e.d, e.name)
		}
		m.mu.Lock()
	}
	m.flushing = false
	m.mu.Unlock()
}

// OnSequential adds a hook run for each request later in a dialog that
// the module matched (by loose_route or dlg_manage), before its state
// changes.
func (m *Module) OnSequential(h func(c *router.Ctx)) { m.seqHooks = append(m.seqHooks, h) }

// The points of a dialog's life a Hook sees, Kamailio's DLGCB_CREATED,
// DLGCB_EARLY, DLGCB_CONFIRMED_NA and DLGCB_DESTROY.
const (
	Created   = iota // c is the INVITE
	Early            // c is a provisional reply (each one)
	Confirmed        // c is the 2xx
	Destroyed        // c is nil: the dialog is gone from memory
)

// Hook sees a dialog's life: the kind, the dialog's key (its "h_entry:h_id",
// the same from Created to Destroyed) and the message. Hooks run under the
// module's lock: they must not call the module.
type Hook func(kind int, key string, c *router.Ctx)

// OnDialog adds a Hook; set while the modules initialise.
func (m *Module) OnDialog(h Hook) { m.hooks = append(m.hooks, h) }

func (m *Module) run(kind int, d *dialog, c *router.Ctx) {
	for _, h := range m.hooks {
		h(kind, d.key(), c)
	}
}

// Flag is dlg_flag (-1 when not set): a request with it set gets its
// dialog when relayed.
func (m *Module) Flag() int { return m.conf.dlgFlag }

// DefaultTimeout is default_timeout, in seconds.
func (m *Module) DefaultTimeout() int { return m.conf.defaultTimeout }

// CallIDs is the set of Call-IDs of the dialogs the module keeps.
func (m *Module) CallIDs() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make(map[string]bool, len(m.byKey))
	for _, d := range m.byKey {
		ids[d.callID] = true
	}
	return ids
}

type config struct {
	hashSize                           uint32
	rrParam                            string
	dlgFlag                            int
	timeoutAVP                         string
	defaultTimeout                     int
	extraHdrs                          string
	matchMode                          int
	dbURL, table, varsTable            string
	dbMode, dbUpdatePeriod             int
	dbSkipLoad                         bool
	sendBye                            bool
	earlyTimeout, noackTimeout, endTO  int
	hIDStart, hIDStep                  int
	eventCallback, calleeHdrs          string
	bridgeController, bridgeContact    string
	timeoutNoReset                     bool
	enableStats                        bool
	profilesWithValue, profilesNoValue string
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "dialog",
		Params: []dispatch.Param{
			p("enable_stats", i, "1", "the dialog statistics"),
			p("hash_size", i, "4096", "the hash table's size: $dlg(h_entry) is the Call-ID's hash in it"),
			p("rr_param", s, "did", "the Record-Route parameter that names the dialog"),
			p("dlg_flag", i, "-1", "a message flag: set on an INVITE, t_relay makes its dialog"),
			p("timeout_avp", s, "", "a variable with the dialog's timeout in seconds"),
			p("default_timeout", i, "43200", "seconds a confirmed dialog lasts"),
			p("dlg_extra_hdrs", s, "", "header lines added to the requests the module sends (BYE)"),
			p("dlg_match_mode", i, "0", "0: in-dialog requests by the Route parameter only, 1: or by Call-ID and tags, 2: by Call-ID and tags"),
			p("detect_spirals", i, "1", "accepted: an INVITE coming back for a dialog of its Call-ID and From tag gets it"),
			p("db_url", s, "", "the database of the dialog and dialog_vars tables"),
			p("db_mode", i, "0", "0 none, 1 each change, 2 every db_update_period, 3 at shutdown"),
			p("table_name", s, "dialog", ""),
			p("vars_table_name", s, "dialog_vars", ""),
			p("db_update_period", i, "60", "seconds (db_mode 2)"),
			p("db_skip_load", i, "0", "1: the dialogs in the database are not loaded at start"),
			p("profiles_with_value", s, "", "profile names separated by ';', each counted by value"),
			p("profiles_no_value", s, "", "profile names separated by ';'"),
			p("bridge_controller", s, "sip:controller@kamailio.org", "the From of dlg_bridge's INVITE"),
			p("bridge_contact", s, "sip:controller@kamailio.org:5060", "the Contact of dlg_bridge's INVITE"),
			p("send_bye", i, "0", "1: a dialog that times out gets a BYE both ways"),
			p("timeout_noreset", i, "0", "1: in-dialog requests do not restart the timeout"),
			p("early_timeout", i, "300", "seconds an unconfirmed or early dialog may last"),
			p("noack_timeout", i, "60", "seconds a confirmed dialog waits for its ACK"),
			p("end_timeout", i, "300", "accepted: an ended dialog is kept while the transaction that ended it lasts (5 s)"),
			p("h_id_start", i, "0", "with h_id_step: the first h_id of each entry"),
			p("h_id_step", i, "1", "the step between h_ids (several nodes: the node count)"),
			p("event_callback", s, "", "a KEMI function run for dialog:start, dialog:end and dialog:failed"),
			p("lreq_callee_headers", s, "", "header lines added to the BYE sent to the callee"),
			p("enable_dmq", i, "0", "1 (DMQ replication) is refused: share dialogs through the database"),
			p("ka_timer", i, "0", "accepted, no keepalives are sent"),
			p("ka_interval", i, "0", "accepted, no keepalives are sent"),
			p("ka_failed_limit", i, "1", "accepted, no keepalives are sent"),
			p("track_cseq_updates", i, "0", "accepted, no effect"),
			p("timer_procs", i, "0", "accepted: one timer"),
			p("wait_ack", i, "1", "accepted, no effect"),
			p("keep_proxy_rr", i, "0", "accepted, no effect"),
			p("dlg_filter_mode", i, "0", "accepted, no effect"),
			p("db_fetch_rows", i, "200", "accepted: the rows are read at once"),
			p("initial_cbs_inscript", i, "1", "accepted, no effect"),
			p("xavp_cfg", s, "", "accepted, no effect"),
		},
		New: func() dispatch.Module {
			return &Module{byKey: map[string]*dialog{}, prof: map[string]*profile{}, events: router.EventWorker{Rank: -11}, started: time.Now().Unix()}
		},
	})
	router.RegisterPV("dlg", router.PVClass{Arg: true, Parse: parseDlgPV, Get: getDlgPV})
	router.RegisterPV("dlg_var", router.PVClass{Arg: true, Get: getDlgVar, Set: setDlgVar})
	router.RegisterPV("dlg_ctx", router.PVClass{Arg: true, Parse: parseDlgCtx, Get: getDlgCtx, Set: setDlgCtx})
}

// Init reads the parameters and hooks into tm and rr.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	hs := p.Int("hash_size", 4096)
	if hs < 1 {
		hs = 1
	}
	// Kamailio rounds the size to a power of two.
	size := uint32(1)
	for size < uint32(hs) && size < 1<<20 {
		size <<= 1
	}
	if size != uint32(hs) && size > 1 {
		size >>= 1
	}
	c.hashSize = size
	c.rrParam = p.Str("rr_param", "did")
	if c.rrParam == "" || len(c.rrParam) > 32 {
		return fmt.Errorf("dialog: empty or too long rr_param")
	}
	c.dlgFlag = p.Int("dlg_flag", -1)
	if c.dlgFlag > 63 {
		return fmt.Errorf("dialog: invalid dlg_flag %d", c.dlgFlag)
	}
	c.timeoutAVP = p.Str("timeout_avp", "")
	if c.timeoutAVP != "" {
		if _, err := router.ParsePV(c.timeoutAVP); err != nil {
			return fmt.Errorf("dialog: timeout_avp: %w", err)
		}
	}
	c.defaultTimeout = p.Int("default_timeout", 43200)
	if c.defaultTimeout <= 0 {
		return fmt.Errorf("dialog: 0 default_timeout not accepted")
	}
	c.extraHdrs = p.Str("dlg_extra_hdrs", "")
	if c.extraHdrs != "" && !strings.HasSuffix(c.extraHdrs, "\n") {
		c.extraHdrs += "\r\n"
	}
	c.matchMode = p.Int("dlg_match_mode", 0)
	if c.matchMode < 0 || c.matchMode > 2 {
		return fmt.Errorf("dialog: invalid value %d for dlg_match_mode", c.matchMode)
	}
	p.Int("detect_spirals", 1)
	c.dbURL, c.table, c.varsTable = p.Str("db_url", ""), p.Str("table_name", "dialog"), p.Str("vars_table_name", "dialog_vars")
	c.dbMode, c.dbUpdatePeriod, c.dbSkipLoad = p.Int("db_mode", 0), p.Int("db_update_period", 60), p.Int("db_skip_load", 0) != 0
	if c.dbMode < 0 || c.dbMode > 3 {
		return fmt.Errorf("dialog: unsupported db_mode %d", c.dbMode)
	}
	if c.dbMode > 0 && c.dbURL == "" {
		return fmt.Errorf("dialog: db_mode %d needs db_url", c.dbMode)
	}
	if err := db.Idents(c.table, c.varsTable); err != nil {
		return fmt.Errorf("dialog: %w", err)
	}
	c.profilesWithValue, c.profilesNoValue = p.Str("profiles_with_value", ""), p.Str("profiles_no_value", "")
	for _, x := range []struct {
		list  string
		value bool
	}{{c.profilesWithValue, true}, {c.profilesNoValue, false}} {
		for _, name := range strings.Split(x.list, ";") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if m.prof[name] != nil {
				return fmt.Errorf("dialog: duplicate profile %q", name)
			}
			m.prof[name] = &profile{hasValue: x.value, size: map[string]int{}}
		}
	}
	c.bridgeController, c.bridgeContact = p.Str("bridge_controller", "sip:controller@kamailio.org"), p.Str("bridge_contact", "sip:controller@kamailio.org:5060")
	c.sendBye, c.timeoutNoReset = p.Int("send_bye", 0) != 0, p.Int("timeout_noreset", 0) != 0
	c.earlyTimeout, c.noackTimeout, c.endTO = p.Int("early_timeout", 300), p.Int("noack_timeout", 60), p.Int("end_timeout", 300)
	c.hIDStart, c.hIDStep = p.Int("h_id_start", 0), p.Int("h_id_step", 1)
	if c.hIDStart < 0 {
		c.hIDStart = 0
	}
	if c.hIDStep < 1 {
		c.hIDStep = 1
	}
	c.eventCallback = p.Str("event_callback", "")
	c.calleeHdrs = p.Str("lreq_callee_headers", "")
	if c.calleeHdrs != "" && !strings.HasSuffix(c.calleeHdrs, "\n") {
		c.calleeHdrs += "\r\n"
	}
	if p.Int("enable_dmq", 0) != 0 {
		return fmt.Errorf("dialog: enable_dmq: DMQ replication is not supported; share dialogs through db_url (db_mode 1, dlg_db_load_extra)")
	}
	for _, name := range []string{"ka_timer", "ka_interval", "ka_failed_limit", "track_cseq_updates", "timer_procs", "wait_ack", "keep_proxy_rr",
		"dlg_filter_mode", "db_fetch_rows", "initial_cbs_inscript"} {
		p.Int(name, 0)
	}
	p.Str("xavp_cfg", "")
	c.enableStats = p.Int("enable_stats", 1) != 0
	var err error
	if m.tm, err = dispatch.Need[*tm.Module](p, "tm"); err != nil {
		return fmt.Errorf("dialog: can't load TM API: %w", err)
	}
	if m.rr, err = dispatch.Need[*rr.Module](p, "rr"); err != nil {
		return fmt.Errorf("dialog: can't load RR API: %w", err)
	}
	m.rr.OnLooseRoute(m.onRoute)
	m.tm.OnReplyIn(m.onReply)
	m.tm.OnFinal(m.onFinal)
	m.tm.OnRelay(m.onRelay)
	m.nextID = make([]uint32, c.hashSize)
	for i := range m.nextID {
		if c.hIDStep > 1 {
			m.nextID[i] = uint32(c.hIDStart + c.hIDStep*(rand.IntN(3*int(c.hashSize))+1))
		} else {
			m.nextID[i] = uint32(rand.IntN(3 * int(c.hashSize)))
		}
	}
	return nil
}

// Start opens the database, loads the dialogs kept there, starts the
// timer.
func (m *Module) Start(env *router.Env) error {
	m.env, m.log = env, env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.conf.dbURL != "" {
		d, err := db.OpenParam("dialog", m.conf.dbURL)
		if err != nil {
			return fmt.Errorf("dialog: %w", err)
		}
		m.db = d
		if err := m.checkTables(); err != nil {
			d.Close()
			m.db = nil
			return err
		}
		if !m.conf.dbSkipLoad {
			if err := m.loadDB(""); err != nil {
				d.Close()
				m.db = nil
				return err
			}
		}
	}
	last := time.Now()
	m.timer = ticker.Start(time.Second, func(now time.Time) {
		m.tick(now.Unix())
		if m.conf.dbMode == 2 && now.Sub(last) >= time.Duration(m.conf.dbUpdatePeriod)*time.Second {
			m.flush(false)
			last = now
		}
	})
	return nil
}

// Stop ends the timer and, with a database, writes what is left.
func (m *Module) Stop() {
	m.timer.Stop()
	m.timer = nil
	if m.db != nil {
		if m.conf.dbMode == 2 || m.conf.dbMode == 3 {
			m.flush(true)
		}
		m.db.Close()
		m.db = nil
	}
}

// reqState is what the dialog module keeps on a message: its dialog (by
// key), and what the script set before the dialog existed (flags,
// timeout, profiles, variables) for it to get when it is made.
type reqState struct {
	key      string
	dir      int // the direction of the request in its dialog: 0 from the caller, 1 from the callee
	flags    uint32
	iflags   uint32
	timeout  int
	profiles []link
	vars     []kv
	manage   bool
	ev       *dialog // an event route's dialog, gone from the table or not
}

var state = router.NewSlot[reqState]()

var _ router.Carrier = (*reqState)(nil)

func (s *reqState) Reset() {
	*s = reqState{profiles: s.profiles[:0], vars: s.vars[:0]}
}

func (s *reqState) AppendCarried(dst []byte) []byte {
	if s.key == "" {
		return dst
	}
	return append(dst, s.key...)
}

func (s *reqState) RestoreCarried(b []byte) {
	s.key = string(b)
}

// current is the dialog of c's message (or of dlg_get), nil when none;
// the lock is held by the caller.
func (m *Module) current(c *router.Ctx) *dialog {
	st := state.Of(c)
	if st.ev != nil {
		return st.ev
	}
	if k := st.key; k != "" {
		return m.byKey[k]
	}
	return nil
}

// newDialog is build_new_dlg + link_dlg for the initial request of c.
func (m *Module) newDialog(c *router.Ctx) *dialog {
	msg := c.Msg
	from, to := msg.From(), msg.To()
	if from == nil || to == nil || len(from.Tag) == 0 || len(msg.CallID()) == 0 {
		c.Log().Error("dialog: invalid request -> callid or from TAG empty", "route", c.Route)
		return nil
	}
	callID := string(msg.CallID())
	d := &dialog{callID: callID, fromURI: string(from.URI.Raw), toURI: string(to.URI.Raw), reqURI: string(c.RURIText()),
		state: stateUnconfirmed, initTS: time.Now().Unix(), lifetime: m.conf.defaultTimeout}
	d.hEntry = sip.CoreHash([]byte(callID), nil) & (m.conf.hashSize - 1)
	if m.conf.hIDStep > 1 {
		n := m.nextID[d.hEntry]
		if n == 0 || n+uint32(m.conf.hIDStep) < n {
			n = uint32(m.conf.hIDStart + m.conf.hIDStep)
		}
		d.hID = n
		m.nextID[d.hEntry] = n + uint32(m.conf.hIDStep)
	} else {
		m.nextID[d.hEntry]++
		d.hID = m.nextID[d.hEntry]
	}
	cl := &d.legs[caller]
	cl.tag = string(from.Tag)
	cl.cseq = strconv.FormatUint(uint64(msg.CSeq()), 10)
	if ct, err := msg.Contact(); err == nil && ct != nil {
		cl.contact = string(ct.URI.Raw)
	}
	for it := msg.Addrs(sip.HdrRecordRoute); ; {
		var na sip.NameAddr
		if !it.Next(&na) {
			break
		}
		cl.routeSet = append(cl.routeSet, string(na.Raw))
	}
	if c.Pkt != nil {
		cl.sock = c.Pkt.Local
	}
	st := state.Of(c)
	d.sflags, d.iflags = st.flags, st.iflags
	if m.conf.sendBye {
		d.iflags |= iflagTimeoutBye
	}
	if st.timeout > 0 {
		d.lifetime = st.timeout
	} else if m.conf.timeoutAVP != "" {
		if pv, err := c.W.PV(m.conf.timeoutAVP); err == nil {
			if n, ok := pv.Get(c).Int64(); ok && n > 0 {
				d.lifetime = int(n)
			}
		}
	}
	if m.conf.timeoutNoReset {
		d.iflags |= iflagTimeoutReset
	}
	d.timerAt = d.initTS + int64(m.conf.earlyTimeout)
	m.byKey[d.key()] = d
	for _, l := range st.profiles {
		m.linkProfile(d, l)
	}
	st.profiles = st.profiles[:0]
	d.vars = append(d.vars, st.vars...)
	st.vars = st.vars[:0]
	st.key = d.key()
	if m.conf.enableStats {
		m.stats.processed++
	}
	m.store(d)
	m.run(Created, d, c)
	return d
}

// didParam is ";did=<h_entry>.<h_id>", each in reversed hex (Kamailio's
// int2reverse_hex: the lowest nibble first).
func (m *Module) didParam(d *dialog) string {
	return ";" + m.conf.rrParam + "=" + revHex(d.hEntry) + "." + revHex(d.hID)
}

func revHex(n uint32) string {
	const digits = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append(b, digits[n&0xf])
		n >>= 4
	}
	return string(b)
}

func parseRevHex(s string) (uint32, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	var n uint32
	for i := len(s) - 1; i >= 0; i-- {
		v := strings.IndexByte("0123456789abcdef", s[i]|0x20)
		if v < 0 {
			return 0, false
		}
		n = n<<4 | uint32(v)
	}
	return n, true
}

// manage is dlg_manage: an initial INVITE gets its dialog (and the
// Route parameter that names it); an in-dialog request is matched to its
// dialog as loose_route would.
func (m *Module) manage(c *router.Ctx) int {
	msg := c.Msg
	if !msg.IsRequest() {
		return -1
	}
	to := msg.To()
	if to != nil && len(to.Tag) > 0 {
		m.mu.Lock()
		d := m.matchSequential(c, nil)
		if d != nil {
			m.sequential(c, d)
		}
		m.mu.Unlock()
		m.flushEvents()
		return dispatch.Result(d != nil)
	}
	if msg.Method() != sip.MethodINVITE {
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current(c) != nil {
		return 1 // already made for this request (spiral, or called twice)
	}
	d := m.newDialog(c)
	if d == nil {
		return -1
	}
	rr.AddParam(c, m.didParam(d))
	return 1
}

// onRelay is tm's hook when a request is relayed: an INVITE with the
// dlg_flag set gets its dialog, as Kamailio's does at transaction
// creation.
func (m *Module) onRelay(c *router.Ctx) {
	if m.conf.dlgFlag < 0 || c.Flags&(1<<uint(m.conf.dlgFlag)) == 0 || c.Msg.Method() != sip.MethodINVITE {
		return
	}
	if to := c.Msg.To(); to != nil && len(to.Tag) > 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current(c) != nil {
		return
	}
	if d := m.newDialog(c); d != nil {
		rr.AddParam(c, m.didParam(d))
	}
}

// matchSequential finds the dialog of an in-dialog request: by the Route
// parameter (params of the Route loose_route took), and, with
// dlg_match_mode 1 or 2, by Call-ID and tags; the lock is held.
func (m *Module) matchSequential(c *router.Ctx, params []byte) *dialog {
	msg := c.Msg
	if m.conf.matchMode != 2 {
		if params == nil {
			params, _ = rr.RouteParam(c, m.conf.rrParam)
			if params != nil {
				params = []byte(";" + m.conf.rrParam + "=" + string(params))
			}
		}
		if v, ok := sip.Param(params, m.conf.rrParam); ok {
			e, id, _ := strings.Cut(string(v), ".")
			he, ok1 := parseRevHex(e)
			hi, ok2 := parseRevHex(id)
			if ok1 && ok2 {
				if d := m.byKey[strconv.FormatUint(uint64(he), 10)+":"+strconv.FormatUint(uint64(hi), 10)]; d != nil && d.callID == string(msg.CallID()) {
					state.Of(c).dir = m.direction(d, c)
					return d
				}
			}
			if m.conf.matchMode == 0 {
				return nil
			}
		} else if m.conf.matchMode == 0 {
			return nil
		}
	}
	d, dir := m.byTags(string(msg.CallID()), string(msg.From().Tag), string(msg.To().Tag))
	if d != nil {
		state.Of(c).dir = dir
	}
	return d
}

// byTags is get_dlg: the dialog of a Call-ID and two tags, either way
// round; dir 0 when the From tag is the caller's.
func (m *Module) byTags(callID, ftag, ttag string) (*dialog, int) {
	for _, d := range m.byKey {
		if d.callID != callID {
			continue
		}
		if d.legs[caller].tag == ftag && (d.legs[callee].tag == ttag || ttag == "" || d.legs[callee].tag == "") {
			return d, caller
		}
		if d.legs[caller].tag == ttag && d.legs[callee].tag == ftag {
			return d, callee
		}
	}
	return nil, 0
}

func (m *Module) direction(d *dialog, c *router.Ctx) int {
	if string(c.Msg.From().Tag) == d.legs[caller].tag {
		return caller
	}
	return callee
}

// onRoute is rr's callback: a request loose_route took through this
// proxy goes to its dialog.
func (m *Module) onRoute(c *router.Ctx, params []byte) {
	if to := c.Msg.To(); to == nil || len(to.Tag) == 0 {
		return
	}
	m.mu.Lock()
	if d := m.matchSequential(c, params); d != nil {
		m.sequential(c, d)
	}
	m.mu.Unlock()
	m.flushEvents()
}

// sequential is dlg_onroute: an ACK confirms, a BYE ends, another
// request moves the timeout on; the sender's CSeq is kept.
func (m *Module) sequential(c *router.Ctx, d *dialog) {
	st := state.Of(c)
	st.key = d.key()
	for _, h := range m.seqHooks {
		h(c)
	}
	msg := c.Msg
	if !d.active() {
		return
	}
	dir := st.dir
	switch msg.Method() {
	case sip.MethodACK:
		if d.state == stateConfirmedNA {
			d.state = stateConfirmed
			m.store(d)
		}
		return
	case sip.MethodBYE:
		m.end(d, false, true) // its CSeq is not kept, as Kamailio's
		return
	}
	d.legs[dir].cseq = strconv.FormatUint(uint64(msg.CSeq()), 10)
	if (d.state == stateConfirmed || d.state == stateConfirmedNA) && d.iflags&iflagTimeoutReset == 0 {
		d.timerAt = time.Now().Unix() + int64(d.lifetime)
	}
	m.store(d)
}

// onReply is tm's hook for the replies of relayed requests: the INVITE's
// 1xx with a To tag makes the dialog early, its 2xx confirms it (the
// callee's tag, contact, route set and socket kept).
func (m *Module) onReply(c *router.Ctx, carried []byte) {
	k := state.Carried(carried)
	if len(k) == 0 {
		return
	}
	msg := c.Msg
	if msg.CSeqMethod() != sip.MethodINVITE {
		return
	}
	code := msg.StatusCode()
	to := msg.To()
	m.mu.Lock()
	d := m.byKey[string(k)]
	if d == nil || to == nil {
		m.mu.Unlock()
		return
	}
	var ev string
	switch {
	case code > 100 && code < 200 && len(to.Tag) > 0 && d.state == stateUnconfirmed:
		d.state = stateEarly // the callee's leg waits for the 2xx, as Kamailio's
		d.early = true
		if m.conf.enableStats {
			m.stats.early++
		}
	case code >= 200 && code < 300 && (d.state == stateUnconfirmed || d.state == stateEarly):
		if d.early && m.conf.enableStats {
			m.stats.early--
		}
		d.state = stateConfirmedNA
		m.setCallee(c, d)
		d.startTS = time.Now().Unix()
		d.timerAt = d.startTS + int64(d.lifetime)
		if m.conf.enableStats {
			m.stats.active++
		}
		ev = "dialog:start"
		m.run(Confirmed, d, c)
	}
	if code > 100 && code < 200 && (d.state == stateUnconfirmed || d.state == stateEarly) {
		m.run(Early, d, c)
	}
	if ev != "" {
		m.pending = append(m.pending, event{d, ev})
	}
	m.store(d)
	m.mu.Unlock()
	m.flushEvents()
}

// setCallee keeps the callee's leg from a reply: tag, contact, the route
// set (the Record-Routes beyond this proxy's, reversed), the socket.
func (m *Module) setCallee(c *router.Ctx, d *dialog) {
	msg := c.Msg
	l := &d.legs[callee]
	l.tag = string(msg.To().Tag)
	l.cseq = "0" // the callee has sent no request yet (Kamailio's "0")
	if ct, err := msg.Contact(); err == nil && ct != nil {
		l.contact = string(ct.URI.Raw)
	}
	var rrs []string
	for it := msg.Addrs(sip.HdrRecordRoute); ; {
		var na sip.NameAddr
		if !it.Next(&na) {
			break
		}
		rrs = append(rrs, string(na.Raw))
	}
	// The reply's Record-Routes: the callee's side, this proxy's, the
	// caller's (as the INVITE had them).
	n := len(rrs) - len(d.legs[caller].routeSet) - 1
	l.routeSet = l.routeSet[:0]
	for i := n - 1; i >= 0; i-- {
		l.routeSet = append(l.routeSet, rrs[i])
	}
	if c.Pkt != nil {
		l.sock = c.Pkt.Local
	}
}

// onFinal is tm's hook for the final reply of a transaction: an INVITE's
// failure fails its dialog (after failure_route, which may have tried
// elsewhere).
func (m *Module) onFinal(f *tm.Final) {
	k := state.Carried(f.Carried)
	if len(k) == 0 || f.Code < 300 {
		return
	}
	m.mu.Lock()
	d := m.byKey[string(k)]
	if d == nil || (d.state != stateUnconfirmed && d.state != stateEarly) {
		m.mu.Unlock()
		return
	}
	if d.early && m.conf.enableStats {
		m.stats.early--
	}
	m.terminate(d)
	if m.conf.enableStats {
		m.stats.failed++
	}
	m.pending = append(m.pending, event{d, "dialog:failed"})
	m.mu.Unlock()
	m.flushEvents()
}

// end is a dialog's end by a BYE (or dlg_bye, a timeout: expired): the
// state, the profiles, the statistics, and dialog:end when runEvent is set
// (not for dlg.set_state, as in Kamailio); the lock is held. Kamailio's
// dlg_bye runs dialog:end after sending its BYEs unless a BYE's reply has
// already ended the dialog (a race between its processes): kemi always
// runs it.
func (m *Module) end(d *dialog, expired, runEvent bool) {
	if !d.active() {
		return
	}
	was := d.state
	m.terminate(d)
	if m.conf.enableStats && (was == stateConfirmed || was == stateConfirmedNA) {
		m.stats.active--
		if expired {
			m.stats.expired++
		}
	}
	if runEvent {
		m.pending = append(m.pending, event{d, "dialog:end"})
	}
}

// terminate marks a dialog deleted and unlinks its profiles; it is kept
// end_timeout seconds; the lock is held.
func (m *Module) terminate(d *dialog) {
	d.state = stateDeleted
	d.endTS = time.Now().Unix()
	// Kept while the transaction that ended it (the BYE, the failed
	// INVITE) lasts, as Kamailio's references keep it: tm's wait time.
	d.timerAt = d.endTS + 5
	for _, l := range d.profiles {
		if p := m.prof[l.profile]; p != nil {
			p.size[l.value]--
			if p.size[l.value] <= 0 {
				delete(p.size, l.value)
			}
		}
	}
	d.profiles = nil
	m.store(d)
}

// tick runs each second: timeouts of confirmed dialogs (BYE both ways
// when asked), early and unacknowledged dialogs that waited too long,
// ended ones forgotten.
func (m *Module) tick(now int64) {
	m.mu.Lock()
	var byes []*dialog
	for k, d := range m.byKey {
		if d.timerAt == 0 || now < d.timerAt {
			continue
		}
		switch d.state {
		case stateDeleted:
			delete(m.byKey, k)
			m.forget(d)
			m.run(Destroyed, d, nil)
		case stateUnconfirmed, stateEarly:
			if d.early && m.conf.enableStats {
				m.stats.early--
			}
			m.terminate(d)
			if m.conf.enableStats {
				m.stats.failed++
			}
		case stateConfirmedNA, stateConfirmed:
			if d.iflags&iflagTimeoutBye != 0 {
				byes = append(byes, d)
			}
			m.end(d, true, true)
			delete(m.byKey, k) // nothing else holds it: gone at once, as in Kamailio
			m.forget(d)
			m.run(Destroyed, d, nil)
		}
	}
	m.mu.Unlock()
	for _, d := range byes {
		m.sendBye(d, caller, "")
		m.sendBye(d, callee, "")
	}
	m.flushEvents()
}

// sendBye sends a BYE to one leg of a dialog, as the other leg would:
// the leg's contact, route set and socket, the other leg's CSeq plus one,
// Max-Forwards and dlg_extra_hdrs (Kamailio's dlg_t from build_dlg_t).
func (m *Module) sendBye(d *dialog, dir int, extra string) error {
	l, o := d.legs[dir], d.legs[1-dir]
	if l.contact == "" {
		return fmt.Errorf("no contact available")
	}
	remURI, locURI := d.toURI, d.fromURI
	if dir == caller {
		remURI, locURI = d.fromURI, d.toURI
	}
	cseq, _ := strconv.ParseUint(o.cseq, 10, 32)
	var b strings.Builder
	for _, r := range l.routeSet {
		b.WriteString("Route: " + r + "\r\n")
	}
	b.WriteString("From: <" + locURI + ">;tag=" + o.tag + "\r\nTo: <" + remURI + ">;tag=" + l.tag + "\r\nCall-ID: " + d.callID +
		"\r\nCSeq: " + strconv.FormatUint(cseq+1, 10) + " BYE\r\nMax-Forwards: 70\r\n" + m.conf.extraHdrs + extra)
	if dir == callee {
		b.WriteString(m.conf.calleeHdrs)
	}
	hop := ""
	if len(l.routeSet) > 0 {
		var na sip.NameAddr
		if sip.ParseNameAddr([]byte(l.routeSet[0]), &na) == nil {
			hop = string(na.URI.Raw)
		}
	}
	sock := ""
	if l.sock != nil {
		sock = l.sock.String()
	}
	m.mu.Lock()
	d.legs[1-dir].cseq = strconv.FormatUint(cseq+1, 10)
	m.mu.Unlock()
	return m.tm.Request(tm.UAC{Method: "BYE", RURI: l.contact, NextHop: hop, Socket: sock, Headers: b.String()})
}

// runEvent runs event_route[name] (or event_callback) for a dialog, on
// the faked message with $dlg the dialog.
func (m *Module) runEvent(d *dialog, name string) {
	if m.env == nil {
		return
	}
	m.events.With(m.env, func(w *router.Worker) {
		c := w.EventCtx()
		defer c.Finish()
		route := name
		if m.conf.eventCallback != "" {
			route = m.conf.eventCallback
			c.EventName = name
			defer func() { c.EventName = "" }()
		}
		if !c.HasRoute(router.RouteEvent, route) {
			return
		}
		m.mu.Lock()
		state.Of(c).ev = d
		m.mu.Unlock()
		c.RunKind(router.RouteEvent, route)
	})
}
