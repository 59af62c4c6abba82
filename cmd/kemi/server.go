package main

import (
	_ "embed"
	"log/slog"

	"github.com/kemi-sip/kemi/engines/proxy"
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

// load reads the config, builds the export table and compiles the script.
func load(o *options) (*proxy.Proxy, error) {
	eo := proxy.Options{File: o.cfgFile, Defines: o.defines, Listen: o.listen, Children: o.children,
		Log: o.log, Level: o.level, Debug: o.debug}
	if o.cfgFile == "" {
		eo.File, eo.Text = defaultCfgName, defaultCfg
		eo.Scripts = map[string][]byte{"default.lua": defaultLua}
	}
	return proxy.Load(eo)
}

// start loads the config and starts listening.
func start(o *options) (*proxy.Proxy, error) {
	p, err := load(o)
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	for _, ln := range p.Transport.Listeners {
		o.log.Info("listening on " + ln.String())
	}
	return p, nil
}
