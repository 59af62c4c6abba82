// Package ndb_redis is Kamailio's ndb_redis module: commands to Redis
// servers (redis_cmd, with %s parameters; redis_pipe_cmd and
// redis_execute to pipeline), their replies kept by name and read through
// $redis(name=>type|value|info|size) and $redisd.
package ndb_redis

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/redis"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// server is one modparam("ndb_redis", "server", "name=...;addr=...;...").
type server struct {
	name, network, addr, pass string
	db                        int

	mu       sync.Mutex
	idle     []*redis.Conn
	errs     int       // consecutive errors, toward allowed_timeouts
	disabled time.Time // commands fail with -2 until then
}

// Module is the ndb_redis module of one proxy: its servers, and each
// worker's replies and pipelines (Kamailio keeps them per process).
type Module struct {
	servers               map[string]*server
	connectTO, cmdTO      time.Duration
	initWithout           bool
	disableTime           time.Duration
	allowedTimeouts       int
	flushOnReconnect      bool
	mu                    sync.Mutex
	replies               map[*router.Worker]map[string]*redis.Reply
	pipes                 map[*router.Worker]map[string][]pipedCmd
	cluster, dynamicNodes int
}

type pipedCmd struct {
	args []string
	res  string
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

func init() {
	s, i := dispatch.Str, dispatch.Int
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "ndb_redis",
		Params: []dispatch.Param{
			{Name: "server", Kind: s, Multi: true, Doc: "name=N;addr=IP;port=P;db=D;pass=S (or unix=PATH)"},
			p("init_without_redis", i, "0", "1: start even when a server does not answer"),
			p("connect_timeout", i, "1000", "ms"),
			p("cmd_timeout", i, "1000", "ms"),
			p("cluster", i, "0", "accepted; cluster redirects (MOVED) are not followed"),
			p("disable_time", i, "0", "seconds a server is left alone after allowed_timeouts errors"),
			p("allowed_timeouts", i, "-1 (never disabled)", "consecutive errors before a server is disabled"),
			p("flush_on_reconnect", i, "0", "1: FLUSHALL after a reconnection"),
			p("allow_dynamic_nodes", i, "0", "accepted, no effect"),
		},
		New: func() dispatch.Module {
			return &Module{servers: map[string]*server{}, replies: map[*router.Worker]map[string]*redis.Reply{},
				pipes: map[*router.Worker]map[string][]pipedCmd{}}
		},
	})
	router.RegisterPV("redis", router.PVClass{Arg: true, Parse: parseRedisPV, Get: getRedisPV})
	router.RegisterPV("redisd", router.PVClass{Arg: true, Parse: parseRedisdPV, Get: getRedisdPV})
}

// Init reads the servers and the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	for _, v := range p.All("server") {
		spec := v.String()
		srv := &server{network: "tcp"}
		host, port := "127.0.0.1", "6379"
		for _, kv := range strings.Split(strings.TrimSuffix(spec, ";"), ";") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "name":
				srv.name = v
			case "addr":
				host = v
			case "port":
				port = v
			case "db":
				srv.db, _ = strconv.Atoi(v)
			case "pass":
				srv.pass = v
			case "unix":
				srv.network, srv.addr = "unix", v
			case "sentinel", "sentinel_group", "sentinel_master":
				return fmt.Errorf("ndb_redis: server %q: Redis Sentinel is not supported", spec)
			}
		}
		if srv.name == "" {
			return fmt.Errorf("ndb_redis: server %q: no name", spec)
		}
		if srv.network == "tcp" {
			srv.addr = net.JoinHostPort(host, port)
		}
		m.servers[srv.name] = srv
	}
	ms := func(name string, def int) time.Duration { return time.Duration(p.Int(name, def)) * time.Millisecond }
	m.connectTO, m.cmdTO = ms("connect_timeout", 1000), ms("cmd_timeout", 1000)
	m.initWithout = p.Int("init_without_redis", 0) != 0
	m.disableTime = time.Duration(p.Int("disable_time", 0)) * time.Second
	m.allowedTimeouts = p.Int("allowed_timeouts", -1)
	m.flushOnReconnect = p.Int("flush_on_reconnect", 0) != 0
	m.cluster, m.dynamicNodes = p.Int("cluster", 0), p.Int("allow_dynamic_nodes", 0)
	return nil
}

