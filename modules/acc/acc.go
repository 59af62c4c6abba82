// Package acc is Kamailio's acc module: transactions accounted by flags
// when their final reply goes upstream — to the log (log_flag,
// log_missed_flag) and to the acc and missed_calls tables (db_flag,
// db_missed_flag) — with log_extra / db_extra pseudo-variables, and
// acc_log_request / acc_db_request / acc_request from the script.
//
// A transaction is accounted when its flag is set and the final reply is
// below 300, or at any code when failed_transaction_flag is set too; a
// missed call is a final reply of 300 or more with the missed flag set.
// Records are written by one goroutine of the module, never by a worker
// or under a transaction's lock; a record that cannot be written is logged
// whole at error level, so that it can be recovered.
package acc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/tm"
)

type extra struct {
	name string
	pv   *router.PV
}

type settings struct {
	logFlag, logMissedFlag, failedFlag, dbFlag, dbMissedFlag int
	logLevel                                                 int
	logExtra, dbExtra                                        []extra
	dbURL, accTable, missedTable                             string
	reportCancels                                            bool
}

// Module is the acc module of one proxy: its parameters, counters, and
// once started its writer.
type Module struct {
	set settings
	// Stats are the module's counters.
	Stats struct {
		Logged, Written, Failed, Lost atomic.Uint64
	}
	run atomic.Pointer[writer]
	tm  *tm.Module
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "acc",
		Params: []dispatch.Param{
			{Name: "log_flag", Kind: dispatch.Int},
			{Name: "log_missed_flag", Kind: dispatch.Int},
			{Name: "failed_transaction_flag", Kind: dispatch.Int},
			{Name: "db_flag", Kind: dispatch.Int},
			{Name: "db_missed_flag", Kind: dispatch.Int},
			{Name: "log_level", Kind: dispatch.Int},
			{Name: "log_extra", Kind: dispatch.Str},
			{Name: "db_extra", Kind: dispatch.Str},
			{Name: "db_url", Kind: dispatch.Str},
			{Name: "db_table_acc", Kind: dispatch.Str},
			{Name: "db_table_missed_calls", Kind: dispatch.Str},
			{Name: "report_cancels", Kind: dispatch.Int},
			// Accepted for Kamailio configs; kemi's records do not depend on them.
			{Name: "log_facility", Kind: dispatch.Str},
			{Name: "early_media", Kind: dispatch.Int},
			{Name: "report_ack", Kind: dispatch.Int},
			{Name: "detect_direction", Kind: dispatch.Int},
			{Name: "db_insert_mode", Kind: dispatch.Int},
			{Name: "acc_time_mode", Kind: dispatch.Int},
			{Name: "cdr_enable", Kind: dispatch.Int},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// RegisterStats registers acc's counters.
func (a *Module) RegisterStats(r *stats.Registry) {
	r.Uint("acc", "logged", "records written to the log", &a.Stats.Logged)
	r.Uint("acc", "written", "records written to the database", &a.Stats.Written)
	r.Uint("acc", "db_failures", "records the database refused (logged whole)", &a.Stats.Failed)
	r.Uint("acc", "lost", "records dropped because the writer was 1 s behind (logged whole)", &a.Stats.Lost)
}

// Exports are KSR.acc.
func (a *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "acc_log_request", Ret: dispatch.Int, Fn: dispatch.FS(a.logRequest)},
		{Name: "acc_db_request", Ret: dispatch.Int, Fn: dispatch.FSS(a.dbRequest)},
		{Name: "acc_request", Ret: dispatch.Int, Fn: dispatch.FSS(a.request)},
	}
}

