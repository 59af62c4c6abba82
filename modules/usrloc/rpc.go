package usrloc

import (
	"strconv"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
)

// Len is the number of addresses of record in memory.
func (d *Domain) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.records)
		s.mu.Unlock()
	}
	return n
}

// RegisterStats registers usrloc's statistics.
func (u *Module) RegisterStats(r *stats.Registry) {
	r.Func("usrloc", "registered_users", "addresses of record with a live binding in memory", stats.Gauge, func() int64 {
		n := 0
		if u.running.Load() {
			for _, d := range u.domainList() {
				n += d.Len()
			}
		}
		return int64(n)
	})
	r.Func("usrloc", "location_contacts", "bindings in memory", stats.Gauge, u.Stats.Contacts.Load)
	r.Uint("usrloc", "location_expires", "bindings removed on expiry", &u.Stats.Expired)
	r.Uint("usrloc", "db_errors", "database writes that failed", &u.Stats.DBErrors)
	r.Uint("usrloc", "db_writes", "database writes", &u.Stats.DBWrites)
}

// contactInfo is a binding as ul.dump and ul.lookup show it (Kamailio's
// field names).
func contactInfo(c *Contact, now int64) map[string]any {
	exp := "permanent"
	if c.Expires != 0 {
		exp = strconv.FormatInt(c.Expires-now, 10)
	}
	q := "-1"
	if c.Q >= 0 {
		q = strconv.FormatFloat(float64(c.Q)/1000, 'f', -1, 64)
	}
	return map[string]any{"Contact": map[string]any{
		"Address": c.URI, "Expires": exp, "Q": q, "Call-ID": c.CallID, "CSeq": c.CSeq,
		"User-Agent": c.UserAgent, "Received": c.Received, "Path": c.Path, "Flags": c.Flags,
		"CFlags": c.CFlags, "Socket": c.Socket, "Methods": c.Methods, "Ruid": c.RUID,
		"Instance": c.Instance, "Reg-Id": c.RegID, "Last-Modified": c.LastModified,
	}}
}

// tableAOR is the location table and the address of record a command's
// first two parameters name.
func (u *Module) tableAOR(p []any) (*Domain, string, error) {
	name, err := dispatch.ParamStr(p, 0, "table")
	if err != nil {
		return nil, "", err
	}
	if !u.running.Load() {
		return nil, "", dispatch.RPCErrorf(dispatch.RPCInternal, "usrloc is not running")
	}
	d, err := u.Get(name)
	if err != nil {
		return nil, "", dispatch.RPCErrorf(dispatch.RPCNotFound, "table %s: %v", name, err)
	}
	aor, err := dispatch.ParamStr(p, 1, "AoR")
	return d, aor, err
}

