package tm

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Trans is a transaction: the server transaction of a request received and
// the client transactions (branches) it was relayed on. Its lock is held by
// whoever runs a route with it, so tm's functions called from the script
// use it without locking again.
type Trans struct {
	mu sync.Mutex
	tm *Module

	id     uint64 // for the branches' Via, by which replies find it
	key    uint64 // the server-side matching key of the request
	method sip.Method
	branch []byte // the request's top Via branch, to check a key match
	req    []byte // the request as received
	pkt    transport.Packet
	dst    netip.AddrPort // where replies go over UDP
	toTag  [17]byte
	ruri   []byte // $ru when it was relayed: failure_route starts from it
	// uacReply is the final reply received for a request of tm's own, as
	// it came, for its Done.
	uacReply []byte
	flags    uint64
	// carried is the modules' request state that goes with the
	// transaction (rr's Record-Route, router.Carrier), for branches made
	// in failure_route; saved is the same around a branch_route.
	carried, saved []byte
	// contacts t_load_contacts ordered and t_next_contacts has not taken,
	// and the flows t_next_contacts kept back
	contacts, flows []router.Branch

	onReply, onBranch, onFailure, onBranchFailure string
	fr, frInv                                     time.Duration // t_set_fr's, 0 for the module's
	rt1, rt2                                      time.Duration // t_set_retr's
	opts                                          opts
	created, lifeEnd                              time.Time // lifeEnd: max_inv_lifetime or max_noninv_lifetime after created
	// edited is the request with the edits t_save_lumps kept, for the
	// routes that run on it later (failure_route); nil: as received.
	edited []byte
	// dropMode is t_drop_replies' mode, 0 for none; round and prevRound
	// are where the branches of the last two relays start.
	dropMode         byte
	round, prevRound int
	cancelReason     []byte // the Reason lines of the CANCEL received, for the CANCELs sent
	xflags           [2]uint64
	callID           []byte // in req: the request's Call-ID, for t_reply_callid
	cseq             uint32
	// suspended: t_suspend holds the request until t_continue, or until
	// suspendTimer ends it.
	suspended    bool
	suspendTimer *time.Timer
	uac          bool // a request of tm's own (t_uac_send): nobody upstream
	// done, for a request of tm's own sent through Request, is told its
	// final status once.
	done func(code int, reply []byte)
	// xavps are the request's XAVPs when it was relayed, for the routes
	// run later on it; failure_route's changes are kept.
	xavps router.XAVPs
	// xavpsOut: xavps are lent to a reply's context (swapXAVPs)
	xavpsOut bool

	branches  []*branch
	first     branch     // the first branch, made with t (most requests have one)
	branchArr [1]*branch // and the backing of branches for it
	firstLive int        // the first branch whose reply still counts (failure_reply_mode)
	status    int        // the last status sent upstream, 0 for none
	final     bool
	last      []byte // the last reply sent upstream, sent again to a retransmission
	canceled  bool
	inFailure bool

	timer   *time.Timer // wait timer after the final reply, and timer G
	retrG   time.Duration
	ending  bool      // the wait timer runs
	end     time.Time // when the wait timer removes t
	removed bool
}

// branch is one client transaction.
type branch struct {
	t      *Trans
	idx    int
	out    []byte // the request as sent
	hop    router.Hop
	status int // the highest status received; a local 408/487 once done without one
	reply  []byte
	local  bool // status is a local timeout / cancel, not a received reply
	done   bool
	ack    []byte // the ACK sent for a non-2xx final reply
	// dropped: t_drop_replies took its reply out of the final choice
	dropped bool
	// the path, +sip.instance and branch flags the branch was made with
	// (t_reuse_branch, t_next_contact_flow; its URI is out's request
	// line); nil when empty, so that most branches cost nothing here
	path, instance []byte
	bflags         uint64
	replica        bool // t_replicate's: its replies go nowhere

	timer  *time.Timer
	retrIn time.Duration // the next retransmission interval, 0: none
	retrAt time.Time
	frAt   time.Time

	cancel     []byte // the CANCEL sent, retransmitted until it is answered
	cancelWant bool   // cancel once a provisional reply comes
	cancelDone bool
}

// Count is the number of transactions in memory.
func (tm *Module) Count() int { return int(tm.Stats.Active.Load()) }

// carriedRoom is the room newTrans leaves for the modules' carried state
// beyond the From tag; more is allocated when needed.
const carriedRoom = 64

