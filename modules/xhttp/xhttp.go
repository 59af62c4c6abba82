// Package xhttp is Kamailio's xhttp module: HTTP requests received on
// the SIP TCP and TLS sockets run event_route[xhttp:request] (in a KEMI
// script, the function event_callback names), where $hu is the URL and
// xhttp_reply() answers; jsonrpc_dispatch() (jsonrpcs) answers a
// JSON-RPC request there. url_skip and url_match choose the URLs it takes.
package xhttp

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Event is the route an HTTP request runs in the native config.
const Event = "xhttp:request"

// Module is the xhttp module of one proxy.
type Module struct {
	match, skip *regexp.Regexp
	callback    string // event_callback: the KEMI function
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
)

// replied is whether the HTTP request being routed got its answer.
type replied struct{ done bool }

func (r *replied) Reset() { r.done = false }

var answered = router.NewSlot[replied]()

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "xhttp",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "url_match", Kind: dispatch.Str, Doc: "only URLs matching this regular expression are taken"},
			{Name: "url_skip", Kind: dispatch.Str, Doc: "URLs matching this regular expression are not taken"},
			{Name: "event_callback", Kind: dispatch.Str, Doc: "the KEMI script's function for HTTP requests (it gets \"" + Event + "\")"},
		},
	})
	router.RegisterPV("hu", router.PVClass{Get: func(c *router.Ctx, _ *router.PV) router.Value { return url(c) }})
}

// url is the HTTP request's URL ($hu), null for a SIP message.
func url(c *router.Ctx) router.Value {
	if !c.Msg.IsHTTP() {
		return router.Value{}
	}
	return router.BytesValue(c.Msg.RURIText())
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	var err error
	for _, x := range []struct {
		name string
		re   **regexp.Regexp
	}{{"url_match", &m.match}, {"url_skip", &m.skip}} {
		if s := p.Str(x.name, ""); s != "" {
			if *x.re, err = regexp.Compile(s); err != nil {
				return err
			}
		}
	}
	m.callback = p.Str("event_callback", "")
	return nil
}

// Start takes the HTTP requests of the proxy's streams.
func (m *Module) Start(env *router.Env) error {
	env.HTTP = m.handle
	return nil
}

// handle runs the HTTP request's route; one that leaves it unanswered
// gets a 500, so that the client is not left waiting.
func (m *Module) handle(c *router.Ctx) {
	u := string(c.Msg.RURIText())
	if m.skip != nil && m.skip.MatchString(u) || m.match != nil && !m.match.MatchString(u) {
		c.Log().Debug("xhttp: URL not taken", "url", u, "src", c.Src().String())
		return
	}
	name := Event
	if m.callback != "" {
		name = m.callback
	}
	if !c.HasRoute(router.RouteEvent, name) {
		c.Log().Warn("xhttp: no route for HTTP requests (event_route[" + Event + "] or event_callback)")
	} else {
		c.EventName = Event // a KEMI callback gets the event, as in Kamailio
		c.RunKind(router.RouteEvent, name)
	}
	if !answered.Of(c).done {
		m.Reply(c, 500, "Server Error", "text/plain", "no reply from the script\n")
	}
}

// Exports are KSR.xhttp.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "xhttp_reply", Ret: dispatch.Int, Fn: dispatch.FISSS(func(c *router.Ctx, code int, reason, ctype, body string) int {
			return m.Reply(c, code, reason, ctype, body)
		})},
		{Name: "get_hu", Ret: dispatch.XVal, Fn: dispatch.V0(url)},
	}
}

// BuildReply is an answer to the HTTP request being routed as Kamailio's
// sl builds one: the request's HTTP version and the status; the Via
// Kamailio's xhttp gives an HTTP request (the client's address), renamed
// Sia in the reply as Kamailio does; the header lines the script added
// for the reply (append_to_reply), then hdrs; the Server header; the
// Content-Length and the body.
func BuildReply(c *router.Ctx, code int, reason, hdrs, body string) []byte {
	version := "HTTP/1.1"
	if line, _, ok := bytes.Cut(c.Msg.Bytes(), []byte("\n")); ok {
		line = bytes.TrimRight(line, "\r")
		if sp := bytes.LastIndexByte(line, ' '); sp > 0 {
			version = string(line[sp+1:])
		}
	}
	b := make([]byte, 0, 256+len(hdrs)+len(body))
	b = append(b, version+" "+strconv.Itoa(code)+" "+strings.NewReplacer("\r", " ", "\n", " ").Replace(reason)+"\r\n"...)
	proto := "TCP"
	if c.Pkt != nil && c.Pkt.Proto == sip.TransportTLS {
		proto = "TLS"
	}
	b = append(b, "Sia: SIP/2.0/"+proto+" "...)
	b = c.Src().AppendTo(b)
	b = append(b, "\r\n"...)
	b = append(b, c.ReplyHeaders()...)
	b = append(b, hdrs...)
	b = append(b, c.Env().ServerHeader...)
	b = append(b, "Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"...)
	return append(b, body...)
}

// Answered marks the HTTP request being routed answered by another module
// (websocket's handshake), so that xhttp sends nothing more for it.
func Answered(c *router.Ctx) { answered.Of(c).done = true }

// Reply answers the HTTP request being routed, once; after
// set_reply_close() the connection is closed after it.
func (m *Module) Reply(c *router.Ctx, code int, reason, ctype, body string) int {
	a := answered.Of(c)
	if !c.Msg.IsHTTP() || a.done || c.Pkt == nil {
		c.Log().Error("xhttp_reply: no HTTP request to answer", "route", c.Route)
		return -1
	}
	if code < 100 || code > 599 {
		c.Log().Error("xhttp_reply: status "+strconv.Itoa(code)+" is not 100..599", "route", c.Route)
		return -1
	}
	var hdrs string
	if ctype != "" {
		hdrs = "Content-Type: " + ctype + "\r\n"
	}
	out := BuildReply(c, code, reason, hdrs, body)
	a.done = true
	tr := c.Env().Transport
	if tr == nil {
		return -1
	}
	if err := tr.Reply(c.Pkt, c.Src(), out); err != nil {
		c.Log().Error("xhttp_reply: "+err.Error(), "route", c.Route)
		return -1
	}
	if c.ReplyClose {
		c.Pkt.CloseStream()
	}
	return 1
}
