package uac

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
)

// A registration's flags, Kamailio's.
const (
	regDisabled = 1 << iota // registration disabled
	regOngoing              // a REGISTER is out
	regOnline               // registered
	regAuthSent             // the REGISTER with credentials is out
	regInit                 // the first REGISTER was sent (reg_delay is over)
)

// registration is a row of the uacreg table and its state.
type registration struct {
	uuid, lUser, lDomain, rUser, rDomain, realm string
	authUser, authPass, authHA1, authProxy      string
	contact, socket                             string
	expires, delay                              int
	flags                                       int
	timerExpires, regInit                       int64 // Unix seconds
	callid                                      string
	cseq                                        uint32
}

// regs are the registrations of uacreg, by l_uuid, under their lock.
type regs struct {
	mu     sync.Mutex
	byUUID map[string]*registration
	order  []string // the l_uuids in the table's order
	active bool     // reg_active: the timer sends REGISTERs
}

// regColumns are uacreg's columns, in the order load reads them.
var regColumns = []string{"l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm",
	"auth_username", "auth_password", "auth_ha1", "auth_proxy", "expires", "flags", "reg_delay",
	"contact_addr", "socket"}

// loadRegs reads uacreg (l_uuid given: that row alone); a row with an
// empty value where Kamailio wants one, or no password, is skipped with a
// log line.
func (m *Module) loadRegs(ctx context.Context, uuid string) ([]*registration, error) {
	q := "SELECT " + strings.Join(regColumns, ", ") + " FROM " + m.regTable
	var args []any
	if uuid != "" {
		q += " WHERE l_uuid = ?"
		args = append(args, uuid)
	}
	rows, err := m.regDB.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("uac: %s: %w", m.regTable, err)
	}
	defer rows.Close()
	var out []*registration
	now := time.Now().Unix()
	for rows.Next() {
		var s [15]sql.NullString
		var n [3]sql.NullInt64
		dst := []any{&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7], &s[8], &s[9], &n[0], &n[1], &n[2], &s[13], &s[14]}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("uac: %s: %w", m.regTable, err)
		}
		r := &registration{uuid: s[0].String, lUser: s[1].String, lDomain: s[2].String, rUser: s[3].String,
			rDomain: s[4].String, realm: s[5].String, authUser: s[6].String, authPass: s[7].String,
			authHA1: s[8].String, authProxy: s[9].String, expires: int(n[0].Int64), flags: int(n[1].Int64),
			delay: int(n[2].Int64), contact: s[13].String, socket: s[14].String}
		if err := r.check(); err != nil {
			m.log().Error("uac: " + m.regTable + " row " + r.uuid + ": " + err.Error() + " - ignoring record")
			continue
		}
		if r.contact == "" {
			r.contact = m.regContact
		}
		r.regInit = now
		if m.regRandomDelay > 0 {
			r.regInit += int64(rand.IntN(m.regRandomDelay))
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// check is Kamailio's: the local and remote user and domain, the auth
// username and proxy not empty; a password or a 32-hex-digit HA1.
func (r *registration) check() error {
	for _, f := range []struct{ name, v string }{{"l_uuid", r.uuid}, {"l_username", r.lUser}, {"l_domain", r.lDomain},
		{"r_username", r.rUser}, {"r_domain", r.rDomain}, {"auth_username", r.authUser}, {"auth_proxy", r.authProxy}} {
		if f.v == "" {
			return fmt.Errorf("empty value not allowed for column %s", f.name)
		}
	}
	if r.authPass == "" && r.authHA1 == "" {
		return fmt.Errorf("no password value provided")
	}
	if r.authHA1 != "" {
		if len(r.authHA1) != 32 {
			return fmt.Errorf("invalid HA1 length: %d", len(r.authHA1))
		}
		for _, c := range r.authHA1 {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return fmt.Errorf("invalid char in HA1 string")
			}
		}
	}
	return nil
}

// byUser is the registration of a local user (and domain with
// reg_use_domain); the caller holds the lock.
func (g *regs) byUser(user, domain string, useDomain bool) *registration {
	for _, id := range g.order {
		r := g.byUUID[id]
		if r.lUser == user && (!useDomain || r.lDomain == domain) {
			return r
		}
	}
	return nil
}

