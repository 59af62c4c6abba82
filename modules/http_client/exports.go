package http_client

import (
	"sort"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Exports are KSR.http_client and the native functions, whose result
// variables (and connection names) are not expanded.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	nat := func(name string, f dispatch.Func) dispatch.Export {
		return dispatch.Export{Name: name, NativeOnly: true, Raw: true, Ret: I, Fn: f}
	}
	q := func(c *router.Ctx, method, url, body, hdrs, pv string) int {
		return m.urlQuery(c, method, url, body, hdrs, pv)
	}
	x := expand
	return []dispatch.Export{
		{Name: "query", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, url, pv string) int { return q(c, "", url, "", "", pv) })},
		{Name: "query_post", Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, url, post, pv string) int { return q(c, "", url, post, "", pv) })},
		{Name: "query_post_hdrs", Ret: I, Fn: dispatch.FSSSS(func(c *router.Ctx, url, post, hdrs, pv string) int { return q(c, "", url, post, hdrs, pv) })},
		{Name: "get_hdrs", Ret: I, Fn: dispatch.FSSSS(func(c *router.Ctx, url, body, hdrs, pv string) int { return q(c, "GET", url, body, hdrs, pv) })},
		{Name: "curl_connect", Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, con, url, pv string) int { return m.connQuery(c, con, url, "", "", pv) })},
		{Name: "curl_connect_post", Ret: I, Fn: dispatch.FSSSSS(m.connQuery)},

		nat("http_client_query", dispatch.FSS(func(c *router.Ctx, url, pv string) int { return q(c, "", x(c, url), "", "", pv) })),
		nat("http_client_query", dispatch.FSSS(func(c *router.Ctx, url, post, pv string) int { return q(c, "", x(c, url), x(c, post), "", pv) })),
		nat("http_client_query", dispatch.FSSSS(func(c *router.Ctx, url, post, hdrs, pv string) int {
			return q(c, "", x(c, url), x(c, post), x(c, hdrs), pv)
		})),
		nat("http_client_get", dispatch.FSSSS(func(c *router.Ctx, url, body, hdrs, pv string) int {
			return q(c, "GET", x(c, url), x(c, body), x(c, hdrs), pv)
		})),
		nat("http_connect", dispatch.FSSS(func(c *router.Ctx, con, url, pv string) int { return m.connQuery(c, con, x(c, url), "", "", pv) })),
		nat("http_connect", dispatch.FSSSSS(func(c *router.Ctx, con, url, ctype, data, pv string) int {
			return m.connQuery(c, con, x(c, url), x(c, ctype), x(c, data), pv)
		})),
		nat("http_connect_raw", dispatch.FSSSSS(func(c *router.Ctx, con, url, ctype, data, pv string) int {
			return m.connQuery(c, con, x(c, url), x(c, ctype), data, pv)
		})),
		nat("http_get_redirect", dispatch.FSS(m.getRedirect)),
	}
}

// expand is a native parameter with its variables given their values.
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

// target is the variable a result goes to; nil (logged) when it cannot be
// set.
func target(c *router.Ctx, name string) *router.PV {
	p, err := c.W.PV(name)
	if err != nil || !p.Writable() {
		c.Log().Error("http_client: target pv is not writable: "+name, "route", c.Route)
		return nil
	}
	return p
}

// result is Kamailio's: 0 (no result) becomes -1.
func result(code int) int {
	if code == 0 {
		return -1
	}
	return code
}

// urlQuery is http_client_query and http_client_get (method GET).
func (m *Module) urlQuery(c *router.Ctx, method, url, body, hdrs, pv string) int {
	p := target(c, pv)
	if p == nil || url == "" {
		return -1
	}
	code, b, _, _ := do(m.query, request{method: method, url: url, body: body, hdrs: hdrs, useragent: m.conf.useragent,
		oneline: m.conf.oneline, max: m.conf.queryMax})
	if code < 100 {
		c.Log().Warn("http_client: "+url+": "+curlMessages[code], "route", c.Route)
	}
	p.Set(c, router.StrValue(b))
	return result(code)
}

// connQuery is http_connect: a GET (a POST with data) to the connection's
// URL and path, through its failover connection once when no reply or a
// 5xx came.
func (m *Module) connQuery(c *router.Ctx, con, path, ctype, data, pv string) int {
	p := target(c, pv)
	if p == nil {
		return -1
	}
	cn := m.conns[con]
	if cn == nil {
		c.Log().Error("http_client: no cURL connection found: "+con, "route", c.Route)
		return -1
	}
	var code int
	var body string
	for try := 0; try < 2 && cn != nil; try++ {
		u := cn.schema + "://" + cn.url
		if path != "" {
			if !strings.HasPrefix(path, "/") {
				u += "/"
			}
			u += path
		}
		if ctype == "" {
			ctype = "text/plain"
		}
		var loc, ct string
		code, body, loc, ct = do(cn.client, request{url: u, body: data, ctype: ctype, user: cn.user, pass: cn.pass,
			useragent: cn.useragent, max: cn.maxdatasize})
		m.remember(c, cn.name, connState{result: code, location: loc, ctype: ct})
		if (code >= 100 && code < 500) || cn.failover == "" {
			break
		}
		c.Log().Error("http_client: failure: trying failover to curl con ("+cn.failover+")", "route", c.Route)
		cn = m.conns[cn.failover]
	}
	p.Set(c, router.StrValue(body))
	return result(code)
}

func (m *Module) remember(c *router.Ctx, con string, st connState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state[c.W]
	if s == nil {
		s = map[string]*connState{}
		m.state[c.W] = s
	}
	s[con] = &st
}

// getRedirect is http_get_redirect: the URL the connection's last query
// of this worker ended at, after its redirects.
func (m *Module) getRedirect(c *router.Ctx, con, pv string) int {
	p := target(c, pv)
	if p == nil || m.conns[con] == nil {
		return -1
	}
	m.mu.Lock()
	st := m.state[c.W][con]
	m.mu.Unlock()
	loc := ""
	if st != nil {
		loc = st.location
	}
	p.Set(c, router.StrValue(loc))
	return 1
}

// RPCs are httpclient.listcon.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{{Name: "httpclient.listcon", Doc: "list the http_client connections", Fn: func([]any) (any, error) {
		var names []string
		for n := range m.conns {
			names = append(names, n)
		}
		sort.Strings(names)
		var out []any
		for _, n := range names {
			cn := m.conns[n]
			out = append(out, map[string]any{"NAME": cn.name, "SCHEMA": cn.schema, "URI": cn.url, "USERNAME": cn.user,
				"FAILOVER": cn.failover, "TIMEOUT": strconv.Itoa(int(cn.timeout.Seconds())), "MAXDATASIZE": cn.maxdatasize,
				"HTTPREDIRECT": cn.redirect, "USERAGENT": cn.useragent})
		}
		return out, nil
	}}}
}
