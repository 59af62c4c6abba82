// Package usrloc keeps the location table: address-of-record → contacts,
// like Kamailio's usrloc module. Records live in memory, sharded behind
// short locks, and in the location table of a database as db_mode says:
// 0 memory only, 1 write-through, 2 write-back every timer_interval, 3
// database only.
package usrloc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// The db_mode values.
const (
	NoDB         = 0
	WriteThrough = 1
	WriteBack    = 2
	DBOnly       = 3
)

// settings are the module parameters.
type settings struct {
	url          string
	mode         int
	interval     time.Duration
	useDomain    bool
	preload      []string
	matchCallID  bool // matching_mode 1: a contact is the same binding only with the same Call-ID
	versionCheck bool
}

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "usrloc",
		KSR:  "-",
		Params: []dispatch.Param{
			{Name: "db_url", Kind: dispatch.Str, Default: "(required with db_mode 1–3)"},
			{Name: "db_mode", Kind: dispatch.Int, Default: "0"},
			{Name: "timer_interval", Kind: dispatch.Int, Default: "60 (seconds)"},
			{Name: "use_domain", Kind: dispatch.Int, Default: "0 (1: AOR is user@domain)"},
			{Name: "preload", Kind: dispatch.Str, Multi: true, Default: "tables loaded at start besides `location"},
			{Name: "matching_mode", Kind: dispatch.Int, Default: "0 (1: a binding is contact + Call-ID)"},
			{Name: "version_table", Kind: dispatch.Int, Default: "1"},
			// Accepted for Kamailio configs; kemi's behaviour does not
			// depend on them.
			{Name: "desc_time_order", Kind: dispatch.Int},
			{Name: "nat_bflag", Kind: dispatch.Int},
			{Name: "db_update_as_insert", Kind: dispatch.Int},
			{Name: "db_insert_update", Kind: dispatch.Int},
			{Name: "handle_lost_tcp", Kind: dispatch.Int},
			{Name: "timer_procs", Kind: dispatch.Int},
			{Name: "db_timer_clean", Kind: dispatch.Int},
			{Name: "server_id_filter", Kind: dispatch.Int},
			{Name: "use_domain_default", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.RPCProvider   = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

// Exports: usrloc has no KSR functions; registrar uses it.
func (u *Module) Exports() []dispatch.Export { return nil }

// Init reads the parameters.
func (u *Module) Init(p *dispatch.Params) error {
	s := settings{
		url:          p.Str("db_url", ""),
		mode:         p.Int("db_mode", NoDB),
		interval:     time.Duration(p.Int("timer_interval", 60)) * time.Second,
		useDomain:    p.Int("use_domain", 0) != 0,
		matchCallID:  p.Int("matching_mode", 0) == 1,
		versionCheck: p.Int("version_table", 1) != 0,
	}
	if s.mode < NoDB || s.mode > DBOnly {
		return fmt.Errorf("db_mode %d: want 0 (memory), 1 (write-through), 2 (write-back) or 3 (database only)", s.mode)
	}
	if s.interval <= 0 {
		return fmt.Errorf("timer_interval %v: must be at least 1 second", s.interval)
	}
	if s.mode != NoDB {
		if s.url == "" {
			return fmt.Errorf(`db_mode %d needs db_url: modparam("usrloc", "db_url", "sqlite:///path/kamailio.db")`, s.mode)
		}
		if _, err := db.ParseURL(s.url); err != nil {
			return err
		}
	}
	for _, v := range p.All("preload") {
		if err := db.Ident("preload table", v.S); err != nil {
			return err
		}
		s.preload = append(s.preload, v.S)
	}
	u.set = s
	return nil
}

// Module is the usrloc module of one proxy: its parameters, domains
// (location tables), database, timer and counters.
type Module struct {
	// Stats are the module's counters (usrloc:registered_users and friends).
	Stats struct {
		Contacts  atomic.Int64 // contacts in memory
		Expired   atomic.Uint64
		DBErrors  atomic.Uint64
		DBWrites  atomic.Uint64
		Flushes   atomic.Uint64
		Preloaded atomic.Uint64
	}
	running atomic.Bool
	set     settings
	log     *slog.Logger
	db      *db.DB
	mu      sync.Mutex
	domains map[string]*Domain
	stop    chan struct{}
	done    chan struct{}
	ruidSeq atomic.Uint64
	ruidPfx string
}

// Start opens the database, loads the tables of db_mode 1 and 2 and starts
// the timer.
func (u *Module) Start(env *router.Env) error {
	u.log, u.domains = env.Log.With("module", "usrloc"), map[string]*Domain{}
	u.stop, u.done = make(chan struct{}), make(chan struct{})
	u.ruidPfx = "uloc-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + strconv.FormatInt(int64(os.Getpid()), 16) + "-"
	u.Stats.Contacts.Store(0) // the memory of this run: what preload loads
	if u.set.mode != NoDB {
		d, err := db.Open(u.set.url)
		if err != nil {
			return err
		}
		u.db = d
	}
	for _, name := range append([]string{"location"}, u.set.preload...) {
		if _, err := u.domain(name); err != nil {
			u.close()
			return err
		}
	}
	u.running.Store(true)
	go u.timer()
	return nil
}

// Stop writes back what db_mode 2 has not written yet and closes the
// database.
func (u *Module) Stop() {
	if !u.running.Swap(false) {
		return
	}
	close(u.stop)
	<-u.done
	if u.set.mode == WriteBack {
		u.flush()
	}
	u.close()
}

func (u *Module) close() {
	if u.db != nil {
		u.db.Close()
	}
}

// Get returns a location table by name (as save and lookup name it),
// loading it from the database the first time in db_mode 1 and 2.
func (u *Module) Get(name string) (*Domain, error) {
	if !u.running.Load() {
		return nil, errors.New("usrloc: not started")
	}
	return u.domain(name)
}

func (u *Module) domain(name string) (*Domain, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if d := u.domains[name]; d != nil {
		return d, nil
	}
	if err := db.Ident("location table", name); err != nil {
		return nil, err
	}
	d := &Domain{Name: name, u: u, q: newQueries(name)}
	for i := range d.shards {
		d.shards[i].records = map[string]*Record{}
	}
	if u.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := u.checkTable(ctx, name); err != nil {
			return nil, err
		}
		for _, q := range []string{d.q.insert, d.q.update, d.q.delete} {
			if err := u.db.PrepareWrite(ctx, q); err != nil {
				return nil, fmt.Errorf("usrloc: table %s: %w", name, err)
			}
		}
		if u.set.mode == WriteThrough || u.set.mode == WriteBack {
			if err := d.load(ctx); err != nil {
				return nil, fmt.Errorf("usrloc: preload %s: %w", name, err)
			}
		}
	}
	u.domains[name] = d
	return d, nil
}

// locationColumns are the columns usrloc reads and writes.
var locationColumns = []string{"ruid", "username", "domain", "contact", "received", "path", "expires", "q", "callid", "cseq",
	"last_modified", "flags", "cflags", "user_agent", "socket", "methods", "instance", "reg_id"}

func (u *Module) checkTable(ctx context.Context, table string) error {
	if err := u.db.RequireColumns(ctx, table, locationColumns...); err != nil {
		return fmt.Errorf("usrloc: %w", err)
	}
	if u.set.versionCheck {
		if err := u.db.CheckVersion(ctx, table, db.VersionLocation); err != nil {
			return fmt.Errorf("usrloc: %w", err)
		}
	}
	return nil
}

func (u *Module) newRUID() string {
	return u.ruidPfx + strconv.FormatUint(u.ruidSeq.Add(1), 10)
}

func (u *Module) timer() {
	defer close(u.done)
	t := time.NewTicker(u.set.interval)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			u.Tick(time.Now())
		}
	}
}

