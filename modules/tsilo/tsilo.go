// Package tsilo is Kamailio's tsilo module: a silo of the transactions of
// INVITEs by the user they are for (ts_store), so that when that user
// registers a new contact (a phone woken by a push notification) the
// waiting calls get a branch to it (ts_append, ts_append_by_contact,
// ts_append_to).
package tsilo

import (
	"fmt"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/registrar"
	"github.com/kemi-sip/kemi/modules/tm"
)

// trans is a stored transaction: $T(id_index), $T(id_label).
type trans struct{ index, label int64 }

// Module is the tsilo module of one proxy.
type Module struct {
	tm        *tm.Module
	reg       *registrar.Module
	useDomain bool

	mu    sync.Mutex
	byAOR map[string][]trans
	stats struct{ storedRURIs, storedTrans, totalRURIs, totalTrans, added int64 }
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
)

func init() {
	i := dispatch.Int
	dispatch.Register(dispatch.ModuleInfo{Name: "tsilo",
		Params: []dispatch.Param{
			dispatch.P("hash_size", i, "2048", "accepted: the silo is a map"),
			dispatch.P("use_domain", i, "0", "1: transactions are kept by the whole request URI, not its user"),
		},
		New: func() dispatch.Module { return &Module{byAOR: map[string][]trans{}} },
	})
}

// Init binds tm and registrar.
func (m *Module) Init(p *dispatch.Params) error {
	var err error
	if m.tm, err = dispatch.Need[*tm.Module](p, "tm"); err != nil {
		return fmt.Errorf("tsilo: can't load TM API: %w", err)
	}
	if m.reg, err = dispatch.Need[*registrar.Module](p, "registrar"); err != nil {
		return fmt.Errorf("tsilo: can't load REGISTRAR API: %w", err)
	}
	p.Int("hash_size", 2048)
	m.useDomain = p.Int("use_domain", 0) != 0
	m.tm.OnFinal(m.forget)
	return nil
}

// aor is the silo's key of a URI: its user, or the whole URI with
// use_domain; "" for a URI that does not parse.
func (m *Module) aor(uri string) string {
	var u sip.URI
	if sip.ParseURI([]byte(uri), &u) != nil {
		return ""
	}
	if m.useDomain {
		return uri
	}
	return string(u.User)
}

// store is ts_store: the request's transaction kept under its request URI
// (or uri).
func (m *Module) store(c *router.Ctx, uri string) int {
	if uri == "" {
		uri = string(c.RURIText())
	}
	key := m.aor(uri)
	if key == "" {
		c.Log().Error("tsilo: bad uri ["+uri+"]", "route", c.Route)
		return -1
	}
	index, label, ok := tm.IDs(c)
	if !ok {
		c.Log().Error("tsilo: no transaction defined for "+key+" (t_newtran or t_relay first)", "route", c.Route)
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.byAOR[key]
	for _, t := range list {
		if t.label == label {
			return 1
		}
	}
	if len(list) == 0 {
		m.stats.storedRURIs++
		m.stats.totalRURIs++
	}
	m.byAOR[key] = append(list, trans{index, label})
	m.stats.storedTrans++
	m.stats.totalTrans++
	return 1
}

// forget is tm's final hook: a transaction answered leaves the silo.
func (m *Module) forget(f *tm.Final) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, list := range m.byAOR {
		for i, t := range list {
			if t.label == f.Label {
				list = append(list[:i], list[i+1:]...)
				m.stats.storedTrans--
				if len(list) == 0 {
					delete(m.byAOR, k)
					m.stats.storedRURIs--
				} else {
					m.byAOR[k] = list
				}
				return
			}
		}
	}
}

// appendTo is ts_append_to: the transaction's request looked up in table
// (for uri, else its request URI) and the new contacts (only contact
// when given) sent on it; what t_append_branches returns.
func (m *Module) appendTo(c *router.Ctx, index, label int, table, uri, contact string) int {
	n := m.tm.AppendBranches(index, label, func(rc *router.Ctx) int { return m.reg.LookupToDset(rc, table, uri) }, contact)
	if n > 0 {
		m.mu.Lock()
		m.stats.added += int64(n)
		m.mu.Unlock()
	}
	return n
}

