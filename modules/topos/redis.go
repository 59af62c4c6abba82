package topos

import (
	"errors"
	"strconv"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

// Redis runs one command on a Redis server of ndb_redis: the strings of
// its reply (an array's elements).
type Redis interface {
	Command(srv string, args ...string) ([]string, error)
}

// UseRedis makes topos keep its records in Redis, as Kamailio's
// topos_redis module does: called by topos_redis, with ndb_redis and the
// name of one of its servers.
func (m *Module) UseRedis(r Redis, server string) {
	m.st = &redisStore{r: r, srv: server, branchExpire: m.branchExpire, dialogExpire: m.dialogExpire, m: m}
}

// StorageError makes the start fail with err: topos_redis' parameters
// are wrong.
func (m *Module) StorageError(err error) { m.storeErr = err }

// redisStore keeps the records as Kamailio's topos_redis does: a dialog
// in the hash "d:z:<a-key>", a transaction in "b:x:<Via branch>", and
// "b:x:<method>:<Call-ID>:<tag>:x<uid>" pointing at the INVITE's (or
// SUBSCRIBE's) transaction; each with the expiry of its kind, so that
// Redis itself cleans up.
type redisStore struct {
	r                          Redis
	srv                        string
	branchExpire, dialogExpire time.Duration
	m                          *Module // its logger, once started
}

// cmd runs a command; a failure is logged (the message goes on
// unchanged, as in Kamailio).
func (s *redisStore) cmd(args ...string) ([]string, error) {
	out, err := s.r.Command(s.srv, args...)
	if err != nil && s.m != nil && s.m.log != nil {
		s.m.log.Error("topos: redis " + args[0] + " " + args[1] + ": " + err.Error())
	}
	return out, err
}

var errNoBranch = errors.New("no Via branch for this message")

// hash is an HMSET's arguments: the key, then field and value pairs.
type hash []string

// str adds a field when its value is not empty (TPS_REDIS_SET_ARGS).
func (h *hash) str(field, v string) {
	if v != "" {
		*h = append(*h, field, v)
	}
}

func (h *hash) num(field string, v int64) { *h = append(*h, field, strconv.FormatInt(v, 10)) }

func (s *redisStore) hmset(key string, h hash) error {
	if len(h) == 0 {
		return nil
	}
	_, err := s.cmd(append([]string{"HMSET", key}, h...)...)
	return err
}

func (s *redisStore) expire(key string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	_, err := s.cmd("EXPIRE", key, strconv.FormatInt(int64(d/time.Second), 10))
	return err
}

// hgetall reads a hash into a new tdata, the fields of names; found
// false when it does not exist.
func (s *redisStore) hgetall(key string) (*tdata, bool, error) {
	vals, err := s.cmd("HGETALL", key)
	if err != nil {
		return nil, false, err
	}
	td := &tdata{expires: -1}
	if len(vals) == 0 {
		return td, false, nil
	}
	if len(vals)%2 != 0 {
		return nil, false, errors.New("topos: odd HGETALL reply for " + key)
	}
	for i := 0; i < len(vals); i += 2 {
		switch vals[i] {
		case "rectime", "direction", "iflags": // not read back, as in Kamailio
		default:
			if f := td.fieldOK(vals[i]); f != nil {
				*f = vals[i+1]
			}
		}
	}
	return td, true, nil
}

// dialogKey is "d:z:" and the dialog's key, its letter made 'a'.
func dialogKey(td *tdata) (string, error) {
	k := td.aUUID
	if k == "" {
		k = td.bUUID
	}
	if k == "" {
		return "", errNoKey
	}
	if k[0] == 'b' {
		k = "a" + k[1:]
	}
	return "d:z:" + k, nil
}

// uidOf is the uid of a dialog key of md's or else sd's, its letter off.
func uidOf(tds ...*tdata) string {
	for _, td := range tds {
		for _, k := range []string{td.aUUID, td.bUUID} {
			if len(k) > 1 {
				return k[1:]
			}
		}
	}
	return ""
}

func (s *redisStore) insertDialog(td *tdata) error {
	key, err := dialogKey(td)
	if err != nil {
		return err
	}
	h := hash{}
	h.num("rectime", time.Now().Unix())
	for _, c := range []string{"a_callid", "a_uuid", "b_uuid", "a_contact", "b_contact", "as_contact", "bs_contact", "a_tag", "b_tag", "a_rr", "b_rr", "s_rr"} {
		h.str(c, *td.field(c))
	}
	h.num("iflags", int64(td.iflags))
	for _, c := range []string{"a_uri", "b_uri", "r_uri", "a_srcaddr", "b_srcaddr", "s_method", "s_cseq", "x_context"} {
		h.str(c, *td.field(c))
	}
	if err := s.hmset(key, h); err != nil {
		return err
	}
	exp := s.dialogExpire
	if td.sMethod == "SUBSCRIBE" {
		exp = time.Duration(max(td.expires, 0)) * time.Second
	}
	return s.expire(key, exp)
}

func (s *redisStore) insertBranch(td *tdata) error {
	if td.xVbranch1 == "" {
		return errNoBranch
	}
	key := "b:x:" + td.xVbranch1
	h := hash{}
	h.num("rectime", time.Now().Unix())
	h.str("a_callid", td.aCallID)
	h.str("a_uuid", td.aUUID)
	h.str("b_uuid", td.bUUID)
	h.num("direction", int64(td.direction))
	for _, c := range []string{"x_via", "x_vbranch", "x_rr", "y_rr", "s_rr", "x_uri", "x_tag", "s_method", "s_cseq",
		"a_contact", "b_contact", "as_contact", "bs_contact", "a_tag", "b_tag", "x_context"} {
		h.str(c, *td.field(c))
	}
	if err := s.hmset(key, h); err != nil {
		return err
	}
	return s.expire(key, s.branchExpire)
}

func (s *redisStore) loadDialog(md *tdata) (*tdata, bool, error) {
	key, err := dialogKey(md)
	if err != nil {
		return &tdata{expires: -1}, false, err
	}
	return s.hgetall(key)
}

// initialKey is the key that points at a dialog's INVITE (SUBSCRIBE)
// transaction.
func initialKey(method, callid, tag, uid string) string {
	return "b:x:" + method + ":" + callid + ":" + tag + ":x" + uid
}

func (s *redisStore) loadBranch(msg *sip.Msg, md *tdata, mode int) (*tdata, bool, error) {
	branch := md.xVbranch1
	if mode == 0 {
		if branch == "" {
			return nil, false, errNoBranch
		}
	} else {
		if md.aCallID == "" || md.bTag == "" {
			return nil, false, errors.New("no Call-ID or To tag for this message")
		}
		tag := md.aTag
		if md.direction == downstream {
			tag = md.bTag
		}
		method := "INVITE"
		if md.method == sip.MethodSUBSCRIBE || md.method == sip.MethodNOTIFY {
			method = "SUBSCRIBE"
		}
		id, _, err := s.hgetall(initialKey(method, md.aCallID, tag, uidOf(md)))
		if err != nil {
			return nil, false, err
		}
		branch = id.xVbranch1
	}
	if branch == "" {
		return &tdata{expires: -1}, false, nil
	}
	return s.hgetall("b:x:" + branch)
}

func (s *redisStore) updateBranch(msg *sip.Msg, md, sd *tdata, mode int) error {
	if sd.aUUID == "" && sd.bUUID == "" {
		return errNoKey
	}
	if md.method == sip.MethodINVITE || md.method == sip.MethodSUBSCRIBE {
		if md.xVbranch1 == "" {
			return errNoBranch
		}
		key := initialKey(md.sMethod, md.aCallID, md.bTag, uidOf(md, sd))
		h := hash{}
		h.num("rectime", time.Now().Unix())
		h.str("x_vbranch", md.xVbranch1)
		if err := s.hmset(key, h); err != nil {
			return err
		}
		if err := s.expire(key, s.branchExpire); err != nil {
			return err
		}
	}
	h := hash{}
	if mode&dbuContact != 0 {
		h.str("a_contact", md.aContact)
		h.str("b_contact", md.bContact)
	}
	if code := msg.StatusCode(); mode&dbuRplAttrs != 0 && !msg.IsRequest() && code >= 180 && code < 200 {
		h.str("y_rr", md.bRR)
		h.str("b_tag", md.bTag)
	}
	return s.hmset("b:x:"+sd.xVbranch1, h)
}

func (s *redisStore) updateDialog(msg *sip.Msg, md, sd *tdata, mode int) error {
	key, err := dialogKey(sd)
	if err != nil {
		return err
	}
	h := hash{}
	if mode&dbuContact != 0 {
		h.str("a_contact", md.aContact)
		h.str("b_contact", md.bContact)
	}
	if code := msg.StatusCode(); mode&dbuRplAttrs != 0 && !msg.IsRequest() && sd.bTag == "" && code >= 200 && code < 300 {
		if sd.iflags&iflagDlgOn == 0 {
			h.str("b_rr", md.bRR)
		}
		h.str("b_tag", md.bTag)
		h.num("iflags", int64(sd.iflags|iflagDlgOn))
	}
	if sd.bTag != "" && mode&(dbuBRR|dbuARR) != 0 {
		if (md.direction == downstream && !msg.IsRequest()) || (md.direction == upstream && msg.IsRequest()) {
			if sd.iflags&iflagDlgOn == 0 && mode&dbuBRR != 0 {
				h.str("b_rr", md.bRR)
			}
		} else if sd.iflags&iflagDlgOn == 0 && mode&dbuARR != 0 {
			h.str("a_rr", md.aRR)
			h.str("s_rr", md.sRR)
		}
	}
	if mode&dbuTime != 0 {
		h.num("rectime", time.Now().Unix())
	}
	if err := s.hmset(key, h); err != nil || len(h) == 0 {
		return err
	}
	if mode&dbuTime != 0 {
		return s.expire(key, time.Duration(max(md.expires, 0))*time.Second)
	}
	return nil
}

func (s *redisStore) endDialog(md, sd *tdata) error {
	key, err := dialogKey(sd)
	if err != nil {
		return err
	}
	h := hash{}
	h.num("rectime", time.Now().Unix())
	h.num("iflags", 0)
	if err := s.hmset(key, h); err != nil {
		return err
	}
	return s.expire(key, s.branchExpire) // ended: kept for a transaction's life
}

// clean: Redis expires the keys itself.
func (s *redisStore) clean(time.Time) error { return nil }
