package textopsx_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const snippet = "loadmodule \"textops.so\"\nloadmodule \"textopsx.so\"\nloadmodule \"hdr.so\"\n"

// withBody is the INVITE with these header fields (lines ending in
// "\n") and this body.
func withBody(headers, body string) string {
	head := strings.Replace(moduletest.Invite, "Content-Length: 0\n\n",
		headers+"Content-Length: "+strconv.Itoa(len(body))+"\n\n", 1)
	return strings.ReplaceAll(head, "\n", "\r\n") + body
}

// wantHeaders fails unless the message as it would be sent has exactly
// these lines among its header fields named name.
func wantHeaders(t *testing.T, k *moduletest.Kit, name string, want ...string) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(k.Out(), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s header fields: %q, want %q\n%s", name, got, want, k.Out())
	}
}

// TestApplyChanges: an added header field is seen by the script only
// after msg_apply_changes, as in Kamailio; a removed one is gone.
func TestApplyChanges(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(withBody("User-Agent: t\n", ""))
	k.Run([]moduletest.Case{
		{"hdr.append", []any{"X-Mine: yes\r\n"}, "1"},
		{"textops.remove_hf", []any{"User-Agent"}, "1"},
		{"textops.is_present_hf", []any{"X-Mine"}, "-1"},
		{"textopsx.msg_apply_changes", nil, "1"},
		{"textops.is_present_hf", []any{"X-Mine"}, "1"},
		{"textops.is_present_hf", []any{"User-Agent"}, "-1"},
		{"pv.get", []any{"$hdr(X-Mine)"}, "yes"},
	})
	// The applied message is what goes out: no edit is applied twice.
	if out := k.Out(); strings.Count(out, "X-Mine") != 1 {
		t.Errorf("X-Mine %d times after apply:\n%s", strings.Count(out, "X-Mine"), out)
	}
}

func TestSetBuffer(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(moduletest.Invite)
	msg := strings.Replace(moduletest.Invite, "INVITE sip:bob@", "INVITE sip:carol@", 1)
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	k.Run([]moduletest.Case{
		{"textopsx.msg_set_buffer", []any{"SIP/2.0 200 OK\r\n\r\n"}, "-1"}, // a reply for a request
		{"textopsx.msg_set_buffer", []any{"INVITE nothing"}, "-1"},         // does not parse
		{"pv.get", []any{"$rU"}, "bob"},
		{"textopsx.msg_set_buffer", []any{msg}, "1"},
		{"pv.get", []any{"$rU"}, "carol"},
	})
}

func TestChangeReplyStatus(t *testing.T) {
	k := moduletest.New(t, snippet)
	reply := "SIP/2.0 603 Decline\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\n" +
		"To: <sip:b@example.com>;tag=2\nCall-ID: c1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
	k.Request(reply)
	k.Run([]moduletest.Case{
		{"textopsx.change_reply_status", []any{404, "Not Found"}, "1"},
		{"textopsx.change_reply_status", []any{200, "OK"}, "-1"}, // a failure cannot become a success
	})
	if out := k.Out(); !strings.HasPrefix(out, "SIP/2.0 404 Not Found\r\n") {
		t.Errorf("status line: %q", out[:strings.Index(out, "\r\n")])
	}
	k.Request(strings.Replace(reply, "603 Decline", "180 Ringing", 1))
	k.Run([]moduletest.Case{
		{"textopsx.change_reply_status_code", []any{183}, "1"},
		{"textopsx.change_reply_status_code", []any{486}, "-1"},
	})
	if out := k.Out(); !strings.HasPrefix(out, "SIP/2.0 183 Ringing\r\n") {
		t.Errorf("status line: %q", out[:strings.Index(out, "\r\n")])
	}
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"textopsx.change_reply_status", []any{404, "x"}, "-1"}})
}

func TestRemoveBodyKeepHF(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(withBody("User-Agent: t\n", "v=0\r\n"))
	k.Run([]moduletest.Case{
		{"textopsx.remove_body", nil, "1"},
		{"textopsx.keep_hf_re", []any{"^User-"}, "1"},
	})
	out := k.Out()
	if !strings.HasSuffix(out, "Content-Length: 0\r\n\r\n") {
		t.Errorf("body not removed:\n%q", out)
	}
	for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:", "Contact:", "Max-Forwards:", "User-Agent:"} {
		if !strings.Contains(out, h) {
			t.Errorf("%s removed by keep_hf", h)
		}
	}
	k.Request(withBody("User-Agent: t\n", ""))
	k.Call("textopsx.keep_hf")
	if out := k.Out(); strings.Contains(out, "User-Agent:") || !strings.Contains(out, "CSeq:") {
		t.Errorf("keep_hf():\n%s", out)
	}
}

