// Package permissions allows requests by their source address, like the
// address part of Kamailio's permissions module: groups of addresses (with
// a network mask and an optional port) from the address table of db_url,
// or from address_file, and allow_source_address(group).
package permissions

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Entry is one row of the address table.
type Entry struct {
	Group  int
	Prefix netip.Prefix
	Port   int // 0: any
	Tag    string
}

// settings are the module parameters.
type settings struct {
	dbURL, table, file string
	grpCol, ipCol      string
	maskCol, portCol   string
	tagCol             string
}

// Module is the permissions module of one proxy: its parameters and the
// address entries, replaced whole by a reload.
type Module struct {
	conf    settings
	entries atomic.Pointer[[]Entry]
	trusted trustedStore
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "permissions",
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str},
			{Name: "address_table", Kind: dispatch.Str, Default: "address"},
			{Name: "address_file", Kind: dispatch.Str, Default: "none (one of it and `db_url` is needed)"},
			{Name: "grp_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "ip_addr_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "mask_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "port_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "tag_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "trusted_table", Kind: dispatch.Str, Default: "trusted"},
			{Name: "source_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "proto_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "from_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "ruri_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "priority_col", Kind: dispatch.Str, Default: "Kamailio's names"},
			{Name: "peer_tag_avp", Kind: dispatch.Str},
			{Name: "peer_tag_mode", Kind: dispatch.Int},
			{Name: "db_mode", Kind: dispatch.Int, Default: "0 (allow_trusted queries the trusted table; 1: read at start)"},
			{Name: "load_backends", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Init reads the parameters: a file or a table must be named.
func (m *Module) Init(p *dispatch.Params) error {
	conf := &m.conf
	conf.dbURL, m.conf.file = p.Str("db_url", ""), p.Str("address_file", "")
	conf.table = p.Str("address_table", "address")
	conf.grpCol, conf.ipCol = p.Str("grp_col", "grp"), p.Str("ip_addr_col", "ip_addr")
	conf.maskCol, conf.portCol, conf.tagCol = p.Str("mask_col", "mask"), p.Str("port_col", "port"), p.Str("tag_col", "tag")
	m.trusted.conf = trustedConf{table: p.Str("trusted_table", "trusted"),
		srcCol: p.Str("source_col", "src_ip"), protoCol: p.Str("proto_col", "proto"),
		fromCol: p.Str("from_col", "from_pattern"), ruriCol: p.Str("ruri_col", "ruri_pattern"),
		tagCol: conf.tagCol, prioCol: p.Str("priority_col", "priority"),
		tagAVP: p.Str("peer_tag_avp", ""), tagMode: p.Int("peer_tag_mode", 0), cache: p.Int("db_mode", 0) == 1}
	if conf.dbURL == "" && m.conf.file == "" {
		return fmt.Errorf("permissions: set db_url (the %s table) or address_file", conf.table)
	}
	return nil
}

// Start loads the addresses, and with db_url the trusted table (db_mode 1)
// or a connection to query it with.
func (m *Module) Start(*router.Env) error {
	if err := m.Reload(); err != nil {
		return err
	}
	switch {
	case m.conf.dbURL == "":
	case m.trusted.conf.cache:
		return m.trusted.load(m.conf.dbURL)
	default:
		d, err := db.Open(m.conf.dbURL)
		if err != nil {
			return fmt.Errorf("permissions: %w", err)
		}
		m.trusted.conn = d
	}
	return nil
}

// Stop closes the trusted table's connection.
func (m *Module) Stop() {
	if m.trusted.conn != nil {
		m.trusted.conn.Close()
	}
}

// Exports are KSR.permissions.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "allow_source_address", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, grp int) int {
			return dispatch.Result(m.Allowed(grp, c.Src()))
		})},
		// allow_source_address() with no group is group 1, as in Kamailio.
		{Name: "allow_source_address", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return dispatch.Result(m.Allowed(1, c.Src()))
		})},
		{Name: "allow_trusted", Ret: dispatch.Int, Fn: dispatch.F0(m.trusted.allow)},
		{Name: "allow_address", Ret: dispatch.Int, Fn: dispatch.FISI(func(c *router.Ctx, grp int, ip string, port int) int {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return -1
			}
			return dispatch.Result(m.Allowed(grp, netip.AddrPortFrom(a, uint16(port))))
		})},
		{Name: "allow_source_address_group", Ret: dispatch.Int, Value: true, Fn: dispatch.F0(func(c *router.Ctx) int {
			return m.Group(c.Src())
		})},
		// allow_address_group(addr, port): the group of the first entry
		// addr:port matches, -1 for none (a value, as the group is).
		{Name: "allow_address_group", Ret: dispatch.Int, Value: true, Fn: dispatch.FSI(func(c *router.Ctx, ip string, port int) int {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return -1
			}
			return m.Group(netip.AddrPortFrom(a, uint16(port)))
		})},
	}
}

