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

// selGet reads a select: parseSel makes one per select when the script
// loads, so that a message costs the reading alone.
type selGet func(c *router.Ctx) router.Value

func parseSel(pv *router.PV) error {
	bad := errors.New("select @" + pv.Arg + " is not supported: kemi has @cfg_get.GROUP.NAME, @via[N].(host|port|transport|branch|received|rport|params[\"x\"]), " +
		"@ruri, @from, @to, @contact with .uri and .(user|host|port|params[\"x\"]), @from.tag, @to.tag, @from.name, @to.name, " +
		"@msg (.first_line, .len, .type, .flags, .body, .header[\"X\"], .request.*, .response.*), @src, @dst, @received (.ip, .port, .ip_port), " +
		"@call_id, @cseq(.num, .method), @method, @status, @reason, @dst_uri, @next_hop, the single headers (@user_agent, @expires, ...), " +
		"@hf_value.NAME[n](.name, .uri, .params[\"x\"]), @authorization and @proxy_authorization fields")
	parts := selParts(pv.Arg)
	base, arg := index(parts[0])
	if long, ok := map[string]string{"f": "from", "t": "to", "m": "contact", "v": "via", "request_uri": "ruri"}[base]; ok {
		base = long // Kamailio's short names
	}
	rest := parts[1:]
	var get selGet
	switch base {
	case "cfg_get":
		if len(rest) == 2 && rest[0] != "" && rest[1] != "" {
			get = cfgGet(rest[0], rest[1])
		}
	case "via":
		idx := 1
		if arg != "" {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return bad
			}
			idx = n
		}
		field := ""
		if len(rest) == 1 {
			field = rest[0]
		}
		if f := viaField(field); f != nil && len(rest) <= 1 {
			get = func(c *router.Ctx) router.Value {
				var v sip.Via
				it := c.Msg.Vias()
				for k := 0; k < idx; k++ {
					if !it.Next(&v) {
						return router.Value{}
					}
				}
				return f(&v)
			}
		}
	case "ruri", "from", "to", "contact":
		if arg != "" {
			return bad
		}
		if base == "from" || base == "to" {
			if len(rest) == 1 && (rest[0] == "tag" || rest[0] == "name") {
				get = nameAddrPart(base == "from", rest[0] == "tag")
				break
			}
		}
		if base != "ruri" && len(rest) > 0 {
			if rest[0] != "uri" {
				break // another part: moreSel's
			}
			rest = rest[1:]
		}
		part := ""
		if len(rest) == 1 {
			part = rest[0]
		}
		if f := uriPart(part); f != nil && len(rest) <= 1 {
			src := uriOf(base)
			get = func(c *router.Ctx) router.Value {
				if u := src(c); u != nil {
					return f(u)
				}
				return router.Value{}
			}
		}
	}
	if get == nil {
		get = moreSel(base, arg, rest)
	}
	if get == nil {
		return bad
	}
	pv.Data = get
	return nil
}

func getSel(c *router.Ctx, pv *router.PV) router.Value { return pv.Data.(selGet)(c) }

// param reads params["x"] (or params.x) of a select's part: x, and
// whether the part is one.
func param(part string) (string, bool) {
	f, a := index(part)
	if (f == "params" || f == "param") && a != "" {
		return a, true
	}
	return "", false
}

// viaField is the reader of a Via's field ("" the whole Via), nil for none.
func viaField(field string) func(v *sip.Via) router.Value {
	if name, ok := param(field); ok {
		return func(v *sip.Via) router.Value {
			if p, ok := sip.Param(v.Params, name); ok {
				return router.BytesValue(p)
			}
			return router.Value{}
		}
	}
	switch field {
	case "":
		return func(v *sip.Via) router.Value { return router.BytesValue(v.Raw) }
	case "host":
		return func(v *sip.Via) router.Value { return router.BytesValue(v.Host) }
	case "port":
		return func(v *sip.Via) router.Value { return router.BytesValue(v.PortText) }
	case "transport":
		return func(v *sip.Via) router.Value { return router.BytesValue(v.TransportName) }
	case "branch":
		return func(v *sip.Via) router.Value { return router.NonEmpty(v.Branch) }
	case "received":
		return func(v *sip.Via) router.Value { return router.NonEmpty(v.Received) }
	case "rport":
		return func(v *sip.Via) router.Value { return router.NonEmpty(v.RPort) }
	}
	return nil
}

// uriPart is the reader of a URI's part ("" the whole URI), nil for none.
func uriPart(part string) func(u *sip.URI) router.Value {
	if name, ok := param(part); ok {
		return func(u *sip.URI) router.Value {
			if p, ok := u.Param(name); ok {
				return router.BytesValue(p)
			}
			return router.Value{}
		}
	}
	switch part {
	case "":
		return func(u *sip.URI) router.Value { return router.BytesValue(u.Raw) }
	case "user":
		return func(u *sip.URI) router.Value { return router.NonEmpty(u.User) }
	case "host":
		return func(u *sip.URI) router.Value { return router.BytesValue(u.Host) }
	case "port":
		return func(u *sip.URI) router.Value { return router.NonEmpty(u.PortText) }
	case "pwd":
		return func(u *sip.URI) router.Value { return router.NonEmpty(u.Password) }
	case "hostport":
		return func(u *sip.URI) router.Value { return router.BytesValue(u.HostPort()) }
	case "transport":
		return func(u *sip.URI) router.Value { return router.NonEmpty(u.TransportParam()) }
	case "type":
		return func(u *sip.URI) router.Value { return router.BytesValue(u.SchemeName) }
	}
	return nil
}

// uriOf is where a select's URI comes from: the request URI, the Contact,
// From or To.
func uriOf(base string) func(c *router.Ctx) *sip.URI {
	switch base {
	case "ruri":
		return ruri
	case "contact":
		return func(c *router.Ctx) *sip.URI {
			if ct, err := c.Msg.Contact(); err == nil && ct != nil {
				return &ct.URI
			}
			return nil
		}
	case "from":
		return func(c *router.Ctx) *sip.URI { return &c.Msg.From().URI }
	}
	return func(c *router.Ctx) *sip.URI { return &c.Msg.To().URI }
}

// nameAddrPart reads From's or To's tag or display name.
func nameAddrPart(from, tag bool) selGet {
	return func(c *router.Ctx) router.Value {
		na := c.Msg.To()
		if from {
			na = c.Msg.From()
		}
		if tag {
			return router.NonEmpty(na.Tag)
		}
		return router.NonEmpty(na.Display)
	}
}

// customCfg is what finds a cfg var of the config (dispatch.Table).
type customCfg interface {
	CustomCfg(group, name string) (any, bool)
}

// cfgGet reads the config's cfg var group.name.
func cfgGet(group, name string) selGet {
	return func(c *router.Ctx) router.Value {
		t, ok := c.Env().Modules.(customCfg)
		if !ok {
			return router.Value{}
		}
		switch v, _ := t.CustomCfg(group, name); v := v.(type) {
		case int64:
			return router.IntValue(v)
		case string:
			return router.StrValue(v)
		}
		return router.Value{}
	}
}
