// Package ctl is what the media relay modules (rtpengine, rtpproxy) share:
// their nodes in sets behind a control socket, read from the same kind of
// parameters, opened at Start and closed at Stop. A module embeds Relay
// and gets its Init, Start and Stop.
package ctl

import (
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

// Relay is the nodes of one module of one proxy.
type Relay struct {
	transport.CtlRelay
	// Module is the module's name, which prefixes its parameters
	// (rtpproxy_sock, rtpproxy_retr, rtpproxy_disable_tout).
	Module string
	// Timeout is the parameter of the answer timeout and its unit
	// (rtpengine_tout_ms in ms, rtpproxy_tout in ms too).
	Timeout     string
	TimeoutUnit time.Duration
}

var (
	_ dispatch.Initializer = (*Relay)(nil)
	_ dispatch.Starter     = (*Relay)(nil)
	_ dispatch.Stopper     = (*Relay)(nil)
)

// Init reads the nodes and timeouts: <module>_sock (several), default_set,
// the timeout (1000 units), <module>_retr (5), <module>_disable_tout (60 s).
func (r *Relay) Init(p *dispatch.Params) error {
	var socks []string
	for _, v := range p.All(r.Module + "_sock") {
		socks = append(socks, v.S)
	}
	cfg, err := transport.NewCtlConfig(r.Module+"_sock", socks, p.Int("default_set", -1),
		time.Duration(p.Int(r.Timeout, 1000))*r.TimeoutUnit, p.Int(r.Module+"_retr", 5),
		time.Duration(p.Int(r.Module+"_disable_tout", 60))*time.Second)
	if err != nil {
		return err
	}
	r.Config = cfg
	return nil
}

// Start opens the control sockets.
func (r *Relay) Start(env *router.Env) error {
	return r.CtlRelay.Start(env.Log.With("module", r.Module))
}

// Stop closes them.
func (r *Relay) Stop() { r.CtlRelay.Stop() }