var magic = []byte("z9hG4bK")

// requestKey is the matching key of a request (RFC 3261 §17.2.3): the top
// Via's branch and sent-by with the method, ACK counting as INVITE; for a
// branch without the magic cookie (RFC 2543), the Call-ID, From tag, CSeq
// number, request URI and top Via. asMethod overrides the method (CANCEL
// looks for its INVITE).
func requestKey(m *sip.Msg, asMethod sip.Method) (uint64, bool) {
	v := m.TopVia()
	if v == nil {
		return 0, false
	}
	meth := asMethod
	if meth == sip.MethodOther {
		meth = m.Method()
		if meth == sip.MethodACK {
			meth = sip.MethodINVITE
		}
	}
	h := router.FNV1aUint(router.FNVOffset, uint64(meth))
	if meth == sip.MethodOther {
		h = router.FNV1a(h, m.MethodName())
	}
	if bytes.HasPrefix(v.Branch, magic) {
		h = router.FNV1a(router.FNV1a(h, v.Branch), v.Host)
		return router.FNV1aUint(h, uint64(v.Port)), true
	}
	h = router.FNV1a(router.FNV1a(h, m.CallID()), m.From().Tag)
	h = router.FNV1aUint(h, uint64(m.CSeq()))
	h = router.FNV1a(router.FNV1a(h, m.RURIText()), v.Raw)
	return h, true
}

// request is what tm keeps on a request context: the routes named by
// t_on_* before the transaction exists, and while routes run in its
// context, which branch and reply they run for.
type request struct {
	onReply, onFailure, onBranch, onBranchFailure string
	branchIdx                                     int // $T_branch_idx
	replyCode                                     int // $T_reply_code: the reply a failure/onreply route runs for
	key                                           uint64
	// contacts t_load_contacts sorted for serial forking, highest q
	// first; t_next_contacts takes them a q-value group at a time.
	contacts []router.Branch
	flows    []router.Branch // the flows t_next_contacts kept back
	// fr, frInv are t_set_fr's timers (0: the module's); auto100 is
	// t_set_auto_inv_100's say (1 on, -1 off, 0 the module's).
	fr, frInv time.Duration
	t1, t2    time.Duration // t_set_retr's, 0 for the module's
	auto100   int8
	opts      opts
}

func (r *request) Reset() {
	contacts, flows := r.contacts[:0], r.flows[:0]
	*r = request{contacts: contacts, flows: flows}
}

var requestSlot = router.NewSlot[request]()

func state(c *router.Ctx) *request { return requestSlot.Of(c) }

// BranchIndex is $T_branch_idx: the branch a route runs for.
func BranchIndex(c *router.Ctx) int { return state(c).branchIdx }

// ReplyCode is the status of the reply a failure or onreply route runs
// for, 0 outside one.
func ReplyCode(c *router.Ctx) int { return state(c).replyCode }

// Key is the matching key of c's request, computed once per message:
// t_precheck_trans, t_check_trans and t_relay all look it up.
func Key(c *router.Ctx) (uint64, bool) {
	if state(c).key != 0 {
		return state(c).key, true
	}
	k, ok := requestKey(c.Msg, sip.MethodOther)
	if ok {
		k |= 1 // never 0, which means "not computed"
		state(c).key = k
	}
	return k, ok
}

// find finds the server transaction of c's request; asMethod INVITE finds
// a CANCEL's INVITE.
func (tm *Module) find(c *router.Ctx, asMethod sip.Method) *Trans {
	k, ok := Key(c)
	if asMethod != sip.MethodOther {
		k, ok = requestKey(c.Msg, asMethod)
		k |= 1
	}
	if !ok {
		return nil
	}
	s := &tm.byKey[k%shards]
	s.mu.Lock()
	t := s.m[k]
	s.mu.Unlock()
	if t != nil && !bytes.Equal(t.branch, c.Msg.TopVia().Branch) {
		return nil // a hash collision
	}
	return t
}