// Start connects to every server: one that does not answer stops the
// start, unless init_without_redis.
func (m *Module) Start(*router.Env) error {
	for _, s := range m.servers {
		c, err := m.connect(s, false)
		if err != nil {
			if m.initWithout {
				continue
			}
			return fmt.Errorf("ndb_redis: server %s (%s): %w", s.name, s.addr, err)
		}
		m.put(s, c)
	}
	return nil
}

// Stop closes the connections.
func (m *Module) Stop() {
	for _, s := range m.servers {
		s.mu.Lock()
		for _, c := range s.idle {
			c.Close()
		}
		s.idle = nil
		s.mu.Unlock()
	}
}

// connect dials s, authenticates and selects its database.
func (m *Module) connect(s *server, reconnect bool) (*redis.Conn, error) {
	c, err := redis.Dial(s.network, s.addr, m.connectTO, m.cmdTO)
	if err != nil {
		return nil, err
	}
	setup := func(args ...string) error {
		r, err := c.Do(args...)
		if err == nil && r.Type == redis.Error {
			err = fmt.Errorf("%s: %s", args[0], r.Str)
		}
		return err
	}
	if s.pass != "" {
		if err := setup("AUTH", s.pass); err != nil {
			c.Close()
			return nil, err
		}
	}
	if s.db != 0 {
		if err := setup("SELECT", strconv.Itoa(s.db)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if reconnect && m.flushOnReconnect {
		setup("FLUSHALL")
	}
	return c, nil
}

// get is an idle connection to s, or a new one.
func (m *Module) get(s *server) (*redis.Conn, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	return m.connect(s, true)
}

func (m *Module) put(s *server, c *redis.Conn) {
	s.mu.Lock()
	s.idle = append(s.idle, c)
	s.mu.Unlock()
}

// exchange sends cmds to s and reads a reply to each: on a connection
// that fails, once more on a new one (Kamailio reconnects and tries
// again). -2 while s is disabled.
func (m *Module) exchange(s *server, cmds [][]string) ([]*redis.Reply, int) {
	s.mu.Lock()
	if !s.disabled.IsZero() && time.Now().Before(s.disabled) {
		s.mu.Unlock()
		return nil, -2
	}
	s.mu.Unlock()
	for try := 0; try < 2; try++ {
		c, err := m.get(s)
		if err != nil {
			continue
		}
		out, err := func() ([]*redis.Reply, error) {
			if err := c.Send(cmds...); err != nil {
				return nil, err
			}
			out := make([]*redis.Reply, len(cmds))
			for i := range cmds {
				r, err := c.Read()
				if err != nil {
					return nil, err
				}
				out[i] = r
			}
			return out, nil
		}()
		if err != nil {
			c.Close()
			continue
		}
		m.put(s, c)
		s.mu.Lock()
		s.errs = 0
		s.mu.Unlock()
		return out, 0
	}
	s.mu.Lock()
	s.errs++
	if m.allowedTimeouts >= 0 && s.errs > m.allowedTimeouts && m.disableTime > 0 {
		s.disabled, s.errs = time.Now().Add(m.disableTime), 0
	}
	s.mu.Unlock()
	return nil, -1
}

// keep stores the reply name of c's worker.
func (m *Module) keep(c *router.Ctx, name string, r *redis.Reply) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.replies[c.W]
	if rs == nil {
		rs = map[string]*redis.Reply{}
		m.replies[c.W] = rs
	}
	rs[name] = r
}

func (m *Module) replyOf(c *router.Ctx, name string) *redis.Reply {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replies[c.W][name]
}

// cmd is redis_cmd: the command (its %s given params) to srv, the reply
// kept as res: 0, -1 on an error (a Redis error reply too), -2 while
// the server is disabled (Kamailio's redisc_exec).
func (m *Module) cmd(c *router.Ctx, srv, command, res string, params ...string) int {
	if srv == "" || command == "" || res == "" {
		return -1
	}
	s := m.servers[srv]
	if s == nil {
		c.Log().Error("ndb_redis: no redis server found: "+srv, "route", c.Route)
		return -1
	}
	if len(params) == 0 && (strings.Contains(command, "%s") || strings.Contains(command, "%b")) {
		c.Log().Error("ndb_redis: command argument specifier found, but no params", "route", c.Route)
		return -1
	}
	args, err := format(command, params)
	if err != nil {
		c.Log().Error("ndb_redis: "+err.Error(), "route", c.Route)
		return -1
	}
	if rc := m.execute(c, srv); rc < 0 && rc != -1 {
		return rc
	}
	out, rc := m.exchange(s, [][]string{args})
	if rc < 0 {
		if rc == -1 {
			c.Log().Error("ndb_redis: unable to reach redis server "+srv, "route", c.Route)
		}
		return rc
	}
	m.keep(c, res, out[0])
	if out[0].Type == redis.Error {
		c.Log().Error("ndb_redis: Redis error: "+out[0].Str, "route", c.Route)
		return -1
	}
	return 0
}

// pipe is redis_pipe_cmd: the command queued for srv until
// redis_execute.
func (m *Module) pipe(c *router.Ctx, srv, command, res string, params ...string) int {
	if m.servers[srv] == nil || res == "" {
		return -1
	}
	args, err := format(command, params)
	if err != nil {
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.pipes[c.W]
	if ps == nil {
		ps = map[string][]pipedCmd{}
		m.pipes[c.W] = ps
	}
	ps[srv] = append(ps[srv], pipedCmd{args, res})
	return 1
}

// execute sends the commands queued for srv in one write, each reply kept
// under its name: 1, -1 when none could be sent (nothing queued: 1).
func (m *Module) execute(c *router.Ctx, srv string) int {
	m.mu.Lock()
	queued := m.pipes[c.W][srv]
	if len(queued) > 0 {
		delete(m.pipes[c.W], srv)
	}
	m.mu.Unlock()
	if len(queued) == 0 {
		return 1
	}
	s := m.servers[srv]
	cmds := make([][]string, len(queued))
	for i, q := range queued {
		cmds[i] = q.args
	}
	out, rc := m.exchange(s, cmds)
	if rc < 0 {
		return rc
	}
	for i, q := range queued {
		m.keep(c, q.res, out[i])
	}
	return 1
}

// free is redis_free: the reply name forgotten.
func (m *Module) free(c *router.Ctx, name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.replies[c.W]
	if rs == nil || rs[name] == nil {
		return -1
	}
	delete(rs, name)
	return 1
}

// Exports are KSR.ndb_redis and the native functions.
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	one := func(rc int) int { // the native wrappers: 1 done
		if rc < 0 {
			return -1
		}
		return 1
	}
	return []dispatch.Export{
		// Kamailio's KEMI returns redisc_exec's 0 for done: a value.
		{Name: "redis_cmd", Ret: I, Value: true, Native: dispatch.NoNative, Fn: dispatch.FSSS(func(c *router.Ctx, srv, cmd, res string) int { return m.cmd(c, srv, cmd, res) })},
		{Name: "redis_cmd_p1", Ret: I, Value: true, Fn: dispatch.FSSSS(func(c *router.Ctx, srv, cmd, p1, res string) int { return m.cmd(c, srv, cmd, res, p1) })},
		{Name: "redis_cmd_p2", Ret: I, Value: true, Fn: dispatch.FSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, res string) int { return m.cmd(c, srv, cmd, res, p1, p2) })},
		{Name: "redis_cmd_p3", Ret: I, Value: true, Fn: dispatch.FSSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, p3, res string) int {
			return m.cmd(c, srv, cmd, res, p1, p2, p3)
		})},
		{Name: "redis_free", Ret: I, Fn: dispatch.FS(m.free)},
		// Native: redis_cmd(srv, cmd[, p1[, p2[, p3]]], res) and the pipeline.
		{Name: "redis_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, srv, cmd, res string) int { return one(m.cmd(c, srv, cmd, res)) })},
		{Name: "redis_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSS(func(c *router.Ctx, srv, cmd, p1, res string) int { return one(m.cmd(c, srv, cmd, res, p1)) })},
		{Name: "redis_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, res string) int {
			return one(m.cmd(c, srv, cmd, res, p1, p2))
		})},
		{Name: "redis_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, p3, res string) int {
			return one(m.cmd(c, srv, cmd, res, p1, p2, p3))
		})},
		{Name: "redis_pipe_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSS(func(c *router.Ctx, srv, cmd, res string) int { return m.pipe(c, srv, cmd, res) })},
		{Name: "redis_pipe_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSS(func(c *router.Ctx, srv, cmd, p1, res string) int { return m.pipe(c, srv, cmd, res, p1) })},
		{Name: "redis_pipe_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, res string) int {
			return m.pipe(c, srv, cmd, res, p1, p2)
		})},
		{Name: "redis_pipe_cmd", NativeOnly: true, Ret: I, Fn: dispatch.FSSSSSS(func(c *router.Ctx, srv, cmd, p1, p2, p3, res string) int {
			return m.pipe(c, srv, cmd, res, p1, p2, p3)
		})},
		{Name: "redis_execute", NativeOnly: true, Ret: I, Fn: dispatch.FS(m.execute)},
	}
}

