package dispatch

import (
	"fmt"
	"sort"
	"sync"
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

type rpcs struct {
	mu sync.RWMutex
	m  map[string]RPC
}

// AddRPC registers an RPC command with the table: the engines add theirs
// when they load (app_lua.reload, app_lua.api_list, ...). A name given
// twice is an error.
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

// CallRPC runs the command name with params.
func (t *Table) CallRPC(name string, params ...any) (any, error) {
	t.rpc.mu.RLock()
	r, ok := t.rpc.m[name]
	t.rpc.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("rpc %q: command not found", name)
	}
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
