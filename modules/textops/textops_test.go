package textops_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\n" +
	"Max-Forwards: 70\n" +
	"From: <sip:alice@example.com>;tag=f1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"User-Agent: friendly-scanner\n" +
	"X-Dup: one\n" +
	"X-Dup: two\n" +
	"X-Other: 3\n" +
	"Content-Type: application/sdp\n" +
	"Content-Length: 4\n\nv=0\n"

func TestTextops(t *testing.T) {
	k := moduletest.New(t, `loadmodule "textops.so"`)
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"textops.is_present_hf", []any{"x-dup"}, "1"}, {"textops.is_present_hf_re", []any{"^X-D"}, "1"},
		{"textops.search", []any{"friendly-scanner"}, "1"}, {"textops.search", []any{"nothing here"}, "-1"},
		{"textops.search_body", []any{"^v=0"}, "1"},
		{"textops.has_body", nil, "1"}, {"textops.has_body_type", []any{"application/sdp"}, "1"},
		{"textops.search_hf", []any{"X-Dup", "two", "l"}, "1"}, {"textops.search_hf", []any{"X-Dup", "two", "f"}, "-1"},
		{"textops.starts_with", []any{"abc", "ab"}, "1"}, {"textops.ends_with", []any{"abc", "bc"}, "1"},
		{"textops.in_list", []any{"b", "a, b,c", ","}, "1"}, {"textops.in_list_prefix", []any{"bcd", "a,bc", ","}, "1"},
		{"textops.str_find", []any{"abc", "c"}, "3"}, {"textops.str_ifind", []any{"ABC", "c"}, "3"},
		{"textops.cmp_str", []any{"a", "a"}, "1"}, {"textops.cmp_istr", []any{"ABC", "abc"}, "1"},
		{"textops.remove_hf_idx", []any{"X-Dup", 0}, "1"}, {"textops.remove_hf_re", []any{"^X-O"}, "1"},
		{"textops.set_body", []any{"hello", "text/plain"}, "1"},
	})
	out := k.Out()
	if strings.Contains(out, "X-Dup: one") || !strings.Contains(out, "X-Dup: two") || strings.Contains(out, "X-Other") {
		t.Errorf("headers not removed as asked:\n%s", out)
	}
	if !strings.HasSuffix(out, "\r\n\r\nhello") || !strings.Contains(out, "Content-Type: text/plain\r\n") || !strings.Contains(out, "Content-Length: 5\r\n") {
		t.Errorf("set_body:\n%s", out)
	}
	k.Request(invite)
	k.Call("textops.remove_hf", "X-Dup")
	if out := k.Out(); strings.Contains(out, "X-Dup") {
		t.Errorf("remove_hf left:\n%s", out)
	}
}