// replaceAll puts a fresh load in place, the state of the records that
// stay kept (uac.reg_reload).
func (g *regs) replaceAll(list []*registration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.byUUID
	g.byUUID, g.order = map[string]*registration{}, nil
	for _, r := range list {
		if o := old[r.uuid]; o != nil {
			r.flags, r.timerExpires, r.callid, r.cseq, r.regInit = o.flags|(r.flags&regDisabled), o.timerExpires, o.callid, o.cseq, o.regInit
		}
		g.byUUID[r.uuid] = r
		g.order = append(g.order, r.uuid)
	}
}

// timer is uac_reg_timer: every registration due within the next
// interval (and 3 s) gets a REGISTER.
func (m *Module) regTimer() {
	now := time.Now().Unix()
	g := &m.regs
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range g.order {
		m.regUpdate(g.byUUID[id], now)
	}
}

// regUpdate is uac_reg_update; the lock is held.
func (m *Module) regUpdate(r *registration, now int64) {
	if r.expires == 0 {
		return
	}
	if r.flags&regOngoing != 0 {
		if r.timerExpires > now-int64(m.regRetry) {
			return
		}
		r.flags &^= regOnline | regAuthSent
	}
	if !m.regs.active || r.flags&regDisabled != 0 {
		return
	}
	if r.flags&regInit == 0 {
		if r.delay > 0 && now < r.regInit+int64(r.delay) {
			return
		}
		r.flags |= regInit
	}
	if r.timerExpires > now+int64(m.regInterval.Seconds())+3 {
		return
	}
	m.regSend(r, now)
}

// regSend sends r's REGISTER: to sip:r_domain, From and To
// sip:r_username@r_domain, Contact sip:l_uuid@contact_addr, through
// auth_proxy; the lock is held.
func (m *Module) regSend(r *registration, now int64) {
	r.timerExpires = now
	r.flags |= regOngoing
	ruri := "sip:" + r.rDomain
	aor := "sip:" + r.rUser + "@" + r.rDomain
	extra := "Contact: <sip:" + r.uuid + "@" + r.contact + ">\r\nExpires: " + strconv.Itoa(r.expires) + "\r\n"
	var dialog string
	if m.regKeepCallID && r.flags&regOnline != 0 && r.cseq > 0 && r.cseq < 2147483638 && r.callid != "" {
		dialog = "From: <" + aor + ">;tag=" + fromTag() + "\r\nTo: <" + aor + ">\r\nCall-ID: " + r.callid +
			"\r\nCSeq: " + strconv.FormatUint(uint64(r.cseq)+1, 10) + " REGISTER\r\n"
	} else {
		dialog = "From: <" + aor + ">;tag=" + fromTag() + "\r\nTo: <" + aor + ">\r\n"
	}
	r.flags &^= regOnline
	if err := m.regRequest(r, ruri, dialog+extra); err != nil {
		m.log().Error("uac: failed to send request for [" + r.uuid + "]: " + err.Error())
		m.regFailed(r)
		r.flags &^= regOngoing
	}
}

func (m *Module) regRequest(r *registration, ruri, headers string) error {
	sock := r.socket
	if sock == "" {
		sock = m.defaultSocket
	}
	uuid := r.uuid
	return m.tm.Request(tm.UAC{Method: "REGISTER", RURI: ruri, NextHop: r.authProxy, Socket: sock, Headers: headers,
		Done: func(code int, reply []byte) { m.regReply(uuid, code, reply) }})
}

// regFailed is the error path: retried after reg_retry_interval, or
// disabled when it is 0; the lock is held.
func (m *Module) regFailed(r *registration) {
	if m.regRetry > 0 {
		r.timerExpires = time.Now().Unix() + int64(m.regRetry)
	} else {
		r.flags |= regDisabled
	}
	r.cseq = 0
}