func TestFnmatch(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{
		{"textopsx.fnmatch", []any{"12345", "123*"}, "1"},
		{"textopsx.fnmatch", []any{"12345", "1?3*5"}, "1"},
		{"textopsx.fnmatch", []any{"a/b", "a*"}, "1"}, // no FNM_PATHNAME
		{"textopsx.fnmatch", []any{"12345", "[0-2]2[!4]*"}, "1"},
		{"textopsx.fnmatch", []any{"14345", "[0-2]2*"}, "-1"},
		{"textopsx.fnmatch", []any{"a*", `a\*`}, "1"},
		{"textopsx.fnmatch", []any{"ab", `a\*`}, "-1"},
		{"textopsx.fnmatch", []any{"Alice", "al*"}, "-1"},
		{"textopsx.fnmatch_ex", []any{"Alice", "al*", "i"}, "1"},
		{"textopsx.fnmatch", []any{"", "*"}, "1"},
		{"textopsx.fnmatch", []any{"x", ""}, "-1"},
	})
	if got := k.Native("fnmatch", "Bob", "b*", "i"); got.String() != "1" {
		t.Errorf("native fnmatch with flags: %s", got)
	}
}

func TestHFValues(t *testing.T) {
	k := moduletest.New(t, snippet)
	msg := withBody("Supported: path, 100rel\nSupported: timer\nFoo: a;x=1, b\n", "")
	k.Request(msg)
	k.Run([]moduletest.Case{
		{"textopsx.hf_value_exists", []any{"Supported", "timer"}, "1"},
		{"textopsx.hf_value_exists", []any{"supported", "100REL"}, "1"},
		{"textopsx.hf_value_exists", []any{"Supported", "gruu"}, "-1"},
		{"textopsx.include_hf_value", []any{"Supported", "path"}, "1"}, // already there: nothing
		{"textopsx.include_hf_value", []any{"Supported", "gruu"}, "1"},
		{"textopsx.exclude_hf_value", []any{"Supported", "100rel"}, "1"},
		{"textopsx.exclude_hf_value", []any{"Supported", "nope"}, "-1"},
	})
	wantHeaders(t, k, "Supported", "Supported: path", "Supported: timer, gruu")

	k.Request(msg)
	k.Run([]moduletest.Case{
		{"textopsx.assign_hf_value", []any{"Foo[1].x", "2"}, "1"},
		// Two changes to one header field: the second is made on the
		// message with the first applied (in kemi as in Kamailio, edits
		// of one region do not stack).
		{"textopsx.msg_apply_changes", nil, "1"},
		{"textopsx.assign_hf_value", []any{"Foo[-1].lr", ""}, "1"},
		{"textopsx.assign_hf_value", []any{"Foo[3]", "z"}, "-1"},
	})
	wantHeaders(t, k, "Foo", "Foo: a;x=2, b;lr")

	k.Request(msg)
	k.Run([]moduletest.Case{{"textopsx.remove_hf_value", []any{"Foo[*].x"}, "1"}})
	wantHeaders(t, k, "Foo", "Foo: a, b")
	k.Request(msg)
	k.Run([]moduletest.Case{{"textopsx.remove_hf_value", []any{"Foo"}, "1"}})
	wantHeaders(t, k, "Foo", "Foo: b")
	k.Request(msg)
	k.Run([]moduletest.Case{{"textopsx.remove_hf_value", []any{"Supported[*]"}, "1"}})
	wantHeaders(t, k, "Supported")

	k.Request(msg)
	k.Run([]moduletest.Case{
		{"textopsx.append_hf_value", []any{"Foo[1]", "c"}, "1"},
		{"textopsx.append_hf_value", []any{"Bar", "new"}, "1"},
		{"textopsx.insert_hf_value", []any{"Top", "first"}, "1"},
		{"textopsx.insert_hf_value", []any{"Supported[2]", "gruu"}, "1"},
		{"textopsx.append_hf_value", []any{"Nope[2]", "x"}, "-1"},
		{"textopsx.append_hf_value", []any{"Baz[-1]", "x"}, "1"}, // none yet: a new one
		{"textopsx.assign_hf_value", []any{"Foo[bad", "x"}, "-1"},
	})
	wantHeaders(t, k, "Foo", "Foo: a;x=1, c, b")
	wantHeaders(t, k, "Bar", "Bar: new")
	wantHeaders(t, k, "Baz", "Baz: x")
	wantHeaders(t, k, "Supported", "Supported: path, gruu, 100rel", "Supported: timer")
	if out := k.Out(); !strings.Contains(out, "\r\nTop: first\r\nVia:") {
		t.Errorf("insert_hf_value without index: not at the top\n%s", out)
	}

	// The Authorization format: commas separate parameters, not values.
	k.Request(strings.Replace(moduletest.Invite, "Content-Length:", "Authorization: Digest username=\"a\", realm=\"r\", nc=1\nContent-Length:", 1))
	k.Run([]moduletest.Case{
		{"textopsx.assign_hf_value2", []any{"Authorization.integrity-protected", `"yes"`}, "1"},
	})
	wantHeaders(t, k, "Authorization", `Authorization: Digest username="a", realm="r", nc=1, integrity-protected="yes"`)
	k.Request(strings.Replace(moduletest.Invite, "Content-Length:", "Authorization: Digest username=\"a\", realm=\"r\", nc=1\nContent-Length:", 1))
	k.Run([]moduletest.Case{{"textopsx.remove_hf_value2", []any{"Authorization", "realm"}, "1"}})
	wantHeaders(t, k, "Authorization", `Authorization: Digest username="a", nc=1`)
}

