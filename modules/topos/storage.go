package topos

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
)

// The records, as Kamailio's topos keeps them in the database: topos_d
// for a dialog, topos_t for a transaction (version 2 both).

var dialogCols = []string{"a_callid", "a_uuid", "b_uuid", "a_contact", "b_contact", "as_contact", "bs_contact", "a_tag", "b_tag",
	"a_rr", "b_rr", "s_rr", "a_uri", "b_uri", "r_uri", "a_srcaddr", "b_srcaddr", "s_method", "s_cseq"}

var branchCols = []string{"a_callid", "a_uuid", "b_uuid", "x_via", "x_vbranch", "x_rr", "y_rr", "s_rr", "x_uri", "x_tag",
	"s_method", "s_cseq", "a_contact", "b_contact", "as_contact", "bs_contact", "a_tag", "b_tag"}

// field is where column name goes in a tdata.
func (td *tdata) field(name string) *string {
	if f := td.fieldOK(name); f != nil {
		return f
	}
	panic("topos: no column " + name)
}

// fieldOK is field, nil for a name that is not a column.
func (td *tdata) fieldOK(name string) *string {
	switch name {
	case "a_callid":
		return &td.aCallID
	case "a_uuid":
		return &td.aUUID
	case "b_uuid":
		return &td.bUUID
	case "a_contact":
		return &td.aContact
	case "b_contact":
		return &td.bContact
	case "as_contact":
		return &td.asContact
	case "bs_contact":
		return &td.bsContact
	case "a_tag":
		return &td.aTag
	case "b_tag":
		return &td.bTag
	case "a_rr":
		return &td.aRR
	case "b_rr":
		return &td.bRR
	case "s_rr":
		return &td.sRR
	case "a_uri":
		return &td.aURI
	case "b_uri":
		return &td.bURI
	case "r_uri":
		return &td.rURI
	case "a_srcaddr":
		return &td.aSrcAddr
	case "b_srcaddr":
		return &td.bSrcAddr
	case "s_method":
		return &td.sMethod
	case "s_cseq":
		return &td.sCSeq
	case "x_via":
		return &td.xVia
	case "x_vbranch":
		return &td.xVbranch1
	case "x_rr":
		return &td.xRR
	case "y_rr":
		return &td.yRR
	case "x_uri":
		return &td.xURI
	case "x_tag":
		return &td.xTag
	case "x_context":
		return &td.xContext
	}
	return nil
}

// store keeps the records: in the database (dbStore, topos' own) or in
// Redis (redisStore, Kamailio's topos_redis). The wrappers of Module
// check what Kamailio's tps_storage_* check before they call it.
type store interface {
	insertDialog(td *tdata) error
	insertBranch(td *tdata) error
	// loadDialog and loadBranch: found false (no error) without a record
	loadDialog(md *tdata) (*tdata, bool, error)
	loadBranch(msg *sip.Msg, md *tdata, mode int) (*tdata, bool, error)
	updateBranch(msg *sip.Msg, md, sd *tdata, mode int) error
	updateDialog(msg *sip.Msg, md, sd *tdata, mode int) error
	endDialog(md, sd *tdata) error
	clean(now time.Time) error
}

// dbStore keeps the records in the topos_d and topos_t tables.
type dbStore struct {
	db                         *db.DB
	branchExpire, dialogExpire time.Duration
	log                        *slog.Logger
}

// failed logs a database error (the message goes on unchanged, as in
// Kamailio) and returns it.
func (m *dbStore) failed(what string, err error) error {
	if err != nil && m.log != nil {
		m.log.Error("topos: " + what + ": " + err.Error())
	}
	return err
}

func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// insert writes a record: rectime, the columns, the integer columns, and
// x_context when there is one.
func (m *dbStore) insert(table string, cols []string, td *tdata, ints map[string]int) error {
	names := append([]string{"rectime"}, cols...)
	args := []any{m.db.TimeArg(time.Now())}
	for _, c := range cols {
		args = append(args, *td.field(c))
	}
	for c, v := range ints {
		names = append(names, c)
		args = append(args, v)
	}
	if td.xContext != "" {
		names = append(names, "x_context")
		args = append(args, td.xContext)
	}
	q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(names)-1) + ")"
	ctx, cancel := ctxTimeout()
	defer cancel()
	_, err := m.db.Exec(ctx, q, args...)
	return m.failed("failed to store the record in "+table, err)
}

func (m *dbStore) insertDialog(td *tdata) error {
	return m.insert("topos_d", dialogCols, td, map[string]int{"iflags": td.iflags})
}

func (m *dbStore) insertBranch(td *tdata) error {
	return m.insert("topos_t", branchCols, td, map[string]int{"direction": td.direction})
}