// appendAll is ts_append: every transaction stored for ruri gets the new
// contacts; 1, or -1 when none is stored.
func (m *Module) appendAll(c *router.Ctx, table, ruri, contact string) int {
	key := m.aor(ruri)
	if key == "" {
		c.Log().Error("tsilo: failed to parse uri "+ruri, "route", c.Route)
		return -1
	}
	if contact != "" {
		var u sip.URI
		if sip.ParseURI([]byte(contact), &u) != nil {
			c.Log().Error("tsilo: failed to parse contact "+contact, "route", c.Route)
			return -1
		}
	}
	m.mu.Lock()
	list := append([]trans(nil), m.byAOR[key]...)
	m.mu.Unlock()
	if len(list) == 0 {
		return -1
	}
	for _, t := range list {
		m.appendTo(c, int(t.index), int(t.label), table, ruri, contact)
	}
	return 1
}

// byContact is ts_append_by_contact: the contact given, or the request's
// own Contact.
func (m *Module) byContact(c *router.Ctx, table, ruri, contact string) int {
	if ruri == "" {
		c.Log().Error("tsilo: invalid ruri parameter - empty", "route", c.Route)
		return -1
	}
	if contact == "" {
		ct, err := c.Msg.Contact()
		if err != nil || ct == nil {
			c.Log().Error("tsilo: no Contact header", "route", c.Route)
			return -1
		}
		contact = string(ct.URI.Raw)
	}
	return m.appendAll(c, table, ruri, strings.TrimSpace(contact))
}

// RegisterStats registers Kamailio's tsilo statistics.
func (m *Module) RegisterStats(r *stats.Registry) {
	read := func(v *int64) func() int64 { return stats.Guarded(&m.mu, v) }
	r.Func("tsilo", "stored_ruris", "request URIs with transactions", stats.Gauge, read(&m.stats.storedRURIs))
	r.Func("tsilo", "stored_transactions", "transactions stored", stats.Gauge, read(&m.stats.storedTrans))
	r.Func("tsilo", "total_ruris", "request URIs stored since start", stats.Counter, read(&m.stats.totalRURIs))
	r.Func("tsilo", "total_transactions", "transactions stored since start", stats.Counter, read(&m.stats.totalTrans))
	r.Func("tsilo", "added_branches", "branches added to stored transactions", stats.Counter, read(&m.stats.added))
}

// RPCs: ts.dump and ts.lookup.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "ts.dump", Doc: "Dump the TSILO table", Fn: func([]any) (any, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			out := []any{}
			for k, list := range m.byAOR {
				var ts []any
				for _, t := range list {
					ts = append(ts, map[string]any{"tindex": t.index, "tlabel": t.label})
				}
				out = append(out, map[string]any{"ruri": k, "transactions": ts})
			}
			return out, nil
		}},
		{Name: "ts.lookup", Doc: "Lookup the transactions of a request URI: ts.lookup RURI", Fn: func(p []any) (any, error) {
			ruri, err := dispatch.ParamStr(p, 0, "ruri")
			if err != nil {
				return nil, err
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			list := m.byAOR[m.aor(ruri)]
			if len(list) == 0 {
				return nil, dispatch.RPCErrorf(404, "Not Found")
			}
			var ts []any
			for _, t := range list {
				ts = append(ts, map[string]any{"tindex": t.index, "tlabel": t.label})
			}
			return ts, nil
		}},
	}
}

// Exports are KSR.tsilo and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "ts_store", Ret: I, Fn: dispatch.F0(func(c *router.Ctx) int { return m.store(c, "") })},
		{Name: "ts_store_uri", Ret: I, Native: "ts_store", Fn: dispatch.FS(m.store)},
		{Name: "ts_append", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, table, ruri string) int { return m.appendAll(c, table, ruri, "") })},
		{Name: "ts_append_by_contact", Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, table, ruri string) int { return m.byContact(c, table, ruri, "") })},
		{Name: "ts_append_by_contact_uri", Ret: I, Native: "ts_append_by_contact", Fn: dispatch.FSSS(m.byContact)},
		{Name: "ts_append_to", Ret: I, Fn: dispatch.FIIS(func(c *router.Ctx, index, label int, table string) int {
			return m.appendTo(c, index, label, table, "", "")
		})},
		{Name: "ts_append_to_uri", Ret: I, Native: "ts_append_to", Fn: dispatch.FIISS(func(c *router.Ctx, index, label int, table, uri string) int {
			return m.appendTo(c, index, label, table, uri, "")
		})},
	}
}
