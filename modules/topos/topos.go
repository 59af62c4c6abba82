// Package topos is Kamailio's topos module: topology stripping with
// state. A request leaving the proxy keeps only the proxy's own Via, its
// Record-Routes are dropped and its Contact becomes the proxy's address
// with a key of the dialog in the user part; what each side sent (Vias,
// Record-Routes, Contacts, tags) is kept in the database (topos_d for
// the dialog, topos_t for each transaction), and what comes back is
// rebuilt from it before the script sees it. The script works on the
// whole message. It hooks the transport as Kamailio's SREV_NET_DATA_IN/OUT
// events do: router.Env.NetIn and transport.Server.Out.
package topos

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ticker"
	"github.com/kemi-sip/kemi/modules/internal/wire"
)

// Module is the topos module of one proxy.
type Module struct {
	dbURL                      string
	branchExpire, dialogExpire time.Duration
	cleanInterval              time.Duration
	eventCallback              string
	eventMode                  int
	contactHost                string
	contactMode                int
	cparamName                 string
	rrUpdate                   bool
	context                    string
	env                        *router.Env
	log                        *slog.Logger
	storage                    string
	st                         store
	storeErr                   error // topos_redis' refusal
	closeDB                    func()
	events                     *router.NetEvents
	work                       sync.Pool // *wire.Msg
	locks                      [512]sync.Mutex
	uidPrefix                  string
	uidCount                   atomic.Uint32
	ctxMu                      sync.Mutex
	ctxVals                    map[string]ctxValue // tps_set_context, by Call-ID
	timer                      *ticker.Ticker
	serverID                   int
	uidOnce                    sync.Once
}

