// Package proxy assembles a proxy: a config loaded into its export table
// and the routing engine cfgengine names, then its sockets, modules and
// workers started. It is the one place that knows every engine; cmd/kemi,
// kemibench and the tests' proxies are all one of its Proxy.
package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/golua"
	"github.com/kemi-sip/kemi/engines/jsdt"
	"github.com/kemi-sip/kemi/engines/lua"
	"github.com/kemi-sip/kemi/engines/native"
	"github.com/kemi-sip/kemi/engines/python"
)

// Engine starts the engine cfgengine names. scripts maps a script name as
// the config gives it to its text, for scripts that are not files (the
// embedded default config's).
func Engine(c *cfg.Config, t *dispatch.Table, scripts map[string][]byte) (router.Engine, error) {
	at := func(err error) error {
		if c.EnginePos.Line > 0 {
			return fmt.Errorf("%s: %w", c.EnginePos, err)
		}
		return err
	}
	var (
		e   router.Engine
		mod string // the module whose RPCs reload it
		err error
	)
	switch strings.ToLower(c.Engine) {
	case "lua":
		e, err = luaEngine(c, t, scripts)
		mod = "app_lua"
	case "", "native", "default":
		if len(c.Routes) == 0 {
			return nil, at(errors.New("config: no routing: add a request_route block, or cfgengine \"lua\" with app_lua"))
		}
		return native.New(c, t)
	case "jsdt":
		var file string
		var src []byte
		if file, src, err = script(t, "app_jsdt", "load", c.File, scripts); err == nil {
			e, err = jsdt.New(t, file, src)
		}
		mod = "app_jsdt"
	case "python", "python3":
		e, mod, err = pythonEngine(c, t, scripts)
	default:
		return nil, at(fmt.Errorf("cfgengine %q: unknown engine (native, lua, jsdt, python)", c.Engine))
	}
	if err != nil {
		return nil, at(err)
	}
	if err := addRPCs(t, mod, e); err != nil {
		return nil, err
	}
	return e, nil
}

// script finds the script file a module's parameter names, and its text
// when it is one of the embedded scripts.
func script(t *dispatch.Table, module, param, cfgFile string, scripts map[string][]byte) (string, []byte, error) {
	p := t.Params(module)
	if p == nil {
		return "", nil, fmt.Errorf("cfgengine needs loadmodule %q", module+".so")
	}
	f := p.Str(param, "")
	if f == "" {
		return "", nil, fmt.Errorf(`%s: no script: set modparam(%q, %q, "/path/to/script")`, module, module, param)
	}
	if s, ok := scripts[f]; ok {
		return "(embedded)/" + f, s, nil
	}
	return dispatch.FindScript(f, cfgFile), nil, nil
}

func luaEngine(c *cfg.Config, t *dispatch.Table, scripts map[string][]byte) (router.Engine, error) {
	file, src, err := script(t, "app_lua", "load", c.File, scripts)
	if err != nil {
		return nil, err
	}
	switch b := t.Params("app_lua").Str("engine", "gopher"); b {
	case "gopher", "gopherlua", "":
		return lua.New(t, file, src)
	case "golua":
		return golua.New(t, file, src)
	default:
		return nil, fmt.Errorf(`app_lua: unknown engine %q (gopher or golua)`, b)
	}
}

// pythonEngine loads the script of app_python3 (or app_python): its
// "load" parameter, or "script_name" as Kamailio also accepts.
func pythonEngine(c *cfg.Config, t *dispatch.Table, scripts map[string][]byte) (router.Engine, string, error) {
	mod := "app_python3"
	if t.Params(mod) == nil && t.Params("app_python") != nil {
		mod = "app_python"
	}
	param := "load"
	if p := t.Params(mod); p != nil && p.Str("load", "") == "" && p.Str("script_name", "") != "" {
		param = "script_name"
	}
	file, src, err := script(t, mod, param, c.File, scripts)
	if err != nil {
		return nil, mod, err
	}
	e, err := python.New(t, file, src)
	return e, mod, err
}

// addRPCs registers the module's reload and api_list RPC commands.
func addRPCs(t *dispatch.Table, mod string, e router.Engine) error {
	err := t.AddRPC(mod+".api_list", "the KSR functions the script can call", func([]any) (any, error) {
		return t.APIListReply(), nil
	})
	if r, ok := e.(router.Reloader); ok && err == nil {
		err = t.AddRPC(mod+".reload", "compile the script again; workers switch at their next message", func([]any) (any, error) {
			old, cur, err := r.Reload()
			if err != nil {
				return nil, err
			}
			return map[string]uint64{"old": old, "new": cur}, nil
		})
	}
	return err
}
