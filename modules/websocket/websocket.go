// Package websocket is Kamailio's websocket module: SIP over WebSocket
// (RFC 7118) on the SIP TCP and TLS sockets. The upgrade is an HTTP
// request routed by xhttp's event_route[xhttp:request], where
// ws_handle_handshake() answers it (101, or 400/426/503 as Kamailio) and
// turns the stream into a WS (or, over TLS, WSS) connection; its frames
// are read by the transport (core/transport/ws.go). The module keeps the
// connections alive (pings after keepalive_timeout idle, closed when the
// pong does not come), closes them (ws_close), runs
// event_route[websocket:closed] when one ends, and has Kamailio's RPC
// commands and statistics.
package websocket

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ticker"
	"github.com/kemi-sip/kemi/modules/xhttp"
)

// The sub-protocols of sub_protocols (Kamailio's bits); kemi has no MSRP
// relay, so Kamailio's default of both is SIP alone here, as it is in a
// Kamailio without the msrp module.
const (
	subSIP  = 1
	subMSRP = 2
)

// The keepalive mechanisms of keepalive_mechanism.
const (
	keepaliveNone = iota
	keepalivePing
	keepalivePong
	keepaliveConCheck
)

// ClosedEvent is the route run when a WebSocket connection ends.
const ClosedEvent = "websocket:closed"

// Module is the websocket module of one proxy.
type Module struct {
	conf struct {
		mechanism     int
		timeout       time.Duration
		interval      time.Duration
		pingData      []byte
		cors          int
		verboseList   bool
		eventCallback string
	}
	enabled atomic.Bool
	env     *router.Env
	tr      *transport.Server
	timer   *ticker.Ticker     // the keepalives
	events  router.EventWorker // runs websocket:closed
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "websocket",
		New:  func() dispatch.Module { return &Module{events: router.EventWorker{Rank: -9}} },
		Params: []dispatch.Param{
			{Name: "keepalive_mechanism", Kind: dispatch.Int, Doc: "0 none, 1 ping (default), 2 pong, 3 only check the TCP connection"},
			{Name: "keepalive_timeout", Kind: dispatch.Int, Doc: "seconds idle before a keepalive (default 180, 1..3600)"},
			{Name: "keepalive_interval", Kind: dispatch.Int, Doc: "seconds between looks for idle connections (default 1, 1..60)"},
			{Name: "keepalive_processes", Kind: dispatch.Int, Doc: "accepted: one timer goroutine does the work"},
			{Name: "ping_application_data", Kind: dispatch.Str, Doc: "the payload of keepalive pings (default the server signature)"},
			{Name: "sub_protocols", Kind: dispatch.Int, Doc: "1 SIP, 2 MSRP (no MSRP relay here: SIP is what is taken)"},
			{Name: "cors_mode", Kind: dispatch.Int, Doc: "0 no Access-Control-Allow-Origin, 1 \"*\", 2 the request's Origin"},
			{Name: "timer_interval", Kind: dispatch.Int, Doc: "accepted: connections are removed as they end"},
			{Name: "rm_delay_interval", Kind: dispatch.Int, Doc: "accepted: connections are removed as they end"},
			{Name: "verbose_list", Kind: dispatch.Int, Doc: "ws.dump lists each connection when 1"},
			{Name: "event_callback", Kind: dispatch.Str, Doc: "the KEMI function run when a connection ends (it gets \"" + ClosedEvent + "\")"},
		},
	})
}