// regReply is uac_reg_tm_callback: a 200 with our Contact makes the
// registration online until its expires; a 401/407 is answered once with
// the row's credentials; a 423 doubles the expires (or takes
// Min-Expires); anything else is an error.
func (m *Module) regReply(uuid string, code int, raw []byte) {
	g := &m.regs
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.byUUID[uuid]
	if r == nil {
		return
	}
	var reply sip.Msg
	if raw != nil {
		if err := reply.Parse(raw); err != nil {
			raw = nil
		}
	}
	done := func() { r.flags &^= regOngoing | regAuthSent }
	fail := func(msg string) {
		if msg != "" {
			m.log().Error("uac: " + msg)
		}
		m.regFailed(r)
		done()
	}
	switch {
	case code == 200 && raw != nil:
		defer done()
		for it := reply.Contacts(); ; {
			var ct sip.Contact
			if !it.Next(&ct) {
				m.log().Debug("uac: no matching contact in the 200 for [" + uuid + "]")
				return
			}
			if string(ct.URI.User) != uuid {
				continue
			}
			expires := 0
			if ct.Expires >= 0 {
				expires = ct.Expires
			} else if e := reply.Expires(); e >= 0 {
				expires = e
			}
			r.timerExpires += int64(expires)
			r.flags |= regOnline
			if m.regKeepCallID && len(reply.CallID()) < 90 {
				r.callid, r.cseq = string(reply.CallID()), reply.CSeq()
			}
			return
		}
	case (code == 401 || code == 407) && raw != nil:
		if r.flags&regAuthSent != 0 {
			fail("authentication failed for <" + uuid + ">")
			return
		}
		ch, err := challengeOf(&reply)
		if err != nil {
			fail("failed to parse auth hdr body: " + err.Error())
			return
		}
		if r.realm != "" && ch.realm != r.realm {
			fail("realms do not match. requested realm: [" + ch.realm + "]")
			return
		}
		crd := credential{user: r.authUser, realm: ch.realm, passwd: r.authPass}
		if r.authHA1 != "" {
			crd.passwd, crd.ha1 = r.authHA1, true
		}
		ruri := "sip:" + r.rDomain
		from, to := reply.From(), reply.To()
		dialog := "From: <" + string(from.URI.Raw) + ">;tag=" + string(from.Tag) + "\r\nTo: <" + string(to.URI.Raw) +
			">\r\nCall-ID: " + string(reply.CallID()) + "\r\nCSeq: " + strconv.FormatUint(uint64(reply.CSeq())+1, 10) + " REGISTER\r\n"
		extra := "Contact: <sip:" + r.uuid + "@" + r.contact + ">\r\nExpires: " + strconv.Itoa(r.expires) + "\r\n" +
			authorization(code, "REGISTER", ruri, crd, ch) + "\r\n"
		if err := m.regRequest(r, ruri, dialog+extra); err != nil {
			fail("failed to send request with authentication for [" + uuid + "]: " + err.Error())
			return
		}
		r.flags |= regAuthSent
	case code == 423 && raw != nil:
		if i := reply.NextHeaderNamed([]byte("Min-Expires"), -1); i >= 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(string(reply.Header(i).Value))); err == nil {
				r.expires = n
			} else {
				r.expires *= 2
			}
		} else {
			r.expires *= 2
		}
		done() // retried at the next timer run
	default:
		fail("got sip response " + strconv.Itoa(code) + " while registering [" + uuid + "]")
	}
}

// regLookup is uac_reg_lookup (mode 0: by l_uuid, dst gets
// sip:l_username@l_domain) and uac_reg_lookup_uri (mode 1: by the user
// (and host) of a URI, dst gets the l_uuid).
func (m *Module) regLookup(c *router.Ctx, src, dst string, mode int) int {
	pv, err := c.W.PV(dst)
	if err != nil || !pv.Writable() {
		c.Log().Error("uac: dst is not w/", "route", c.Route)
		return -1
	}
	g := &m.regs
	g.mu.Lock()
	var val string
	if mode == 0 {
		r := g.byUUID[src]
		if r == nil {
			g.mu.Unlock()
			return -1
		}
		val = "sip:" + r.lUser + "@" + r.lDomain
	} else {
		var u sip.URI
		if sip.ParseURI([]byte(src), &u) != nil {
			g.mu.Unlock()
			c.Log().Error("uac: failed to parse uri", "route", c.Route)
			return -2
		}
		r := g.byUser(string(u.User), string(u.Host), m.regUseDomain)
		if r == nil {
			g.mu.Unlock()
			return -1
		}
		val = r.uuid
	}
	g.mu.Unlock()
	if pv.Set(c, router.StrValue(val)) != nil {
		return -1
	}
	return 1
}

// regStatus is uac_reg_status: 1 registered, -2 a REGISTER is out, -3
// disabled, -99 otherwise, -1 no such record.
func (m *Module) regStatus(c *router.Ctx, uuid string) int {
	g := &m.regs
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.byUUID[uuid]
	switch {
	case r == nil:
		return -1
	case r.flags&regOnline != 0 && r.timerExpires > time.Now().Unix():
		return 1
	case r.flags&regOngoing != 0:
		return -2
	case r.flags&regDisabled != 0:
		return -3
	}
	return -99
}

