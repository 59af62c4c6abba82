package hdr_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const invite = "INVITE sip:bob@127.0.0.1 SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\n" +
	"Max-Forwards: 70\n" +
	"Route: <sip:127.0.0.1;lr>\n" +
	"From: <sip:alice@example.com>;tag=f1\n" +
	"To: <sip:bob@127.0.0.1>\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"X-Dup: one\n" +
	"X-Dup: two\n" +
	"Content-Length: 0\n\n"

func TestHeaders(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"hdr.is_present", []any{"X-Dup"}, "1"}, {"hdr.get", []any{"X-Dup"}, "one"}, {"hdr.get_idx", []any{"X-Dup", 1}, "two"},
		{"hdr.get_idx", []any{"X-Dup", -1}, "two"}, {"hdr.get_idx", []any{"X-Dup", 2}, ""}, {"hdr.gete", []any{"X-None"}, ""},
		{"hdr.getw", []any{"X-None"}, "<<null>>"},
		{"hdr.remove", []any{"Route"}, "1"}, {"hdr.remove", []any{"X-None"}, "-1"}, {"hdr.append", []any{"X-New: 1\r\n"}, "1"},
		{"hdr.append", []any{"no colon"}, "-1"}, {"hdr.insert_before", []any{"X-First: 0", "Max-Forwards"}, "1"},
		{"hdr.insert", []any{"X-Top: t"}, "1"}, {"hdr.rmappend", []any{"X-Dup", "X-Dup: three"}, "1"},
	})
	out := k.Out()
	for _, want := range []string{"X-First: 0\r\nMax-Forwards: 70\r\n", "X-New: 1\r\n", "X-Top: t\r\n", "X-Dup: three\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the forwarded message lacks %q:\n%s", want, out)
		}
	}
	for _, gone := range []string{"Route:", "X-Dup: one"} {
		if strings.Contains(out, gone) {
			t.Errorf("%q not removed:\n%s", gone, out)
		}
	}
}

// TestAppendToReply: the header goes into the next reply the proxy makes.
func TestAppendToReply(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sl.so"`)
	k.Request(invite)
	k.Call("hdr.append_to_reply", "X-Reason: testing\r\n")
	k.Call("sl.send_reply", 403, "Forbidden")
	if r := k.Reply(); r.Header("X-Reason") != "testing" {
		t.Errorf("reply:\n%s", r.Sent.Msg)
	}
}

// TestMatchContent: hdr.match_content over the headers of a name, by
// operator and by which header decides.
func TestMatchContent(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(moduletest.Invite, "Max-Forwards: 70\n",
		"Max-Forwards: 70\nX-Tag: Alpha-one\nX-Tag: beta\nX-Tag: alpha-two \n", 1))
	k.Run([]moduletest.Case{
		{"hdr.match_content", []any{"X-Tag", "sw", "ALPHA", "f"}, "1"},
		{"hdr.match_content", []any{"X-Tag", "sw", "alpha", "l"}, "1"},
		{"hdr.match_content", []any{"X-Tag", "sw", "alpha", "a"}, "-1"},
		{"hdr.match_content", []any{"X-Tag", "eq", "beta", "o"}, "1"},
		{"hdr.match_content", []any{"X-Tag", "eq", "beta", "f"}, "-1"},
		{"hdr.match_content", []any{"X-Tag", "in", "TWO", "l"}, "1"},
		{"hdr.match_content", []any{"X-Tag", "ne", "gamma", "a"}, "1"},
		{"hdr.match_content", []any{"X-None", "ne", "gamma", "a"}, "-1"},
		{"hdr.match_content", []any{"Max-Forwards", "eq", "70", "f"}, "1"},
		{"hdr.match_content", []any{"X-Tag", "re", "a.*", "f"}, "-1"},
		{"hdr.match_content", []any{"X-Tag", "eq", "beta", "x"}, "-1"},
	})
}