// Init reads the parameters, corrected as Kamailio corrects them.
func (m *Module) Init(p *dispatch.Params) error {
	c := &m.conf
	c.mechanism = p.Int("keepalive_mechanism", keepalivePing)
	if c.mechanism < keepaliveNone || c.mechanism > keepaliveConCheck {
		c.mechanism = keepalivePing
	}
	t := p.Int("keepalive_timeout", 180)
	if t < 1 || t > 3600 {
		t = 180
	}
	c.timeout = time.Duration(t) * time.Second
	i := p.Int("keepalive_interval", 1)
	if i < 1 || i > 60 {
		i = 1
	}
	c.interval = time.Duration(i) * time.Second
	c.pingData = []byte(p.Str("ping_application_data", ""))
	if len(c.pingData) < 1 || len(c.pingData) > 125 {
		c.pingData = []byte(strings.TrimPrefix(router.ServerHeader, "Server: "))
	}
	sub := p.Int("sub_protocols", subSIP|subMSRP)
	if sub|subSIP|subMSRP != subSIP|subMSRP {
		return errors.New("websocket: unrecognised sub-protocols enabled (sub_protocols " + strconv.Itoa(sub) + ")")
	}
	if sub&subSIP == 0 { // MSRP alone: no MSRP relay here, as Kamailio without msrp
		return errors.New("websocket: no sub-protocols enabled (MSRP needs the msrp module, which kemi does not have)")
	}
	c.cors = p.Int("cors_mode", 0)
	if c.cors < 0 || c.cors > 2 {
		return errors.New("websocket: bad value for cors_mode: " + strconv.Itoa(c.cors))
	}
	c.verboseList = p.Int("verbose_list", 0) != 0
	c.eventCallback = p.Str("event_callback", "")
	if p.Module("xhttp") == nil {
		return errors.New(`websocket: "xhttp" must be loaded to use WebSocket`)
	}
	m.enabled.Store(true)
	return nil
}

// Start takes the proxy's WebSocket connections: the keepalive timer and
// the hook that runs websocket:closed.
func (m *Module) Start(env *router.Env) error {
	m.env, m.tr = env, env.Transport
	if m.tr == nil {
		return nil
	}
	m.tr.OnWSClose(m.closed)
	if m.conf.mechanism != keepaliveNone {
		m.timer = ticker.Start(m.conf.interval, m.keepalive)
	}
	return nil
}

// Stop ends the keepalives.
func (m *Module) Stop() {
	m.timer.Stop()
	m.timer = nil
}

// keepalive looks for connections idle keepalive_timeout, every
// keepalive_interval, as Kamailio's ws_keepalive: one closing or still
// awaiting a pong is closed now, the others pinged (or ponged).
func (m *Module) keepalive(now time.Time) {
	for _, w := range m.tr.WSConns() {
		if !w.LastUsed.Before(now.Add(-m.conf.timeout)) {
			continue
		}
		switch {
		case w.Closing || w.AwaitingPong:
			m.log().Warn("websocket: forcibly closing connection", "id", w.ID, "peer", w.Peer.String())
			m.tr.WSCloseNow(w.ID)
		case m.conf.mechanism == keepaliveConCheck:
			// The stream is there while it is listed: a lost one ends
			// its reader and leaves the list.
		default:
			m.tr.WSPing(w.ID, m.conf.mechanism == keepalivePong, m.conf.pingData)
		}
	}
}

// log is the proxy's logger (the default one before Start).
func (m *Module) log() *slog.Logger {
	if m.env != nil && m.env.Log != nil {
		return m.env.Log
	}
	return slog.Default()
}

// closed runs event_route[websocket:closed] (or event_callback) for a
// connection that ended, with $si, $sp, $pr and $conid of the connection.
func (m *Module) closed(w transport.WSConn) {
	route := ClosedEvent
	if m.conf.eventCallback != "" {
		route = m.conf.eventCallback
	}
	m.events.With(m.env, func(ew *router.Worker) {
		c := ew.EventCtx()
		defer c.Finish()
		if !c.HasRoute(router.RouteEvent, route) {
			return
		}
		c.Pkt = w.Packet()
		if m.conf.eventCallback != "" {
			c.EventName = ClosedEvent
		}
		c.RunKind(router.RouteEvent, route)
	})
}