// newTrans makes the transaction of c's request, or finds the one a
// retransmission belongs to (retr true). The transaction comes back
// locked.
func (tm *Module) newTrans(c *router.Ctx) (t *Trans, retr bool) {
	if t := tm.find(c, sip.MethodOther); t != nil {
		t.mu.Lock()
		return t, true
	}
	k, ok := Key(c)
	if !ok {
		return nil, false
	}
	m := c.Msg
	// Everything other workers may read is set before t is in the tables.
	t = &Trans{tm: tm, id: tm.nextID.Add(1), key: k, method: m.Method()}
	// One buffer for the request, then $ru and the modules' state fork
	// keeps (carriedRoom: a Record-Route's ftag and parameters).
	t.req = append(make([]byte, 0, len(m.Bytes())+len(c.RURIText())+len(m.From().Tag)+carriedRoom), m.Bytes()...)
	t.branches = t.branchArr[:0]
	vb := m.TopVia().Branch
	t.branch = vb
	if i := m.Offset(vb); i >= 0 {
		t.branch = t.req[i : i+len(vb)]
	}
	t.pkt = *c.Pkt
	t.pkt.Buf = nil
	t.dst = c.ReplyDst()
	copy(t.toTag[:], tm.salt[:])
	t.toTag[8] = '-'
	idb := [4]byte{byte(t.id), byte(t.id >> 8), byte(t.id >> 16), byte(t.id >> 24)}
	hex.Encode(t.toTag[9:], idb[:])
	t.onReply, t.onBranch, t.onFailure, t.onBranchFailure = state(c).onReply, state(c).onBranch, state(c).onFailure, state(c).onBranchFailure
	t.fr, t.frInv = state(c).fr, state(c).frInv
	t.rt1, t.rt2 = state(c).t1, state(c).t2
	t.opts = state(c).opts
	t.callID, t.cseq = callIDOf(t.req, m)
	t.created = time.Now()
	t.lifeEnd = t.created.Add(t.lifetime())
	t.mu.Lock()

	s := &tm.byKey[k%shards]
	s.mu.Lock()
	if old := s.m[k]; old != nil { // another worker made it meanwhile
		s.mu.Unlock()
		old.mu.Lock()
		return old, true
	}
	s.m[k] = t
	s.mu.Unlock()
	tm.track(t)
	return t, false
}

// track puts t in the table by id, where replies find it, and counts it.
func (tm *Module) track(t *Trans) {
	ids := &tm.byID[t.id%shards]
	ids.mu.Lock()
	ids.m[t.id] = t
	ids.mu.Unlock()
	tm.Stats.Active.Add(1)
	tm.Stats.Created.Add(1)
}

// byBranch finds the transaction and branch of a reply by its top Via
// branch: "z9hG4bK" + salt + "." + id (hex) + "." + branch index.
func (tm *Module) byBranch(b []byte) (*Trans, int) {
	if len(b) < len(magic)+len(tm.salt)+4 || !bytes.Equal(b[:len(magic)], magic) || !bytes.Equal(b[len(magic):len(magic)+len(tm.salt)], tm.salt[:]) {
		return nil, -1
	}
	b = b[len(magic)+len(tm.salt):]
	if b[0] != '.' {
		return nil, -1
	}
	b = b[1:]
	dot := bytes.IndexByte(b, '.')
	if dot <= 0 {
		return nil, -1
	}
	id, err := strconv.ParseUint(string(b[:dot]), 16, 64)
	if err != nil {
		return nil, -1
	}
	idx, err := strconv.Atoi(string(b[dot+1:]))
	if err != nil {
		return nil, -1
	}
	s := &tm.byID[id%shards]
	s.mu.Lock()
	t := s.m[id]
	s.mu.Unlock()
	return t, idx
}

// appendBranchID writes the Via branch of branch idx of t.
func (tm *Module) appendBranchID(dst []byte, t *Trans, idx int) []byte {
	dst = append(dst, magic...)
	dst = append(dst, tm.salt[:]...)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, t.id, 16)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, int64(idx), 10)
}

// remove takes t out of the tables; t is locked.
func (t *Trans) remove() {
	if t.removed {
		return
	}
	t.removed = true
	s := &t.tm.byKey[t.key%shards]
	s.mu.Lock()
	if s.m[t.key] == t {
		delete(s.m, t.key)
	}
	s.mu.Unlock()
	ids := &t.tm.byID[t.id%shards]
	ids.mu.Lock()
	delete(ids.m, t.id)
	ids.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	if t.suspendTimer != nil {
		t.suspendTimer.Stop()
	}
	for _, b := range t.branches {
		if b.timer != nil {
			b.timer.Stop()
		}
	}
	t.tm.Stats.Active.Add(-1)
}

// upstream sends a reply to the request's sender, the way it came.
func (t *Trans) upstream(e *router.Env, out []byte) error {
	return e.Transport.Reply(&t.pkt, t.dst, out)
}
