// Package proxytest starts a whole proxy in a test, from a config file, on
// UDP 127.0.0.1 with a port of the system's choice: the golden files and
// the transaction tests run against it. Like every engine package it does
// not import the modules: the test links them (modules/all).
package proxytest

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	engines "github.com/kemi-sip/kemi/engines/all"
)

// Proxy is a running proxy.
type Proxy struct {
	Addr  netip.AddrPort // its UDP socket
	Env   *router.Env
	Table *dispatch.Table // its modules, exports and RPC commands
	Logs  *Logs
	tr    *transport.Server
	stop  func()
}

// Logs collects what the proxy logs.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start loads the config at path (with its modules' Start steps) and
// serves; the proxy stops when the test ends.
func Start(tb testing.TB, path string, defines map[string]string) *Proxy {
	tb.Helper()
	c, err := cfg.Parse(path, nil, defines)
	if err != nil {
		tb.Fatal(err)
	}
	tab, err := engines.Table(c)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engines.Engine(c, tab, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := transport.Listen(transport.Config{Listen: []transport.Addr{{Host: "127.0.0.1", Port: 0}}, Children: 2})
	if err != nil {
		tb.Fatal(err)
	}
	logs := &Logs{}
	env := &router.Env{Engine: e, Transport: tr, Myself: transport.NewMyself(tr.Listeners, []string{"proxy.example.com"}),
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Defines: c.Defines}
	if err := tab.Start(env); err != nil {
		tr.Close()
		tb.Fatal(err)
	}
	var werr error
	var mu sync.Mutex
	tr.Serve(func(rank int) transport.Handler {
		w, err := env.NewWorker(rank)
		if err != nil {
			mu.Lock()
			werr = err
			mu.Unlock()
		}
		return w
	})
	if werr != nil {
		tb.Fatal(werr)
	}
	p := &Proxy{Env: env, Table: tab, Logs: logs, tr: tr}
	for _, l := range tr.Listeners {
		if l.Proto.String() == "UDP" {
			p.Addr = l.Addr
		}
	}
	p.stop = func() {
		tr.Close()
		tab.Stop()
	}
	tb.Cleanup(p.stop)
	return p
}
