// Package sanity checks requests against RFC 3261 beyond what the parser
// already rejects, like Kamailio's sanity module, and answers the bad ones.
package sanity

import (
	"bytes"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/sl"
)

// The msg_checks bits, Kamailio's values.
const (
	CheckRURIVersion = 1 << iota
	CheckRURIScheme
	CheckRequiredHeaders
	CheckViaVersion
	CheckViaProtocol
	CheckCSeqMethod
	CheckCSeqValue
	CheckContentLength
	CheckExpires
	CheckProxyRequire
	CheckParseURIs
	CheckDigest
	CheckDuplicateTo
	CheckAuthorization
	CheckVia1
)

// The uri_checks bits.
const (
	URIRequest = 1 << iota
	URIFrom
	URITo
	URIContact
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "sanity",
		Params: []dispatch.Param{
			{Name: "default_checks", Kind: dispatch.Int}, {Name: "uri_checks", Kind: dispatch.Int},
			{Name: "proxy_require", Kind: dispatch.Str}, {Name: "autodrop", Kind: dispatch.Int},
			{Name: "noreply", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Module is the sanity module of one proxy: its parameters.
type Module struct {
	defaultChecks int
	uriChecks     int
	proxyRequire  []string
	autodrop      bool
	noreply       bool
	sl            *sl.Module
}

var _ dispatch.Initializer = (*Module)(nil)

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.defaultChecks = p.Int("default_checks", 1511)
	m.uriChecks = p.Int("uri_checks", 7)
	m.proxyRequire = nil
	for _, s := range strings.Split(p.Str("proxy_require", ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			m.proxyRequire = append(m.proxyRequire, s)
		}
	}
	m.autodrop = p.Int("autodrop", 1) != 0
	m.noreply = p.Int("noreply", 0) != 0
	var err error
	m.sl, err = dispatch.Need[*sl.Module](p, "sl")
	return err
}

// result is the reply of the request's last failed check, for
// sanity_reply.
type result struct {
	code   int
	reason string
}

func (r *result) Reset() { *r = result{} }

var failed = router.NewSlot[result]()

// Exports are KSR.sanity.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "sanity_check", Ret: dispatch.Int, Fn: dispatch.FII(m.Check)},
		{Name: "sanity_check_defaults", Ret: dispatch.Int, Native: dispatch.NoNative, Fn: dispatch.F0(func(c *router.Ctx) int { return m.Check(c, m.defaultChecks, m.uriChecks) })},
		{Name: "sanity_reply", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			r := failed.Of(c)
			if r.code == 0 {
				return -1
			}
			return m.sl.SendReply(c, r.code, r.reason)
		})},
	}
}

// Check runs the checks named by the bits. A failing check answers the
// request (unless noreply) and returns 0 with autodrop, so that the script
// stops, else -1. 1 when everything passed.
func (mod *Module) Check(c *router.Ctx, msgChecks, uriBits int) int {
	m := c.Msg
	r := failed.Of(c)
	r.code = 0
	if !m.IsRequest() {
		return 1 // the checks are about requests; the parser has checked the reply
	}
	code, reason := mod.check(c, m, msgChecks, uriBits)
	if code == 0 {
		return 1
	}
	r.code, r.reason = code, reason
	c.Log().Info("sanity: check failed", "reason", reason, "src", c.Src().String(), "route", c.Route)
	if !mod.noreply && m.Method() != sip.MethodACK {
		mod.sl.SendReply(c, code, reason)
	}
	if mod.autodrop {
		return 0
	}
	return -1
}

func (mod *Module) check(c *router.Ctx, m *sip.Msg, bits, uriBits int) (int, string) {
	if bits&CheckRURIVersion != 0 && !bytes.Equal(m.Version(), []byte("SIP/2.0")) {
		return 505, "Version Not Supported"
	}
	if bits&CheckRURIScheme != 0 {
		if u, err := m.RURI(); err == nil && u.Scheme == sip.SchemeOther {
			return 416, "Unsupported URI Scheme in Request URI"
		}
	}
	if bits&(CheckViaVersion|CheckViaProtocol|CheckVia1) != 0 {
		v := m.TopVia()
		if v == nil || !bytes.Equal(v.Protocol, []byte("SIP")) || !bytes.Equal(v.Version, []byte("2.0")) {
			return 400, "Bad Via"
		}
		if bits&CheckViaProtocol != 0 && v.Transport == sip.TransportOther {
			return 400, "Unknown Via Transport"
		}
	}
	if bits&CheckExpires != 0 && m.Has(sip.HdrExpires) && m.Expires() < 0 {
		return 400, "Bad Expires Header"
	}
	if bits&CheckProxyRequire != 0 && m.Has(sip.HdrProxyRequire) {
		for it := m.List(sip.HdrProxyRequire); ; {
			tok, ok := it.Next()
			if !ok {
				break
			}
			known := false
			for _, p := range mod.proxyRequire {
				if sip.EqualFold(tok, []byte(p)) {
					known = true
				}
			}
			if !known {
				c.AddReplyHeader(append([]byte("Unsupported: "), tok...))
				return 420, "Bad Extension"
			}
		}
	}
	if bits&CheckParseURIs != 0 {
		if uriBits&URIRequest != 0 {
			if _, err := m.RURI(); err != nil {
				return 400, "Bad Request URI"
			}
		}
		if uriBits&URIContact != 0 && m.Has(sip.HdrContact) {
			if _, err := m.Contact(); err != nil {
				return 400, "Bad Contact Header"
			}
		}
	}
	if bits&CheckDigest != 0 {
		if m.Has(sip.HdrAuthorization) {
			if _, err := m.Authorization(); err != nil {
				return 400, "Bad Credentials"
			}
		}
		if m.Has(sip.HdrProxyAuthorization) {
			if _, err := m.ProxyAuthorization(); err != nil {
				return 400, "Bad Credentials"
			}
		}
	}
	return 0, ""
}
