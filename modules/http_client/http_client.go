// Package http_client is Kamailio's http_client module: HTTP GET and POST
// from a route, to a URL (http_client_query, KSR.http_client.query*) or
// through a named connection (httpcon, http_connect, KSR.http_client.
// curl_connect*), the reply's body into a variable, the status code as
// the result — or libcurl's error code when there was no reply.
package http_client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// settings are the module parameters: the defaults of the queries and of
// the connections.
type settings struct {
	timeout     time.Duration
	useragent   string
	maxdatasize int
	queryMax    int
	oneline     bool // query_result 1: the queries keep the first line of the body
	redirect    bool
	verifyPeer  bool
	verifyHost  bool
	cacert      string
	clientCert  string
	clientKey   string
	proxy       string
	proxyPort   int
	keep        bool
	authmethod  int
}

// conn is one httpcon: "name=>http://user:pass@host/path;timeout=2;...".
type conn struct {
	name, schema, url, user, pass string
	failover                      string
	useragent                     string
	timeout                       time.Duration
	maxdatasize                   int
	redirect, verifyPeer          bool
	verifyHost                    bool
	client                        *http.Client
}

// Module is the http_client module of one proxy.
type Module struct {
	conf  settings
	conns map[string]*conn
	query *http.Client // for the URL queries

	mu    sync.Mutex
	state map[*router.Worker]map[string]*connState // the last result of each connection, per worker
}

// connState is what a connection's last query left: its result code and
// the URL it ended at (http_get_redirect).
type connState struct {
	result   int
	location string
	ctype    string
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "http_client",
		Params: []dispatch.Param{
			{Name: "httpcon", Kind: s, Multi: true, Doc: "name=>http[s]://[user[:pass]@]host[:port][/path][;timeout=S;useragent=U;failover=NAME;maxdatasize=N;httpredirect=0|1;verify_peer=0|1;verify_host=0|1]"},
			p("connection_timeout", i, "4", "seconds"),
			p("useragent", s, "kemi's name and version", ""),
			p("maxdatasize", i, "0 (no limit)", "bytes of a connection's reply body kept"),
			p("query_maxdatasize", i, "0 (no limit)", "bytes of a query's reply body kept"),
			p("query_result", i, "1", "1: a query keeps the body's first line; 0: all of it"),
			p("httpredirect", i, "0", "1: follow redirects"),
			p("verify_peer", i, "1", "check the server's certificate"),
			p("verify_host", i, "1", "check the server's name in it"),
			p("cacert", s, "the system's", "a PEM file of the certificate authorities"),
			p("client_cert", s, "", "a PEM client certificate"), p("client_key", s, "", "its key"),
			p("httpproxy", s, "", "an HTTP proxy"), p("httpproxyport", i, "0", "its port"),
			p("keep_connections", i, "0", "keep a connection's TCP connection between queries"),
			p("authmethod", i, "3 (basic and digest)", "accepted; HTTP basic authentication is used"),
			p("cipher_suites", s, "", "accepted, no effect"), p("tlsversion", i, "0", "accepted, no effect"),
			p("netinterface", s, "", "accepted, no effect"), p("config_file", s, "", "not supported: define the connections with httpcon"),
		},
		New: func() dispatch.Module {
			return &Module{conns: map[string]*conn{}, state: map[*router.Worker]map[string]*connState{}}
		},
	})
	router.RegisterPV("curlerror", router.PVClass{Arg: true, Parse: parseCurlError, Get: getCurlError})
}

// defaultUserAgent is kemi's name and version, as Kamailio's Server
// header and User-Agent are its own.
func defaultUserAgent() string { return strings.TrimPrefix(router.ServerHeader, "Server: ") }

