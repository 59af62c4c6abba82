package htable

import (
	"sort"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// item as the htable RPC commands show it.
func rpcItem(k string, v router.Value) map[string]any {
	if v.Kind == router.Int {
		return map[string]any{"name": k, "value": v.I, "type": "int"}
	}
	return map[string]any{"name": k, "value": v.String(), "type": "str"}
}

func (m *Module) rpcTable(p []any) (*Table, error) {
	name, err := dispatch.ParamStr(p, 0, "table")
	if err != nil {
		return nil, err
	}
	t := m.Get(name)
	if t == nil {
		return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "htable not found: %s", name)
	}
	return t, nil
}

// rpcKey is the table and key of a command's first two parameters.
func (m *Module) rpcKey(p []any) (*Table, string, error) {
	t, err := m.rpcTable(p)
	if err != nil {
		return nil, "", err
	}
	k, err := dispatch.ParamStr(p, 1, "key")
	return t, k, err
}

// RPCs are the htable.* commands.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	set := func(v func(p []any) (router.Value, error)) dispatch.RPCFunc {
		return func(p []any) (any, error) {
			t, k, err := m.rpcKey(p)
			if err != nil {
				return nil, err
			}
			val, err := v(p)
			if err != nil {
				return nil, err
			}
			t.Set([]byte(k), val, -1)
			return 0, nil
		}
	}
	return []dispatch.RPC{
		{Name: "htable.dump", Doc: "the items of a table: htable.dump NAME", Fn: func(p []any) (any, error) {
			t, err := m.rpcTable(p)
			if err != nil {
				return nil, err
			}
			var items []map[string]any
			t.Each(func(k string, v router.Value) bool {
				items = append(items, rpcItem(k, v))
				return true
			})
			sort.Slice(items, func(i, j int) bool { return items[i]["name"].(string) < items[j]["name"].(string) })
			return items, nil
		}},
		{Name: "htable.get", Doc: "one item: htable.get NAME KEY", Fn: func(p []any) (any, error) {
			t, k, err := m.rpcKey(p)
			if err != nil {
				return nil, err
			}
			v, _, ok := t.Get([]byte(k), nil)
			if !ok {
				return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "key name doesn't exist in htable")
			}
			return map[string]any{"item": rpcItem(k, v)}, nil
		}},
		{Name: "htable.sets", Doc: "set a string item: htable.sets NAME KEY VALUE", Fn: set(func(p []any) (router.Value, error) {
			s, err := dispatch.ParamStr(p, 2, "value")
			return router.StrValue(s), err
		})},
		{Name: "htable.seti", Doc: "set an integer item: htable.seti NAME KEY VALUE", Fn: set(func(p []any) (router.Value, error) {
			n, err := dispatch.ParamInt(p, 2, "value")
			return router.IntValue(n), err
		})},
		{Name: "htable.delete", Doc: "remove an item: htable.delete NAME KEY", Fn: func(p []any) (any, error) {
			t, k, err := m.rpcKey(p)
			if err != nil {
				return nil, err
			}
			t.Set([]byte(k), router.Value{}, 0)
			return 0, nil
		}},
		{Name: "htable.reload", Doc: "replace a table's items by its dbtable's rows: htable.reload NAME", Fn: m.rpcDB(m.reload)},
		{Name: "htable.store", Doc: "write a table's items into its dbtable: htable.store NAME", Fn: m.rpcDB(m.store)},
		{Name: "htable.listTables", Doc: "the tables", Fn: func([]any) (any, error) {
			out := []map[string]any{}
			for _, t := range m.tables {
				out = append(out, map[string]any{"name": t.Name, "autoexpire": int64(t.AutoExpire.Seconds())})
			}
			sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
			return out, nil
		}},
	}
}

// rpcDB is an RPC command on the table named by its parameter that has a
// dbtable, with Kamailio's faults.
func (m *Module) rpcDB(f func(*Table) error) dispatch.RPCFunc {
	return func(p []any) (any, error) {
		if m.db.url == "" || m.conn == nil {
			return nil, dispatch.RPCErrorf(500, "No htable db_url")
		}
		t, err := m.rpcTable(p)
		if err != nil {
			return nil, err
		}
		if t.DBTable == "" {
			return nil, dispatch.RPCErrorf(500, "No database htable")
		}
		if err := f(t); err != nil {
			return nil, dispatch.RPCErrorf(500, "%s", err.Error())
		}
		return 0, nil
	}
}
