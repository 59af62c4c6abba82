package jsonrpcs

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The FIFO's stream splits into documents: several in one write, one
// across reads, braces inside strings, and garbage skipped to the next line.
func TestDocReader(t *testing.T) {
	in := "garbage line\n{\"a\":\"}{\\\"\"}{\"b\":[1,{\"c\":2}]}\n  [{\"d\":1}]\nnot json\n{\"e\":1}"
	d := newDocReader(iotest.OneByteReader(strings.NewReader(in)))
	want := []string{`{"a":"}{\""}`, `{"b":[1,{"c":2}]}`, `[{"d":1}]`, `{"e":1}`}
	for _, w := range want {
		doc, err := d.next()
		if err != nil || string(doc) != w {
			t.Fatalf("next: %q %v, want %q", doc, err, w)
		}
	}
	if _, err := d.next(); err != io.EOF {
		t.Errorf("after the last document: %v, want EOF", err)
	}
}
