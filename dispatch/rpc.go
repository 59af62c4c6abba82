package dispatch

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
)

// RPCFunc answers one RPC command; params are its positional parameters
// (strings or numbers, as a JSON-RPC request gives them). The result is
// anything encoding/json can write.
type RPCFunc func(params []any) (any, error)

// RPC is one command, by Kamailio's name ("app_lua.reload").
type RPC struct {
	Name string
	Doc  string
	Fn   RPCFunc
}

// RPCError is an error with a JSON-RPC code: Kamailio's (500 for a failed
// command, 400 for bad parameters, 404 for what is not there) or
// JSON-RPC's own (-32601 method not found).
type RPCError struct {
	Code int
	Msg  string
}

func (e *RPCError) Error() string { return e.Msg }

// Codes the commands use, as Kamailio's.
const (
	RPCBadRequest     = 400
	RPCNotFound       = 404
	RPCInternal       = 500
	RPCMethodNotFound = -32601
)

// RPCErrorf makes an RPCError.
func RPCErrorf(code int, format string, args ...any) error {
	return &RPCError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// RPCCode is the JSON-RPC code of err: its own when it is an RPCError,
// 500 otherwise.
func RPCCode(err error) int {
	if e, ok := errors.AsType[*RPCError](err); ok {
		return e.Code
	}
	return RPCInternal
}

type rpcs struct {
	mu sync.RWMutex
	m  map[string]RPC
}

// AddRPC registers an RPC command with the table: the engines add theirs
// when they load (app_lua.reload, app_lua.api_list, ...), the modules
// when they start. A name given twice is an error.
func (t *Table) AddRPC(name, doc string, fn RPCFunc) error {
	t.rpc.mu.Lock()
	defer t.rpc.mu.Unlock()
	if _, dup := t.rpc.m[name]; dup {
		return fmt.Errorf("rpc %q registered twice", name)
	}
	if t.rpc.m == nil {
		t.rpc.m = map[string]RPC{}
	}
	t.rpc.m[name] = RPC{name, doc, fn}
	return nil
}

// CallRPC runs the command name with params. A panic in the command is
// an error: an RPC never takes the proxy down.
func (t *Table) CallRPC(name string, params ...any) (res any, err error) {
	t.rpc.mu.RLock()
	r, ok := t.rpc.m[name]
	t.rpc.mu.RUnlock()
	if !ok {
		return nil, RPCErrorf(RPCMethodNotFound, "Method Not Found: %s", name)
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, RPCErrorf(RPCInternal, "%s: internal error: %v", name, p)
		}
	}()
	return r.Fn(params)
}

