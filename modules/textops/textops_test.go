package textops_test

import (
	"strconv"
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

// TestMultipart: set_body_multipart makes the SDP the first part under
// Kamailio's boundary, append_body_part adds parts, get_body_part(_raw),
// remove_body_part and filter_body find them by type.
func TestMultipart(t *testing.T) {
	k := moduletest.New(t, `loadmodule "textops.so"`)
	sdp := "v=0\r\nc=IN IP4 192.0.2.10\r\n"
	inv := strings.ReplaceAll(strings.TrimSuffix(moduletest.Invite, "Content-Length: 0\n\n"), "\n", "\r\n") +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	k.Request(inv)
	k.Run([]moduletest.Case{
		{"textops.append_body_part", []any{"x", "text/plain"}, "-1"}, // not multipart yet
		{"textops.set_body_multipart_mode", nil, "1"},
		{"textops.append_body_part_cd", []any{"ISUP data", "application/isup", "signal;handling=optional"}, "1"},
		{"textops.append_body_part_hex", []any{"01 02 0a", "application/octet-stream"}, "1"},
		{"textops.append_body_part_hex", []any{"0g", "application/octet-stream"}, "-1"},
	})
	want := "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--unique-boundary-1\r\n" +
		"Content-Type: application/isup\r\nContent-Disposition: signal;handling=optional\r\n\r\nISUP data\r\n--unique-boundary-1\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n\x01\x02\n\r\n--unique-boundary-1\r\n"
	out := k.Out()
	if !strings.HasSuffix(out, "\r\n\r\n"+want) || !strings.Contains(out, "Content-Type: multipart/mixed;boundary=\"unique-boundary-1\"\r\n") ||
		!strings.Contains(out, "Mime-Version: 1.0\r\n") || !strings.Contains(out, "Content-Length: "+strconv.Itoa(len(want))+"\r\n") {
		t.Fatalf("multipart body:\n%q", out)
	}
	k.Run([]moduletest.Case{
		{"textops.get_body_part", []any{"application/isup", "$var(p)"}, "1"},
		{"pv.get", []any{"$var(p)"}, "Content-Disposition: signal;handling=optional\r\n\r\nISUP data\r\n"},
		{"textops.get_body_part_raw", []any{"application/sdp", "$var(r)"}, "1"},
		{"pv.get", []any{"$var(r)"}, "Content-Type: application/sdp\r\n\r\n" + sdp + "\r\n--unique-boundary-1\r\n"},
		{"textops.get_body_part", []any{"image/png", "$var(p)"}, "-1"},
		{"textops.remove_body_part", []any{"application/isup"}, "1"},
		{"textops.set_body_multipart_mode", nil, "1"}, // multipart already: nothing to do
	})
	if out := k.Out(); strings.Contains(out, "ISUP") || !strings.Contains(out, "application/octet-stream") {
		t.Errorf("remove_body_part:\n%q", out)
	}
	k.Run([]moduletest.Case{{"textops.filter_body", []any{"application/sdp"}, "1"}})
	if out := k.Out(); !strings.HasSuffix(out, "\r\n\r\n"+sdp) {
		t.Errorf("filter_body:\n%q", out)
	}
	// A body that is not multipart is its own part; set_body_multipart
	// with content and a boundary of its own.
	k.Request(inv)
	k.Run([]moduletest.Case{
		{"textops.get_body_part", []any{"application/sdp", "$var(p)"}, "1"},
		{"pv.get", []any{"$var(p)"}, sdp},
		{"textops.filter_body", []any{"application/sdp"}, "-1"},
		{"textops.set_body_multipart_boundary", []any{"-bad"}, "-1"},
		{"textops.set_body_multipart", []any{"hello", "text/plain", "b42"}, "1"},
	})
	if out := k.Out(); !strings.HasSuffix(out, "\r\n\r\n--b42\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b42\r\n") {
		t.Errorf("set_body_multipart(hello, text/plain, b42):\n%q", out)
	}
}