// Exports are KSR.websocket.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "handle_handshake", Native: "ws_handle_handshake", Ret: dispatch.Int, Fn: dispatch.F0(m.handshake)},
		{Name: "close", Native: "ws_close", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return m.closeConn(c, transport.WSNormalClosure, "Normal closure", 0)
		})},
		{Name: "close_reason", Native: "ws_close", Ret: dispatch.Int, Fn: dispatch.FIS(func(c *router.Ctx, code int, reason string) int {
			return m.closeConn(c, code, reason, 0)
		})},
		{Name: "close_conid", Native: "ws_close", Ret: dispatch.Int, Fn: dispatch.FISI(func(c *router.Ctx, code int, reason string, id int) int {
			return m.closeConn(c, code, reason, id)
		})},
	}
}

// closeConn closes a WebSocket connection, the message's own (id 0) or id:
// 1 when the close frame was sent, 0 when it could not be, -1 when there
// is no such connection (Kamailio's answers).
func (m *Module) closeConn(c *router.Ctx, code int, reason string, id int) int {
	cid := uint64(id)
	if id == 0 {
		if c.Pkt == nil || !c.Pkt.IsWS() {
			c.Log().Error("websocket: ws_close: failed to retrieve WebSocket connection", "route", c.Route)
			return -1
		}
		cid = c.Pkt.ConnID()
	}
	if m.tr == nil {
		return -1
	}
	if err := m.tr.WSClose(cid, code, reason); err != nil {
		if errors.Is(err, transport.ErrNoWSConn) {
			c.Log().Error("websocket: ws_close: failed to retrieve WebSocket connection", "id", cid, "route", c.Route)
			return -1
		}
		return 0
	}
	return 1
}