// Init reads the parameters and the connections.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.timeout = time.Duration(p.Int("connection_timeout", 4)) * time.Second
	c.useragent = p.Str("useragent", defaultUserAgent())
	c.maxdatasize, c.queryMax = p.Int("maxdatasize", 0), p.Int("query_maxdatasize", 0)
	c.oneline = p.Int("query_result", 1) != 0
	c.redirect = p.Int("httpredirect", 0) != 0
	c.verifyPeer, c.verifyHost = p.Int("verify_peer", 1) != 0, p.Int("verify_host", 1) != 0
	c.cacert, c.clientCert, c.clientKey = p.Str("cacert", ""), p.Str("client_cert", ""), p.Str("client_key", "")
	c.proxy, c.proxyPort = p.Str("httpproxy", ""), p.Int("httpproxyport", 0)
	c.keep = p.Int("keep_connections", 0) != 0
	c.authmethod = p.Int("authmethod", 3)
	if f := p.Str("config_file", ""); f != "" {
		return fmt.Errorf("http_client: config_file %q: not supported; define the connections with modparam(\"http_client\", \"httpcon\", ...)", f)
	}
	var err error
	if m.query, err = m.client(c.timeout, c.redirect, c.verifyPeer, c.verifyHost); err != nil {
		return err
	}
	for _, v := range p.All("httpcon") {
		cn, err := m.parseConn(v.String())
		if err != nil {
			return err
		}
		if cn.client, err = m.client(cn.timeout, cn.redirect, cn.verifyPeer, cn.verifyHost); err != nil {
			return err
		}
		m.conns[cn.name] = cn
	}
	for _, cn := range m.conns {
		if cn.failover != "" && m.conns[cn.failover] == nil {
			return fmt.Errorf("http_client: httpcon %s: failover %q is no connection", cn.name, cn.failover)
		}
	}
	return nil
}

// parseConn reads "name=>schema://[user[:pass]@]url[;param=value...]".
func (m *Module) parseConn(spec string) (*conn, error) {
	bad := func(why string) (*conn, error) {
		return nil, fmt.Errorf("http_client: httpcon %q: %s", spec, why)
	}
	name, rest, ok := strings.Cut(strings.TrimSpace(spec), "=>")
	name, rest = strings.TrimSpace(name), strings.TrimSpace(rest)
	if !ok || name == "" {
		return bad("want name=>url")
	}
	schema, rest, ok := strings.Cut(rest, "://")
	if !ok || schema == "" {
		return bad("want a URL schema (http://, https://)")
	}
	c := &conn{name: name, schema: schema, timeout: m.conf.timeout, maxdatasize: m.conf.maxdatasize,
		redirect: m.conf.redirect, verifyPeer: m.conf.verifyPeer, verifyHost: m.conf.verifyHost, useragent: m.conf.useragent}
	rest, params, _ := strings.Cut(rest, ";")
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		c.user, c.pass, _ = strings.Cut(rest[:at], ":")
		rest = rest[at+1:]
	}
	c.url = rest
	for _, kv := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		n, err := strconv.Atoi(v)
		switch k {
		case "":
		case "timeout":
			if err == nil {
				c.timeout = time.Duration(n) * time.Second
			}
		case "useragent":
			c.useragent = v
		case "failover":
			c.failover = v
		case "maxdatasize":
			if err == nil {
				c.maxdatasize = n
			}
		case "httpredirect":
			if err == nil && (n == 0 || n == 1) {
				c.redirect = n == 1
			}
		case "verify_peer":
			if err == nil && (n == 0 || n == 1) {
				c.verifyPeer = n == 1
			}
		case "verify_host":
			if err == nil {
				c.verifyHost = n != 0
			}
		}
	}
	return c, nil
}

