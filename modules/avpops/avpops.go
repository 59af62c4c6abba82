// Package avpops is Kamailio's avpops module: AVPs loaded from, stored in
// and deleted from a table of user preferences (usr_preferences, or a
// table of another layout through a db_scheme), filled from SQL a script
// writes (avp_db_query), and worked on in memory — deleted, copied,
// pushed into the request URI, the destination URI or a branch, checked
// against a value, computed with, rewritten by a substitution.
package avpops

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// The type column's bits, Kamailio's AVPOPS_DB_NAME_INT and
// AVPOPS_DB_VAL_INT.
const (
	dbValInt  = 1
	dbNameInt = 2
)

// scheme is one db_scheme: a table of another layout whose value column
// is read into a named AVP.
type scheme struct {
	name                                      string
	uuidCol, usernameCol, domainCol, valueCol string
	table                                     string
	valueInt                                  bool
}

// Module is the avpops module of one proxy.
type Module struct {
	dbURL, table string
	useDomain    bool
	cols         struct{ uuid, username, domain, attribute, value, typ string }
	schemes      map[string]*scheme
	db           *db.DB
	log          *slog.Logger

	mu     sync.Mutex
	parsed map[string]any // parameters parsed once, by function and text
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "avpops",
		Params: []dispatch.Param{
			p("db_url", s, "", "the database of the avp_db_* functions (none: they are refused)"),
			p("avp_table", s, "", "the table of user preferences (needed with db_url)"),
			p("use_domain", i, "0", "1: the domain of a URI selects rows too"),
			p("uuid_column", s, "uuid", ""),
			p("username_column", s, "username", ""),
			p("domain_column", s, "domain", ""),
			p("attribute_column", s, "attribute", ""),
			p("value_column", s, "value", ""),
			p("type_column", s, "type", "0 string name and value, 1 integer value, 2 integer name, 3 both"),
			{Name: "db_scheme", Kind: s, Multi: true, Doc: "name:table=t;uuid_col=c;username_col=c;domain_col=c;value_col=c;value_type=integer|string"},
		},
		New: func() dispatch.Module { return &Module{schemes: map[string]*scheme{}, parsed: map[string]any{}} },
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.dbURL, m.table = p.Str("db_url", ""), p.Str("avp_table", "")
	m.useDomain = p.Int("use_domain", 0) != 0
	c := &m.cols
	c.uuid, c.username, c.domain = p.Str("uuid_column", "uuid"), p.Str("username_column", "username"), p.Str("domain_column", "domain")
	c.attribute, c.value, c.typ = p.Str("attribute_column", "attribute"), p.Str("value_column", "value"), p.Str("type_column", "type")
	if m.dbURL != "" && m.table == "" {
		return fmt.Errorf(`avpops: "AVP_DB" present but "AVP_TABLE" found empty`)
	}
	for n, v := range map[string]string{"avp_table": m.table, "uuid_column": c.uuid, "username_column": c.username,
		"domain_column": c.domain, "attribute_column": c.attribute, "value_column": c.value, "type_column": c.typ} {
		if v != "" {
			if err := db.Ident(n, v); err != nil {
				return fmt.Errorf("avpops: %w", err)
			}
		}
	}
	for _, v := range p.All("db_scheme") {
		sc, err := parseScheme(v.String())
		if err != nil {
			return fmt.Errorf("avpops: db_scheme %q: %w", v.String(), err)
		}
		if m.schemes[sc.name] != nil {
			return fmt.Errorf("avpops: db_scheme %q: a scheme %s already exists", v.String(), sc.name)
		}
		m.schemes[sc.name] = sc
	}
	return nil
}

// parseScheme is parse_avp_db_scheme: "name:attr=value;...".
func parseScheme(s string) (*scheme, error) {
	name, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(rest) == "" {
		return nil, fmt.Errorf("parse error: want name:attribute=value;... (%q)", s)
	}
	sc := &scheme{name: name}
	for _, kv := range strings.Split(rest, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("parse error around %q", kv)
		}
		var dst *string
		switch k {
		case "uuid_col":
			dst = &sc.uuidCol
		case "username_col":
			dst = &sc.usernameCol
		case "domain_col":
			dst = &sc.domainCol
		case "value_col":
			dst = &sc.valueCol
		case "table":
			dst = &sc.table
		case "value_type":
			switch strings.ToLower(v) {
			case "integer":
				sc.valueInt = true
			case "string":
				sc.valueInt = false
			default:
				return nil, fmt.Errorf("unknown value type <%s>", v)
			}
			continue
		default:
			return nil, fmt.Errorf("unknown attribute <%s>", k)
		}
		if *dst != "" {
			return nil, fmt.Errorf("parse error: %s given twice", k)
		}
		if err := db.Ident(k, v); err != nil {
			return nil, err
		}
		*dst = v
	}
	return sc, nil
}

// Start opens the database when there is one.
func (m *Module) Start(env *router.Env) error {
	m.log = env.Log
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.dbURL == "" {
		return nil
	}
	d, err := db.OpenParam("avpops", m.dbURL)
	if err != nil {
		return fmt.Errorf("avpops: %w", err)
	}
	m.db = d
	return nil
}

// Stop closes the database.
func (m *Module) Stop() {
	if m.db != nil {
		m.db.Close()
		m.db = nil
	}
}