// redisPV is a parsed $redis(name=>key[index]=>key...): each step but the
// last goes into an array element.
type redisPV struct {
	name  string
	steps []redisStep
}

type redisStep struct {
	key   string // type, value, info, size
	idx   int    // -1: none
	idxPV string
}

func parseRedisPV(pv *router.PV) error {
	arg := strings.TrimSpace(pv.Arg)
	name, rest, ok := strings.Cut(arg, "=>")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("ndb_redis: invalid $redis(%s)", pv.Arg)
	}
	d := &redisPV{name: name}
	for _, part := range strings.Split(rest, "=>") {
		part = strings.TrimSpace(part)
		st := redisStep{idx: -1}
		key := part
		if i := strings.IndexByte(part, '['); i >= 0 {
			if !strings.HasSuffix(part, "]") {
				return fmt.Errorf("ndb_redis: invalid index in $redis(%s)", pv.Arg)
			}
			key = part[:i]
			ix := part[i+1 : len(part)-1]
			if strings.HasPrefix(ix, "$") {
				st.idxPV = ix
			} else {
				n, err := strconv.Atoi(ix)
				if err != nil {
					return fmt.Errorf("ndb_redis: invalid index %q in $redis(%s)", ix, pv.Arg)
				}
				st.idx = n
			}
		}
		switch key {
		case "type", "value":
		case "info", "size":
			if st.idx != -1 || st.idxPV != "" {
				return fmt.Errorf("ndb_redis: %s takes no index in $redis(%s)", key, pv.Arg)
			}
		default:
			return fmt.Errorf("ndb_redis: unknown key %q in $redis(%s)", key, pv.Arg)
		}
		st.key = key
		d.steps = append(d.steps, st)
	}
	pv.Data = d
	return nil
}

