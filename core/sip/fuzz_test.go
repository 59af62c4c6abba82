package sip

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the parser arbitrary bytes. It must never panic or read
// outside the buffer; a message it accepts must survive every accessor, and
// a reply built to it and the message forwarded with edits must parse again.
// Seeds: testdata/fuzz/FuzzParse and every message of the torture corpus and
// the benchmarks.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/torture/*/*.sip", "testdata/bench/*.sip"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	var m, out Msg
	buf := make([]byte, 0, 4096)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := m.Parse(data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			_ = err.Error()
			if m.CanReply() {
				buf = AppendReply(buf[:0], &m, &Reply{Code: 400, Reason: "Bad Request", ToTag: []byte("t")})
				if err := out.Parse(buf); err != nil {
					t.Fatalf("400 to a message that can take a reply does not parse: %v\n%q", err, buf)
				}
			}
			return
		}
		_ = dump(&m)
		if m.IsRequest() {
			buf = AppendReply(buf[:0], &m, &Reply{Code: 200, Reason: "OK", ToTag: []byte("t"), Source: []byte("192.0.2.1"), SourcePort: 5060})
			if err := out.Parse(buf); err != nil {
				t.Fatalf("reply does not parse: %v\n%q", err, buf)
			}
			if string(out.CallID()) != string(m.CallID()) || out.CSeq() != m.CSeq() {
				t.Fatalf("reply changed Call-ID or CSeq:\n%q", buf)
			}
			_ = m.SetViaReceived([]byte("192.0.2.1"), 5060, false)
		} else {
			_ = m.RemoveTopVia()
		}
		_ = m.PushVia([]byte("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzz"))
		_ = m.AddRecordRoute([]byte("<sip:127.0.0.1;lr>"))
		_ = m.SetMaxForwards(10)
		_ = m.AppendHeader([]byte("X-Fuzz: 1"))
		buf = m.AppendTo(buf[:0])
		if err := out.Parse(buf); err != nil {
			t.Fatalf("forwarded message does not parse: %v\nin:  %q\nout: %q", err, data, buf)
		}
		if out.MaxForwards() != 10 || string(out.TopVia().Branch) != "z9hG4bKfuzz" {
			t.Fatalf("edits lost: max-forwards %d, top branch %q\n%q", out.MaxForwards(), out.TopVia().Branch, buf)
		}
	})
}
