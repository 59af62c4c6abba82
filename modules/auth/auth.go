// Package auth does digest authentication (RFC 2617, RFC 7616), like
// Kamailio's auth module: challenges with self-signed nonces, credential
// checks against a password or HA1 that another module (auth_db) or the
// script supplies.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/sl"
)

// Kamailio's auth return codes (auth_cfg_result_t).
const (
	OK              = 1
	Error           = -1
	InvalidPassword = -2
	UserUnknown     = -3
	StaleNonce      = -4
	NoCredentials   = -5
	NonceReused     = -6
	UserMismatch    = -8
)

// Challenge flags of auth_challenge / www_challenge / proxy_challenge.
const (
	flagQOPAuth    = 1
	flagQOPAuthInt = 2
	flagStale      = 16
)

// The auth_checks_* bits, as Kamailio's.
const (
	checkURI     = 1
	checkCallID  = 2
	checkFromTag = 4
	checkSrcIP   = 8
)

// settings are the module parameters, fixed at start-up.
type settings struct {
	nonces *nonces
	// checks are auth_checks_register, _no_dlg and _in_dlg: what a nonce
	// is bound to (checkURI|checkCallID|checkFromTag|checkSrcIP).
	checksRegister, checksNoDlg, checksInDlg int
	fails                                    *failures // nil: no failed_auth_limit
	qop                                      string    // "", "auth" or "auth-int": qop of every challenge
	algorithm                                Algorithm
	sayAlgorithm                             bool // the algorithm parameter was set
}

// Module is the auth module of one proxy: its parameters, nonces and the
// failed-password counts.
type Module struct {
	settings
	// blocked counts the checks refused by failed_auth_limit.
	blocked atomic.Uint64
	sl      *sl.Module
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "auth",
		Params: []dispatch.Param{
			{Name: "secret", Kind: dispatch.Str, Default: "random per start", Doc: "signs nonces; set it to keep nonces valid across a restart"},
			{Name: "nonce_expire", Kind: dispatch.Int, Default: "300", Doc: "seconds a nonce is valid"},
			{Name: "nonce_count", Kind: dispatch.Int, Default: "0", Doc: "1: check nc against replay (qop responses)"},
			{Name: "nc_array_size", Kind: dispatch.Int, Default: "1048576", Doc: "nonces tracked for `nonce_count` (rounded up to a power of two)"},
			{Name: "qop", Kind: dispatch.Str, Default: "\"\"", Doc: "qop of every challenge (`auth`, `auth-int`)"},
			{Name: "algorithm", Kind: dispatch.Str, Default: "MD5 (not written)", Doc: "MD5 or SHA-256 challenges; when set, challenges say algorithm="},
			{Name: "nonce_auth_max_drift", Kind: dispatch.Int},
			{Name: "use_next_nonce", Kind: dispatch.Int},
			{Name: "failed_auth_limit", Kind: dispatch.Int},
			{Name: "failed_auth_window", Kind: dispatch.Int},
			{Name: "auth_checks_register", Kind: dispatch.Int},
			{Name: "auth_checks_no_dlg", Kind: dispatch.Int},
			{Name: "auth_checks_in_dlg", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// RegisterStats registers auth:failed_auth_blocked.
func (a *Module) RegisterStats(r *stats.Registry) {
	r.Uint("auth", "failed_auth_blocked", "credentials not checked: the user is past failed_auth_limit", &a.blocked)
}

// Exports are KSR.auth and the native-only challenge functions.
func (a *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "auth_challenge", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, realm string, flags int) int {
			if c.Msg.Method() == sip.MethodREGISTER {
				return a.Challenge(c, realm, flags, 401)
			}
			return a.Challenge(c, realm, flags, 407)
		})},
		{Name: "consume_credentials", Ret: dispatch.Int, Fn: dispatch.F0(ConsumeCredentials)},
		{Name: "has_credentials", Ret: dispatch.Int, Fn: dispatch.FS(HasCredentials)},
		{Name: "pv_auth_check", Ret: dispatch.Int, Fn: dispatch.FSSII(a.PVAuthCheck)},
		{Name: "www_challenge", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, realm string, flags int) int {
			return a.Challenge(c, realm, flags, 401)
		})},
		{Name: "proxy_challenge", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, realm string, flags int) int {
			return a.Challenge(c, realm, flags, 407)
		})},
		{Name: "pv_www_authenticate", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSSI(func(c *router.Ctx, realm, passwd string, flags int) int {
			return a.pvAuthenticate(c, sip.HdrAuthorization, realm, passwd, flags, 0)
		})},
		{Name: "pv_proxy_authenticate", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSSI(func(c *router.Ctx, realm, passwd string, flags int) int {
			return a.pvAuthenticate(c, sip.HdrProxyAuthorization, realm, passwd, flags, 0)
		})},
	}
}

