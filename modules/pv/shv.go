package pv

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// $shv(name): variables shared by every worker, as Kamailio's in shared
// memory. modparam("pv", "shvset", "name=i:1") declares one with its
// first value; assigning $shv(name) declares it too. KSR.pvx.shv_seti and
// shv_sets set only declared ones (-1 otherwise, as Kamailio's), shv_get
// reads an undeclared one as 0.
type shvTable struct {
	mu   sync.Mutex
	vars map[string]*shvar
}

type shvar struct {
	val router.Value
	buf []byte
}

func (t *shvTable) get(name string) (router.Value, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.vars[name]
	if v == nil {
		return router.Value{}, false
	}
	if v.val.Kind == router.Str {
		return router.StrValue(string(v.buf)), true // a copy: another worker may change it
	}
	return v.val, true
}

// set assigns name; only a declared one unless declare.
func (t *shvTable) set(name string, val router.Value, declare bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.vars[name]
	if v == nil {
		if !declare {
			return false
		}
		v = &shvar{}
		t.vars[name] = v
	}
	if val.Kind == router.Null {
		val = router.IntValue(0) // as Kamailio: $null makes a $shv 0
	}
	v.buf = val.AppendTo(v.buf[:0])
	v.val = val
	return true
}

// Init reads the shvset and varset parameters.
func (m *Module) Init(p *dispatch.Params) error {
	for _, param := range []string{"shvset", "varset"} {
		for _, v := range p.All(param) {
			name, val, err := parseVarset(param, v.String())
			if err != nil {
				return err
			}
			if param == "shvset" {
				m.shv.set(name, val, true)
			} else {
				m.vars = append(m.vars, router.XField{Key: name, Val: val})
			}
		}
	}
	return nil
}

// Start gives each worker the varset values.
func (m *Module) Start(env *router.Env) error {
	if len(m.vars) > 0 {
		env.WorkerInit = append(env.WorkerInit, func(w *router.Worker) {
			for _, v := range m.vars {
				w.SetVar(v.Key, v.Val)
			}
		})
	}
	return nil
}

// parseVarset reads "name=i:1" or "name=s:text", the value of param.
func parseVarset(param, s string) (string, router.Value, error) {
	name, rest, ok := strings.Cut(s, "=")
	typ, val, ok2 := strings.Cut(rest, ":")
	name = strings.TrimSpace(name)
	if !ok || !ok2 || name == "" {
		return "", router.Value{}, errors.New(param + ` "` + s + `": want name=i:number or name=s:text`)
	}
	switch strings.TrimSpace(typ) {
	case "i", "I":
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 32)
		if err != nil {
			return "", router.Value{}, errors.New(param + ` "` + s + `": ` + val + ` is not a number`)
		}
		return name, router.IntValue(n), nil
	case "s", "S":
		return name, router.StrValue(val), nil
	}
	return "", router.Value{}, errors.New(param + ` "` + s + `": the type is i or s`)
}

func (m *Module) shvSet(c *router.Ctx, name string, v router.Value) int {
	if !m.shv.set(name, v, false) {
		c.Log().Error("pvx: $shv(" + name + ") is not defined")
		return -1
	}
	return 1
}

// module is the proxy's pv module.
func module(c *router.Ctx) *Module {
	m, _ := c.Env().Module("pv").(*Module)
	return m
}

func registerShv() {
	router.RegisterPV("shv", router.PVClass{Arg: true,
		Get: func(c *router.Ctx, pv *router.PV) router.Value {
			if m := module(c); m != nil {
				v, _ := m.shv.get(pv.Arg)
				return v
			}
			return router.Value{}
		},
		Set: func(c *router.Ctx, pv *router.PV, v router.Value) error {
			m := module(c)
			if m == nil {
				return errors.New("$shv: the pv module is not loaded")
			}
			m.shv.set(pv.Arg, v, true)
			return nil
		},
	})
}

// branchAttrs are the fields of $branch(name) and $sbranch(name).
const branchAttrs = "uri dst_uri path q send_socket count flags ruid location_ua otcpid instance"

func parseBranchAttr(pv *router.PV) error {
	for _, a := range strings.Fields(branchAttrs) {
		if pv.Arg == a || (a == "q" && pv.Arg == "Q") {
			pv.Data = a
			return nil
		}
	}
	return errors.New("unknown field " + pv.Arg + "; want one of " + branchAttrs)
}

// branchField reads a field of b; count is the number of branches.
func branchField(b *router.Branch, attr string, count int) router.Value {
	if attr == "count" {
		return router.IntValue(int64(count))
	}
	if len(b.URI) == 0 {
		return router.Value{} // Kamailio: "error accessing branch"
	}
	switch attr {
	case "uri":
		return router.StrValue(string(b.URI))
	case "dst_uri":
		return router.NonEmpty(b.Dst)
	case "path":
		return router.NonEmpty(b.Path)
	case "q":
		if b.Q < 0 {
			return router.Value{}
		}
		return router.IntValue(int64(b.Q))
	case "flags":
		return router.IntValue(int64(uint32(b.Flags)))
	case "otcpid":
		return router.IntValue(0)
	case "instance":
		return router.NonEmpty(b.Instance)
	}
	return router.Value{} // send_socket, ruid, location_ua: not kept
}

