// Package auth_ephemeral is Kamailio's auth_ephemeral module: digest
// authentication with time-limited credentials a web service hands out
// (draft-uberti-rtcweb-turn-rest): the username carries its expiry
// ("timestamp:user", or "user:timestamp" in the old format) and the
// password is base64(HMAC(secret, username)) with one of the shared
// secrets — no subscriber table.
package auth_ephemeral

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/auth"
)

// Kamailio's codes beyond auth's: an expired username, and the checks'.
const (
	usernameExpired = -7
	checkNoUser     = -2
)

// Module is the auth_ephemeral module of one proxy.
type Module struct {
	auth    *auth.Module // nil: the digest functions are not there, as in Kamailio without auth
	ietf    bool         // username_format 1: timestamp:user
	newHash func() hash.Hash

	mu      sync.Mutex
	secrets []string // the first tried first: the last added, as Kamailio's list
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	dispatch.Register(dispatch.ModuleInfo{Name: "auth_ephemeral",
		Params: []dispatch.Param{
			{Name: "secret", Kind: s, Multi: true, Doc: "a shared secret (several: any of them)"},
			dispatch.P("username_format", i, "1", "1: timestamp:user (IETF), 0: user:timestamp (deprecated)"),
			dispatch.P("sha_algorithm", i, "1", "the HMAC: 1 SHA-1, 2 SHA-256, 3 SHA-384, 4 SHA-512"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the secrets and binds auth when it is loaded.
func (m *Module) Init(p *dispatch.Params) error {
	for _, v := range p.All("secret") {
		m.secrets = append([]string{v.String()}, m.secrets...)
	}
	if len(m.secrets) == 0 {
		return fmt.Errorf("auth_ephemeral: secret modparam not set")
	}
	switch f := p.Int("username_format", 1); f {
	case 0: // deprecated: user:timestamp
	case 1:
		m.ietf = true
	default:
		return fmt.Errorf("auth_ephemeral: bad value for username_format modparam: %d", f)
	}
	switch a := p.Int("sha_algorithm", 1); a {
	case 1:
		m.newHash = sha1.New
	case 2:
		m.newHash = sha256.New
	case 3:
		m.newHash = sha512.New384
	case 4:
		m.newHash = sha512.New
	default:
		return fmt.Errorf("auth_ephemeral: invalid sha_algorithm %d (1 to 4)", a)
	}
	m.auth, _ = p.Module("auth").(*auth.Module)
	return nil
}

// password is base64(HMAC(secret, username)).
func (m *Module) password(username, secret string) string {
	h := hmac.New(m.newHash, []byte(secret))
	h.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// verifyTimestamp is autheph_verify_timestamp: 0 valid, -1 no number,
// usernameExpired when its time has passed.
func (m *Module) verifyTimestamp(username string) int {
	pos := strings.IndexByte(username, ':')
	if pos < 0 {
		pos = len(username)
	}
	ts := username
	if pos < len(username)-1 {
		if m.ietf {
			ts = username[:pos]
		} else {
			ts = username[pos+1:]
		}
	}
	n, err := strconv.ParseUint(ts, 10, 32)
	if err != nil {
		return -1
	}
	if time.Now().Unix() > int64(n) {
		return usernameExpired
	}
	return 0
}

// digest is digest_authenticate: the credentials of header type t for
// realm, the username's time checked, the response against each secret's
// password.
func (m *Module) digest(c *router.Ctx, realm string, t sip.HdrType, method string) int {
	fn := "autheph_www"
	if t == sip.HdrProxyAuthorization {
		fn = "autheph_proxy"
	}
	if m.auth == nil {
		c.Log().Error("auth_ephemeral: "+fn+"() cannot be used without the auth module", "route", c.Route)
		return auth.Error
	}
	if mt := c.Msg.Method(); mt == sip.MethodACK || mt == sip.MethodCANCEL {
		return auth.OK
	}
	if realm == "" {
		c.Log().Error("auth_ephemeral: invalid realm parameter - empty value", "route", c.Route)
		return auth.Error
	}
	var cr auth.Credentials
	if rc := m.auth.PreAuth(c, t, realm, &cr); rc != auth.OK {
		return rc
	}
	username := string(cr.Username)
	switch m.verifyTimestamp(username) {
	case -1:
		c.Log().Error("auth_ephemeral: invalid timestamp in username", "route", c.Route)
		return auth.Error
	case usernameExpired:
		c.Log().Warn("auth_ephemeral: username has expired", "route", c.Route)
		return usernameExpired
	}
	m.mu.Lock()
	secrets := append([]string(nil), m.secrets...)
	m.mu.Unlock()
	rc := auth.Error
	for _, s := range secrets {
		var buf [64]byte
		ha1 := auth.MD5.HA1(buf[:], cr.Username, []byte(realm), []byte(m.password(username, s)))
		if cr.Algorithm != auth.MD5 {
			c.Log().Error("auth_ephemeral: credentials of "+cr.Algorithm.String()+": ephemeral HA1 is MD5", "route", c.Route)
			return auth.Error
		}
		if rc = m.auth.VerifyMethod(c, &cr, ha1, []byte(method)); rc == auth.OK {
			break
		}
	}
	return rc
}

// authenticate is autheph_authenticate(username, password): the pair
// checked without digest (a TURN-style password given in clear).
func (m *Module) authenticate(c *router.Ctx, username, password string) int {
	if username == "" || password == "" {
		c.Log().Error("auth_ephemeral: invalid username or password parameter - empty value", "route", c.Route)
		return auth.Error
	}
	switch m.verifyTimestamp(username) {
	case -1:
		c.Log().Error("auth_ephemeral: invalid timestamp in username", "route", c.Route)
		return auth.Error
	case usernameExpired:
		return usernameExpired
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.secrets {
		if hmac.Equal([]byte(m.password(username, s)), []byte(password)) {
			return auth.OK
		}
	}
	return auth.Error
}

// checkUsername is check_username: the user (and domain, when the
// username has one) of an ephemeral username against a URI.
func (m *Module) checkUsername(username string, u *sip.URI) int {
	if username == "" {
		return -1
	}
	pos := strings.IndexByte(username, ':')
	if pos < 0 || pos >= len(username)-1 {
		return checkNoUser
	}
	user := username[pos+1:]
	if !m.ietf {
		user = username[:pos]
	}
	domain := ""
	if at := strings.IndexByte(user, '@'); at >= 0 && at < len(user)-1 {
		user, domain = user[:at], user[at+1:]
	}
	if user == string(u.User) && (domain == "" || domain == string(u.Host)) {
		return 1
	}
	return -1
}

// check is autheph_check_from/to: username given, or the authorized
// credentials' when "".
func (m *Module) check(c *router.Ctx, to bool, username string) int {
	if username == "" {
		if m.auth == nil {
			c.Log().Error("auth_ephemeral: the check with no username cannot be used without the auth module", "route", c.Route)
			return -1
		}
		d, ok := auth.Authorized(c)
		if !ok {
			c.Log().Error("auth_ephemeral: call autheph_(check|proxy|www) before the check with no username parameter", "route", c.Route)
			return -1
		}
		username = string(d.Username)
	}
	na := c.Msg.From()
	if to {
		na = c.Msg.To()
	}
	if na == nil {
		return -1
	}
	return m.checkUsername(username, &na.URI)
}

// RPCs are autheph.*: the secrets listed, added, removed by position.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "autheph.dump_secrets", Doc: "List secret tokens", Fn: func([]any) (any, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			out := []any{}
			for i, s := range m.secrets {
				out = append(out, fmt.Sprintf("ID %d: %s", i, s))
			}
			return out, nil
		}},
		{Name: "autheph.add_secret", Doc: "Add a secret", Fn: func(p []any) (any, error) {
			s, err := dispatch.ParamStr(p, 0, "secret")
			if err != nil {
				return nil, dispatch.RPCErrorf(500, "Not enough parameters")
			}
			m.mu.Lock()
			m.secrets = append([]string{s}, m.secrets...)
			m.mu.Unlock()
			return nil, nil
		}},
		{Name: "autheph.rm_secret", Doc: "Remove a secret", Fn: func(p []any) (any, error) {
			id, err := dispatch.ParamInt(p, 0, "id")
			if err != nil {
				return nil, dispatch.RPCErrorf(500, "Not enough parameters")
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if id < 0 || int(id) >= len(m.secrets) {
				return nil, dispatch.RPCErrorf(500, "Failed removing secret")
			}
			m.secrets = append(m.secrets[:id], m.secrets[id+1:]...)
			return nil, nil
		}},
	}
}

// Exports are KSR.auth_ephemeral and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "autheph_check", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, realm string) int {
			return m.digest(c, realm, auth.HeaderFor(c.Msg), string(c.Msg.MethodName()))
		})},
		{Name: "autheph_www", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, realm string) int {
			return m.digest(c, realm, sip.HdrAuthorization, string(c.Msg.MethodName()))
		})},
		{Name: "autheph_www_method", Ret: I, Native: "autheph_www", Fn: dispatch.FSS(func(c *router.Ctx, realm, method string) int {
			if method == "" {
				c.Log().Error("auth_ephemeral: invalid method value - empty value", "route", c.Route)
				return auth.Error
			}
			return m.digest(c, realm, sip.HdrAuthorization, method)
		})},
		{Name: "autheph_proxy", Ret: I, Fn: dispatch.FS(func(c *router.Ctx, realm string) int {
			return m.digest(c, realm, sip.HdrProxyAuthorization, string(c.Msg.MethodName()))
		})},
		{Name: "autheph_authenticate", Ret: I, Fn: dispatch.FSS(m.authenticate)},
		// Native only: the checks of From, To and a timestamp.
		{Name: "autheph_check_from", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.check(c, false, "") })},
		{Name: "autheph_check_from", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, u string) int {
			if u == "" {
				return -1
			}
			return m.check(c, false, u)
		})},
		{Name: "autheph_check_to", NativeOnly: true, Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.check(c, true, "") })},
		{Name: "autheph_check_to", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, u string) int {
			if u == "" {
				return -1
			}
			return m.check(c, true, u)
		})},
		{Name: "autheph_check_timestamp", NativeOnly: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, u string) int {
			if u == "" || m.verifyTimestamp(u) < 0 {
				return -1
			}
			return 1
		})},
	}
}
