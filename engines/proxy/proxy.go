package proxy

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

// Options say which config to load and what the command line changes.
type Options struct {
	File     string            // the config's name in messages; read from disk when Text is nil
	Text     []byte            // the config itself (an embedded one), or nil
	Defines  map[string]string // -A
	Scripts  map[string][]byte // scripts that are not files (see Engine)
	Listen   []string          // replaces listen= (-l)
	Children int               // replaces children= when > 0 (-n)
	Aliases  []string          // added to alias=
	Log      *slog.Logger      // nil: slog.Default()
	// Level, when set, is set from the config's debug= plus Debug.
	Level *slog.LevelVar
	Debug int
}

// Proxy is a config loaded into its export table and engine, and once
// started, its sockets and workers. cmd/kemi, kemibench and the tests'
// proxies are all one of these.
type Proxy struct {
	Config   *cfg.Config
	Table    *dispatch.Table
	Engine   router.Engine
	Listen   []transport.Addr
	Children int
	Aliases  []string
	Env      *router.Env // after Start
	// RouteTimer, set before Start, becomes the Env's RouteTimer.
	RouteTimer func(c *router.Ctx, k router.RouteKind, d time.Duration)
	Transport  *transport.Server // after Start
	log        *slog.Logger
	level      *slog.LevelVar
}

// Load reads the config, builds the export table and compiles the script.
// Every error names the config's file:line.
func Load(o Options) (*Proxy, error) {
	c, err := cfg.Parse(o.File, o.Text, o.Defines)
	if err != nil {
		return nil, err
	}
	p := &Proxy{Config: c, log: o.Log, level: o.Level}
	if p.log == nil {
		p.log = slog.Default()
	}
	c.LogWarnings(p.log)
	debug, err := c.Int("debug", 2)
	if err != nil {
		return nil, err
	}
	if o.Level != nil {
		o.Level.Set(router.LevelFromDebug(debug + o.Debug))
	}
	if err := p.globals(o); err != nil {
		return nil, err
	}
	if p.Table, err = dispatch.FromConfig(c); err != nil {
		return nil, err
	}
	if p.Engine, err = Engine(c, p.Table, o.Scripts); err != nil {
		return nil, err
	}
	return p, nil
}

// globals checks the core parameters kemi uses.
func (p *Proxy) globals(o Options) error {
	c := p.Config
	for _, b := range []string{"log_stderror", "fork", "auto_aliases"} {
		if _, err := c.Bool(b, false); err != nil {
			return err
		}
	}
	port, err := c.Int("port", 5060)
	if err != nil {
		return err
	}
	if p.Children, err = c.Int("children", 8); err != nil {
		return err
	}
	if p.Children < 1 {
		g, _ := c.Global("children")
		return &cfg.Error{Pos: g.Pos, Msg: "children: must be at least 1"}
	}
	if o.Children > 0 {
		p.Children = o.Children
	}
	if len(o.Listen) > 0 {
		for _, s := range o.Listen {
			a, err := transport.ParseAddr(s, port)
			if err != nil {
				return fmt.Errorf("-l: %w", err)
			}
			p.Listen = append(p.Listen, a)
		}
	} else {
		for _, g := range c.All("listen") {
			a, err := transport.ParseAddr(g.Value, port)
			if err != nil {
				return &cfg.Error{Pos: g.Pos, Msg: err.Error()}
			}
			p.Listen = append(p.Listen, a)
		}
	}
	if len(p.Listen) == 0 {
		// Kamailio listens everywhere when told nothing.
		p.Listen = []transport.Addr{{Host: "0.0.0.0", Port: port}}
	}
	for _, g := range c.All("alias") {
		p.Aliases = append(p.Aliases, g.Value)
	}
	p.Aliases = append(p.Aliases, o.Aliases...)
	return nil
}