// Init reads the parameters; tm must be loaded.
func (a *Module) Init(p *dispatch.Params) error {
	s := settings{
		logFlag: p.Int("log_flag", -1), logMissedFlag: p.Int("log_missed_flag", -1),
		failedFlag: p.Int("failed_transaction_flag", -1),
		dbFlag:     p.Int("db_flag", -1), dbMissedFlag: p.Int("db_missed_flag", -1),
		logLevel: p.Int("log_level", 1), // L_NOTICE
		dbURL:    p.Str("db_url", ""), accTable: p.Str("db_table_acc", "acc"),
		missedTable: p.Str("db_table_missed_calls", "missed_calls"), reportCancels: p.Int("report_cancels", 0) != 0,
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"log_flag", s.logFlag}, {"log_missed_flag", s.logMissedFlag}, {"failed_transaction_flag", s.failedFlag},
		{"db_flag", s.dbFlag}, {"db_missed_flag", s.dbMissedFlag}} {
		if f.v < -1 || f.v > 63 {
			return fmt.Errorf("%s %d: want a flag 0..63 (-1 off)", f.name, f.v)
		}
	}
	var err error
	if s.logExtra, err = parseExtra("log_extra", p.Str("log_extra", "")); err != nil {
		return err
	}
	if s.dbExtra, err = parseExtra("db_extra", p.Str("db_extra", "")); err != nil {
		return err
	}
	usesDB := s.dbFlag >= 0 || s.dbMissedFlag >= 0 || len(s.dbExtra) > 0
	if usesDB && s.dbURL == "" {
		return errors.New(`db_flag, db_missed_flag or db_extra is set but db_url is not: modparam("acc", "db_url", "sqlite:///path/kamailio.db")`)
	}
	for _, t := range []string{s.accTable, s.missedTable} {
		if err := db.Ident("acc table", t); err != nil {
			return err
		}
	}
	for _, e := range s.dbExtra {
		if err := db.Ident("db_extra column", e.name); err != nil {
			return err
		}
	}
	a.set = s
	a.tm, err = dispatch.Need[*tm.Module](p, "tm")
	return err
}

// parseExtra reads "name=$pv;name2=$pv2".
func parseExtra(param, v string) ([]extra, error) {
	var out []extra
	for _, item := range strings.Split(v, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, spec, ok := strings.Cut(item, "=")
		name, spec = strings.TrimSpace(name), strings.TrimSpace(spec)
		if !ok || name == "" || spec == "" {
			return nil, fmt.Errorf("%s %q: want name=$pseudo_variable", param, item)
		}
		pv, err := router.ParsePV(spec)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", param, name, err)
		}
		out = append(out, extra{name, pv})
	}
	return out, nil
}

// record is one accounting record, its values evaluated.
type record struct {
	event  string // "transaction answered", "call missed", or the script's comment
	table  string // "" for the log only
	log    bool
	at     time.Time
	method string
	fromTag, toTag, callID,
	code, reason string
	logExtra, dbExtra []string
}

// writer owns the database and the goroutine that writes.
type writer struct {
	acc    *Module
	log    *slog.Logger
	db     *db.DB
	w      *router.Worker // evaluates the extras of transactions
	queue  chan any       // *record, or *tm.Final copied
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
}

// Start opens the database and starts the writer.
func (a *Module) Start(env *router.Env) error {
	wr := &writer{acc: a, log: env.Log.With("module", "acc"), queue: make(chan any, 16384), done: make(chan struct{})}
	if a.set.dbURL != "" {
		d, err := db.Open(a.set.dbURL)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cols := []string{"method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"}
		for _, e := range a.set.dbExtra {
			cols = append(cols, e.name)
		}
		for _, t := range []string{a.set.accTable, a.set.missedTable} {
			if err := d.RequireColumns(ctx, t, cols...); err != nil {
				d.Close()
				return fmt.Errorf("%w (kemi db init %s creates Kamailio's acc tables)", err, a.set.dbURL)
			}
		}
		wr.db = d
	}
	w, err := env.NewWorker(-100)
	if err != nil {
		if wr.db != nil {
			wr.db.Close()
		}
		return err
	}
	wr.w = w
	go wr.loop()
	a.run.Store(wr)
	a.tm.SetFinalHook(a.onFinal)
	return nil
}

