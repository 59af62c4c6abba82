package pv

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// $sel(...) (and @... in the native config) is a select of Kamailio's
// select framework. kemi has the ones configs use: cfg_get.GROUP.NAME (a
// cfg var of the config), via[N] and its host, port, transport, branch,
// received, rport and params["x"]; ruri, from.uri, to.uri, contact.uri
// and their user, host, port and params["x"]; from.tag, to.tag,
// from.name, to.name. Another is an error when the script loads.

// selector is a parsed select: what it reads and the argument of each part.
type selector struct {
	base  string // "cfg_get", "via", "ruri", "from", "to", "contact"
	idx   int    // via[N], 1-based; 1 when not given
	field string // "", "host", "uri", "tag", ...
	sub   string // uri's part: "", "user", "host", "port", "params"
	param string // params["x"]
	group string // cfg_get
	name  string
}

// selParts splits "via[1].params[\"node\"]" into ["via[1]", "params[\"node\"]"].
func selParts(s string) []string {
	var parts []string
	start, depth := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// index splits "name[arg]" into its name and its argument, quotes off.
func index(p string) (name, arg string) {
	i := strings.IndexByte(p, '[')
	if i < 0 || !strings.HasSuffix(p, "]") {
		return p, ""
	}
	return p[:i], strings.Trim(p[i+1:len(p)-1], `"'`)
}

func parseSel(pv *router.PV) error {
	bad := errors.New("select @" + pv.Arg + " is not supported: kemi has @cfg_get.GROUP.NAME, @via[N].(host|port|transport|branch|received|rport|params[\"x\"]), " +
		"@ruri, @from, @to, @contact with .uri and .(user|host|port|params[\"x\"]), @from.tag, @to.tag, @from.name, @to.name")
	parts := selParts(pv.Arg)
	base, arg := index(parts[0])
	sel := &selector{base: base, idx: 1}
	rest := parts[1:]
	switch base {
	case "cfg_get":
		if len(rest) != 2 || rest[0] == "" || rest[1] == "" {
			return bad
		}
		sel.group, sel.name = rest[0], rest[1]
		pv.Data = sel
		return nil
	case "via":
		if arg != "" {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return bad
			}
			sel.idx = n
		}
		if len(rest) > 1 {
			return bad
		}
		if len(rest) == 1 {
			f, a := index(rest[0])
			switch f {
			case "host", "port", "transport", "branch", "received", "rport":
			case "params", "param":
				if a == "" {
					return bad
				}
				f, sel.param = "params", a
			default:
				return bad
			}
			sel.field = f
		}
		pv.Data = sel
		return nil
	case "ruri", "from", "to", "contact":
		if arg != "" {
			return bad
		}
		if base != "ruri" && len(rest) > 0 {
			switch rest[0] {
			case "tag", "name":
				if base == "contact" || len(rest) > 1 {
					return bad
				}
				sel.field = rest[0]
				pv.Data = sel
				return nil
			case "uri":
				rest = rest[1:]
			default:
				return bad
			}
		}
		sel.field = "uri"
		if len(rest) > 1 {
			return bad
		}
		if len(rest) == 1 {
			f, a := index(rest[0])
			switch f {
			case "user", "host", "port":
			case "params", "param":
				if a == "" {
					return bad
				}
				f, sel.param = "params", a
			default:
				return bad
			}
			sel.sub = f
		}
		pv.Data = sel
		return nil
	}
	return bad
}

// customCfg is what finds a cfg var of the config (dispatch.Table).
type customCfg interface {
	CustomCfg(group, name string) (any, bool)
}

func getSel(c *router.Ctx, pv *router.PV) router.Value {
	sel := pv.Data.(*selector)
	m := c.Msg
	switch sel.base {
	case "cfg_get":
		t, ok := c.Env().Modules.(customCfg)
		if !ok {
			return router.Value{}
		}
		switch v, _ := t.CustomCfg(sel.group, sel.name); v := v.(type) {
		case int64:
			return router.IntValue(v)
		case string:
			return router.StrValue(v)
		}
	case "via":
		var v sip.Via
		it := m.Vias()
		for k := 0; k < sel.idx; k++ {
			if !it.Next(&v) {
				return router.Value{}
			}
		}
		switch sel.field {
		case "":
			return router.BytesValue(v.Raw)
		case "host":
			return router.BytesValue(v.Host)
		case "port":
			return router.BytesValue(v.PortText)
		case "transport":
			return router.BytesValue(v.TransportName)
		case "branch":
			return router.NonEmpty(v.Branch)
		case "received":
			return router.NonEmpty(v.Received)
		case "rport":
			return router.NonEmpty(v.RPort)
		case "params":
			if p, ok := sip.Param(v.Params, sel.param); ok {
				return router.BytesValue(p)
			}
		}
	case "from", "to", "contact", "ruri":
		var u *sip.URI
		switch sel.base {
		case "ruri":
			u = ruri(c)
		case "contact":
			if ct, err := m.Contact(); err == nil && ct != nil {
				u = &ct.URI
			}
		default:
			na := m.From()
			if sel.base == "to" {
				na = m.To()
			}
			switch sel.field {
			case "tag":
				return router.NonEmpty(na.Tag)
			case "name":
				return router.NonEmpty(na.Display)
			}
			u = &na.URI
		}
		if u == nil {
			return router.Value{}
		}
		switch sel.sub {
		case "":
			return router.BytesValue(u.Raw)
		case "user":
			return router.NonEmpty(u.User)
		case "host":
			return router.BytesValue(u.Host)
		case "port":
			return router.NonEmpty(u.PortText)
		case "params":
			if p, ok := u.Param(sel.param); ok {
				return router.BytesValue(p)
			}
		}
	}
	return router.Value{}
}