// client is an HTTP client of these settings.
func (m *Module) client(timeout time.Duration, redirect, verifyPeer, verifyHost bool) (*http.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: !verifyPeer || !verifyHost}
	if m.conf.cacert != "" {
		pem, err := os.ReadFile(m.conf.cacert)
		if err != nil {
			return nil, fmt.Errorf("http_client: cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http_client: cacert %s: no certificate", m.conf.cacert)
		}
		tc.RootCAs = pool
	}
	if m.conf.clientCert != "" && m.conf.clientKey != "" {
		cert, err := tls.LoadX509KeyPair(m.conf.clientCert, m.conf.clientKey)
		if err != nil {
			return nil, fmt.Errorf("http_client: client_cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: !m.conf.keep, Proxy: nil,
		DialContext: (&net.Dialer{Timeout: timeout}).DialContext}
	if m.conf.proxy != "" {
		p := m.conf.proxy
		if !strings.Contains(p, "://") {
			p = "http://" + p
		}
		u, err := url.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("http_client: httpproxy: %w", err)
		}
		if m.conf.proxyPort > 0 {
			u.Host = u.Hostname() + ":" + strconv.Itoa(m.conf.proxyPort)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	c := &http.Client{Transport: tr, Timeout: timeout}
	if !redirect {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

// request is one query's parameters.
type request struct {
	method, url, body, ctype, hdrs string
	user, pass, useragent          string
	oneline                        bool
	max                            int
}

// do sends r: the status code and the body kept (200-499: all of it, its
// first line with oneline, at most max bytes), or libcurl's error code
// and "" when no reply came; where the request ended after redirects.
func do(client *http.Client, r request) (code int, body, location, ctype string) {
	method := r.method
	if method == "" {
		method = http.MethodGet
		if r.body != "" {
			method = http.MethodPost
		}
	}
	var rd io.Reader
	if r.body != "" {
		rd = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, r.url, rd)
	if err != nil {
		return curlURLMalformat, "", "", ""
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return curlUnsupportedProtocol, "", "", ""
	}
	if r.body != "" {
		ct := r.ctype
		if ct == "" {
			ct = "application/x-www-form-urlencoded" // libcurl's for POST data
		}
		req.Header.Set("Content-Type", ct)
	}
	for _, l := range strings.Split(strings.ReplaceAll(r.hdrs, "\r\n", "\n"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) != "" {
			req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	if r.useragent != "" {
		req.Header.Set("User-Agent", r.useragent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return curlCode(err), "", "", ""
	}
	// Credentials go only where a 401 asks for them (libcurl with more
	// than one auth method allowed, as Kamailio's default is), once.
	if resp.StatusCode == http.StatusUnauthorized && r.user != "" &&
		strings.HasPrefix(strings.ToLower(resp.Header.Get("WWW-Authenticate")), "basic") {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if r.body != "" {
			req.Body = io.NopCloser(strings.NewReader(r.body))
		}
		req.SetBasicAuth(r.user, r.pass)
		if resp, err = client.Do(req); err != nil {
			return curlCode(err), "", "", ""
		}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return curlCode(err), "", "", ""
	}
	location = resp.Request.URL.String()
	ctype = resp.Header.Get("Content-Type")
	code = resp.StatusCode
	if code < 200 || code >= 500 {
		return code, "", location, ctype
	}
	if r.oneline {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return code, string(b[:i]), location, ctype
		}
	}
	if r.max > 0 && len(b) > r.max {
		b = b[:r.max]
	}
	return code, string(b), location, ctype
}

// libcurl's error codes, which Kamailio returns when no reply came.
const (
	curlUnsupportedProtocol = 1
	curlURLMalformat        = 3
	curlCouldntResolveHost  = 6
	curlCouldntConnect      = 7
	curlRecvError           = 56
	curlTimedOut            = 28
	curlTooManyRedirects    = 47
	curlSSLConnect          = 35
	curlPeerVerification    = 60
)

var curlMessages = map[int]string{
	curlUnsupportedProtocol: "Unsupported protocol", curlURLMalformat: "URL using bad/illegal format or missing URL",
	curlCouldntResolveHost: "Couldn't resolve host name", curlCouldntConnect: "Couldn't connect to server",
	curlTimedOut: "Timeout was reached", curlTooManyRedirects: "Number of redirects hit maximum amount",
	curlSSLConnect: "SSL connect error", curlPeerVerification: "SSL peer certificate or SSH remote key was not OK",
	curlRecvError: "Failure when receiving data from the peer",
}

// curlCode is the libcurl error code closest to a Go HTTP error.
func curlCode(err error) int {
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cv):
		return curlPeerVerification
	case strings.Contains(err.Error(), "stopped after 10 redirects"):
		return curlTooManyRedirects
	case errors.As(err, &dns):
		return curlCouldntResolveHost
	case errors.As(err, &ne) && ne.Timeout():
		return curlTimedOut
	case errors.As(err, &op) && op.Op == "dial":
		return curlCouldntConnect
	case strings.Contains(err.Error(), "tls:"):
		return curlSSLConnect
	}
	return curlRecvError
}

func parseCurlError(pv *router.PV) error {
	if _, err := strconv.Atoi(pv.Arg); err != nil && !strings.HasPrefix(pv.Arg, "$") {
		return fmt.Errorf("http_client: $curlerror(%s): want an error code", pv.Arg)
	}
	return nil
}

// getCurlError is $curlerror(code): libcurl's text for an error code.
func getCurlError(c *router.Ctx, pv *router.PV) router.Value {
	n, err := strconv.Atoi(pv.Arg)
	if err != nil {
		p, perr := c.W.PV(pv.Arg)
		if perr != nil {
			return router.Value{}
		}
		v := p.Get(c)
		if v.Kind != router.Int {
			return router.Value{}
		}
		n = int(v.I)
	}
	if s, ok := curlMessages[n]; ok {
		return router.StrValue(s)
	}
	if n == 0 {
		return router.StrValue("No error")
	}
	return router.StrValue("Unknown error")
}
