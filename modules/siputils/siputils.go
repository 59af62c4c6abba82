// Package siputils holds SIP helper checks, like Kamailio's siputils
// module: has_totag, is_first_hop, options_reply, URI checks.
package siputils

import (
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/sl"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "siputils",
		Params: []dispatch.Param{
			{Name: "options_accept", Kind: dispatch.Str}, {Name: "options_accept_encoding", Kind: dispatch.Str},
			{Name: "options_accept_language", Kind: dispatch.Str}, {Name: "options_support", Kind: dispatch.Str},
			{Name: "contact_flds_separator", Kind: dispatch.Str, Default: "*"},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Module is the siputils module of one proxy: the headers of its
// options_reply.
type Module struct {
	optionsAccept, optionsEncoding, optionsLanguage, optionsSupport string
	sl                                                              *sl.Module
	sep                                                             byte // contact_flds_separator
}

var _ dispatch.Initializer = (*Module)(nil)

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.optionsAccept = p.Str("options_accept", "*/*")
	m.optionsEncoding = p.Str("options_accept_encoding", "")
	m.optionsLanguage = p.Str("options_accept_language", "en")
	m.optionsSupport = p.Str("options_support", "")
	m.sep = '*'
	if s := p.Str("contact_flds_separator", "*"); s != "" {
		m.sep = s[0]
	}
	var err error
	m.sl, err = dispatch.Need[*sl.Module](p, "sl")
	return err
}

// Exports are KSR.siputils.
func (m *Module) Exports() []dispatch.Export {
	return append([]dispatch.Export{
		{Name: "has_totag", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if to := c.Msg.To(); to != nil && len(to.Tag) > 0 {
				return 1
			}
			return -1
		})},
		{Name: "is_first_hop", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return isFirstHopMode(c, 0) })},
		{Name: "is_reply", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(!c.Msg.IsRequest()) })},
		{Name: "is_request", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return dispatch.Result(c.Msg.IsRequest()) })},
		{Name: "options_reply", Ret: dispatch.Int, Fn: dispatch.F0(m.optionsReply)},
		{Name: "is_numeric", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int { return all(s, "", isDigit) })},
		{Name: "is_alphanum", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int { return all(s, "", isAlnum) })},
		{Name: "is_alphanumex", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, s, extra string) int { return all(s, extra, isAlnum) })},
		{Name: "is_tel_number", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int {
			if len(s) > 1 && s[0] == '+' {
				s = s[1:]
			}
			if len(s) == 0 || s[0] == '0' {
				return -1
			}
			return all(s, "", isDigit)
		})},
		{Name: "is_uri", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, s string) int {
			var u sip.URI
			return dispatch.Result(sip.ParseURI([]byte(s), &u) == nil)
		})},
		{Name: "is_user", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, user string) int {
			f := c.Msg.From()
			return dispatch.Result(f != nil && string(f.URI.User) == user)
		})},
		{Name: "cmp_uri", Ret: dispatch.Int, Fn: dispatch.FSS(cmpURI)},
		{Name: "cmp_aor", Ret: dispatch.Int, Fn: dispatch.FSS(cmpAOR)},
		{Name: "cmp_hdr_name", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, a, b string) int {
			return dispatch.Result(sip.ClassifyHeader([]byte(a)) == sip.ClassifyHeader([]byte(b)) &&
				(sip.ClassifyHeader([]byte(a)) != sip.HdrOther || sip.EqualFold([]byte(a), []byte(b))))
		})},
		{Name: "uri_param", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			u, err := c.RURI()
			if err != nil {
				return -1
			}
			_, ok := u.Param(name)
			return dispatch.Result(ok)
		})},
		{Name: "uri_param_value", Ret: dispatch.Int, Native: "uri_param", Fn: dispatch.FSS(func(c *router.Ctx, name, val string) int {
			u, err := c.RURI()
			if err != nil {
				return -1
			}
			v, ok := u.Param(name)
			return dispatch.Result(ok && string(v) == val)
		})},
		{Name: "add_uri_param", Ret: dispatch.Int, Fn: dispatch.FS(addURIParam)},
	}, append(uriExports(), m.contactExports()...)...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func all(s, extra string, ok func(byte) bool) int {
	if s == "" {
		return -1
	}
next:
	for i := 0; i < len(s); i++ {
		if ok(s[i]) {
			continue
		}
		for j := 0; j < len(extra); j++ {
			if s[i] == extra[j] {
				continue next
			}
		}
		return -1
	}
	return 1
}

func cmpURI(c *router.Ctx, a, b string) int {
	var ua, ub sip.URI
	if sip.ParseURI([]byte(a), &ua) != nil || sip.ParseURI([]byte(b), &ub) != nil {
		return -1
	}
	return dispatch.Result(sip.URIEqual(&ua, &ub))
}

// cmpAOR compares user, host and port only.
func cmpAOR(c *router.Ctx, a, b string) int {
	var ua, ub sip.URI
	if sip.ParseURI([]byte(a), &ua) != nil || sip.ParseURI([]byte(b), &ub) != nil {
		return -1
	}
	port := func(u *sip.URI) int {
		if u.Port == 0 {
			return 5060
		}
		return u.Port
	}
	return dispatch.Result(string(ua.User) == string(ub.User) && sip.EqualFold(ua.Host, ub.Host) && port(&ua) == port(&ub))
}

func addURIParam(c *router.Ctx, param string) int {
	u, err := c.RURI()
	if err != nil || len(u.Headers) > 0 || param == "" {
		return -1
	}
	b := append(c.W.Scratch[:0], c.RURIText()...)
	b = append(append(b, ';'), param...)
	c.W.Scratch = b
	if err := c.SetRURI(b); err != nil {
		return -1
	}
	return 1
}

// optionsReply answers an OPTIONS addressed to the proxy itself (no user
// part) with 200 and the Accept headers.
func (mod *Module) optionsReply(c *router.Ctx) int {
	m := c.Msg
	if !m.IsRequest() || m.Method() != sip.MethodOPTIONS {
		return -1
	}
	u, err := c.RURI()
	if err != nil || len(u.User) > 0 {
		return -1
	}
	add := func(name, v string) {
		if v != "" {
			c.AddReplyHeader([]byte(name + ": " + v))
		}
	}
	add("Accept", mod.optionsAccept)
	add("Accept-Encoding", mod.optionsEncoding)
	add("Accept-Language", mod.optionsLanguage)
	add("Support", mod.optionsSupport)
	return mod.sl.SendReply(c, 200, "OK")
}