// RPCs are the ul.* commands.
func (u *Module) RPCs(*router.Env) []dispatch.RPC {
	return []dispatch.RPC{
		{Name: "ul.dump", Doc: "every location table and its bindings", Fn: func([]any) (any, error) {
			if !u.running.Load() {
				return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "usrloc is not running")
			}
			now := time.Now()
			var domains []any
			for _, d := range u.domainList() {
				aors := []any{}
				err := d.Records(now, func(aor string, cs []Contact) {
					var list []any
					for i := range cs {
						list = append(list, contactInfo(&cs[i], now.Unix()))
					}
					aors = append(aors, map[string]any{"Info": map[string]any{"AoR": aor, "Contacts": list}})
				})
				if err != nil {
					return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "%v", err)
				}
				domains = append(domains, map[string]any{"Domain": map[string]any{"Domain": d.Name, "AoRs": aors,
					"Stats": map[string]any{"Records": len(aors)}}})
			}
			return map[string]any{"Domains": domains}, nil
		}},
		{Name: "ul.lookup", Doc: "the bindings of an address of record: ul.lookup TABLE AOR", Fn: func(p []any) (any, error) {
			d, aor, err := u.tableAOR(p)
			if err != nil {
				return nil, err
			}
			now := time.Now()
			cs, err := d.Fetch(aor, now, nil)
			if err != nil {
				return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "%v", err)
			}
			if len(cs) == 0 {
				return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "AOR not found")
			}
			var list []any
			for i := range cs {
				list = append(list, contactInfo(&cs[i], now.Unix()))
			}
			return map[string]any{"AoR": aor, "Contacts": list}, nil
		}},
		{Name: "ul.rm", Doc: "remove an address of record, or one binding: ul.rm TABLE AOR [CONTACT]", Fn: func(p []any) (any, error) {
			d, aor, err := u.tableAOR(p)
			if err != nil {
				return nil, err
			}
			uri := ""
			if len(p) > 2 {
				if uri, err = dispatch.ParamStr(p, 2, "contact"); err != nil {
					return nil, err
				}
			}
			found, err := d.DeleteContacts(aor, func(c *Contact) bool { return uri == "" || c.URI == uri })
			if err != nil {
				return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "%v", err)
			}
			if !found {
				return nil, dispatch.RPCErrorf(dispatch.RPCNotFound, "AOR not found")
			}
			return 0, nil
		}},
		{Name: "ul.add", Doc: "add a binding: ul.add TABLE AOR CONTACT [EXPIRES [Q [PATH [FLAGS [CFLAGS [METHODS]]]]]] (expires 0: permanent)", Fn: u.add},
		{Name: "ul.flush", Doc: "write db_mode 2's pending changes now", Fn: func([]any) (any, error) {
			if !u.running.Load() {
				return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "usrloc is not running")
			}
			if u.set.mode == WriteBack {
				u.flush()
			}
			return 0, nil
		}},
	}
}

func (u *Module) add(p []any) (any, error) {
	d, aor, err := u.tableAOR(p)
	if err != nil {
		return nil, err
	}
	uri, err := dispatch.ParamStr(p, 2, "contact")
	if err != nil {
		return nil, err
	}
	// The optional parameters, in Kamailio's order.
	var (
		expires, flags, cflags int64
		methods                int64 = -1
		q                            = -1
		path                   string
	)
	optInt := func(i int, what string, dst *int64) error {
		if i < len(p) {
			v, err := dispatch.ParamInt(p, i, what)
			*dst = v
			return err
		}
		return nil
	}
	if err := optInt(3, "expires", &expires); err != nil {
		return nil, err
	}
	if expires < 0 {
		return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "expires: want 0 (permanent) or seconds")
	}
	if len(p) > 4 {
		s, err := dispatch.ParamStr(p, 4, "q")
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f > 1 || (f < 0 && f != -1) {
			return nil, dispatch.RPCErrorf(dispatch.RPCBadRequest, "q %q: want 0..1, or -1 for none", s)
		}
		if f >= 0 {
			q = int(f*1000 + 0.5)
		}
	}
	if len(p) > 5 {
		if path, err = dispatch.ParamStr(p, 5, "path"); err != nil {
			return nil, err
		}
	}
	for _, o := range []struct {
		i    int
		what string
		dst  *int64
	}{{6, "flags", &flags}, {7, "cflags", &cflags}, {8, "methods", &methods}} {
		if err := optInt(o.i, o.what, o.dst); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	c := &Contact{URI: uri, Path: path, Q: q, Flags: int(flags), CFlags: int(cflags), Methods: int(methods),
		CallID: "dfjrewr12386fd-" + strconv.FormatInt(now.UnixNano(), 36), CSeq: 1, UserAgent: "RPC", LastModified: now.Unix()}
	if expires > 0 {
		c.Expires = now.Unix() + expires
	}
	err = d.Update(aor, func(r *Record) error {
		if i := r.Find(uri, "", false); i >= 0 {
			old := r.Contacts[i]
			old.Expires, old.Q, old.Path, old.Flags, old.CFlags, old.Methods, old.LastModified = c.Expires, c.Q, c.Path, c.Flags, c.CFlags, c.Methods, c.LastModified
			r.Updated(old)
			return nil
		}
		r.Insert(c)
		return nil
	})
	if err != nil {
		return nil, dispatch.RPCErrorf(dispatch.RPCInternal, "%v", err)
	}
	return 0, nil
}
