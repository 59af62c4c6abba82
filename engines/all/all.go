// Package all turns a parsed config into the export table and the routing
// engine it names with cfgengine. It is the one place that knows every
// engine; cmd/kemi and the engine golden tests use it.
package all

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/lua"
	"github.com/kemi-sip/kemi/engines/native"
)

// Table loads the config's modules with its modparams.
func Table(c *cfg.Config) (*dispatch.Table, error) {
	loads := make([]dispatch.Load, len(c.Modules))
	for i, m := range c.Modules {
		loads[i] = dispatch.Load{Name: m.Name, Where: m.Pos.String()}
	}
	settings := make([]dispatch.Setting, len(c.Params))
	for i, p := range c.Params {
		v := router.StrValue(p.Str)
		if p.IsInt {
			v = router.IntValue(p.Int)
		}
		settings[i] = dispatch.Setting{Module: p.Module, Name: p.Name, Value: v, Where: p.Pos.String()}
	}
	return dispatch.Build(loads, settings)
}

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
	switch strings.ToLower(c.Engine) {
	case "lua":
		if p := t.Params("app_lua"); p != nil {
			switch b := p.Str("engine", "gopher"); b {
			case "gopher", "gopherlua", "":
			case "golua":
				return nil, at(errors.New(`app_lua: the "golua" backend (Shopify/go-lua) is not built yet; use "gopher"`))
			default:
				return nil, at(fmt.Errorf(`app_lua: unknown engine %q (gopher or golua)`, b))
			}
		}
		file, err := lua.ScriptFile(t, c.File)
		if err != nil {
			return nil, at(err)
		}
		var src []byte
		if s, ok := scripts[file]; ok {
			src, file = s, "(embedded)/"+file
		}
		e, err := lua.New(t, file, src)
		if err != nil {
			return nil, at(err)
		}
		return e, nil
	case "", "native", "default":
		if len(c.Routes) == 0 {
			return nil, at(errors.New("config: no routing: add a request_route block, or cfgengine \"lua\" with app_lua"))
		}
		return native.New(c, t)
	case "jsdt", "python", "python3":
		return nil, at(fmt.Errorf("cfgengine %q: this engine is not built yet; native and lua are", c.Engine))
	}
	return nil, at(fmt.Errorf("cfgengine %q: unknown engine (native, lua, jsdt, python)", c.Engine))
}
