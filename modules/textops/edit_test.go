package textops_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// sdp is an INVITE with a two-line SDP body.
const sdp = "INVITE sip:+4912345@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-ed\r\n" +
	"From: <sip:alice@example.com>;tag=f1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: edit-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Privacy: id; header\r\n" +
	"X-Info: data-one\r\n" +
	"X-Info: other\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 50\r\n\r\n" +
	"v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n"

func TestReplaceAndSubst(t *testing.T) {
	k := moduletest.New(t, `loadmodule "textops.so"`)
	k.Request(sdp)
	k.Run([]moduletest.Case{
		{"textops.replace_body_all", []any{"192\\.0\\.2\\.10", "198.51.100.1"}, "1"},
		{"textops.replace_hdrs", []any{"data-", "DATA-"}, "1"},
		{"textops.replace_body", []any{"nothing", "x"}, "-1"},
		{"textops.subst_hf", []any{"To", "/bob/robert/", "f"}, "1"},
		{"textops.search_str", []any{"abc123", "[0-9]+$"}, "1"},
		{"textops.search_str", []any{"abc", "[0-9]"}, "-1"},
		{"textops.is_privacy", []any{"header"}, "1"},
		{"textops.is_privacy", []any{"user"}, "-1"},
	})
	out := k.Out()
	for _, want := range []string{"X-Info: DATA-one\r\n", "To: <sip:robert@example.com>\r\n", "c=IN IP4 198.51.100.1\r\n", "Content-Length: 52\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "192.0.2.10\r\nm=") {
		t.Errorf("the body still has the old address:\n%s", out)
	}

	k.Request(sdp)
	k.Run([]moduletest.Case{
		{"textops.subst_uri", []any{`/^sip:\+49([0-9]+)@(.*)$/sip:0\1@\2;user=phone/`}, "1"},
		{"pv.get", []any{"$ru"}, "sip:012345@example.com;user=phone"},
		{"textops.subst_user", []any{"/^0/00/"}, "1"},
		{"pv.get", []any{"$rU"}, "0012345"},
		{"textops.subst_uri", []any{"/nomatch/x/"}, "-1"},
		{"textops.subst", []any{"bad expression"}, "-1"},
		{"textops.subst_body", []any{"/AUDIO/video/gi"}, "1"},
	})
	if out := k.Out(); !strings.Contains(out, "m=video 4000") {
		t.Errorf("subst_body with i:\n%s", out)
	}

	k.Request(sdp)
	k.Run([]moduletest.Case{
		{"textops.replace_str", []any{"X-Info", "X-Data", "a"}, "1"},
		{"textops.replace_body_str", []any{"4000", "5000", "f"}, "1"},
		{"textops.search_append_body", []any{"v=0\r\n", "o=- 1 1 IN IP4 192.0.2.10\r\n"}, "1"},
		{"textops.remove_hf_match", []any{"Privacy", "in", "head"}, "1"},
		{"textops.remove_hf_match", []any{"X-Nope", "eq", "x"}, "-1"},
	})
	out = k.Out()
	if strings.Count(out, "X-Data:") != 2 || strings.Contains(out, "Privacy") || !strings.Contains(out, "v=0\r\no=- 1 1") || !strings.Contains(out, "m=audio 5000") {
		t.Errorf("replace_str, search_append_body, remove_hf_match:\n%s", out)
	}
}

func TestOnHoldAndReplyBody(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"textops.so\"\nloadmodule \"sl.so\"")
	k.Request(sdp)
	k.Run([]moduletest.Case{{"textops.is_audio_on_hold", nil, "-1"}})
	held := strings.Replace(strings.Replace(sdp, "Content-Length: 50", "Content-Length: 62", 1), "RTP/AVP 0\r\n", "RTP/AVP 0\r\na=sendonly\r\n", 1)
	k.Request(held)
	k.Run([]moduletest.Case{
		{"textops.is_audio_on_hold", nil, "1"},
		{"textops.set_reply_body", []any{"busy here\n", "text/plain"}, "1"},
		{"sl.send_reply", []any{486, "Busy Here"}, "1"},
	})
	r := k.Reply()
	if r.Header("Content-Type") != "text/plain" || string(r.Body()) != "busy here\n" {
		t.Errorf("reply body %q type %q", r.Body(), r.Header("Content-Type"))
	}
}

func TestRegexSubstring(t *testing.T) {
	k := moduletest.New(t, `loadmodule "textops.so"`)
	k.Request(sdp)
	k.Run([]moduletest.Case{
		{"textops.regex_substring", []any{"sip:+4912345@example.com", `\+([0-9]{2})([0-9]+)@`, 2, 3, "$var(n)"}, "1"},
		{"pv.get", []any{"$var(n)"}, "12345"},
		{"textops.regex_substring", []any{"abc", "[0-9]+", 0, 1, "$var(n)"}, "-2"},
		{"textops.regex_substring", []any{"abc", "(b)", 2, 2, "$var(n)"}, "-1"}, // index past the count
		{"textops.regex_substring", []any{"abc", "(b)", 1, 2, "$rm"}, "-1"},     // not writable
	})
	if got := k.Native("regex_substring", "$ru", `^sip:\+([0-9]+)`, 1, 2, "$var(u)").String(); got != "1" {
		t.Fatalf("native regex_substring: %s", got)
	}
	k.Run([]moduletest.Case{{"pv.get", []any{"$var(u)"}, "4912345"}})
}