// regRequestTo is uac_reg_request_to: the request URI becomes
// sip:r_username@r_domain, $du the auth proxy, and the auth AVPs the
// record's realm, username and password (mode & 2: the HA1); mode & 1:
// src is the l_username (with its domain when reg_use_domain), else the
// l_uuid.
func (m *Module) regRequestTo(c *router.Ctx, src string, mode int) int {
	g := &m.regs
	g.mu.Lock()
	var r *registration
	switch mode & 1 {
	case 0:
		r = g.byUUID[src]
	default:
		user, domain := src, ""
		if m.regUseDomain {
			var u sip.URI
			if sip.ParseURI([]byte(src), &u) != nil {
				g.mu.Unlock()
				c.Log().Error("uac: failed to parse uri", "route", c.Route)
				return -2
			}
			user, domain = string(u.User), string(u.Host)
		}
		r = g.byUser(user, domain, m.regUseDomain)
	}
	if r == nil {
		g.mu.Unlock()
		return -1
	}
	rec := *r
	g.mu.Unlock()
	if c.SetRURI([]byte("sip:"+rec.rUser+"@"+rec.rDomain)) != nil || c.SetDstURI([]byte(rec.authProxy)) != nil {
		c.Log().Error("uac: error while setting request uri", "route", c.Route)
		return -1
	}
	if m.authRealm == nil {
		c.Log().Error("uac: uac_reg_request_to needs auth_realm_avp, auth_username_avp and auth_password_avp", "route", c.Route)
		return -1
	}
	pass := rec.authPass
	if mode&2 != 0 {
		pass = rec.authHA1
	}
	for _, s := range []struct {
		pv *router.PV
		v  string
	}{{m.authRealm, rec.realm}, {m.authUser, rec.authUser}, {m.authPass, pass}} {
		if err := s.pv.Set(c, router.StrValue(s.v)); err != nil {
			c.Log().Error("uac: "+err.Error(), "route", c.Route)
			return -1
		}
	}
	return 1
}

// regFlag is uac_reg_enable/disable: the record whose attr (l_uuid,
// l_username, r_username, auth_username) is val; 1, -2 none, -3 a bad
// attribute, -1 registrations off.
func (m *Module) regFlag(c *router.Ctx, attr, val string, disable bool) int {
	if m.regDB == nil {
		c.Log().Error("uac: uac remote registrations not enabled", "route", c.Route)
		return -1
	}
	if attr == "" || val == "" {
		c.Log().Error("uac: bad parameter values", "route", c.Route)
		return -1
	}
	g := &m.regs
	g.mu.Lock()
	defer g.mu.Unlock()
	r, err := g.byFilter(attr, val)
	switch {
	case err != nil:
		c.Log().Error("uac: "+err.Error(), "route", c.Route)
		return -3
	case r == nil:
		return -2
	}
	if disable {
		r.flags |= regDisabled
	} else {
		r.flags &^= regDisabled
	}
	r.timerExpires = time.Now().Unix() + 1
	return 1
}

// byFilter finds a record by one of its attributes; the lock is held.
func (g *regs) byFilter(attr, val string) (*registration, error) {
	if attr == "l_uuid" {
		return g.byUUID[val], nil
	}
	for _, id := range g.order {
		r := g.byUUID[id]
		var v string
		switch attr {
		case "l_username":
			v = r.lUser
		case "r_username":
			v = r.rUser
		case "auth_username":
			v = r.authUser
		default:
			return nil, fmt.Errorf("unsupported filter attribute %s", attr)
		}
		if v == val {
			return r, nil
		}
	}
	return nil, nil
}

// regRefresh is uac_reg_refresh: the record read again from the table
// (added when new, removed when gone); 1, -1 when it is not there.
func (m *Module) regRefresh(c *router.Ctx, uuid string) int {
	if uuid == "" || m.regDB == nil {
		return -1
	}
	list, err := m.loadRegs(context.Background(), uuid)
	if err != nil {
		c.Log().Warn("uac: failed to refresh record: "+uuid+": "+err.Error(), "route", c.Route)
		return -1
	}
	g := &m.regs
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(list) == 0 {
		c.Log().Warn("uac: record not found: "+uuid, "route", c.Route)
		return -1
	}
	r := list[0]
	if o := g.byUUID[uuid]; o != nil {
		r.flags, r.timerExpires, r.callid, r.cseq, r.regInit = o.flags, o.timerExpires, o.callid, o.cseq, o.regInit
	} else {
		g.order = append(g.order, uuid)
	}
	g.byUUID[uuid] = r
	return 1
}

