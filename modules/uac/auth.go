package uac

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/tm"
)

// credential is one modparam("uac", "credential", "user:realm:password"),
// or the one the auth AVPs give.
type credential struct {
	user, realm, passwd string
	ha1                 bool // passwd is HA1 (uac_auth_mode 1, $uac_req(flags) 1)
}

// parseCredential reads "user:realm:password" as Kamailio does: no empty
// part, no spaces inside one (around the colons they are allowed).
func parseCredential(s string) (credential, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return credential{}, errors.New("want user:realm:password")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
		if parts[i] == "" || strings.ContainsAny(parts[i], " \t") {
			return credential{}, errors.New("want user:realm:password")
		}
	}
	return credential{user: parts[0], realm: parts[1], passwd: parts[2]}, nil
}

// challenge is a WWW-Authenticate or Proxy-Authenticate header as
// Kamailio's uac reads it.
type challenge struct {
	realm, nonce, opaque, qop string
	qopAuth                   bool // qop starts with "auth": answered with qop=auth
}

// parseChallenge reads a Digest challenge; like Kamailio 5.6, only MD5
// (an algorithm other than MD5 is refused) and stale true or false.
func parseChallenge(v []byte) (*challenge, error) {
	var d sip.Digest
	if err := sip.ParseDigest(v, &d); err != nil {
		return nil, err
	}
	if !strings.EqualFold(string(d.Scheme), "Digest") {
		return nil, errors.New("not a Digest challenge")
	}
	if len(d.Algorithm) > 0 && !strings.EqualFold(string(d.Algorithm), "MD5") {
		return nil, errors.New("unsupported algorithm \"" + string(d.Algorithm) + "\"")
	}
	if s := strings.ToLower(string(d.Stale)); s != "" && s != "true" && s != "false" {
		return nil, errors.New("unsupported stale value \"" + string(d.Stale) + "\"")
	}
	if len(d.Nonce) == 0 || len(d.Realm) == 0 {
		return nil, errors.New("realm or nonce missing")
	}
	ch := &challenge{realm: string(d.Realm), nonce: string(d.Nonce), opaque: string(d.Opaque), qop: string(d.QOP)}
	ch.qopAuth = strings.HasPrefix(ch.qop, "auth")
	return ch, nil
}

func md5hex(parts ...string) string {
	h := md5.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// authorization is the header line that answers ch for a request of
// method to uri (Kamailio's do_uac_auth and build_authorization_hdr,
// byte for byte): nc 00000001, the cnonce the decimal of Kamailio's hash
// of the nonce, the first qop of the challenge in the response.
func authorization(code int, method, uri string, crd credential, ch *challenge) string {
	ha1 := crd.passwd
	if !crd.ha1 {
		ha1 = md5hex(crd.user, crd.realm, crd.passwd)
	}
	ha2 := md5hex(method, uri)
	nc, cnonce := "00000001", strconv.FormatUint(uint64(sip.CoreHash([]byte(ch.nonce), nil)), 10)
	var response string
	if ch.qop != "" {
		qop, _, _ := strings.Cut(ch.qop, ",")
		response = md5hex(ha1, ch.nonce, nc, cnonce, qop, ha2)
	} else {
		response = md5hex(ha1, ch.nonce, ha2)
	}
	var b strings.Builder
	if code == 401 {
		b.WriteString("Authorization: Digest ")
	} else {
		b.WriteString("Proxy-Authorization: Digest ")
	}
	b.WriteString(`username="` + crd.user + `", realm="` + crd.realm + `", nonce="` + ch.nonce + `", uri="` + uri + `"`)
	if ch.opaque != "" {
		b.WriteString(`, opaque="` + ch.opaque + `"`)
	}
	if ch.qopAuth {
		b.WriteString(`, qop=auth, nc=` + nc + `, cnonce="` + cnonce + `"`)
	}
	b.WriteString(`, response="` + response + `", algorithm=MD5`)
	return b.String()
}

// challengeOf is the challenge of a 401 (WWW-Authenticate) or 407
// (Proxy-Authenticate) reply.
func challengeOf(reply *sip.Msg) (*challenge, error) {
	t := sip.HdrWWWAuthenticate
	if reply.StatusCode() == 407 {
		t = sip.HdrProxyAuthenticate
	}
	v, ok := reply.Get(t)
	if !ok {
		return nil, errors.New("failed to extract authenticate hdr")
	}
	return parseChallenge(v)
}

// credentialFor is the credential for a realm: the auth AVPs' first (an
// empty realm there takes any realm), then the credential parameters.
func (m *Module) credentialFor(c *router.Ctx, realm string) (credential, bool) {
	if m.authRealm != nil {
		r := m.authRealm.Get(c)
		crd := credential{realm: realm}
		ok := true
		if !r.Empty() {
			crd.realm = r.String()
			ok = crd.realm == realm
		}
		u, p := m.authUser.Get(c), m.authPass.Get(c)
		if ok && !u.Empty() && !p.Empty() {
			crd.user, crd.passwd = u.String(), p.String()
			return crd, true
		}
	}
	for _, crd := range m.creds {
		if crd.realm == realm {
			return crd, true
		}
	}
	return credential{}, false
}

// auth is uac_auth_mode in failure_route: the picked branch's 401 or 407
// answered with the credentials for its realm; the header goes on the
// request and the branch's URI becomes the request URI, for t_relay to
// send again. mode 1: the password is HA1.
func (m *Module) auth(c *router.Ctx, mode int) int {
	rpl, uri, ok := tm.PickedReply(c)
	if !ok {
		c.Log().Error("uac: uac_auth: no reply received on the picked branch (in failure_route only; not for tm's own 408)", "route", c.Route)
		return -1
	}
	var reply sip.Msg
	if err := reply.Parse(rpl); err != nil {
		c.Log().Error("uac: uac_auth: the reply does not parse: "+err.Error(), "route", c.Route)
		return -1
	}
	ch, err := challengeOf(&reply)
	if err != nil {
		c.Log().Error("uac: uac_auth: "+err.Error(), "route", c.Route)
		return -1
	}
	crd, ok := m.credentialFor(c, ch.realm)
	if !ok {
		c.Log().Info("uac: no credential for realm \""+ch.realm+"\"", "route", c.Route)
		return -1
	}
	if mode&1 != 0 {
		crd.ha1 = true
	}
	hdr := authorization(reply.StatusCode(), string(c.Msg.MethodName()), string(uri), crd, ch)
	if err := c.SetRURI(uri); err != nil {
		return -1
	}
	if err := c.Msg.AppendHeader([]byte(hdr)); err != nil {
		c.Log().Error("uac: uac_auth: "+err.Error(), "route", c.Route)
		return -1
	}
	return 1
}