func TestHFIterator(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(withBody("User-Agent: t\n", ""))
	var names []string
	k.Call("textopsx.hf_iterator_start", "i1")
	for k.CallInt("textopsx.hf_iterator_next", "i1") == 1 {
		n := k.Call("textopsx.hf_iterator_hname", "i1").String()
		names = append(names, n)
		if n == "User-Agent" {
			k.Run([]moduletest.Case{
				{"textopsx.hf_iterator_hbody", []any{"i1"}, k.Call("pv.get", "$hdr(User-Agent)").String()},
				{"pv.get", []any{"$hfitname(i1)"}, "User-Agent"},
				{"pv.get", []any{"$hfitbody(i1)"}, k.Call("pv.get", "$hdr(User-Agent)").String()},
				{"textopsx.hf_iterator_rm", []any{"i1"}, "1"},
				{"textopsx.hf_iterator_append", []any{"i1", "X-After: 1\r\n"}, "1"},
			})
		}
	}
	k.Run([]moduletest.Case{
		{"textopsx.hf_iterator_next", []any{"i1"}, "-1"},
		{"textopsx.hf_iterator_prev", []any{"i1"}, "1"},
		{"textopsx.hf_iterator_hname", []any{"i1"}, names[len(names)-1]},
		{"textopsx.hf_iterator_end", []any{"i1"}, "1"},
		{"textopsx.hf_iterator_next", []any{"i1"}, "-1"}, // ended
		{"textopsx.hf_iterator_hname", []any{"nope"}, ""},
	})
	if len(names) != k.Ctx().Msg.NumHeaders() || names[0] != "Via" {
		t.Errorf("iterated %q", names)
	}
	if out := k.Out(); strings.Contains(out, "User-Agent") || !strings.Contains(out, "X-After: 1\r\n") {
		t.Errorf("iterator edits:\n%s", out)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		k.Call("textopsx.hf_iterator_start", n)
	}
	k.Run([]moduletest.Case{{"textopsx.hf_iterator_start", []any{"e"}, "-1"}})
	// A new message starts with no iterator.
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"textopsx.hf_iterator_next", []any{"a"}, "-1"}, {"textopsx.hf_iterator_start", []any{"e"}, "1"}})
}

func TestBodyLineIterator(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(withBody("", "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\n"))
	var lines []string
	k.Call("textopsx.bl_iterator_start", "b")
	for k.CallInt("textopsx.bl_iterator_next", "b") == 1 {
		l := k.Call("textopsx.bl_iterator_value", "b").String()
		if pv := k.Call("pv.get", "$blitval(b)").String(); pv != l {
			t.Errorf("$blitval(b) %q, bl_iterator_value %q", pv, l)
		}
		lines = append(lines, l)
		switch {
		case strings.HasPrefix(l, "o="):
			k.Call("textopsx.bl_iterator_rm", "b")
			k.Call("textopsx.bl_iterator_append", "b", "o=- 2 2 IN IP4 192.0.2.99\r\n")
		case l == "v=0":
			k.Call("textopsx.bl_iterator_insert", "b", "x=first\r\n")
		}
	}
	if strings.Join(lines, "|") != "v=0|o=- 1 1 IN IP4 192.0.2.10|s=-" {
		t.Errorf("lines %q", lines)
	}
	out := k.Out()
	want := "Content-Length: 46\r\n\r\nx=first\r\nv=0\r\no=- 2 2 IN IP4 192.0.2.99\r\ns=-\r\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("body after the iterator's edits:\n%s\nwant the end %q", out, want)
	}
	k.Run([]moduletest.Case{{"textopsx.bl_iterator_end", []any{"b"}, "1"}, {"textopsx.bl_iterator_value", []any{"b"}, ""}})
}