// Tick is one run of the timer: expired contacts removed, db_mode 2
// changes written. The timer calls it every timer_interval; tests call it
// with the time they want.
func (u *Module) Tick(now time.Time) {
	for _, d := range u.domainList() {
		d.expire(now)
	}
	if u.set.mode == WriteBack {
		u.flush()
	}
}

// domainList is the tables in use, for the timer's walks.
func (u *Module) domainList() []*Domain {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Collect(maps.Values(u.domains))
}

func (u *Module) flush() {
	for _, d := range u.domainList() {
		if err := d.flush(); err != nil {
			u.Stats.DBErrors.Add(1)
			u.log.Error("usrloc: write-back failed, kept for the next timer run", "table", d.Name, "err", err.Error())
		}
	}
	u.Stats.Flushes.Add(1)
}

// splitAOR gives the username and domain columns of an address of record.
func (u *Module) splitAOR(aor string) (user string, domain any) {
	if u.set.useDomain {
		if i := strings.LastIndexByte(aor, '@'); i >= 0 {
			return aor[:i], aor[i+1:]
		}
	}
	return aor, nil
}

// UseDomain reports the use_domain parameter: registrar builds
// addresses of record as user@domain with it.
func (u *Module) UseDomain() bool { return u.set.useDomain }

// Mode is the db_mode in use.
func (u *Module) Mode() int { return u.set.mode }
