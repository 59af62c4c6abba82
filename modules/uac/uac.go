// Package uac is Kamailio's uac module: From and To replaced on the way
// out and put back on the way in (uac_replace_from/to, restored in
// replies and, in auto mode, in the dialog's later requests from a
// Record-Route parameter), credentials for an upstream's 401/407
// (uac_auth in failure_route), requests of the script's own
// (uac_req_send with $uac_req), and registrations to upstream providers
// from the uacreg table (uac_reg_*).
package uac

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ticker"
	"github.com/kemi-sip/kemi/modules/rr"
	"github.com/kemi-sip/kemi/modules/tm"
)

// Module is the uac module of one proxy.
type Module struct {
	tm  *tm.Module
	rr  *rr.Module
	env *router.Env

	restoreMode                    int
	rrFrom, rrTo, passwd           string
	restoreFromAVP, restoreToAVP   string
	creds                          []credential
	authRealm, authUser, authPass  *router.PV // the auth AVPs, nil when not set
	defaultSocket, eventCallback   string
	regURL, regTable, regContact   string
	regInterval                    time.Duration
	regRetry, regRandomDelay       int
	regKeepCallID, regUseDomain    bool
	regDB                          *db.DB
	regs                           regs
	timer                          *ticker.Ticker
	mu                             sync.Mutex
	reqs                           map[*router.Worker]*sendInfo // $uac_req, each worker's
	events                         router.EventWorker           // runs event_route[uac:reply]
	restoreDlg, regActive, regHash int
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
	dispatch.Register(dispatch.ModuleInfo{Name: "uac",
		Params: []dispatch.Param{
			p("rr_from_store_param", s, "vsf", "the Record-Route parameter of a replaced From"),
			p("rr_to_store_param", s, "vst", "the Record-Route parameter of a replaced To"),
			p("restore_mode", s, "auto", "none, manual (uac_restore_*), auto (in the dialog's requests by rr)"),
			p("restore_dlg", i, "0", "1 (keep the originals in the dialog) needs the dialog module: refused"),
			p("restore_passwd", s, "", "xor'ed into the Record-Route parameter"),
			p("restore_from_avp", s, "", "an AVP that gets the original From"),
			p("restore_to_avp", s, "", "an AVP that gets the original To"),
			{Name: "credential", Kind: s, Multi: true, Doc: "user:realm:password for uac_auth"},
			p("auth_username_avp", s, "", "a variable with the username for uac_auth (the three together)"),
			p("auth_realm_avp", s, "", "a variable with the realm (empty: any realm)"),
			p("auth_password_avp", s, "", "a variable with the password"),
			p("reg_db_url", s, "", "the database of uacreg: set, registrations run"),
			p("reg_db_table", s, "uacreg", ""),
			p("reg_contact_addr", s, "", "host:port of the registrations' Contact (needed with reg_db_url)"),
			p("reg_timer_interval", i, "90", "seconds between the registration timer's runs"),
			p("reg_retry_interval", i, "0", "seconds before a failed registration is retried; 0: disabled instead"),
			p("reg_keep_callid", i, "0", "1: a refresh keeps the Call-ID and the next CSeq"),
			p("reg_random_delay", i, "0", "seconds: each record's first REGISTER delayed by up to this"),
			p("reg_active", i, "1", "0: no REGISTER sent until uac.reg_active 1"),
			p("reg_gc_interval", i, "150", "accepted: a reload replaces the table at once"),
			p("reg_hash_size", i, "4", "accepted: records are in a map"),
			p("reg_use_domain", i, "0", "1: a lookup by user matches l_domain too"),
			p("default_socket", s, "", "the socket of uac_req_send and the registrations"),
			p("event_callback", s, "", "a KEMI function run instead of event_route[uac:reply]"),
		},
		New: func() dispatch.Module {
			return &Module{reqs: map[*router.Worker]*sendInfo{}, events: router.EventWorker{Rank: -10}}
		},
	})
	router.RegisterPV("uac_req", router.PVClass{Arg: true, Parse: parseUACReq, Get: getUACReq, Set: setUACReq})
}

