// Package wire rewrites a message's bytes the way Kamailio's lumps do, for
// the modules that work on messages as they cross the wire (topoh, topos:
// Kamailio's SREV_NET_DATA_IN/OUT): the message is parsed once, edits are
// recorded against its original offsets and applied in one pass.
package wire

import (
	"bytes"
	"slices"

	"github.com/kemi-sip/kemi/core/sip"
)

// edit replaces del bytes at off with arena[s:e].
type edit struct {
	off, del, s, e int
	seq            int
}

// Msg is one message being rewritten, with its edits; pool it; sends
// happen on every goroutine.
type Msg struct {
	M     sip.Msg
	buf   []byte
	ed    []edit
	arena []byte
	// Tmp is scratch space for the caller (a value being made, before
	// Replace copies it).
	Tmp []byte
}

// Prepare parses b as Kamailio's topoh and topos do before they touch a
// message: a SIP request or reply with Via, From, To, Call-ID and CSeq,
// not a REGISTER or PUBLISH (left to a local registrar). False: leave b
// as it is.
func (w *Msg) Prepare(b []byte) bool {
	w.ed, w.arena, w.buf = w.ed[:0], w.arena[:0], b
	m := &w.M
	if m.Parse(b) != nil || m.IsHTTP() || m.TopVia() == nil || len(m.CallID()) == 0 {
		return false
	}
	if m.IsRequest() && !bytes.Equal(m.Version(), []byte("SIP/2.0")) {
		return false
	}
	switch m.CSeqMethod() {
	case sip.MethodREGISTER, sip.MethodPUBLISH:
		return false
	}
	return true
}

// Bytes is the message as received, without the edits.
func (w *Msg) Bytes() []byte { return w.buf }

// Edited reports whether an edit was recorded.
func (w *Msg) Edited() bool { return len(w.ed) > 0 }

// Replace records that sub, a part of the message, becomes what parts
// make; nothing when sub is not a part of it.
func (w *Msg) Replace(sub []byte, parts ...[]byte) {
	if off := w.M.Offset(sub); off >= 0 {
		w.At(off, len(sub), parts...)
	}
}

// At records that del bytes at off become what parts make; edits at one
// offset apply in the order they were made, insertions before a deletion.
func (w *Msg) At(off, del int, parts ...[]byte) {
	s := len(w.arena)
	for _, p := range parts {
		w.arena = append(w.arena, p...)
	}
	w.ed = append(w.ed, edit{off: off, del: del, s: s, e: len(w.arena), seq: len(w.ed)})
}

// RemoveHeader records that header field i goes, folded lines included.
func (w *Msg) RemoveHeader(i int) {
	off, n := w.M.HeaderSpan(i)
	w.At(off, n, nil)
}

// AppendHeader records a header line ("Name: value", its line end added)
// after the last header.
func (w *Msg) AppendHeader(name string, value []byte) {
	w.At(w.M.HeadersEnd(), 0, []byte(name), []byte(": "), value, []byte("\r\n"))
}

// InsertHeader records a header line before the first header.
func (w *Msg) InsertHeader(name string, value []byte) {
	off, _ := w.M.HeaderSpan(0)
	w.At(off, 0, []byte(name), []byte(": "), value, []byte("\r\n"))
}

// Apply appends the message with its edits to dst (a new buffer when dst
// is nil). An edit that starts inside a region an earlier one deleted is
// dropped.
func (w *Msg) Apply(dst []byte) []byte {
	slices.SortStableFunc(w.ed, func(a, b edit) int {
		if a.off != b.off {
			return a.off - b.off
		}
		if (a.del == 0) != (b.del == 0) {
			if a.del == 0 {
				return -1
			}
			return 1
		}
		return a.seq - b.seq
	})
	if dst == nil {
		n := len(w.buf)
		for _, e := range w.ed {
			n += e.e - e.s - e.del
		}
		dst = make([]byte, 0, max(n, 0))
	}
	pos := 0
	for _, e := range w.ed {
		if e.off < pos {
			continue
		}
		dst = append(dst, w.buf[pos:e.off]...)
		dst = append(dst, w.arena[e.s:e.e]...)
		pos = e.off + e.del
	}
	return append(dst, w.buf[pos:]...)
}

// HasVia2 reports a second via-parm (in the top Via header or another).
func (w *Msg) HasVia2() bool { return w.M.HasVia2() }