// Stop writes what is queued and closes the database.
func (a *Module) Stop() {
	a.tm.SetFinalHook(nil)
	wr := a.run.Swap(nil)
	if wr == nil {
		return
	}
	wr.mu.Lock()
	wr.closed = true
	close(wr.queue)
	wr.mu.Unlock()
	<-wr.done // everything queued is written
	if wr.db != nil {
		wr.db.Close()
	}
}

// enqueue hands v to the writer, waiting at most a second when it is
// behind; a record that cannot be queued is logged whole.
func (a *Module) enqueue(v any) bool {
	wr := a.run.Load()
	if wr == nil {
		return false
	}
	wr.mu.RLock()
	defer wr.mu.RUnlock()
	if wr.closed {
		return false
	}
	select {
	case wr.queue <- v:
		return true
	default:
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case wr.queue <- v:
		return true
	case <-t.C:
		a.Stats.Lost.Add(1)
		wr.log.Error("acc: the writer is behind, record dropped", "record", fmt.Sprintf("%+v", v))
		return false
	}
}

func isSet(flags uint64, f int) bool { return f >= 0 && flags&(1<<uint(f)) != 0 }

// outputs are where a transaction's final reply is accounted: as
// answered (below 300, or any code with failed_transaction_flag) and as a
// missed call (300 or more), each to the log and/or a table by its flags.
func (a *Module) outputs(code int, flags uint64) []record {
	var out []record
	add := func(event string, logFlag, dbFlag int, table string) {
		r := record{event: event, log: isSet(flags, logFlag)}
		if isSet(flags, dbFlag) {
			r.table = table
		}
		if r.log || r.table != "" {
			out = append(out, r)
		}
	}
	if code < 300 || isSet(flags, a.set.failedFlag) {
		add("transaction answered", a.set.logFlag, a.set.dbFlag, a.set.accTable)
	}
	if code >= 300 {
		add("call missed", a.set.logMissedFlag, a.set.dbMissedFlag, a.set.missedTable)
	}
	return out
}

// onFinal is tm's hook: a transaction with something to account is copied
// for the writer, which reads its values.
func (a *Module) onFinal(f *tm.Final) {
	if len(a.outputs(f.Code, f.Flags)) == 0 {
		return
	}
	c := &tm.Final{Request: append([]byte(nil), f.Request...), RURI: append([]byte(nil), f.RURI...),
		Reply: append([]byte(nil), f.Reply...), Code: f.Code, Flags: f.Flags, Local: f.Local, Pkt: new(*f.Pkt)}
	a.enqueue(c)
}

func (wr *writer) loop() {
	defer close(wr.done)
	for v := range wr.queue {
		switch v := v.(type) {
		case *record:
			wr.write(v)
		case *tm.Final:
			wr.final(v)
		}
	}
}

// final makes the records of a transaction's final reply.
func (wr *writer) final(f *tm.Final) {
	c, err := wr.w.RequestCtx(f.Request, f.Pkt)
	if err != nil {
		wr.log.Error("acc: the transaction's request does not parse", "err", err.Error())
		return
	}
	defer c.Finish()
	if len(f.RURI) > 0 {
		c.SetRURI(f.RURI)
	}
	if !wr.acc.set.reportCancels && c.Msg.Method() == sip.MethodCANCEL {
		return
	}
	var rep sip.Msg
	toTag, reason := "", ""
	if rep.Parse(f.Reply) == nil {
		reason = string(rep.Reason())
		toTag = string(rep.To().Tag)
	}
	base := wr.acc.newRecord(c, "", strconv.Itoa(f.Code), reason)
	base.toTag = toTag
	for _, o := range wr.acc.outputs(f.Code, f.Flags) {
		r := *base
		r.event, r.log, r.table = o.event, o.log, o.table
		wr.write(&r)
	}
}

// newRecord reads a request's values for a record.
func (a *Module) newRecord(c *router.Ctx, event, code, reason string) *record {
	m := c.Msg
	r := &record{event: event, at: time.Now(), method: string(m.MethodName()), callID: string(m.CallID()), code: code, reason: reason}
	r.fromTag, r.toTag = string(m.From().Tag), string(m.To().Tag)
	for _, e := range a.set.logExtra {
		r.logExtra = append(r.logExtra, e.pv.Get(c).String())
	}
	for _, e := range a.set.dbExtra {
		r.dbExtra = append(r.dbExtra, e.pv.Get(c).String())
	}
	return r
}

