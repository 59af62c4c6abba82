package wire

import "testing"

const msg = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\n" +
	"To: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

// TestApply: edits apply against the original offsets in one pass —
// insertions at one offset in the order made and before a deletion there,
// an edit inside a region deleted before it dropped — and Prepare refuses
// what topoh and topos leave alone.
func TestApply(t *testing.T) {
	var w Msg
	if !w.Prepare([]byte(msg)) {
		t.Fatal("an OPTIONS refused")
	}
	w.InsertHeader("X-A", []byte("1"))
	w.InsertHeader("X-B", []byte("2"))
	w.RemoveHeader(0) // the Via, at the offset of the insertions
	w.Replace(w.M.CallID(), []byte("y"))
	w.At(w.M.Offset(w.M.CallID()), 1, []byte("z")) // inside the region replaced: dropped
	w.AppendHeader("X-C", []byte("3"))
	want := "OPTIONS sip:a@b SIP/2.0\r\nX-A: 1\r\nX-B: 2\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:b@c>\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\nX-C: 3\r\n\r\n"
	if got := string(w.Apply(nil)); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if !w.Edited() || w.HasVia2() {
		t.Error("Edited or HasVia2 wrong")
	}
	for _, bad := range []string{"garbage", "REGISTER sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"} {
		if w.Prepare([]byte(bad)) {
			t.Errorf("prepared %q", bad)
		}
	}
}
