package pv_headers_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const kitInvite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc\n" +
	"Max-Forwards: 70\n" +
	"f: \"Alice\" <sip:alice@example.com>;tag=f1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: pvh-1\n" +
	"CSeq: 7 INVITE\n" +
	"X-A: one\n" +
	"Diversion: <sip:d1@x>, <sip:d2@x>\n" +
	"X-P: a=1, b=2\n" +
	"X-A: two\n" +
	"Content-Length: 0\n\n"

// TestFunctions: collect, the functions and $x_* on the XAVI, then apply
// to the message — manually (auto_msg 0), on a request.
func TestFunctions(t *testing.T) {
	k := moduletest.New(t, `loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "uac.so"
loadmodule "pv_headers.so"
modparam("uac", "restore_mode", "none")
modparam("pv_headers", "auto_msg", 0)
modparam("pv_headers", "split_headers", "Diversion")`)
	k.Request(kitInvite)
	k.Run([]moduletest.Case{
		{"pv_headers.pvh_apply_headers", nil, "-1"}, // nothing collected
		{"pv_headers.pvh_collect_headers", nil, "1"},
		{"pv_headers.pvh_collect_headers", nil, "-1"}, // collected already
		{"pv.get", []any{"$xavi(headers=>From)"}, `"Alice" <sip:alice@example.com>;tag=f1`},
		{"pv.get", []any{"$x_hdr(x-a)"}, "one"}, {"pv.get", []any{"$(x_hdr(X-A)[1])"}, "two"}, {"pv.get", []any{"$(x_hdr(X-A)[-1])"}, "two"},
		{"pv.get", []any{"$(x_hdr(Diversion)[1])"}, " <sip:d2@x>"},
		{"pv.get", []any{"$x_fU"}, "alice"}, {"pv.get", []any{"$x_fn"}, `"Alice"`}, {"pv.get", []any{"$x_ft"}, "f1"}, {"pv.get", []any{"$x_tu"}, "sip:bob@example.com"},
		{"pv.get", []any{"$x_rs"}, ""},
		{"pv_headers.pvh_check_header", []any{"X-P"}, "1"}, {"pv_headers.pvh_check_header", []any{"X-None"}, "-1"},
		{"pv_headers.pvh_header_param_exists", []any{"X-P", "b=2"}, "1"}, {"pv_headers.pvh_header_param_exists", []any{"X-P", "B=2"}, "-1"},
		{"pv_headers.pvh_remove_header_param", []any{"X-P", "B=2"}, "1"}, {"pv.get", []any{"$x_hdr(X-P)"}, "a=1"},
		{"pv_headers.pvh_modify_header", []any{"X-A", "uno", 0}, "1"}, {"pv_headers.pvh_modify_header", []any{"X-A", "x", 5}, "-1"},
		{"pv_headers.pvh_append_header", []any{"X-New", "n"}, "1"},
		{"pv_headers.pvh_remove_header", []any{"X-A", 1}, "1"}, {"pv.get", []any{"$(x_hdr(X-A)[1])"}, ""},
		{"pv.sets", []any{"$x_fU", "carol"}, "1"}, {"pv.get", []any{"$x_hdr(From)"}, `"Alice" <sip:carol@example.com>;tag=f1`},
		{"pv.sets", []any{"$x_ft", "x"}, "-1"}, // read-only
		{"pv_headers.pvh_apply_headers", nil, "1"},
		{"pv_headers.pvh_apply_headers", nil, "-1"}, // applied already
	})
	out := k.Out()
	for _, want := range []string{"X-A: uno\r\n", "Diversion: <sip:d1@x>\r\nDiversion:  <sip:d2@x>\r\n", "X-P: a=1\r\n", "X-New: n\r\n", "<sip:carol@example.com>;tag=f1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "two") || strings.Count(out, "X-A:") != 1 {
		t.Errorf("X-A: two was removed; the message:\n%s", out)
	}
	k.Run([]moduletest.Case{
		{"pv_headers.pvh_reset_headers", nil, "1"}, {"pv.get", []any{"$x_hdr(X-A)"}, ""},
		{"pv_headers.pvh_collect_headers", nil, "1"}, // allowed again
	})
}

// TestParameters: bad parameters stop start-up naming them.
func TestParameters(t *testing.T) {
	for _, c := range []struct{ param, want string }{
		{`modparam("pv_headers", "xavi_name", "")`, "xavi_name"},
		{`modparam("pv_headers", "header_collect_flag", 64)`, "header_collect_flag"},
		{`modparam("pv_headers", "header_value_size", 0)`, "header_value_size"},
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"pv_headers.so\"\n"+c.param)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.param, err, c.want)
		}
	}
}

// BenchmarkCollect is auto_msg's work before each request's route: the
// INVITE's headers into the XAVI (reset between rounds).
func BenchmarkCollect(b *testing.B) {
	k := moduletest.New(b, `loadmodule "pv_headers.so"
modparam("pv_headers", "auto_msg", 0)`)
	k.Request(kitInvite)
	b.ReportAllocs()
	for b.Loop() {
		if k.CallInt("pv_headers.pvh_collect_headers") != 1 || k.CallInt("pv_headers.pvh_reset_headers") != 1 {
			b.Fatal("collect or reset failed")
		}
	}
}