// Init reads the parameters and binds tm and rr.
func (m *Module) Init(p *dispatch.Params) error {
	var err error
	if m.tm, err = dispatch.Need[*tm.Module](p, "tm"); err != nil {
		return fmt.Errorf("uac: can't load TM API: %w", err)
	}
	m.rrFrom, m.rrTo = p.Str("rr_from_store_param", "vsf"), p.Str("rr_to_store_param", "vst")
	switch mode := strings.ToLower(p.Str("restore_mode", "auto")); mode {
	case "none":
		m.restoreMode = restoreNone
	case "manual":
		m.restoreMode = restoreManual
	case "auto":
		m.restoreMode = restoreAuto
	default:
		return fmt.Errorf("uac: unsupported value '%s' for restore_mode", mode)
	}
	if (m.rrFrom == "" || m.rrTo == "") && m.restoreMode != restoreNone {
		return fmt.Errorf("uac: rr_store_param cannot be empty if FROM is restoreable")
	}
	m.restoreDlg = p.Int("restore_dlg", 0)
	m.passwd = p.Str("restore_passwd", "")
	m.restoreFromAVP, m.restoreToAVP = avpName(p.Str("restore_from_avp", "")), avpName(p.Str("restore_to_avp", ""))
	for _, v := range p.All("credential") {
		crd, err := parseCredential(v.String())
		if err != nil {
			return fmt.Errorf("uac: credential %q: %w", v.String(), err)
		}
		m.creds = append(m.creds, crd)
	}
	au, ar, ap := p.Str("auth_username_avp", ""), p.Str("auth_realm_avp", ""), p.Str("auth_password_avp", "")
	if au != "" || ar != "" || ap != "" {
		if au == "" || ar == "" || ap == "" {
			return fmt.Errorf("uac: partial definition of auth AVP: auth_username_avp, auth_realm_avp and auth_password_avp go together")
		}
		for _, x := range []struct {
			dst  **router.PV
			spec string
		}{{&m.authUser, au}, {&m.authRealm, ar}, {&m.authPass, ap}} {
			if *x.dst, err = router.ParsePV(x.spec); err != nil {
				return fmt.Errorf("uac: malformed auth AVP %q: %w", x.spec, err)
			}
		}
	}
	if m.restoreMode != restoreNone {
		if m.restoreDlg != 0 {
			return fmt.Errorf("uac: restore_dlg 1 keeps the originals in the dialog module, which kemi does not have yet: use restore_dlg 0 (rr)")
		}
		if m.rr, err = dispatch.Need[*rr.Module](p, "rr"); err != nil {
			return fmt.Errorf("uac: can't load RR API: %w", err)
		}
		if m.restoreMode == restoreAuto {
			if !m.rr.AppendFromTag() {
				return fmt.Errorf("uac: 'append_fromtag' RR param is not enabled! - required by AUTO restore mode")
			}
			m.rr.OnLooseRoute(m.onLooseRoute)
		}
		m.tm.OnReplyIn(m.onReply)
	}
	m.defaultSocket, m.eventCallback = p.Str("default_socket", ""), p.Str("event_callback", "")
	m.regURL, m.regTable, m.regContact = p.Str("reg_db_url", ""), p.Str("reg_db_table", "uacreg"), p.Str("reg_contact_addr", "")
	if err := db.Ident("reg_db_table", m.regTable); err != nil {
		return fmt.Errorf("uac: %w", err)
	}
	m.regInterval = time.Duration(p.Int("reg_timer_interval", 90)) * time.Second
	m.regRetry, m.regRandomDelay = p.Int("reg_retry_interval", 0), p.Int("reg_random_delay", 0)
	m.regKeepCallID, m.regUseDomain = p.Int("reg_keep_callid", 0) != 0, p.Int("reg_use_domain", 0) != 0
	m.regActive, m.regHash = p.Int("reg_active", 1), p.Int("reg_hash_size", 4)
	p.Int("reg_gc_interval", 150)
	if m.regURL != "" {
		if m.regContact == "" {
			return fmt.Errorf("uac: contact address parameter not set (reg_contact_addr)")
		}
		if m.regInterval <= 0 {
			return fmt.Errorf("uac: reg_timer_interval must be positive")
		}
	}
	return nil
}

// avpName is the name of "$avp(name)" (or a bare name).
func avpName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$avp(") && strings.HasSuffix(s, ")") {
		return s[5 : len(s)-1]
	}
	return s
}