// Start binds the sockets, starts the modules and the workers.
func (p *Proxy) Start() error {
	c := p.Config
	tc, err := transportSettings(c)
	if err != nil {
		return err
	}
	tc.Listen, tc.Children, tc.Log = p.Listen, p.Children, p.log
	if tc.TLS, tc.ClientTLS, err = p.Table.TLS(); err != nil {
		return err
	}
	tr, err := transport.Listen(tc)
	if err != nil {
		return err
	}
	env := &router.Env{Engine: p.Engine, Transport: tr, Myself: transport.NewMyself(tr.Listeners, p.Aliases), Log: p.log, Defines: c.Defines,
		RouteTimer: p.RouteTimer, Level: p.level}
	if env.ServerID, err = c.Int("server_id", 0); err != nil {
		tr.Close()
		return err
	}
	if g, ok := c.Global("xavp_via_params"); ok {
		env.XAVPViaParams = g.Value
	}
	if g, ok := c.Global("xavp_via_fields"); ok {
		env.XAVPViaFields = g.Value
	}
	if g, ok := c.Global("log_prefix"); ok && g.Value != "" {
		if env.LogPrefix, err = router.ParseFormat(g.Value); err != nil {
			tr.Close()
			return &cfg.Error{Pos: g.Pos, Msg: "log_prefix: " + err.Error()}
		}
	}
	if env.ServerHeader, err = serverHeader(c); err != nil {
		tr.Close()
		return err
	}
	if err := mtuSettings(c, env); err != nil {
		tr.Close()
		return err
	}
	if err := latencySettings(c, env); err != nil {
		tr.Close()
		return err
	}
	if err := p.Table.Start(env); err != nil {
		tr.Close()
		return err
	}
	var (
		mu   sync.Mutex
		werr error
	)
	tr.Serve(func(rank int) transport.Handler {
		w, err := env.NewWorker(rank)
		if err != nil {
			mu.Lock()
			werr = err
			mu.Unlock()
			return nopHandler{}
		}
		return w
	})
	if werr != nil {
		tr.Close()
		p.Table.Stop()
		return werr
	}
	p.Env, p.Transport = env, tr
	return nil
}

type nopHandler struct{}

func (nopHandler) Handle(*transport.Packet) {}

// Stop closes the sockets, waits for the workers, then stops the modules
// (usrloc's write-back runs last, after the final request).
func (p *Proxy) Stop() {
	if p.Transport != nil {
		p.Transport.Close()
	}
	p.Table.Stop()
}

// transportSettings reads the core parameters that bound what the sockets
// take in: maxbuffer, tcp_connection_lifetime, tcp_max_connections, and
// kemi's own tcp_max_connections_per_ip, overload_backlog (the percent
// of a UDP socket's buffer waiting that marks its messages overloaded,
// for tm's overload policy) and bad-input ban
// (bad_msg_ban_limit messages that fail parsing within bad_msg_ban_unit
// seconds ban the source for ban_time seconds; 0 turns the ban off).
func transportSettings(c *cfg.Config) (transport.Config, error) {
	var tc transport.Config
	var limitBan int
	ints := []struct {
		name string
		def  int
		min  int
		to   *int
	}{
		{"maxbuffer", 4 << 20, 0, &tc.RecvBuffer},
		{"tcp_max_connections", 2048, 1, &tc.TCPMaxConns},
		{"tcp_max_connections_per_ip", 128, 1, &tc.TCPMaxPerIP},
		{"bad_msg_ban_limit", 10, 0, &tc.Guard.BadLimit},
		{"overload_backlog", 50, 1, &tc.OverloadBacklog},
		{"tcp_conn_wq_max", 32 << 10, 1, &tc.TCPConnWQMax},
		{"tcp_wq_max", 10 << 20, 1, &tc.TCPWQMax},
		{"tcp_conn_limit_ban", 0, 0, &limitBan},
	}
	for _, p := range ints {
		n, err := c.Int(p.name, p.def)
		if err != nil {
			return tc, err
		}
		if n < p.min {
			g, _ := c.Global(p.name)
			return tc, &cfg.Error{Pos: g.Pos, Msg: fmt.Sprintf("%s: must be at least %d", p.name, p.min)}
		}
		*p.to = n
	}
	tc.TCPLimitBan = limitBan != 0
	secs := []struct {
		name string
		def  int
		to   *time.Duration
	}{
		{"tcp_connection_lifetime", 120, &tc.TCPLifetime},
		{"tcp_send_timeout", 10, &tc.TCPSendTimeout},
		{"bad_msg_ban_unit", 2, &tc.Guard.Unit},
		{"ban_time", 300, &tc.Guard.BanTime},
	}
	for _, p := range secs {
		n, err := c.Int(p.name, p.def)
		if err != nil {
			return tc, err
		}
		if n < 1 {
			g, _ := c.Global(p.name)
			return tc, &cfg.Error{Pos: g.Pos, Msg: p.name + ": must be at least 1 second"}
		}
		*p.to = time.Duration(n) * time.Second
	}
	async, err := c.Bool("tcp_async", true)
	if err != nil {
		return tc, err
	}
	tc.TCPSync = !async
	return tc, nil
}