func (st redisStep) index(c *router.Ctx) (int, bool) {
	if st.idxPV == "" {
		return st.idx, true
	}
	p, err := c.W.PV(st.idxPV)
	if err != nil {
		return 0, false
	}
	v := p.Get(c)
	if v.Kind != router.Int {
		return 0, false
	}
	return int(v.I), true
}

func getRedisPV(c *router.Ctx, pv *router.PV) router.Value {
	m, _ := c.Env().Module("ndb_redis").(*Module)
	if m == nil {
		return router.Value{}
	}
	d := pv.Data.(*redisPV)
	r := m.replyOf(c, d.name)
	if r == nil {
		return router.Value{}
	}
	for _, st := range d.steps[:len(d.steps)-1] {
		i, ok := st.index(c)
		if !ok || i < 0 || i >= len(r.Elements) {
			return router.Value{}
		}
		r = r.Elements[i]
	}
	st := d.steps[len(d.steps)-1]
	pos, ok := st.index(c)
	if !ok {
		return router.Value{}
	}
	scalar := func(r *redis.Reply) router.Value {
		switch r.Type {
		case redis.String:
			return router.StrValue(r.Str)
		case redis.Integer:
			return router.IntValue(int64(int32(r.Integer)))
		}
		return router.Value{}
	}
	switch st.key {
	case "value":
		switch r.Type {
		case redis.String, redis.Integer:
			if pos != -1 {
				return router.Value{}
			}
			return scalar(r)
		case redis.Array:
			if pos < 0 || pos >= len(r.Elements) {
				return router.Value{}
			}
			return scalar(r.Elements[pos])
		}
		return router.Value{}
	case "info":
		if r.Type == redis.String || r.Type == redis.Status || r.Type == redis.Error {
			return router.StrValue(r.Str)
		}
		return router.Value{}
	case "size":
		if r.Type == redis.Array {
			return router.IntValue(int64(len(r.Elements)))
		}
		return router.Value{}
	}
	// type
	if pos == -1 {
		return router.IntValue(int64(r.Type))
	}
	if r.Type != redis.Array || pos < 0 || pos >= len(r.Elements) {
		return router.Value{}
	}
	return router.IntValue(int64(r.Elements[pos].Type))
}