// regRPCs are the uac.reg_* commands.
func (m *Module) regRPCs() []dispatch.RPC {
	g := &m.regs
	node := func(r *registration, now int64) map[string]any {
		none := func(s string) string {
			if s == "" {
				return "none"
			}
			return s
		}
		return map[string]any{"l_uuid": r.uuid, "l_username": r.lUser, "l_domain": r.lDomain, "r_username": r.rUser,
			"r_domain": r.rDomain, "realm": r.realm, "auth_username": r.authUser, "auth_password": none(r.authPass),
			"auth_ha1": none(r.authHA1), "auth_proxy": none(r.authProxy), "expires": r.expires, "flags": r.flags,
			"diff_expires": r.timerExpires - now, "timer_expires": r.timerExpires, "reg_init": r.regInit,
			"reg_delay": r.delay, "contact_addr": none(r.contact), "socket": r.socket}
	}
	enabled := func() error {
		if m.regDB == nil {
			return dispatch.RPCErrorf(500, "Not enabled")
		}
		return nil
	}
	filter := func(p []any) (*registration, error) {
		attr, err := dispatch.ParamStr(p, 0, "attribute")
		if err != nil {
			return nil, err
		}
		val, err := dispatch.ParamStr(p, 1, "value")
		if err != nil {
			return nil, err
		}
		r, ferr := g.byFilter(attr, val)
		if ferr != nil {
			return nil, dispatch.RPCErrorf(400, "Unsupported filter attribute")
		}
		if r == nil {
			return nil, dispatch.RPCErrorf(404, "Record not found")
		}
		return r, nil
	}
	setFlag := func(disable bool) dispatch.RPCFunc {
		return func(p []any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			r, err := filter(p)
			if err != nil {
				return nil, err
			}
			if disable {
				r.flags |= regDisabled
			} else {
				r.flags &^= regDisabled
			}
			r.timerExpires = time.Now().Unix() + 1
			return nil, nil
		}
	}
	return []dispatch.RPC{
		{Name: "uac.reg_dump", Doc: "Dump the contents of user registrations table.", Fn: func([]any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			now := time.Now().Unix()
			out := []any{}
			for _, id := range g.order {
				out = append(out, node(g.byUUID[id], now))
			}
			return out, nil
		}},
		{Name: "uac.reg_info", Doc: "Return the details of registration for a particular record: uac.reg_info ATTR VALUE", Fn: func(p []any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			r, err := filter(p)
			if err != nil {
				return nil, err
			}
			return node(r, time.Now().Unix()), nil
		}},
		{Name: "uac.reg_enable", Doc: "Enable registration for a particular record: uac.reg_enable ATTR VALUE", Fn: setFlag(false)},
		{Name: "uac.reg_disable", Doc: "Disable registration for a particular record: uac.reg_disable ATTR VALUE", Fn: setFlag(true)},
		{Name: "uac.reg_reload", Doc: "Reload records from database.", Fn: func([]any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			list, err := m.loadRegs(context.Background(), "")
			if err != nil {
				return nil, dispatch.RPCErrorf(500, "Failed to reload records")
			}
			g.replaceAll(list)
			return nil, nil
		}},
		{Name: "uac.reg_refresh", Doc: "Refresh a record from database: uac.reg_refresh L_UUID", Fn: func(p []any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			uuid, err := dispatch.ParamStr(p, 0, "l_uuid")
			if err != nil {
				return nil, err
			}
			list, lerr := m.loadRegs(context.Background(), uuid)
			if lerr != nil || len(list) == 0 {
				return nil, dispatch.RPCErrorf(500, "Failed to refresh record - check log messages")
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			r := list[0]
			if o := g.byUUID[uuid]; o != nil {
				r.flags, r.timerExpires, r.callid, r.cseq, r.regInit = o.flags, o.timerExpires, o.callid, o.cseq, o.regInit
			} else {
				g.order = append(g.order, uuid)
			}
			g.byUUID[uuid] = r
			return nil, nil
		}},
		{Name: "uac.reg_active", Doc: "Set remote registration active or inactive for all records: uac.reg_active 0|1", Fn: func(p []any) (any, error) {
			if err := enabled(); err != nil {
				return nil, err
			}
			v, err := dispatch.ParamInt(p, 0, "mode")
			if err != nil {
				return nil, err
			}
			g.mu.Lock()
			old := 0
			if g.active {
				old = 1
			}
			g.active = v != 0
			g.mu.Unlock()
			return map[string]any{"omode": old, "nmode": v}, nil
		}},
	}
}