// Init reads the parameters and makes the nonce secret.
func (a *Module) Init(p *dispatch.Params) error {
	secret := []byte(p.Str("secret", ""))
	if len(secret) == 0 {
		// A random secret per process, as Kamailio does: nonces from
		// before a restart are then refused (the client is challenged again).
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	expire := p.Int("nonce_expire", 300)
	if expire < 1 {
		return fmt.Errorf("nonce_expire %d: must be at least 1 second", expire)
	}
	slots := 0
	if p.Int("nonce_count", 0) != 0 {
		// Kamailio's nc_array_size is in bytes of one-byte counters; here a
		// slot is 8 bytes (the nonce's sequence number and its count).
		slots = 1 << 20
		if n := p.Int("nc_array_size", 0); n > 0 {
			for slots = 1; slots < n; slots <<= 1 {
			}
		}
	}
	s := settings{nonces: newNonces(secret, time.Duration(expire)*time.Second, slots),
		checksRegister: p.Int("auth_checks_register", 0), checksNoDlg: p.Int("auth_checks_no_dlg", 0),
		checksInDlg: p.Int("auth_checks_in_dlg", 0)}
	lim, win := p.Int("failed_auth_limit", 0), p.Int("failed_auth_window", 60)
	if lim < 0 || win < 1 {
		return fmt.Errorf("failed_auth_limit %d, failed_auth_window %d: want a limit of 0 (off) or more and a window of 1 s or more", lim, win)
	}
	s.fails = newFailures(lim, time.Duration(win)*time.Second, &a.blocked)
	for _, m := range []int{s.checksRegister, s.checksNoDlg, s.checksInDlg} {
		if m < 0 || m > 15 {
			return fmt.Errorf("auth_checks_*: %d is not a sum of 1 (URI), 2 (Call-ID), 4 (From tag), 8 (source IP)", m)
		}
	}
	switch q := strings.ToLower(p.Str("qop", "")); q {
	case "", "auth", "auth-int":
		s.qop = q
	default:
		return fmt.Errorf("qop %q: want auth, auth-int or empty", q)
	}
	var err error
	alg, ok := ParseAlgorithm([]byte(p.Str("algorithm", "")))
	if !ok || alg == MD5Sess || alg == SHA256Sess {
		return fmt.Errorf("algorithm %q: want MD5 or SHA-256", p.Str("algorithm", ""))
	}
	s.algorithm = alg
	// As Kamailio's: a challenge names its algorithm only when the
	// parameter is set (absent is MD5, RFC 2617).
	s.sayAlgorithm = p.Str("algorithm", "") != ""
	a.settings = s
	a.sl, err = dispatch.Need[*sl.Module](p, "sl")
	return err
}

// realmOf is the realm a function was given, or when empty the host of
// the To URI for REGISTER and of the From URI otherwise, as Kamailio does.
func realmOf(c *router.Ctx, realm string) []byte {
	if realm != "" {
		return []byte(realm)
	}
	na := c.Msg.From()
	if c.Msg.Method() == sip.MethodREGISTER {
		na = c.Msg.To()
	}
	return na.URI.Host
}

// binding is the digest of what a nonce for this request is bound to
// (auth_checks_register for REGISTER, _in_dlg with a To tag, else
// _no_dlg), written into b; nil when nothing is.
func (a *Module) binding(c *router.Ctx, b *[32]byte) *[32]byte {
	m := c.Msg
	mask := a.checksNoDlg
	switch {
	case m.Method() == sip.MethodREGISTER:
		mask = a.checksRegister
	case len(m.To().Tag) > 0:
		mask = a.checksInDlg
	}
	if mask == 0 {
		return nil
	}
	h := sha256.New()
	sep := []byte{0}
	if mask&checkURI != 0 {
		h.Write(m.RURIText())
	}
	h.Write(sep)
	if mask&checkCallID != 0 {
		h.Write(m.CallID())
	}
	h.Write(sep)
	if mask&checkFromTag != 0 {
		h.Write(m.From().Tag)
	}
	h.Write(sep)
	if mask&checkSrcIP != 0 {
		ip := c.Src().Addr().Unmap().As16()
		h.Write(ip[:])
	}
	h.Sum(b[:0])
	return b
}

// Challenge answers the request with 401 (WWW-Authenticate) or 407
// (Proxy-Authenticate) and a fresh nonce. stale=true is added when the
// request carried credentials for the realm whose nonce had only expired
// (RFC 7616 §3.3), so that the client retries without asking its user.
func (a *Module) Challenge(c *router.Ctx, realm string, flags int, code int) int {
	m := c.Msg
	if !m.IsRequest() || m.Method() == sip.MethodACK || m.Method() == sip.MethodCANCEL {
		c.Log().Error("auth: cannot challenge this message", "route", c.Route)
		return Error
	}
	r := realmOf(c, realm)
	stale := flags&flagStale != 0
	if !stale {
		var d sip.Digest
		t := sip.HdrAuthorization
		if code == 407 {
			t = sip.HdrProxyAuthorization
		}
		if i, err := m.DigestFor(t, r, &d); err == nil && i >= 0 {
			var b [32]byte
			st, _ := a.nonces.check(d.Nonce, time.Now(), a.binding(c, &b))
			stale = st == nonceStale
		}
	}
	qop := a.qop
	switch {
	case flags&flagQOPAuth != 0:
		qop = "auth"
	case flags&flagQOPAuthInt != 0:
		qop = "auth-int"
	}
	var b [32]byte
	bind := a.binding(c, &b)
	buf := c.W.Scratch[:0]
	if code == 407 {
		buf = append(buf, "Proxy-Authenticate: Digest realm=\""...)
	} else {
		buf = append(buf, "WWW-Authenticate: Digest realm=\""...)
	}
	buf = appendQuotedSafe(buf, r)
	buf = append(buf, "\", nonce=\""...)
	buf = a.nonces.make(buf, time.Now(), bind)
	buf = append(buf, '"')
	if qop != "" {
		buf = append(buf, ", qop=\""...)
		buf = append(buf, qop...)
		buf = append(buf, '"')
	}
	if a.sayAlgorithm {
		buf = append(buf, ", algorithm="...)
		buf = append(buf, a.algorithm.String()...)
	}
	if stale {
		buf = append(buf, ", stale=true"...)
	}
	buf = append(buf, "\r\n"...)
	c.W.Scratch = buf
	reason := "Unauthorized"
	if code == 407 {
		reason = "Proxy Authentication Required"
	}
	if a.sl.Send(c, code, reason, buf, nil) < 0 {
		return Error
	}
	return OK
}

// appendQuotedSafe copies a realm into a quoted-string, dropping what
// would end it or start a new line.
func appendQuotedSafe(dst, s []byte) []byte {
	for _, ch := range s {
		if ch == '"' || ch == '\\' || ch == '\r' || ch == '\n' {
			continue
		}
		dst = append(dst, ch)
	}
	return dst
}

// HasCredentials is 1 when the request has Authorization or
// Proxy-Authorization credentials for realm.
func HasCredentials(c *router.Ctx, realm string) int {
	var d sip.Digest
	r := realmOf(c, realm)
	for _, t := range [...]sip.HdrType{sip.HdrAuthorization, sip.HdrProxyAuthorization} {
		if i, err := c.Msg.DigestFor(t, r, &d); err == nil && i >= 0 {
			return 1
		}
	}
	return -1
}

// accepted is 1 + the header index of the credentials that the last
// check accepted, 0 when none: consume_credentials removes that header.
type accepted struct{ header int }

func (a *accepted) Reset() { a.header = 0 }

var acceptedSlot = router.NewSlot[accepted]()

// Authorized is the digest of the credentials the last successful check
// accepted (Kamailio's get_authorized_cred), for the modules that read
// the authenticated user (group, uri_db); false when none was.
func Authorized(c *router.Ctx) (sip.Digest, bool) {
	h := acceptedSlot.Of(c).header
	if h == 0 || h > c.Msg.NumHeaders() {
		return sip.Digest{}, false
	}
	var d sip.Digest
	if sip.ParseDigest(c.Msg.Header(h-1).Value, &d) != nil {
		return sip.Digest{}, false
	}
	return d, true
}

// Forget drops the credentials the last check accepted (a check that
// failed afterwards, auth_check's identity check).
func Forget(c *router.Ctx) { acceptedSlot.Of(c).header = 0 }

// ConsumeCredentials removes the credentials that the last successful
// check accepted, so that they are not forwarded.
func ConsumeCredentials(c *router.Ctx) int {
	acc := acceptedSlot.Of(c)
	if acc.header == 0 {
		return -1
	}
	if err := c.Msg.RemoveHeader(acc.header - 1); err != nil {
		c.Log().Error("auth: consume_credentials: "+err.Error(), "route", c.Route)
		return -1
	}
	acc.header = 0
	return 1
}

// Credentials are the digest credentials one check works on.
type Credentials struct {
	sip.Digest
	Header    int // the header's index
	Algorithm Algorithm
	id        uint32 // the nonce's sequence number
}

// HeaderFor is the credentials header a check reads: Authorization for
// REGISTER (the registrar is the UAS), Proxy-Authorization otherwise.
func HeaderFor(m *sip.Msg) sip.HdrType {
	if m.Method() == sip.MethodREGISTER {
		return sip.HdrAuthorization
	}
	return sip.HdrProxyAuthorization
}

// PreAuth finds the credentials for realm in headers of type t and checks
// what needs no password: the scheme, the algorithm, the nonce's signature
// and age. It returns OK to go on, or NoCredentials, StaleNonce, Error.
func (a *Module) PreAuth(c *router.Ctx, t sip.HdrType, realm string, cr *Credentials) int {
	r := realmOf(c, realm)
	i, err := c.Msg.DigestFor(t, r, &cr.Digest)
	if err != nil {
		c.Log().Info("auth: malformed credentials: "+err.Error(), "route", c.Route)
		return Error
	}
	if i < 0 {
		return NoCredentials
	}
	cr.Header = i
	if !strings.EqualFold(string(cr.Scheme), "Digest") || len(cr.Username) == 0 || len(cr.Response) == 0 {
		return Error
	}
	alg, ok := ParseAlgorithm(cr.Digest.Algorithm)
	if !ok {
		return Error
	}
	cr.Algorithm = alg
	var b [32]byte
	st, id := a.nonces.check(cr.Nonce, time.Now(), a.binding(c, &b))
	switch st {
	case nonceBad:
		return Error
	case nonceStale:
		return StaleNonce
	}
	cr.id = id
	if len(cr.QOP) > 0 && (string(cr.QOP) != "auth" && string(cr.QOP) != "auth-int" || len(cr.NC) == 0 || len(cr.CNonce) == 0) {
		return Error
	}
	return OK
}

// Verify checks the response against HA1 (hex, of the credentials'
// algorithm) and then the nonce-count: OK, InvalidPassword, NonceReused
// or StaleNonce. On OK the credentials are remembered for
// consume_credentials.
func (a *Module) Verify(c *router.Ctx, cr *Credentials, ha1 []byte) int {
	return a.VerifyMethod(c, cr, ha1, c.Msg.MethodName())
}

// VerifyMethod is Verify with the response worked out for method rather
// than the request's own (auth_ephemeral's autheph_www(realm, method)).
func (a *Module) VerifyMethod(c *router.Ctx, cr *Credentials, ha1, method []byte) int {
	if len(ha1) != cr.Algorithm.HexLen() {
		c.Log().Error("auth: the stored HA1 does not fit the algorithm "+cr.Algorithm.String(), "route", c.Route, "user", string(cr.Username))
		return Error
	}
	m := c.Msg
	now := time.Now()
	if a.fails.blocked(cr.Username, cr.Realm, now) {
		return InvalidPassword
	}
	var want [64]byte
	resp := cr.Algorithm.Response(want[:], ha1, cr.Nonce, cr.NC, cr.CNonce, cr.QOP, method, cr.URI, m.Body())
	if !EqualHex(cr.Response, resp) {
		a.fails.fail(cr.Username, cr.Realm, now)
		return InvalidPassword
	}
	if len(cr.QOP) > 0 {
		ok, stale := a.nonces.count(cr.id, cr.NC)
		if stale {
			return StaleNonce
		}
		if !ok {
			return NonceReused
		}
	}
	acceptedSlot.Of(c).header = cr.Header + 1
	return OK
}

// dummyPassword is what an unknown user's credentials are checked
// against: random per process, so that no response matches it.
var dummyPassword = func() []byte {
	b := make([]byte, 32) // 64 hex digits: an HA1 of the longest algorithm
	rand.Read(b)
	return fmt.Appendf(nil, "%x", b)
}()

// VerifyUnknown does for credentials of a user that does not exist the
// work Verify does for one that does (an HA1 when calculate is set, the
// response, the comparison) and returns UserUnknown: the time of the
// answer does not tell existing users from unknown ones.
func (a *Module) VerifyUnknown(c *router.Ctx, cr *Credentials, calculate bool) int {
	var buf [64]byte
	ha1 := dummyPassword[:cr.Algorithm.HexLen()]
	if calculate {
		ha1 = cr.Algorithm.HA1(buf[:], cr.Username, cr.Realm, dummyPassword)
	}
	var want [64]byte
	m := c.Msg
	resp := cr.Algorithm.Response(want[:], ha1, cr.Nonce, cr.NC, cr.CNonce, cr.QOP, m.MethodName(), cr.URI, m.Body())
	EqualHex(cr.Response, resp)
	if now := time.Now(); !a.fails.blocked(cr.Username, cr.Realm, now) {
		a.fails.fail(cr.Username, cr.Realm, now)
	}
	return UserUnknown
}

// CheckIdentity is the check of auth_check's flag 1: the authentication
// user and realm must be the user and host of the To URI (REGISTER) or of
// the From URI (other requests).
func CheckIdentity(c *router.Ctx, cr *Credentials) int {
	na := c.Msg.From()
	if c.Msg.Method() == sip.MethodREGISTER {
		na = c.Msg.To()
	}
	user := cr.Username
	if i := strings.IndexByte(string(user), '@'); i >= 0 {
		user = user[:i]
	}
	if string(na.URI.User) != string(user) || !strings.EqualFold(string(na.URI.Host), string(cr.Realm)) {
		return UserMismatch
	}
	return OK
}

// PVAuthCheck checks credentials against a password (flags&1: an HA1)
// from the script: pv_auth_check(realm, passwd, flags, checks).
func (a *Module) PVAuthCheck(c *router.Ctx, realm, passwd string, flags, checks int) int {
	return a.pvAuthenticate(c, HeaderFor(c.Msg), realm, passwd, flags, checks)
}

func (a *Module) pvAuthenticate(c *router.Ctx, t sip.HdrType, realm, passwd string, flags, checks int) int {
	var cr Credentials
	if rc := a.PreAuth(c, t, realm, &cr); rc != OK {
		return rc
	}
	var buf [64]byte
	ha1 := []byte(passwd)
	if flags&1 == 0 {
		ha1 = cr.Algorithm.HA1(buf[:], cr.Username, cr.Realm, ha1)
	}
	if rc := a.Verify(c, &cr, ha1); rc != OK {
		return rc
	}
	if checks&1 != 0 {
		return CheckIdentity(c, &cr)
	}
	return OK
}