var redisdNames = map[string]int{"rpl_str": redis.String, "rpl_arr": redis.Array, "rpl_int": redis.Integer,
	"rpl_nil": redis.Nil, "rpl_sts": redis.Status, "rpl_err": redis.Error}

func parseRedisdPV(pv *router.PV) error {
	if _, ok := redisdNames[pv.Arg]; !ok {
		return fmt.Errorf("ndb_redis: unknown redisd name %s", pv.Arg)
	}
	return nil
}

func getRedisdPV(_ *router.Ctx, pv *router.PV) router.Value {
	return router.IntValue(int64(redisdNames[pv.Arg]))
}

// Command runs one command, its arguments as they go, on the server
// named srv, for another module (Kamailio's ndb_redis API, exec_argv, as
// topos_redis uses it): the strings of an array reply (HGETALL's fields
// and values; a nil element as ""), or the one of any other reply (none
// for nil). An unknown or disabled server, a failed exchange and
// an error reply are errors.
func (m *Module) Command(srv string, args ...string) ([]string, error) {
	s := m.servers[srv]
	if s == nil {
		return nil, fmt.Errorf("ndb_redis: no server %q", srv)
	}
	out, rc := m.exchange(s, [][]string{args})
	if rc < 0 {
		return nil, fmt.Errorf("ndb_redis: server %q: %s failed", srv, args[0])
	}
	r := out[0]
	switch r.Type {
	case redis.Error:
		return nil, fmt.Errorf("ndb_redis: server %q: %s: %s", srv, args[0], r.Str)
	case redis.Array:
		vals := make([]string, 0, len(r.Elements))
		for _, e := range r.Elements {
			if e.Type == redis.Integer {
				vals = append(vals, strconv.FormatInt(e.Integer, 10))
			} else {
				vals = append(vals, e.Str)
			}
		}
		return vals, nil
	case redis.Integer:
		return []string{strconv.FormatInt(r.Integer, 10)}, nil
	case redis.Nil:
		return nil, nil
	}
	return []string{r.Str}, nil
}

// HasServer reports a server of that name.
func (m *Module) HasServer(name string) bool { return m.servers[name] != nil }