// cached is a parameter parsed once by parse (fn names the function, so
// that the same text of two functions is parsed by each).
func cached[T any](m *Module, fn, text string, parse func(string) (T, error)) (T, error) {
	key := fn + "\x00" + text
	m.mu.Lock()
	v, ok := m.parsed[key]
	m.mu.Unlock()
	if ok {
		if err, bad := v.(error); bad {
			var zero T
			return zero, err
		}
		return v.(T), nil
	}
	t, err := parse(text)
	m.mu.Lock()
	if len(m.parsed) < 4096 { // texts built from message data are parsed on every use past it
		if err != nil {
			m.parsed[key] = err
		} else {
			m.parsed[key] = t
		}
	}
	m.mu.Unlock()
	return t, err
}

// avpRef is an AVP a parameter names: $avp(name), $avp(i:n), $avp(s:n)
// or $avp($var(x)), the name taken from a variable.
type avpRef struct {
	name    string
	dyn     string // the variable that gives the name
	intName bool   // written i:N: an integer name in the table's type
}

func parseAVP(spec string) (avpRef, error) {
	inner, ok := strings.CutPrefix(spec, "$avp(")
	if !ok || !strings.HasSuffix(inner, ")") || len(inner) < 2 {
		return avpRef{}, fmt.Errorf("bad param %q - expected $avp(name)", spec)
	}
	inner = inner[:len(inner)-1]
	if strings.HasPrefix(inner, "$") {
		return avpRef{dyn: inner}, nil
	}
	r := avpRef{intName: strings.HasPrefix(inner, "i:") || strings.HasPrefix(inner, "I:")}
	name, ok := router.AVPKey(inner)
	if !ok {
		return avpRef{}, fmt.Errorf("bad param %q - expected $avp(name)", spec)
	}
	if r.intName {
		if _, err := strconv.ParseUint(name, 10, 16); err != nil {
			return avpRef{}, fmt.Errorf("bad param %q - an integer name is 1 to 65535", spec)
		}
	}
	r.name = name
	return r, nil
}

// resolve is the AVP's name for c; false when its variable gives none.
func (r avpRef) resolve(c *router.Ctx) (string, bool) {
	if r.dyn == "" {
		return r.name, true
	}
	pv, err := c.W.PV(r.dyn)
	if err != nil {
		return "", false
	}
	v := pv.Get(c)
	if v.IsNull() || v.String() == "" {
		return "", false
	}
	name, ok := router.AVPKey(v.String())
	return name, ok
}

// isInt reports whether v is an integer (Kamailio's AVP without
// AVP_VAL_STR).
func isInt(v router.Value) bool { return v.Kind == router.Int }

// intOf is an integer value as Kamailio's 32-bit AVPs keep it.
func intOf(v router.Value) int32 { return int32(v.I) }

// deleter removes values of one AVP found by a snapshot of its values
// (AVPValues, the last added first) while values are added to another
// name (or the same one) and removed: it keeps each snapshot index's
// place.
type deleter struct {
	c           *router.Ctx
	name        string // the AVP deleted from
	nAdded, del int
}

func (d *deleter) add(name string, v router.Value) {
	d.c.AddAVP(name, v)
	if name == d.name {
		d.nAdded++
	}
}

// remove deletes the value at snapshot index i.
func (d *deleter) remove(i int) {
	if d.c.DelAVPAt(d.name, i+d.nAdded-d.del) {
		d.del++
	}
}

// Exports are the native functions and KSR.avpops.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	return []dispatch.Export{
		{Name: "avp_check", Raw: true, Ret: I, Fn: dispatch.FSS(m.check)},
		{Name: "avp_copy", Raw: true, Ret: I, Fn: dispatch.FSS(m.copyAVP)},
		{Name: "avp_db_load", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.dbLoad)},
		{Name: "avp_db_store", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.dbStore)},
		{Name: "avp_db_delete", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.dbDelete)},
		{Name: "avp_db_query", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(func(c *router.Ctx, q string) int { return m.dbQuery(c, q, "") })},
		{Name: "avp_db_query", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.dbQuery)},
		{Name: "avp_delete", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(m.deleteAVP)},
		{Name: "avp_pushto", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.pushto)},
		{Name: "avp_op", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(m.op)},
		{Name: "avp_subst", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, avps, subst string) int { return m.subst(c, avps, subst) })},
		{Name: "avp_subst_pv", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, avps, subst string) int {
			f, err := c.W.Format(subst)
			if err != nil {
				c.Log().Error("avpops: avp_subst_pv: "+err.Error(), "route", c.Route)
				return -1
			}
			return m.subst(c, avps, string(f.Append(nil, c)))
		})},
		{Name: "is_avp_set", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(m.isSet)},
		{Name: "avp_print", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.F0(m.print)},
	}
}

// fail logs a parameter error of fn and returns -1.
func fail(c *router.Ctx, fn string, err error) int {
	c.Log().Error("avpops: "+fn+": "+err.Error(), "route", c.Route)
	return -1
}

// print is avp_print: every AVP logged, the last added first.
func (m *Module) print(c *router.Ctx) int {
	for _, e := range c.AVPEntries() {
		kind := "str"
		if isInt(e.Val) {
			kind = "int"
		}
		c.Log().Info("avpops: avp", "name", e.Name, "val_"+kind, e.Val.String(), "in_db", e.Marked)
	}
	return 1
}
