// Package domain is Kamailio's domain module: the local domains of the
// domain table (and their attributes, domain_attrs), read into memory at
// start and by the domain.reload RPC command; is_from_local,
// is_uri_host_local and is_domain_local test a host against them,
// lookup_domain adds the domain's id and attributes as AVPs, and with
// register_myself every local domain is "myself".
package domain

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// attr is one row of domain_attrs.
type attr struct {
	name  string
	value router.Value // an int for type 0 whose value is a number
}

// tables are the loaded rows: domain (lower case) to did, and did to
// its attributes.
type tables struct {
	did   map[string]string
	attrs map[string][]attr
}

// Module is the domain module of one proxy.
type Module struct {
	url, table, attrsTable     string
	didCol, domainCol          string
	nameCol, typeCol, valueCol string
	registerMyself             bool
	loaded                     atomic.Pointer[tables]
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.RPCProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "domain",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str, Default: db.DefaultROURL},
			{Name: "domain_table", Kind: dispatch.Str, Default: "domain"},
			{Name: "domain_attrs_table", Kind: dispatch.Str, Default: "domain_attrs"},
			{Name: "did_col", Kind: dispatch.Str, Default: "did"},
			{Name: "domain_col", Kind: dispatch.Str, Default: "domain"},
			{Name: "name_col", Kind: dispatch.Str, Default: "name"},
			{Name: "type_col", Kind: dispatch.Str, Default: "type"},
			{Name: "value_col", Kind: dispatch.Str, Default: "value"},
			{Name: "register_myself", Kind: dispatch.Int, Default: "0", Doc: "1: the local domains match myself (uri == myself)"},
		},
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.url = p.Str("db_url", db.DefaultROURL)
	m.table, m.attrsTable = p.Str("domain_table", "domain"), p.Str("domain_attrs_table", "domain_attrs")
	m.didCol, m.domainCol = p.Str("did_col", "did"), p.Str("domain_col", "domain")
	m.nameCol, m.typeCol, m.valueCol = p.Str("name_col", "name"), p.Str("type_col", "type"), p.Str("value_col", "value")
	if err := db.Idents(m.table, m.attrsTable, m.didCol, m.domainCol, m.nameCol, m.typeCol, m.valueCol); err != nil {
		return err
	}
	m.registerMyself = p.Int("register_myself", 0) != 0
	return nil
}

// Start loads the tables; with register_myself the local domains become
// names of the proxy.
func (m *Module) Start(env *router.Env) error {
	if err := m.Reload(); err != nil {
		return err
	}
	if m.registerMyself && env.Myself != nil {
		env.Myself.AddCheck(func(host []byte) bool { _, ok := m.DID(host); return ok })
	}
	return nil
}

// Reload reads the tables again; on an error the old ones stay.
func (m *Module) Reload() error {
	d, err := db.OpenParam("domain", m.url)
	if err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t := &tables{did: map[string]string{}, attrs: map[string][]attr{}}
	rows, err := d.Query(ctx, "SELECT "+m.domainCol+", "+m.didCol+" FROM "+m.table)
	if err != nil {
		return fmt.Errorf("domain: %s table: %w", m.table, err)
	}
	for rows.Next() {
		var dom string
		var did *string
		if err := rows.Scan(&dom, &did); err != nil {
			rows.Close()
			return fmt.Errorf("domain: %s table: %w", m.table, err)
		}
		id := dom // a NULL did is the domain itself
		if did != nil && *did != "" {
			id = *did
		}
		t.did[strings.ToLower(dom)] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("domain: %s table: %w", m.table, err)
	}
	if rows, err := d.Query(ctx, "SELECT "+m.didCol+", "+m.nameCol+", "+m.typeCol+", "+m.valueCol+" FROM "+m.attrsTable); err == nil {
		for rows.Next() {
			var did, name, value string
			var typ int
			if err := rows.Scan(&did, &name, &typ, &value); err != nil {
				rows.Close()
				return fmt.Errorf("domain: %s table: %w", m.attrsTable, err)
			}
			v := router.StrValue(value)
			if n, ok := v.Int64(); ok && typ == 0 {
				v = router.IntValue(n)
			}
			t.attrs[did] = append(t.attrs[did], attr{name: name, value: v})
		}
		rows.Close()
	}
	// A missing domain_attrs table leaves the domains without attributes.
	m.loaded.Store(t)
	return nil
}

// DID is the id of a local domain, in any case; ok is false for one that
// is not. It does not allocate: myself asks it of every request.
func (m *Module) DID(domain []byte) (string, bool) {
	t := m.loaded.Load()
	if t == nil {
		return "", false
	}
	var buf [256]byte
	if len(domain) > len(buf) {
		did, ok := t.did[strings.ToLower(string(domain))]
		return did, ok
	}
	low := buf[:len(domain)]
	for i, b := range domain {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		low[i] = b
	}
	did, ok := t.did[string(low)]
	return did, ok
}

func (m *Module) local(host []byte) int {
	_, ok := m.DID(host)
	return dispatch.Result(ok)
}

// Exports are KSR.domain.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "is_from_local", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.local(c.Msg.From().URI.Host) })},
		{Name: "is_uri_host_local", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			u, err := c.RURI()
			if err != nil {
				return -1
			}
			return m.local(u.Host)
		})},
		{Name: "is_domain_local", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, d string) int { return m.local([]byte(d)) })},
		{Name: "lookup_domain", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, d string) int { return m.lookup(c, d, "") })},
		{Name: "lookup_domain_prefix", Native: "lookup_domain", Ret: dispatch.Int, Fn: dispatch.FSS(m.lookup)},
	}
}

// lookup adds $avp(<prefix>did) and the domain's attributes as AVPs.
func (m *Module) lookup(c *router.Ctx, domain, prefix string) int {
	did, ok := m.DID([]byte(domain))
	if !ok {
		return -1
	}
	c.AddAVP(prefix+"did", router.StrValue(did))
	for _, a := range m.loaded.Load().attrs[did] {
		c.AddAVP(prefix+a.name, a.value)
	}
	return 1
}

// RPCs are domain.reload and domain.dump.
func (m *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "domain.reload", Doc: "read the domain tables again", Fn: func([]any) (any, error) {
			if err := m.Reload(); err != nil {
				return nil, dispatch.RPCErrorf(500, "%v", err)
			}
			return 0, nil
		}},
		{Name: "domain.dump", Doc: "the local domains and their ids", Fn: func([]any) (any, error) {
			t := m.loaded.Load()
			var out []map[string]any
			if t != nil {
				for d, did := range t.did {
					out = append(out, map[string]any{"domain": d, "did": did})
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i]["domain"].(string) < out[j]["domain"].(string) })
			return out, nil
		}},
	}
}