// setBranchField writes a field of b; $null clears it.
func setBranchField(b *router.Branch, attr string, v router.Value) error {
	null := v.Kind == router.Null
	switch attr {
	case "uri":
		if null {
			*b = router.Branch{}
			return nil
		}
		b.URI = v.AppendTo(b.URI[:0])
	case "dst_uri":
		b.Dst = v.AppendTo(b.Dst[:0])
	case "path":
		b.Path = v.AppendTo(b.Path[:0])
	case "instance":
		b.Instance = v.AppendTo(b.Instance[:0])
	case "q", "flags":
		n := int64(0)
		if attr == "q" {
			n = -1
		}
		if !null {
			var ok bool
			if n, ok = v.Int64(); !ok || v.Kind != router.Int {
				return errors.New("an int value is needed for " + attr)
			}
		}
		if attr == "q" {
			b.Q = int(n)
		} else {
			b.Flags = uint64(uint32(n))
		}
	}
	return nil // count, send_socket, ruid, location_ua, otcpid: not set, as Kamailio
}

func registerBranches() {
	router.RegisterPV("branch", router.PVClass{Arg: true, Indexed: true, Parse: parseBranchAttr,
		Get: func(c *router.Ctx, pv *router.PV) router.Value {
			bs := c.Branches()
			attr := pv.Data.(string)
			i := pv.Index
			if i < 0 || i >= len(bs) {
				if attr == "count" {
					return router.IntValue(int64(len(bs)))
				}
				return router.Value{}
			}
			return branchField(&bs[i], attr, len(bs))
		},
		Set: func(c *router.Ctx, pv *router.PV, v router.Value) error {
			bs := c.Branches()
			i := pv.Index
			if i < 0 {
				i += len(bs)
			}
			if i < 0 || i >= len(bs) {
				return errors.New("no branch " + strconv.Itoa(pv.Index))
			}
			return setBranchField(&bs[i], pv.Data.(string), v)
		},
	})
	router.RegisterPV("sbranch", router.PVClass{Arg: true, Parse: parseBranchAttr,
		Get: func(c *router.Ctx, pv *router.PV) router.Value {
			return branchField(&c.W.SBranch, pv.Data.(string), len(c.Branches()))
		},
		Set: func(c *router.Ctx, pv *router.PV, v router.Value) error {
			return setBranchField(&c.W.SBranch, pv.Data.(string), v)
		},
	})
}

// sbranchSetRURI makes the static branch the request's: its URI, its
// destination, its q and flags (added to branch 0's). -1 without a URI
// or when one does not take.
// As Kamailio 5.6's, the path is cleared, not taken.
func sbranchSetRURI(c *router.Ctx) int {
	b := &c.W.SBranch
	if len(b.URI) == 0 {
		return -1
	}
	if err := c.SetRURI(b.URI); err != nil {
		c.Log().Error("pvx: sbranch_set_ruri: " + err.Error())
		return -1
	}
	if err := c.SetDstURI(b.Dst); err != nil {
		c.Log().Error("pvx: sbranch_set_ruri: " + err.Error())
		return -1
	}
	c.SetPath(nil)
	c.SetInstance(b.Instance)
	c.SetRURIQ(b.Q)
	c.BFlags |= b.Flags
	return 1
}

// sbranchAppend adds the static branch to the request's branches.
func sbranchAppend(c *router.Ctx) int {
	b := c.W.SBranch
	if len(b.URI) == 0 || !c.AppendBranch(b) {
		return -1
	}
	return 1
}

// RPCs are pv.shvGet and pv.shvSet, as Kamailio's.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "pv.shvGet", Doc: "a shared variable, or all of them: pv.shvGet [NAME]", Fn: func(p []any) (any, error) {
			if len(p) > 0 {
				name, err := dispatch.ParamStr(p, 0, "name")
				if err != nil {
					return nil, err
				}
				v, ok := m.shv.get(name)
				if !ok {
					return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "Variable not found")
				}
				return shvItem(name, v), nil
			}
			// Kamailio's answer repeats the key "shv" in one object
			m.shv.mu.Lock()
			names := make([]string, 0, len(m.shv.vars))
			for n := range m.shv.vars {
				names = append(names, n)
			}
			m.shv.mu.Unlock()
			slices.Sort(names)
			b := []byte(`{"items":{`)
			for i, n := range names {
				v, _ := m.shv.get(n)
				item, err := json.Marshal(shvItem(n, v))
				if err != nil {
					return nil, err
				}
				if i > 0 {
					b = append(b, ',')
				}
				b = append(append(b, `"shv":`...), item...)
			}
			return json.RawMessage(append(b, "}}"...)), nil
		}},
		{Name: "pv.shvSet", Doc: "set a shared variable: pv.shvSet NAME int|str VALUE", Fn: func(p []any) (any, error) {
			name, err := dispatch.ParamStr(p, 0, "varname")
			if err != nil {
				return nil, err
			}
			typ, err := dispatch.ParamStr(p, 1, "type")
			if err != nil {
				return nil, err
			}
			var v router.Value
			switch strings.ToLower(typ) {
			case "int":
				n, err := dispatch.ParamInt(p, 2, "value")
				if err != nil {
					return nil, err
				}
				v = router.IntValue(int64(int32(n)))
			case "str":
				s, err := dispatch.ParamStr(p, 2, "value")
				if err != nil {
					return nil, err
				}
				v = router.StrValue(s)
			default:
				return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "Unknown parameter type (Types: int or str)")
			}
			if !m.shv.set(name, v, false) {
				return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "Variable not found")
			}
			return "Ok. Variable set to new value.", nil
		}},
	}
}

func shvItem(name string, v router.Value) map[string]any {
	if v.Kind == router.Str {
		return map[string]any{"name": name, "type": "string", "value": v.String()}
	}
	return map[string]any{"name": name, "type": "int", "value": v.I}
}
