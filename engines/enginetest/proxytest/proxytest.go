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

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/proxy"
)

// Proxy is a running proxy.
type Proxy struct {
	Addr    netip.AddrPort // its UDP socket
	TCPAddr netip.AddrPort // its TCP socket, when it has one
	Env     *router.Env
	Table   *dispatch.Table // its modules, exports and RPC commands
	Logs    *Logs
	// Stop stops it before the test ends (its modules' Stop run: htable
	// writes back, ...); once, whoever calls it.
	Stop func()
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
	return StartListen(tb, path, defines, "udp:127.0.0.1:0")
}

// StartListen is Start on these sockets (-l), such as "tcp:127.0.0.1:0";
// TCPAddr is the TCP one.
func StartListen(tb testing.TB, path string, defines map[string]string, listen ...string) *Proxy {
	tb.Helper()
	logs := &Logs{}
	p, err := proxy.Load(proxy.Options{File: path, Defines: defines, Listen: listen, Children: 2,
		Aliases: []string{"proxy.example.com"}, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	stop := sync.OnceFunc(p.Stop)
	tb.Cleanup(stop)
	return &Proxy{Addr: p.Addr(sip.TransportUDP), TCPAddr: p.Addr(sip.TransportTCP), Env: p.Env, Table: p.Table, Logs: logs, Stop: stop}
}