// The GUID of RFC 6455 §1.3 the accept key is made with.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshake answers a WebSocket upgrade as Kamailio's ws_handle_handshake:
// Connection must hold "upgrade", Upgrade "websocket", Sec-WebSocket-Key
// and Sec-WebSocket-Version (13) must be there once each and
// Sec-WebSocket-Protocol must name "sip"; a 101 then makes the stream a
// WebSocket (1), anything else is answered 400, 426 or 503 and the stream
// closed after it (0: the script stops, as Kamailio's 0 does).
func (m *Module) handshake(c *router.Ctx) int {
	msg := c.Msg
	if !msg.IsHTTP() || c.Pkt == nil || c.Pkt.ConnID() == 0 {
		c.Log().Error("websocket: ws_handle_handshake: not an HTTP request on a TCP or TLS connection", "route", c.Route)
		return 0
	}
	if !m.enabled.Load() {
		c.Log().Info("websocket: disabled: bouncing handshake")
		m.refuse(c, 503, "Service Unavailable", "")
		return 0
	}
	if c.Pkt.Proto != sip.TransportTCP && c.Pkt.Proto != sip.TransportTLS {
		c.Log().Error("websocket: unsupported transport " + c.ProtoName())
		return 0
	}
	var (
		key, origin                   []byte
		conn, upgrade, sub            bool
		hasKey, hasVersion, hasOrigin bool
	)
	// once marks a header that may come once: a second is answered 400.
	once := func(seen *bool, name string) bool {
		if *seen {
			c.Log().Warn("websocket: " + name + " found multiple times")
			m.refuse(c, 400, "Bad Request", "")
			return false
		}
		*seen = true
		return true
	}
	for i := range msg.NumHeaders() {
		h := msg.Header(i)
		v := bytes.TrimSpace(h.Value)
		switch strings.ToLower(string(bytes.TrimSpace(h.Name))) {
		case "connection":
			conn = conn || bytes.Contains(bytes.ToLower(v), []byte("upgrade"))
		case "upgrade":
			upgrade = upgrade || bytes.Contains(bytes.ToLower(v), []byte("websocket"))
		case "sec-websocket-key":
			if !once(&hasKey, "Sec-WebSocket-Key") {
				return 0
			}
			key = v
		case "sec-websocket-protocol":
			sub = sub || bytes.Contains(bytes.ToLower(v), []byte("sip"))
		case "sec-websocket-version":
			if !once(&hasVersion, "Sec-WebSocket-Version") {
				return 0
			}
			if n, _ := strconv.Atoi(string(v)); n != 13 {
				c.Log().Warn("websocket: unsupported protocol version " + string(v))
				m.refuse(c, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n")
				return 0
			}
		case "origin":
			if !once(&hasOrigin, "Origin") {
				return 0
			}
			origin = v
		}
	}
	if !conn || !upgrade || !hasKey || !hasVersion || !sub {
		c.Log().Warn("websocket: required headers not present")
		m.refuse(c, 400, "Bad Request", "Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n")
		return 0
	}
	sum := sha1.Sum(append(append([]byte(nil), key...), wsGUID...))
	var hdrs strings.Builder
	switch {
	case m.conf.cors == 1:
		hdrs.WriteString("Access-Control-Allow-Origin: *\r\n")
	case m.conf.cors == 2 && len(origin) > 0:
		hdrs.WriteString("Access-Control-Allow-Origin: " + string(origin) + "\r\n")
	}
	hdrs.WriteString("Sec-WebSocket-Protocol: sip\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
	xhttp.Answered(c)
	if err := c.Pkt.UpgradeWS(xhttp.BuildReply(c, 101, "Switching Protocols", hdrs.String(), "")); err != nil {
		c.Log().Error("websocket: the upgrade: " + err.Error())
		return 0
	}
	return 1
}

// refuse answers the upgrade as Kamailio's sl answers an HTTP request
// (xhttp.BuildReply) with hdrs and no body, and closes the stream once the
// answer is written.
func (m *Module) refuse(c *router.Ctx, code int, reason, hdrs string) {
	xhttp.Answered(c)
	if tr := c.Env().Transport; tr != nil {
		if err := tr.Reply(c.Pkt, c.Src(), xhttp.BuildReply(c, code, reason, hdrs, "")); err != nil {
			c.Log().Error("websocket: sending the reply: " + err.Error())
		}
	}
	c.Pkt.CloseStream()
}

// RPCs are Kamailio's ws.* commands.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	byID := func(p []any, f func(id uint64) error) (any, error) {
		id, err := dispatch.ParamInt(p, 0, "id")
		if err != nil {
			return nil, dispatch.RPCErrorf(500, "Invalid Parameters")
		}
		if m.tr == nil {
			return nil, dispatch.RPCErrorf(500, "Unknown connection ID")
		}
		if err := f(uint64(id)); err != nil {
			if errors.Is(err, transport.ErrNoWSConn) {
				return nil, dispatch.RPCErrorf(500, "Unknown connection ID")
			}
			return nil, dispatch.RPCErrorf(500, "%s", err.Error())
		}
		return nil, nil
	}
	return []dispatch.RPC{
		{Name: "ws.dump", Doc: "List the WebSocket connections", Fn: func(p []any) (any, error) { return m.dump(p), nil }},
		{Name: "ws.close", Doc: "Close a WebSocket connection by id", Fn: func(p []any) (any, error) {
			return byID(p, func(id uint64) error { return m.tr.WSClose(id, transport.WSNormalClosure, "Normal closure") })
		}},
		{Name: "ws.ping", Doc: "Send a ping on a WebSocket connection", Fn: func(p []any) (any, error) {
			return byID(p, func(id uint64) error { return m.tr.WSPing(id, false, m.conf.pingData) })
		}},
		{Name: "ws.pong", Doc: "Send a pong on a WebSocket connection", Fn: func(p []any) (any, error) {
			return byID(p, func(id uint64) error { return m.tr.WSPing(id, true, m.conf.pingData) })
		}},
		{Name: "ws.disable", Doc: "Refuse new WebSocket handshakes (503)", Fn: func([]any) (any, error) {
			m.enabled.Store(false)
			m.log().Warn("websocket: disabling websockets - new connections will be dropped")
			return nil, nil
		}},
		{Name: "ws.enable", Doc: "Take WebSocket handshakes again", Fn: func([]any) (any, error) {
			m.enabled.Store(true)
			m.log().Warn("websocket: enabling websockets")
			return nil, nil
		}},
	}
}