// ctxValue is a context tps_set_context gave while a message of a call
// was processed, for what the proxy sends for it then.
type ctxValue struct {
	val  string
	when time.Time
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	i, s := dispatch.Int, dispatch.Str
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "topos",
		Params: []dispatch.Param{
			p("storage", s, "db", "db: the topos_d and topos_t tables; redis: in Redis, through the topos_redis module (loaded after topos, with ndb_redis)"),
			p("db_url", s, db.DefaultURL, "the database of the topos_d and topos_t tables"),
			p("mask_callid", i, "0", "accepted: not done, as in Kamailio 5.6"),
			p("sanity_checks", i, "0", "1 (sanity's default checks first) is refused: call sanity_check() in request_route"),
			p("branch_expire", i, "180", "seconds after which a transaction's record goes (and an unconfirmed dialog's)"),
			p("dialog_expire", i, "10800", "seconds after which a dialog's record goes (from its start, or its BYE)"),
			p("clean_interval", i, "60", "seconds between the clean-ups of old records"),
			p("event_callback", s, "", "a KEMI function run (with the event's name) instead of the event routes"),
			p("event_mode", i, "15", "bits: 1 msg-outgoing, 2 msg-sending, 4 msg-incoming, 8 msg-receiving"),
			p("contact_host", s, "", "the host of the Contact topos writes (default: the host of the proxy's Record-Route)"),
			p("contact_mode", i, "0", "0: the key in the Contact's user part; 1: in the cparam_name URI parameter, the user from the request; 2 (from XAVUs) is refused"),
			p("cparam_name", s, "tps", "the Contact URI parameter of contact_mode 1"),
			p("xavu_cfg", s, "", "refused when set: kemi's topos does not read XAVUs"),
			p("xavu_field_a_contact", s, "", "refused when set"),
			p("xavu_field_b_contact", s, "", "refused when set"),
			p("xavu_field_contact_host", s, "", "refused when set"),
			p("rr_update", i, "0", "1: Record-Route changes in re-INVITEs are followed"),
			p("context", s, "", "the context of this instance (up to 12 characters): records are looked up in it"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Exports is KSR.topos.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{{Name: "tps_set_context", Ret: dispatch.Int, Fn: dispatch.FS(m.setContext)}}
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.dbURL = p.Str("db_url", db.DefaultURL)
	m.branchExpire = time.Duration(p.Int("branch_expire", 180)) * time.Second
	m.dialogExpire = time.Duration(p.Int("dialog_expire", 10800)) * time.Second
	m.cleanInterval = time.Duration(p.Int("clean_interval", 60)) * time.Second
	m.eventCallback = p.Str("event_callback", "")
	m.eventMode = p.Int("event_mode", 15)
	m.contactHost = p.Str("contact_host", "")
	m.contactMode = p.Int("contact_mode", 0)
	m.cparamName = p.Str("cparam_name", "tps")
	m.rrUpdate = p.Int("rr_update", 0) != 0
	m.context = p.Str("context", "")
	switch m.storage = p.Str("storage", "db"); m.storage {
	case "db", "redis":
	default:
		return fmt.Errorf("topos: unknown storage type %q", m.storage)
	}
	if p.Int("sanity_checks", 0) != 0 {
		return fmt.Errorf("topos: sanity_checks 1 is not supported: call sanity_check() in request_route instead")
	}
	for _, x := range []string{"xavu_cfg", "xavu_field_a_contact", "xavu_field_b_contact", "xavu_field_contact_host"} {
		if p.Str(x, "") != "" {
			return fmt.Errorf("topos: %s is not supported: kemi's topos does not read XAVUs (contact_mode 2)", x)
		}
	}
	if m.contactMode == 2 {
		return fmt.Errorf("topos: contact_mode 2 (the Contact users from XAVUs) is not supported")
	}
	if m.contactMode < 0 || m.contactMode > 2 {
		return fmt.Errorf("topos: contact_mode %d: 0 or 1", m.contactMode)
	}
	if len(m.context) > 12 {
		return fmt.Errorf("topos: context %q is longer than 12 characters", m.context)
	}
	if m.cleanInterval <= 0 {
		return fmt.Errorf("topos: clean_interval must be positive")
	}
	return nil
}

// Start opens the database and hooks the transport.
func (m *Module) Start(env *router.Env) error {
	m.env, m.log = env, env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	// the hooks run once the proxy serves, after every Start
	if err := env.HookWire("topos", m.netIn, m.netOut); err != nil {
		return err
	}
	switch {
	case m.storeErr != nil:
		return m.storeErr
	case m.st != nil: // topos_redis's
	case m.storage == "redis":
		return fmt.Errorf("topos: storage \"redis\" needs loadmodule \"topos_redis.so\" (with ndb_redis) after topos")
	default:
		d, err := db.OpenParam("topos", m.dbURL)
		if err != nil {
			return fmt.Errorf("topos: %w", err)
		}
		ctx := context.Background()
		for _, t := range []string{"topos_d", "topos_t"} {
			if err := d.CheckVersion(ctx, t, 2); err != nil {
				d.Close()
				return fmt.Errorf("topos: %w", err)
			}
		}
		m.st, m.closeDB = &dbStore{db: d, branchExpire: m.branchExpire, dialogExpire: m.dialogExpire, log: m.log}, func() { d.Close() }
	}
	m.serverID = env.ServerID
	m.work.New = func() any { return &wire.Msg{} }
	m.ctxVals = map[string]ctxValue{}
	m.events = router.NewNetEvents(env, m.eventCallback, m.eventMode, map[int]string{
		evOutgoing: "topos:msg-outgoing", evSending: "topos:msg-sending", evIncoming: "topos:msg-incoming", evReceiving: "topos:msg-receiving"})
	m.timer = ticker.Start(m.cleanInterval, m.cleanup)
	return nil
}

// Stop ends the clean-ups and closes the database.
func (m *Module) Stop() {
	m.timer.Stop()
	if m.closeDB != nil {
		m.closeDB()
	}
}

const (
	evOutgoing  = 1
	evSending   = 2
	evIncoming  = 4
	evReceiving = 8
)

// netIn is Kamailio's tps_msg_received.
func (m *Module) netIn(p *transport.Packet, scratch []byte) []byte {
	if m.events.Run(evIncoming, nil, p, nil) {
		return nil
	}
	w := m.work.Get().(*wire.Msg)
	defer m.work.Put(w)
	if !w.Prepare(p.Buf) {
		return nil
	}
	m.forgetContext(w.M.CallID())
	if m.events.Run(evReceiving, &w.M, p, nil) {
		return nil
	}
	if w.M.IsRequest() {
		if len(w.M.To().Tag) > 0 {
			m.requestReceived(w)
		}
	} else {
		m.responseReceived(w)
	}
	if !w.Edited() {
		return nil
	}
	return w.Apply(scratch)
}

// netOut is Kamailio's tps_msg_sent.
func (m *Module) netOut(local *transport.Listener, proto sip.Transport, dst netip.AddrPort, b []byte) []byte {
	hop := router.Hop{Addr: dst, Proto: proto, Local: local}
	if m.events.Run(evOutgoing, nil, nil, &hop) {
		return b
	}
	w := m.work.Get().(*wire.Msg)
	defer m.work.Put(w)
	if !w.Prepare(b) {
		return b
	}
	if m.events.Run(evSending, &w.M, nil, &hop) {
		return b
	}
	msg := &w.M
	if msg.IsRequest() {
		dialog := len(msg.To().Tag) > 0
		local := !w.HasVia2()
		if local && !dialog {
			switch msg.CSeqMethod() {
			case sip.MethodOPTIONS, sip.MethodNOTIFY:
				return b // keepalives of the proxy's own
			}
			if string(msg.CSeqMethodName()) == "KDMQ" {
				return b
			}
		}
		m.requestSent(w, dialog, local)
	} else {
		if msg.StatusCode() == 100 {
			return b
		}
		m.responseSent(w)
	}
	if !w.Edited() {
		return b
	}
	return w.Apply(nil)
}

// lock is the lock of a Call-ID (Kamailio's set of 512, by its hash).
func (m *Module) lock(callid []byte) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a of the Call-ID without case, allocating nothing
	for _, b := range callid {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		h = (h ^ uint32(b)) * 16777619
	}
	l := &m.locks[h%uint32(len(m.locks))]
	l.Lock()
	return l
}

// nextUID is Kamailio's sruid ("tpsh-<time>-<pid>-<counter>", the
// counter's hex digits least significant first), with the context after
// a '-' when there is one.
func (m *Module) nextUID(x string) string {
	m.uidOnce.Do(func() {
		if m.serverID != 0 {
			m.uidPrefix = fmt.Sprintf("tpsh-%x-%x-%x-", m.serverID, time.Now().Unix(), os.Getpid())
		} else {
			m.uidPrefix = fmt.Sprintf("tpsh-%x-%x-", time.Now().Unix(), os.Getpid())
		}
	})
	n := m.uidCount.Add(1)
	b := []byte(m.uidPrefix)
	for n != 0 {
		b = append(b, "0123456789abcdef"[n&0xf])
		n >>= 4
	}
	if x != "" {
		b = append(append(b, '-'), x...)
	}
	return string(b)
}

// setContext is tps_set_context: the context of what the proxy stores
// and looks up while it handles the current call (Kamailio keeps it for
// the process until the next message is received; kemi keeps it for the
// Call-ID, until the next message of the call is received).
func (m *Module) setContext(c *router.Ctx, val string) int {
	if c.Msg == nil || m.ctxVals == nil {
		return -1
	}
	id := string(c.Msg.CallID())
	m.ctxMu.Lock()
	defer m.ctxMu.Unlock()
	if val == "" {
		delete(m.ctxVals, id)
	} else {
		m.ctxVals[id] = ctxValue{val: val, when: time.Now()}
	}
	return 1
}

func (m *Module) forgetContext(callid []byte) {
	m.ctxMu.Lock()
	if len(m.ctxVals) > 0 {
		delete(m.ctxVals, string(callid))
	}
	m.ctxMu.Unlock()
}

// contextOf is the context of a call: tps_set_context's, else the
// context parameter.
func (m *Module) contextOf(callid []byte) string {
	m.ctxMu.Lock()
	v, ok := m.ctxVals[string(callid)]
	m.ctxMu.Unlock()
	if ok {
		return v.val
	}
	return m.context
}

// cleanup deletes old records every clean_interval (Kamailio's
// tps_storage_clean), and the contexts of calls gone quiet.
func (m *Module) cleanup(now time.Time) {
	if err := m.st.clean(now); err != nil {
		m.log.Error("topos: clean-up failed: " + err.Error())
	}
	m.ctxMu.Lock()
	for id, v := range m.ctxVals {
		if now.Sub(v.when) > m.branchExpire {
			delete(m.ctxVals, id)
		}
	}
	m.ctxMu.Unlock()
}
