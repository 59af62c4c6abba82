package native

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/enginetest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

type fixture = enginetest.Fixture

func load(tb testing.TB, file string, text []byte) (*Engine, error) {
	c, err := cfg.Parse(file, text, nil)
	if err != nil {
		return nil, err
	}
	var loads []dispatch.Load
	for _, m := range c.Modules {
		loads = append(loads, dispatch.Load{Name: m.Name})
	}
	t, err := dispatch.Build(loads, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return New(c, t)
}

func newFixture(tb testing.TB, file string, text []byte) *fixture {
	tb.Helper()
	e, err := load(tb, file, text)
	if err != nil {
		tb.Fatal(err)
	}
	return enginetest.NewFixture(tb, e, nil)
}

func TestRegisterRoute(t *testing.T) {
	f := newFixture(t, "testdata/register.cfg", nil)
	rc, err := f.Run()
	if err != nil || rc != 0 {
		t.Fatalf("rc %d, err %v; want 0 (exit)", rc, err)
	}
	c := f.W.Ctx()
	if c.Flags != 1<<2|1<<3 {
		t.Errorf("flags %b, want flags 2 and 3", c.Flags)
	}
	if v := f.W.Var("aor"); v.String() != "sip:alice@127.0.0.1" {
		t.Errorf("$var(aor) = %q", v.String())
	}
	if v := f.W.Var("challenge"); v.I != 1 || f.W.Var("save").I != 1 {
		t.Errorf("$var(challenge) = %v, $var(save) = %v", v, f.W.Var("save"))
	}
	if out := string(f.Msg.AppendTo(nil)); !strings.Contains(out, "Max-Forwards: 69\r\n") {
		t.Errorf("Max-Forwards not decremented:\n%s", out)
	}
}

// TestRouteAllocs: a route run allocates nothing once the worker is warm.
func TestRouteAllocs(t *testing.T) {
	f := newFixture(t, "testdata/register.cfg", nil)
	f.Run()
	if n := testing.AllocsPerRun(200, func() {
		f.Run()
	}); n != 0 {
		t.Errorf("%v allocations per route run, want 0", n)
	}
}

func TestSemantics(t *testing.T) {
	cases := []struct {
		name, route string
		rc          int
		vars        map[string]string
	}{
		{"return value", `route[R] { return 7; } request_route { route(R); $var(r) = $rc; return 3; }`, 3, map[string]string{"r": "7"}},
		{"exit in a route stops all", `route[R] { exit; } request_route { route(R); $var(r) = 1; }`, 0, map[string]string{"r": ""}},
		{"drop", `request_route { drop; }`, 0, nil},
		// Kamailio 5.6, run to see: a name that has no route[] is logged and
		// the script goes on, $rc left as it was
		{"route by a variable", `route[A] { $var(a) = "ran"; return 5; } request_route { $var(n) = "A"; route($var(n)); $var(r1) = $rc; $var(n) = "NOPE"; route($var(n)); $var(r2) = $rc; route("A" + ""); $var(r3) = $rc; }`, 1,
			map[string]string{"a": "ran", "r1": "5", "r2": "5", "r3": "5"}},
		{"int ops", `request_route { $var(a) = (7 + 3) * 2 - 5 % 3; $var(b) = 6 & 3 | 8; $var(c) = -4; $var(d) = 7 / 2; $var(e) = ~0; }`, 1,
			map[string]string{"a": "18", "b": "10", "c": "-4", "d": "3", "e": "-1"}},
		{"string concat and compare", `request_route { $var(s) = "a" + 1 + "b"; if ($var(s) == "a1b" && "10" == 10 && "abc" < "abd") { $var(ok) = 1; } }`, 1,
			map[string]string{"s": "a1b", "ok": "1"}},
		{"regex is case-insensitive", `request_route { if ($ua =~ "^z 5") { $var(m) = 1; } if ($ua !~ "nomatch") { $var(n) = 1; } }`, 1,
			map[string]string{"m": "1", "n": "1"}},
		{"null and defined", `request_route { if ($hdr(X-No) == $null && !defined $hdr(X-No) && defined $hdr(Expires)) { $var(n) = 1; } }`, 1,
			map[string]string{"n": "1"}},
		{"switch int fallthrough", `request_route { $var(x) = 2; switch ($var(x)) { case 1: $var(a) = 1; case 2: $var(b) = 1; case 3: $var(c) = 1; break; default: $var(d) = 1; } }`, 1,
			map[string]string{"a": "", "b": "1", "c": "1", "d": ""}},
		{"while with break", `request_route { $var(i) = 0; while (1) { $var(i) = $var(i) + 1; if ($var(i) == 5) { break; } } }`, 1,
			map[string]string{"i": "5"}},
		{"while capped", `request_route { $var(i) = 0; while ($var(i) >= 0) { $var(i) = $var(i) + 1; } }`, 1, map[string]string{"i": "100"}},
		{"transformations", `request_route { $var(u) = $(ru{s.toupper}); $var(h) = $(fu{uri.host}{s.len}); $var(sub) = $(ci{s.substr,0,3}); $var(n) = $(cs{s.int}); $var(p) = $(var(q){param.value,b}); }`, 1,
			map[string]string{"u": "SIP:127.0.0.1", "h": "9", "sub": "OWY", "n": "2", "p": ""}}, // an unset $var reads 0: no parameter b, ""
		{"keywords", `request_route { if (method == "REGISTER" && uri == myself && src_ip == myself && src_port == 5070 && proto == UDP && af == INET && from_uri == "sip:alice@127.0.0.1") { $var(k) = 1; } }`, 1,
			map[string]string{"k": "1"}},
		{"0 return code stops", `loadmodule "sl.so"
loadmodule "sanity.so"
modparam("sanity", "autodrop", 1)
request_route { $var(a) = 1; sanity_check("1", "0"); $var(b) = 1; }`, 1, map[string]string{"a": "1", "b": "1"}},
		{"avp add and assign", `request_route { $avp(x) = 1; $avp(x) = 2; $avp(x) = 3; $var(v) = $avp(x); $var(all) = $(avp(x)[*]); $var(first) = $(avp(x)[-1]); $avp(x) = $null; $var(one) = $avp(x); $(avp(x)[*]) = $null; if ($avp(x) == $null) { $var(gone) = 1; } }`, 1,
			map[string]string{"v": "3", "all": "3, 2, 1", "first": "1", "one": "2", "gone": "1"}},
		{"ru assignment", `request_route { $ru = "sip:bob@example.com"; $rU = "carol"; $var(r) = $ru; }`, 1, map[string]string{"r": "sip:carol@example.com"}},
		{"address literals", `request_route { if (src_ip == 127.0.0.1 && src_ip != 10.0.0.1 && src_ip == 127.0.0.0/8 && "127.0.0.1" == 127.0.0.1 && $si != 192.168.0.0/16) { $var(ip) = 1; } }`, 1,
			map[string]string{"ip": "1"}},
		{"eq ne ieq ine", `request_route { $var(s) = "ab"; $var(n) = 1; if ($var(s) eq "ab" && $var(n) ieq "1" && $var(s) ne "x" && $var(n) ine 2 && "10" ieq 10 && 10 eq "10" && !("a" eq "b")) { $var(cmp) = 1; } }`, 1,
			map[string]string{"cmp": "1"}},
		{"revert_uri", `request_route { $var(o) = $ru; $ru = "sip:x@example.net"; revert_uri(); if ($ru == $var(o)) { $var(rv) = 1; } }`, 1,
			map[string]string{"rv": "1"}},
		{"IPv6 literals", `request_route { if (src_ip != ::1 && src_ip != [2001:db8::1] && src_ip != 2001:db8::/32 && "::1" == ::1 && "2001:db8::7" == [2001:db8::]/64 && "fe80::1" == fe80::/10) { $var(ip6) = 1; } }`, 1,
			map[string]string{"ip6": "1"}},
		{"selects", `request_route { $var(h) = @via[1].host; $var(t) = @from.tag; if (@ruri.user == $null) { $var(n) = 1; } }`, 1,
			map[string]string{"h": "127.0.0.1", "t": "4f1c7a3b", "n": "1"}},
		{"mod and msg:len", `request_route { $var(m) = 17 mod 5; if (msg:len > 100 && msg:len < 4096) { $var(l) = 1; } }`, 1,
			map[string]string{"m": "2", "l": "1"}},
		{"strempty and strlen", `request_route { if (strempty($hdr(X-No)) && !strempty($ua) && strempty("")) { $var(e) = 1; } $var(l) = strlen($rm) + strlen(""); }`, 1,
			map[string]string{"e": "1", "l": "8"}},
		{"function as condition and statement", `request_route { if (is_method_in("R")) { setflag(5); } force_rport(); if (isflagset(5)) { $var(f) = 1; } }`, 1,
			map[string]string{"f": "1"}},
	}
	for i, c := range cases {
		text := c.route
		if !strings.Contains(text, "loadmodule") {
			text = "loadmodule \"sl.so\"\n" + text
		}
		f := newFixture(t, "t.cfg", []byte(text))
		rc, err := f.Run()
		if err != nil || rc != c.rc {
			t.Errorf("case %d (%s): rc %d err %v, want %d", i, c.name, rc, err, c.rc)
		}
		for k, want := range c.vars {
			v := f.W.Var(k)
			got := v.String()
			if !f.W.HasVar(k) {
				got = "" // never set (it reads as 0)
			}
			if got != want {
				t.Errorf("case %d (%s): $var(%s) = %q, want %q", i, c.name, k, got, want)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown function", "request_route {\n  frobnicate();\n}", "t.cfg:2:3: unknown function frobnicate"},
		{"unbuilt module", "request_route {\n  avp_printf(\"$avp(x)\", \"y\");\n}", "t.cfg:2:3: function avp_printf (module pv) is not built yet"},
		{"not loaded", "request_route {\n  mf_process_maxfwd_header(\"10\");\n}", `t.cfg:2:3: function mf_process_maxfwd_header needs loadmodule "maxfwd.so"`},
		{"unknown route", "request_route {\n  route(NOPE);\n}", "t.cfg:2:3: unknown route NOPE"},
		{"parameter count", "loadmodule \"sl.so\"\nrequest_route {\n  sl_send_reply(\"404\");\n}", "t.cfg:3:3: sl_send_reply: wrong number of parameters: 1 given, 2 expected"},
		{"bad regex", "request_route {\n  if ($ua =~ \"a(\") { exit; }\n}", `t.cfg:2:14: bad regular expression "a("`},
		{"unknown pv", "request_route {\n  $var(x) = $nope;\n}", `t.cfg:2:13: unknown pseudo-variable "$nope"`},
		{"read-only pv", "request_route {\n  $si = \"1.2.3.4\";\n}", "t.cfg:2:3: $si cannot be assigned"},
		{"bad transformation", "request_route {\n  $var(x) = $(ru{s.nope});\n}", "{s.nope}: unknown transformation"},
		{"myself alone", "request_route {\n  $var(x) = myself;\n}", "t.cfg:2:13: myself can only be compared"},
		{"case not constant", "request_route {\n  switch ($rU) { case $fU: exit; }\n}", "t.cfg:2:18: case: the value must be a string or an integer constant"},
		{"all errors reported", "request_route {\n  nope1();\n  nope2();\n}", "t.cfg:3:3: unknown function nope2"},
		{"no request_route", "route[A] { exit; }", "no request_route block"},
		{"bad network", "request_route {\n  if (src_ip == 10.0.0.0/40) { exit; }\n}", "t.cfg:2:17: bad network 10.0.0.0/40"},
		{"snd_ip outside onsend_route", "request_route {\n  if (snd_ip == 10.0.0.1) { exit; }\n}", "t.cfg:2:7: snd_ip allowed only in onsend_route"},
		{"address ordered", "request_route {\n  if (src_ip < 10.0.0.1) { exit; }\n}", "an address can only be compared with == or !="},
	}
	for i, c := range cases {
		_, err := load(t, "t.cfg", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): got %v, want %q", i, c.name, err, c.want)
		}
	}
}

func BenchmarkRegisterRoute(b *testing.B) {
	f := newFixture(b, "testdata/register.cfg", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Run()
	}
}

func BenchmarkExit(b *testing.B) {
	f := newFixture(b, "t.cfg", []byte("request_route { exit; }"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Run()
	}
}

// The list of functions of unbuilt modules holds none that a module now
// exports: a built function must not be reported as missing.
func TestUnbuiltIsCurrent(t *testing.T) {
	for f, m := range unbuilt {
		if owner, ok := dispatch.NativeOwner(f); ok {
			t.Errorf("%s (listed under %s) is exported by module %s: remove it from unbuilt", f, m, owner)
		}
	}
}

func newEngine(t *dispatch.Table, file string, src []byte) (router.Engine, error) {
	c, err := cfg.Parse(file, src, nil)
	if err != nil {
		return nil, err
	}
	return New(c, t)
}

// TestCases runs the semantics every engine shares.
func TestCases(t *testing.T) {
	enginetest.RunCases(t, "", "t.cfg", newEngine, enginetest.NativeCases)
}

// TestLatencyLimit: latency_limit_action logs a slow function under
// native routing, as under the KEMI engines (the call goes through
// Export.Invoke).
func TestLatencyLimit(t *testing.T) {
	enginetest.CheckLatencyLimit(t, "", "t.cfg", newEngine, "request_route { sleep(5); }")
}