// dump is ws.dump's answer: each connection (with verbose_list, or when
// asked with "sip") and the count.
func (m *Module) dump(p []any) any {
	var list []map[string]any
	n := 0
	if m.tr != nil {
		all := m.tr.WSConns()
		n = len(all)
		what, _ := dispatch.ParamStr(p, 0, "type")
		if m.conf.verboseList || what == "sip" {
			now := time.Now()
			for _, w := range all {
				state := "OPEN"
				if w.Closing {
					state = "CLOSING"
				}
				list = append(list, map[string]any{
					"id": w.ID, "proto": strings.ToLower(w.Proto.String()), "src": w.Peer.String(), "dst": w.Local.String(),
					"pingts": 0, "idle": int(now.Sub(w.LastUsed).Seconds()), "state": state, "sub_protocol": "sip",
				})
			}
		}
	}
	return map[string]any{"connections": list, "info": map[string]any{"wscounter": n, "truncated": "no"}}
}

// RegisterStats registers Kamailio's ws_* statistics.
func (m *Module) RegisterStats(r *stats.Registry) {
	if m.tr == nil {
		return
	}
	ws := &m.tr.WS
	u := func(v *atomic.Uint64) func() int64 { return func() int64 { return int64(v.Load()) } }
	i := func(v *atomic.Int64) func() int64 { return v.Load }
	for _, s := range []struct {
		name, help string
		kind       stats.Kind
		read       func() int64
	}{
		{"ws_current_connections", "WebSocket connections open", stats.Gauge, i(&ws.Conns)},
		{"ws_max_concurrent_connections", "the most WebSocket connections open at once", stats.Gauge, i(&ws.MaxConns)},
		{"ws_sip_current_connections", "SIP WebSocket connections open", stats.Gauge, i(&ws.Conns)},
		{"ws_sip_max_concurrent_connections", "the most SIP WebSocket connections open at once", stats.Gauge, i(&ws.MaxConns)},
		{"ws_successful_handshakes", "handshakes answered with 101", stats.Counter, u(&ws.Handshakes)},
		{"ws_sip_successful_handshakes", "SIP handshakes answered with 101", stats.Counter, u(&ws.Handshakes)},
		{"ws_failed_connections", "connections a frame could not be sent on", stats.Counter, u(&ws.Failed)},
		{"ws_sip_failed_connections", "SIP connections a frame could not be sent on", stats.Counter, u(&ws.Failed)},
		{"ws_local_closed_connections", "connections this side closed", stats.Counter, u(&ws.LocalClosed)},
		{"ws_sip_local_closed_connections", "SIP connections this side closed", stats.Counter, u(&ws.LocalClosed)},
		{"ws_remote_closed_connections", "connections the peer closed", stats.Counter, u(&ws.RemoteClosed)},
		{"ws_sip_remote_closed_connections", "SIP connections the peer closed", stats.Counter, u(&ws.RemoteClosed)},
		{"ws_received_frames", "frames received", stats.Counter, u(&ws.FramesIn)},
		{"ws_sip_received_frames", "SIP frames received", stats.Counter, u(&ws.SIPFramesIn)},
		{"ws_transmitted_frames", "frames sent", stats.Counter, u(&ws.FramesOut)},
		{"ws_sip_transmitted_frames", "SIP frames sent", stats.Counter, u(&ws.SIPFramesOut)},
	} {
		r.Func("websocket", s.name, s.help, s.kind, s.read)
	}
}