// Start loads uacreg and starts the registration timer (its first run a
// reg_timer_interval after start, as Kamailio's).
func (m *Module) Start(env *router.Env) error {
	m.env = env
	if m.defaultSocket != "" && env.Socket(m.defaultSocket) == nil {
		return fmt.Errorf("uac: bad socket <%s>", m.defaultSocket)
	}
	if m.regURL == "" {
		return nil
	}
	d, err := db.OpenParam("uac", m.regURL)
	if err != nil {
		return fmt.Errorf("uac: %w", err)
	}
	ctx := context.Background()
	if err := d.CheckVersion(ctx, m.regTable, 5); err != nil {
		d.Close()
		return fmt.Errorf("uac: %w", err)
	}
	m.regDB = d
	list, err := m.loadRegs(ctx, "")
	if err != nil {
		d.Close()
		m.regDB = nil
		return err
	}
	m.regs.replaceAll(list)
	m.regs.active = m.regActive != 0
	m.timer = ticker.Start(m.regInterval, func(time.Time) { m.regTimer() })
	return nil
}

// Stop ends the timer and closes the database.
func (m *Module) Stop() {
	m.timer.Stop()
	m.timer = nil
	if m.regDB != nil {
		m.regDB.Close()
		m.regDB = nil
	}
}

func (m *Module) log() *slog.Logger {
	if m.env != nil && m.env.Log != nil {
		return m.env.Log
	}
	return slog.Default()
}

// RPCs are uac.reg_*.
func (m *Module) RPCs(*router.Env) []dispatch.RPC { return m.regRPCs() }

// Exports are KSR.uac and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	str := func(s string) *string { return &s }
	return []dispatch.Export{
		{Name: "uac_replace_from", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, dsp, uri string) int { return m.replace(c, true, str(dsp), uri) })},
		{Name: "uac_replace_from_uri", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.replace(c, true, nil, uri) })},
		{Name: "uac_restore_from", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.restoreReq(c, true) })},
		{Name: "uac_replace_to", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, dsp, uri string) int { return m.replace(c, false, str(dsp), uri) })},
		{Name: "uac_replace_to_uri", Ret: I, Native: dispatch.NoNative, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.replace(c, false, nil, uri) })},
		{Name: "uac_restore_to", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.restoreReq(c, false) })},
		{Name: "uac_auth", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.auth(c, 0) })},
		{Name: "uac_auth_mode", Ret: I, Fn: dispatch.FI(m.auth)},
		{Name: "uac_req_send", Ret: I, Fn: dispatch.F0(m.reqSend)},
		// Raw: natively the second parameter names a variable; the
		// first is expanded here.
		{Name: "uac_reg_lookup", Ret: I, Raw: true, Fn: dispatch.FSS(func(c *router.Ctx, uuid, dst string) int { return m.regLookup(c, expand(c, uuid), dst, 0) })},
		{Name: "uac_reg_lookup_uri", Ret: I, Raw: true, Fn: dispatch.FSS(func(c *router.Ctx, uri, dst string) int { return m.regLookup(c, expand(c, uri), dst, 1) })},
		{Name: "uac_reg_status", Ret: I, Fn: dispatch.FS(m.regStatus)},
		{Name: "uac_reg_request_to", Ret: I, Fn: dispatch.FSI(m.regRequestTo)},
		{Name: "uac_reg_enable", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, attr, val string) int { return m.regFlag(c, attr, val, false) })},
		{Name: "uac_reg_disable", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, attr, val string) int { return m.regFlag(c, attr, val, true) })},
		{Name: "uac_reg_refresh", Ret: I, Fn: dispatch.FS(m.regRefresh)},
		// Native: uac_replace_from(uri) leaves the display name; uac_auth(mode).
		{Name: "uac_replace_from", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.replace(c, true, nil, uri) })},
		{Name: "uac_replace_to", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, uri string) int { return m.replace(c, false, nil, uri) })},
		{Name: "uac_auth", NativeOnly: true, Ret: I, Fn: dispatch.FI(m.auth)},
	}
}

// expand is a native parameter with its variables replaced by their
// values (KEMI strings have none: "$" stays unless it starts one).
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

// restoreReq is uac_restore_from/to: the header restored from the Route
// parameter loose_route took (manual mode); 1 restored, -1 not.
func (m *Module) restoreReq(c *router.Ctx, from bool) int {
	if !c.Msg.IsRequest() {
		c.Log().Error("uac: called for something not request", "route", c.Route)
		return -1
	}
	if m.restoreMode == restoreNone || m.rr == nil {
		return -1
	}
	return m.restore(c, from)
}