// mtuSettings reads udp_mtu and udp_mtu_try_proto (TCP, TLS, SCTP, UDP
// or Kamailio's numbers 1 to 4).
func mtuSettings(c *cfg.Config, env *router.Env) error {
	n, err := c.Int("udp_mtu", 0)
	if err != nil {
		return err
	}
	if n < 0 || n > 65535 {
		g, _ := c.Global("udp_mtu")
		return &cfg.Error{Pos: g.Pos, Msg: "udp_mtu: 0 (off) to 65535"}
	}
	env.UDPMTU = n
	g, ok := c.Global("udp_mtu_try_proto")
	if !ok {
		return nil
	}
	switch p := strings.ToUpper(strings.TrimSpace(g.Value)); p {
	case "UDP", "1":
		env.MTUTryProto = sip.TransportUDP
	case "TCP", "2":
		env.MTUTryProto = sip.TransportTCP
	case "TLS", "3":
		env.MTUTryProto = sip.TransportTLS
	case "SCTP", "4":
		env.MTUTryProto = sip.TransportSCTP
	default:
		return &cfg.Error{Pos: g.Pos, Msg: "udp_mtu_try_proto: TCP, TLS, SCTP or UDP, found " + g.Value}
	}
	return nil
}

// latencySettings reads latency_cfg_log, latency_log,
// latency_limit_action and latency_limit_db.
func latencySettings(c *cfg.Config, env *router.Env) error {
	if _, ok := c.Global("latency_cfg_log"); ok {
		lvl, err := c.Int("latency_cfg_log", 3)
		if err != nil {
			return err
		}
		env.LatencyCfg.SetCfgLog(lvl)
	}
	lvl, err := c.Int("latency_log", -5) // L_ALERT, Kamailio's default
	if err != nil {
		return err
	}
	env.LatencyCfg.SetLog(lvl)
	limit, err := c.Int("latency_limit_action", 0)
	if err != nil {
		return err
	}
	env.LatencyCfg.SetLimitAction(limit)
	dbLimit, err := c.Int("latency_limit_db", 0)
	if err != nil {
		return err
	}
	db.SetSlowQueryLog(time.Duration(dbLimit)*time.Microsecond, env.Log, router.LevelFromDebug(lvl))
	return nil
}

// Addr is the address of the first socket of proto, invalid when there is
// none (or before Start).
func (p *Proxy) Addr(proto sip.Transport) netip.AddrPort {
	if p.Transport != nil {
		for _, l := range p.Transport.Listeners {
			if l.Proto == proto {
				return l.Addr
			}
		}
	}
	return netip.AddrPort{}
}

// serverHeader is the Server line of the proxy's own replies: the
// server_header parameter (a whole header, "Server: ..."), kemi's own
// by default, none with server_signature=no.
func serverHeader(c *cfg.Config) (string, error) {
	on, err := c.Bool("server_signature", true)
	if err != nil || !on {
		return "", err
	}
	h := router.ServerHeader
	if g, ok := c.Global("server_header"); ok {
		h = strings.TrimSpace(g.Value)
		if name, _, found := strings.Cut(h, ":"); !found || !strings.EqualFold(strings.TrimSpace(name), "Server") {
			return "", &cfg.Error{Pos: g.Pos, Msg: "server_header: want a whole header, \"Server: ...\""}
		}
	}
	return h + "\r\n", nil
}