// Allowed reports whether src is in the group.
func (m *Module) Allowed(grp int, src netip.AddrPort) bool {
	return m.groupOf(src, grp) == grp
}

// Group is the group of the first entry src matches, -1 for none.
func (m *Module) Group(src netip.AddrPort) int { return m.groupOf(src, -1) }

func (m *Module) groupOf(src netip.AddrPort, want int) int {
	es := m.entries.Load()
	if es == nil {
		return -1
	}
	ip := src.Addr().Unmap()
	for i := range *es {
		e := &(*es)[i]
		if want >= 0 && e.Group != want {
			continue
		}
		if e.Prefix.Contains(ip) && (e.Port == 0 || e.Port == int(src.Port())) {
			return e.Group
		}
	}
	return -1
}

// Reload reads the addresses again; on an error the old ones stay.
func (m *Module) Reload() error {
	var es []Entry
	var err error
	if m.conf.file != "" {
		es, err = readFile(m.conf.file)
	} else {
		es, err = m.readTable()
	}
	if err != nil {
		return err
	}
	m.entries.Store(&es)
	return nil
}

// readFile reads lines "group address[/mask] [port] [tag]"; # starts a
// comment.
func readFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	defer f.Close()
	var es []Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(strings.ReplaceAll(line, ",", " "))
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 2 {
			return nil, fmt.Errorf("permissions: %s:%d: want \"group address[/mask] [port] [tag]\"", path, n)
		}
		mask := -1
		addr := fs[1]
		if a, m, ok := strings.Cut(addr, "/"); ok {
			addr = a
			if mask, err = strconv.Atoi(m); err != nil {
				return nil, fmt.Errorf("permissions: %s:%d: bad mask %q", path, n, m)
			}
		}
		port := "0"
		if len(fs) > 2 {
			port = fs[2]
		}
		tag := ""
		if len(fs) > 3 {
			tag = fs[3]
		}
		e, err := entry(fs[0], addr, mask, port, tag)
		if err != nil {
			return nil, fmt.Errorf("permissions: %s:%d: %w", path, n, err)
		}
		es = append(es, e)
	}
	return es, sc.Err()
}

func entry(grp, addr string, mask int, port, tag string) (Entry, error) {
	g, err := strconv.Atoi(grp)
	if err != nil {
		return Entry{}, fmt.Errorf("bad group %q", grp)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return Entry{}, fmt.Errorf("bad address %q", addr)
	}
	ip = ip.Unmap()
	if mask < 0 || mask > ip.BitLen() {
		mask = ip.BitLen()
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return Entry{}, fmt.Errorf("bad port %q", port)
	}
	pfx, _ := ip.Prefix(mask)
	return Entry{Group: g, Prefix: pfx, Port: p, Tag: tag}, nil
}

func (m *Module) readTable() ([]Entry, error) {
	d, err := db.Open(m.conf.dbURL)
	if err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	defer d.Close()
	q := "SELECT " + strings.Join([]string{m.conf.grpCol, m.conf.ipCol, m.conf.maskCol, m.conf.portCol, m.conf.tagCol}, ", ") + " FROM " + m.conf.table
	rows, err := d.Query(context.Background(), q)
	if err != nil {
		return nil, fmt.Errorf("permissions: %s table: %w", m.conf.table, err)
	}
	defer rows.Close()
	var es []Entry
	for rows.Next() {
		var grp, mask, port int
		var ip string
		var tag *string
		if err := rows.Scan(&grp, &ip, &mask, &port, &tag); err != nil {
			return nil, fmt.Errorf("permissions: %s table: %w", m.conf.table, err)
		}
		t := ""
		if tag != nil {
			t = *tag
		}
		e, err := entry(strconv.Itoa(grp), ip, mask, strconv.Itoa(port), t)
		if err != nil {
			return nil, fmt.Errorf("permissions: %s table: %w", m.conf.table, err)
		}
		es = append(es, e)
	}
	return es, rows.Err()
}