// RPCs lists the commands by name.
func (t *Table) RPCs() []RPC {
	t.rpc.mu.RLock()
	defer t.rpc.mu.RUnlock()
	out := make([]RPC, 0, len(t.rpc.m))
	for _, r := range t.rpc.m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// addSystemRPCs registers what the table answers itself: the list of
// commands and the runtime configuration.
func (t *Table) addSystemRPCs() error {
	for _, r := range []RPC{
		{"system.listMethods", "the RPC commands", func([]any) (any, error) {
			var names []string
			for _, r := range t.RPCs() {
				names = append(names, r.Name)
			}
			return names, nil
		}},
		{"system.methodHelp", "what a command does: system.methodHelp NAME", func(p []any) (any, error) {
			name, err := ParamStr(p, 0, "command name")
			if err != nil {
				return nil, err
			}
			t.rpc.mu.RLock()
			r, ok := t.rpc.m[name]
			t.rpc.mu.RUnlock()
			if !ok {
				return nil, RPCErrorf(RPCNotFound, "no such command: %s", name)
			}
			return r.Doc, nil
		}},
		{"cfg.get", "a runtime parameter: cfg.get GROUP NAME", func(p []any) (any, error) {
			v, err := t.cfgVar(p)
			if err != nil {
				return nil, err
			}
			return v.Get(), nil
		}},
		{"cfg.set", "change a runtime parameter: cfg.set GROUP NAME VALUE", t.cfgSet},
		{"cfg.set_now_int", "cfg.set for an int", t.cfgSet},
		{"cfg.set_now_string", "cfg.set for a string", t.cfgSet},
		{"cfg.list", "the runtime parameters", func([]any) (any, error) {
			var out []map[string]any
			for _, v := range t.cfg {
				out = append(out, map[string]any{"group": v.Group, "name": v.Name, "value": v.Get(), "doc": v.Doc})
			}
			return out, nil
		}},
	} {
		if err := t.AddRPC(r.Name, r.Doc, r.Fn); err != nil {
			return err
		}
	}
	return nil
}

// CfgVar is a parameter cfg.set can change while the proxy runs.
type CfgVar struct {
	Group, Name, Doc string
	Get              func() any
	// Set receives an int64 for an int parameter, a string otherwise; its
	// error is the command's.
	Set func(v any) error
	Int bool
}

// addCustomCfg makes the config's own cfg vars (group.name = value desc
// "...", Kamailio's custom cfg groups) runtime parameters: cfg.get and
// cfg.set reach them, and $sel(cfg_get.group.name) reads them. An
// unquoted number is an int, anything else a string.
func (t *Table) addCustomCfg(globals []cfg.Global) {
	for _, g := range globals {
		group, name, ok := strings.Cut(g.Name, ".")
		if !ok {
			continue
		}
		var val any = g.Value
		n, err := strconv.ParseInt(g.Value, 10, 64)
		isInt := err == nil && !g.Quoted
		if isInt {
			val = n
		}
		if v := t.custom[g.Name]; v != nil { // declared again: the last value
			v.Store(val)
			continue
		}
		v := &atomic.Value{}
		v.Store(val)
		if t.custom == nil {
			t.custom = map[string]*atomic.Value{}
		}
		t.custom[g.Name] = v
		t.cfg = append(t.cfg, CfgVar{Group: group, Name: name, Doc: g.Desc, Int: isInt, Get: v.Load,
			Set: func(x any) error { v.Store(x); return nil }})
	}
}

// CustomCfg is the value of the config's cfg var group.name (an int64 or
// a string), for @cfg_get.group.name.
func (t *Table) CustomCfg(group, name string) (any, bool) {
	v := t.custom[group+"."+name]
	if v == nil {
		return nil, false
	}
	return v.Load(), true
}

func (t *Table) cfgVar(p []any) (*CfgVar, error) {
	g, err := ParamStr(p, 0, "group")
	if err != nil {
		return nil, err
	}
	n, err := ParamStr(p, 1, "name")
	if err != nil {
		return nil, err
	}
	for i := range t.cfg {
		if v := &t.cfg[i]; v.Group == g && v.Name == n {
			return v, nil
		}
	}
	return nil, RPCErrorf(RPCNotFound, "no runtime parameter %s.%s (cfg.list shows them)", g, n)
}

func (t *Table) cfgSet(p []any) (any, error) {
	v, err := t.cfgVar(p)
	if err != nil {
		return nil, err
	}
	var val any
	if v.Int {
		n, err := ParamInt(p, 2, "value")
		if err != nil {
			return nil, err
		}
		val = n
	} else if val, err = ParamStr(p, 2, "value"); err != nil {
		return nil, err
	}
	if err := v.Set(val); err != nil {
		return nil, RPCErrorf(RPCBadRequest, "%s.%s: %v", v.Group, v.Name, err)
	}
	return 0, nil
}

// ParamStr is parameter i of an RPC command as a string (a number is
// written in decimal).
func ParamStr(p []any, i int, what string) (string, error) {
	if i >= len(p) {
		return "", RPCErrorf(RPCBadRequest, "missing parameter %d (%s)", i+1, what)
	}
	switch v := p[i].(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	}
	return "", RPCErrorf(RPCBadRequest, "parameter %d (%s): want a string, got %v", i+1, what, p[i])
}

// ParamInt is parameter i as an integer (a string of digits is one).
func ParamInt(p []any, i int, what string) (int64, error) {
	if i >= len(p) {
		return 0, RPCErrorf(RPCBadRequest, "missing parameter %d (%s)", i+1, what)
	}
	switch v := p[i].(type) {
	case float64:
		if v == float64(int64(v)) {
			return int64(v), nil
		}
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, RPCErrorf(RPCBadRequest, "parameter %d (%s): want an integer, got %v", i+1, what, p[i])
}

// startRPCs registers a started module's commands, runtime parameters
// and statistics.
func (t *Table) startRPCs(m Module, env *router.Env) error {
	if p, ok := m.(RPCProvider); ok {
		for _, r := range p.RPCs(env) {
			if err := t.AddRPC(r.Name, r.Doc, r.Fn); err != nil {
				return err
			}
		}
	}
	if p, ok := m.(CfgProvider); ok {
		t.cfg = append(t.cfg, p.Cfg(env)...)
	}
	if p, ok := m.(StatsProvider); ok {
		p.RegisterStats(env.Statistics())
	}
	return nil
}
