package main

import (
	_ "embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	engines "github.com/kemi-sip/kemi/engines/all"
	_ "github.com/kemi-sip/kemi/modules/all"
)

//go:embed default/kamailio.cfg
var defaultCfg []byte

//go:embed default/default.lua
var defaultLua []byte

// defaultCfgName names the embedded config in messages.
const defaultCfgName = "(embedded)/kamailio.cfg"

// options are what the command line sets.
type options struct {
	cfgFile  string // "" for the embedded default
	defines  map[string]string
	listen   []string // -l: replaces the config's listen
	children int      // -n
	debug    int      // -d count
	level    *slog.LevelVar
	log      *slog.Logger
}

// loaded is a config with its modules and engine ready, not yet listening.
type loaded struct {
	cfg      *cfg.Config
	table    *dispatch.Table
	engine   router.Engine
	listen   []transport.Addr
	children int
	aliases  []string
}

// globals checks the core parameters kemi uses.
func (l *loaded) globals(o *options) error {
	c := l.cfg
	for _, b := range []string{"log_stderror", "fork", "auto_aliases"} {
		if _, err := c.Bool(b, false); err != nil {
			return err
		}
	}
	port, err := c.Int("port", 5060)
	if err != nil {
		return err
	}
	if l.children, err = c.Int("children", 8); err != nil {
		return err
	}
	if l.children < 1 {
		g, _ := c.Global("children")
		return &cfg.Error{Pos: g.Pos, Msg: "children: must be at least 1"}
	}
	if o.children > 0 {
		l.children = o.children
	}
	if len(o.listen) > 0 {
		for _, s := range o.listen {
			a, err := transport.ParseAddr(s, port)
			if err != nil {
				return fmt.Errorf("-l: %w", err)
			}
			l.listen = append(l.listen, a)
		}
	} else {
		for _, g := range c.All("listen") {
			a, err := transport.ParseAddr(g.Value, port)
			if err != nil {
				return &cfg.Error{Pos: g.Pos, Msg: err.Error()}
			}
			l.listen = append(l.listen, a)
		}
	}
	if len(l.listen) == 0 {
		// Kamailio listens everywhere when told nothing.
		l.listen = []transport.Addr{{Host: "0.0.0.0", Port: port}}
	}
	for _, g := range c.All("alias") {
		l.aliases = append(l.aliases, g.Value)
	}
	return nil
}

// load reads the config, builds the export table and compiles the script.
func load(o *options) (*loaded, error) {
	name, text := o.cfgFile, []byte(nil)
	if name == "" {
		name, text = defaultCfgName, defaultCfg
	}
	c, err := cfg.Parse(name, text, o.defines)
	if err != nil {
		return nil, err
	}
	c.LogWarnings(o.log)
	debug, err := c.Int("debug", 2)
	if err != nil {
		return nil, err
	}
	o.level.Set(router.LevelFromDebug(debug + o.debug))

	l := &loaded{cfg: c}
	if err := l.globals(o); err != nil {
		return nil, err
	}
	t, err := engines.Table(c)
	if err != nil {
		return nil, err
	}
	var scripts map[string][]byte
	if o.cfgFile == "" {
		scripts = map[string][]byte{"default.lua": defaultLua}
	}
	e, err := engines.Engine(c, t, scripts)
	if err != nil {
		return nil, err
	}
	l.table, l.engine = t, e
	return l, nil
}

// server is a running proxy.
type server struct {
	*loaded
	env *router.Env
	tr  *transport.Server
}

// start loads the config and starts listening.
func start(o *options) (*server, error) {
	l, err := load(o)
	if err != nil {
		return nil, err
	}
	c := l.cfg
	tr, err := transport.Listen(transport.Config{Listen: l.listen, Children: l.children, Log: o.log})
	if err != nil {
		return nil, err
	}
	env := &router.Env{Engine: l.engine, Transport: tr, Myself: transport.NewMyself(tr.Listeners, l.aliases), Log: o.log, Defines: c.Defines}
	if err := latencySettings(c, env); err != nil {
		tr.Close()
		return nil, err
	}
	if err := l.table.Start(env); err != nil {
		tr.Close()
		return nil, err
	}
	var werr error
	tr.Serve(func(rank int) transport.Handler {
		w, err := env.NewWorker(rank)
		if err != nil {
			werr = err
			return nopHandler{}
		}
		return w
	})
	if werr != nil {
		tr.Close()
		l.table.Stop()
		return nil, werr
	}
	for _, ln := range tr.Listeners {
		o.log.Info("listening on " + ln.String())
	}
	return &server{loaded: l, env: env, tr: tr}, nil
}

type nopHandler struct{}

func (nopHandler) Handle(*transport.Packet) {}

// latencySettings reads latency_cfg_log, latency_log and
// latency_limit_action.
func latencySettings(c *cfg.Config, env *router.Env) error {
	if _, ok := c.Global("latency_cfg_log"); ok {
		lvl, err := c.Int("latency_cfg_log", 3)
		if err != nil {
			return err
		}
		env.LatencyCfgLog, env.LatencyCfgLevel = true, router.LevelFromDebug(lvl)
	}
	limit, err := c.Int("latency_limit_action", 0)
	if err != nil {
		return err
	}
	lvl, err := c.Int("latency_log", -1)
	if err != nil {
		return err
	}
	env.LatencyLimit, env.LatencyLimitLevel = time.Duration(limit)*time.Microsecond, router.LevelFromDebug(lvl)
	return nil
}

// stop closes the sockets, waits for the workers, then stops the modules
// (usrloc's write-back runs last, after the final request).
func (s *server) stop() {
	s.tr.Close()
	s.table.Stop()
}