func (wr *writer) write(r *record) {
	if r.log {
		var b strings.Builder
		fmt.Fprintf(&b, "ACC: %s: timestamp=%d;method=%s;from_tag=%s;to_tag=%s;call_id=%s;code=%s;reason=%s",
			r.event, r.at.Unix(), r.method, r.fromTag, r.toTag, r.callID, r.code, r.reason)
		for i, e := range wr.acc.set.logExtra {
			b.WriteString(";" + e.name + "=" + r.logExtra[i])
		}
		wr.log.Log(context.Background(), router.LevelFromDebug(wr.acc.set.logLevel), b.String())
		wr.acc.Stats.Logged.Add(1)
	}
	if r.table == "" {
		return
	}
	if wr.db == nil {
		wr.acc.Stats.Failed.Add(1)
		wr.log.Error("acc: no db_url: record not written", "table", r.table, "record", fmt.Sprintf("%+v", *r))
		return
	}
	cols := "method, from_tag, to_tag, callid, sip_code, sip_reason, time"
	marks := "?, ?, ?, ?, ?, ?, ?"
	args := []any{r.method, r.fromTag, r.toTag, r.callID, r.code, r.reason, wr.db.TimeArg(r.at)}
	for i, e := range wr.acc.set.dbExtra {
		cols += ", " + e.name
		marks += ", ?"
		args = append(args, r.dbExtra[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := wr.db.Exec(ctx, "INSERT INTO "+r.table+" ("+cols+") VALUES ("+marks+")", args...); err != nil {
		wr.acc.Stats.Failed.Add(1)
		wr.log.Error("acc: database write failed", "table", r.table, "err", err.Error(), "record", fmt.Sprintf("%+v", *r))
		return
	}
	wr.acc.Stats.Written.Add(1)
}

// splitComment reads a script's comment: "200 OK" is a code and a
// reason; a comment without a leading code is the reason alone.
func splitComment(s string) (code, reason string) {
	s = strings.TrimSpace(s)
	if len(s) >= 3 && s[0] >= '1' && s[0] <= '6' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' && (len(s) == 3 || s[3] == ' ') {
		return s[:3], strings.TrimSpace(s[3:])
	}
	return "", s
}

// LogRequest, DBRequest and Request are acc_log_request, acc_db_request
// and acc_request for the modules that account a request themselves
// (uac_redirect's redirects).
func (a *Module) LogRequest(c *router.Ctx, comment string) int { return a.logRequest(c, comment) }

// DBRequest is acc_db_request.
func (a *Module) DBRequest(c *router.Ctx, comment, table string) int {
	return a.dbRequest(c, comment, table)
}

// Request is acc_request.
func (a *Module) Request(c *router.Ctx, comment, table string) int {
	return a.request(c, comment, table)
}

func (a *Module) logRequest(c *router.Ctx, comment string) int {
	return a.accountRequest(c, "acc_log_request", comment, true, "")
}

func (a *Module) dbRequest(c *router.Ctx, comment, table string) int {
	return a.accountRequest(c, "acc_db_request", comment, false, table)
}

func (a *Module) request(c *router.Ctx, comment, table string) int {
	return a.accountRequest(c, "acc_request", comment, true, table)
}

// accountRequest queues a record of the current request made by the
// script (fn): to the log, and to table when it is not empty.
func (a *Module) accountRequest(c *router.Ctx, fn, comment string, log bool, table string) int {
	if table != "" {
		if err := db.Ident("acc table", table); err != nil {
			c.Log().Error(fn + ": " + err.Error())
			return -1
		}
	}
	code, reason := splitComment(comment)
	r := a.newRecord(c, "request accounted", code, reason)
	r.log, r.table = log, table
	return a.queued(r)
}

func (a *Module) queued(r *record) int {
	if a.enqueue(r) {
		return 1
	}
	return -1
}