// load reads the first record matching where (column = ?), its columns
// into a new tdata; found false without one.
func (m *dbStore) load(table string, cols []string, where []string, args []any, withContext bool) (*tdata, bool, error) {
	sel := cols
	if withContext {
		sel = append(append([]string(nil), cols...), "x_context")
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + table + " WHERE " + strings.Join(where, " = ? AND ") + " = ?"
	ctx, cancel := ctxTimeout()
	defer cancel()
	rows, err := m.db.Query(ctx, q, args...)
	if err != nil {
		return nil, false, m.failed("failed to load from "+table, err)
	}
	defer rows.Close()
	td := &tdata{expires: -1}
	if !rows.Next() {
		return td, false, rows.Err()
	}
	vals := make([]sql.NullString, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, false, m.failed("failed to load from "+table, err)
	}
	for i, c := range sel {
		*td.field(c) = vals[i].String
	}
	return td, true, nil
}

// keyOf is the column and value a record is found by: the a_uuid or
// b_uuid column, as the key's letter says.
func keyOf(uuid string) (string, bool) {
	switch {
	case strings.HasPrefix(uuid, "a"):
		return "a_uuid", true
	case strings.HasPrefix(uuid, "b"):
		return "b_uuid", true
	}
	return "", false
}

var errNoKey = errors.New("no dialog key")

// loadDialog is tps_db_load_dialog, by the dialog key of md.
func (m *dbStore) loadDialog(md *tdata) (*tdata, bool, error) {
	key := md.aUUID
	if key == "" {
		key = md.bUUID
	}
	col, ok := keyOf(key)
	if !ok {
		return &tdata{expires: -1}, false, errNoKey
	}
	where, args := []string{col}, []any{key}
	if md.xContext != "" {
		where, args = append(where, "x_context"), append(args, md.xContext)
	}
	return m.load("topos_d", dialogCols, where, args, md.xContext != "")
}

// loadBranch is tps_db_load_branch: mode 0 the transaction of md's top
// Via branch, 1 the dialog's INVITE (or SUBSCRIBE) transaction by Call-ID,
// the tag of the side and the dialog key.
func (m *dbStore) loadBranch(msg *sip.Msg, md *tdata, mode int) (*tdata, bool, error) {
	var where []string
	var args []any
	if mode == 0 {
		where, args = []string{"x_vbranch"}, []any{md.xVbranch1}
	} else {
		method := "INVITE"
		if cm := msg.CSeqMethod(); cm == sip.MethodSUBSCRIBE || (cm == sip.MethodNOTIFY && msg.Has(sip.HdrEvent)) {
			method = "SUBSCRIBE"
		}
		tag := md.aTag
		if md.direction == downstream {
			tag = md.bTag
		}
		where, args = []string{"a_callid", "b_tag", "s_method"}, []any{md.aCallID, tag, method}
		key := md.aUUID
		if key == "" {
			key = md.bUUID
		}
		if col, ok := keyOf(key); ok {
			where, args = append(where, col), append(args, key)
		}
	}
	if msg.IsRequest() && md.xContext != "" {
		where, args = append(where, "x_context"), append(args, md.xContext)
	}
	return m.load("topos_t", branchCols, where, args, md.xContext != "")
}

// update sets columns of the records matching where.
func (m *dbStore) update(table string, set []string, setArgs []any, where []string, whereArgs []any) error {
	if len(set) == 0 {
		return nil
	}
	q := "UPDATE " + table + " SET " + strings.Join(set, " = ?, ") + " = ? WHERE " + strings.Join(where, " = ? AND ") + " = ?"
	ctx, cancel := ctxTimeout()
	defer cancel()
	_, err := m.db.Exec(ctx, q, append(setArgs, whereArgs...)...)
	return m.failed("failed to update "+table, err)
}

// recordKey is how Kamailio's updates find a record: the a_uuid column
// against sd's a_uuid, or (a Kamailio quirk kept) its b_uuid.
func recordKey(sd *tdata) ([]string, []any, error) {
	v := sd.aUUID
	if !strings.HasPrefix(v, "a") {
		if sd.bUUID == "" {
			return nil, nil, errNoKey
		}
		v = sd.bUUID
	}
	where, args := []string{"a_uuid"}, []any{v}
	if sd.xContext != "" {
		where, args = append(where, "x_context"), append(args, sd.xContext)
	}
	return where, args, nil
}

// setter gathers the columns an update writes.
type setter struct {
	cols []string
	args []any
}

func (s *setter) set(col string, v any) { s.cols, s.args = append(s.cols, col), append(s.args, v) }

// setStr sets col when v is not empty (Kamailio's TPS_DB_ADD_STRV).
func (s *setter) setStr(col, v string) {
	if v != "" {
		s.set(col, v)
	}
}

// updateBranch is tps_storage_update_branch: an INVITE's or SUBSCRIBE's
// transaction learns the contacts, and from an early reply its routes
// and To tag.
func (m *Module) updateBranch(msg *sip.Msg, md, sd *tdata, mode int) error {
	if md.method != sip.MethodINVITE && md.method != sip.MethodSUBSCRIBE {
		return nil
	}
	code := msg.StatusCode()
	if !msg.IsRequest() && (code < 180 || code >= 200) {
		return nil
	}
	if err := m.linkMsg(msg, md, md.direction); err != nil {
		return err
	}
	return m.st.updateBranch(msg, md, sd, mode)
}

func (m *dbStore) updateBranch(msg *sip.Msg, md, sd *tdata, mode int) error {
	code := msg.StatusCode()
	where, args, err := recordKey(sd)
	if err != nil {
		return err
	}
	var s setter
	if mode&dbuContact != 0 {
		s.setStr("a_contact", md.aContact)
		s.setStr("b_contact", md.bContact)
	}
	if mode&dbuRplAttrs != 0 && !msg.IsRequest() && code >= 180 && code < 200 {
		s.set("y_rr", md.bRR)
		s.setStr("b_tag", md.bTag)
	}
	return m.update("topos_t", s.cols, s.args, where, args)
}

// updateDialog is tps_storage_update_dialog: the dialog learns contacts,
// from its 2xx the callee's routes and tag, with rr_update the routes of
// re-INVITEs.
func (m *Module) updateDialog(msg *sip.Msg, md, sd *tdata, mode int) error {
	if md.method != sip.MethodINVITE && md.method != sip.MethodSUBSCRIBE {
		return nil
	}
	code := msg.StatusCode()
	if !msg.IsRequest() && (code < 200 || code >= 300) {
		return nil
	}
	if err := m.linkMsg(msg, md, md.direction); err != nil {
		return err
	}
	return m.st.updateDialog(msg, md, sd, mode)
}

func (m *dbStore) updateDialog(msg *sip.Msg, md, sd *tdata, mode int) error {
	code := msg.StatusCode()
	where, args, err := recordKey(sd)
	if err != nil {
		return err
	}
	// sd.iflags is never read back (Kamailio's load skips the column):
	// the "dialog on" test below is always true, as in Kamailio.
	var s setter
	if mode&dbuContact != 0 {
		s.setStr("a_contact", md.aContact)
		s.setStr("b_contact", md.bContact)
	}
	if mode&dbuRplAttrs != 0 && !msg.IsRequest() && sd.bTag == "" && code >= 200 && code < 300 {
		if sd.iflags&iflagDlgOn == 0 {
			s.set("b_rr", md.bRR)
		}
		s.setStr("b_tag", md.bTag)
		s.set("iflags", sd.iflags|iflagDlgOn)
	}
	if sd.bTag != "" && mode&(dbuBRR|dbuARR) != 0 {
		if (md.direction == downstream && !msg.IsRequest()) || (md.direction == upstream && msg.IsRequest()) {
			if sd.iflags&iflagDlgOn == 0 && mode&dbuBRR != 0 {
				s.set("b_rr", md.bRR)
			}
		} else if sd.iflags&iflagDlgOn == 0 && mode&dbuARR != 0 {
			s.set("a_rr", md.aRR)
			s.set("s_rr", md.sRR)
		}
	}
	if mode&dbuTime != 0 && sd.bTag != "" && md.direction == upstream && msg.IsRequest() && msg.Method() == sip.MethodSUBSCRIBE {
		s.set("rectime", m.db.TimeArg(time.Now()))
	}
	return m.update("topos_d", s.cols, s.args, where, args)
}

// endDialog is tps_db_end_dialog: a BYE (or a SUBSCRIBE with Expires 0)
// leaves the dialog to the clean-up: now as its time, not confirmed.
func (m *Module) endDialog(md, sd *tdata) error {
	if md.method != sip.MethodBYE && !(md.method == sip.MethodSUBSCRIBE && md.expires == 0) {
		return nil
	}
	return m.st.endDialog(md, sd)
}

func (m *dbStore) endDialog(md, sd *tdata) error {
	where, args, err := recordKey(sd)
	if err != nil {
		return err
	}
	return m.update("topos_d", []string{"rectime", "iflags"}, []any{m.db.TimeArg(time.Now()), 0}, where, args)
}

// clean is tps_storage_clean: transactions older than branch_expire,
// dialogs older than dialog_expire, and those never confirmed (or ended)
// older than branch_expire.
func (m *dbStore) clean(now time.Time) error {
	ctx, cancel := ctxTimeout()
	defer cancel()
	_, err1 := m.db.Exec(ctx, "DELETE FROM topos_t WHERE rectime <= ?", m.db.TimeArg(now.Add(-m.branchExpire)))
	_, err2 := m.db.Exec(ctx, "DELETE FROM topos_d WHERE rectime <= ?", m.db.TimeArg(now.Add(-m.dialogExpire)))
	_, err3 := m.db.Exec(ctx, "DELETE FROM topos_d WHERE rectime <= ? AND iflags = ?", m.db.TimeArg(now.Add(-m.branchExpire)), 0)
	return errors.Join(err1, err2, err3)
}
