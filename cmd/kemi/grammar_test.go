package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// grammarCfg uses the native language's less common forms: the
// preprocessor's #!substdef, #!subst, #!trydef and #!defenv forms,
// loadpath without '=', core actions of every form (parsed, not run),
// pv_isset/pv_unset,
// import_file, the casts (int) and (str), << >> ^ ~, eq/ne, the words and,
// or, not and mod, route() with a computed name, $(hdr(Name)[i]), names
// from variables ($avp($var(x)), $hdr($var(x))), selects,
// transformations, address literals, strempty/strlen; what each computed
// goes into the reply's X-G.
const grammarCfg = `#!KAMAILIO
#!define MYNUM 5
#!substdef "/MYLOOP/127.0.0.0/"
#!ifndef NOTDEF
#!define ISDEF
#!endif
#!trydef TRY 3
#!subst "/SUBSTME/replaced/"
#!defenv KEMI_GT_A
#!defenvs GTB=KEMI_GT_B
#!trydefenvs KEMI_GT_C
#!trydefenv KEMI_GT_UNSET
%s
loadpath "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "htable.so"
modparam("htable", "htable", "h=>size=4;")
import_file "%s"

route[R2] { $var(r2) = "two"; return 2; }

request_route {
	if (is_method("INVITE")) {
		# accepted by both, not run: core actions of other forms
		forward("127.0.0.1", 5090);
		forward_udp("127.0.0.1", 5090);
		forward();
		set_advertised_address("192.0.2.4");
		set_advertised_port(5080);
		add_local_rport();
		force_tcp_alias();
		setflag(1); resetflag(1); isflagset(1);
		revert_uri(); rewritehostport("x:5"); rewriteuser("u"); rewriteuri("sip:a@b");
		set_reply_close(); set_forward_no_connect(); set_reply_no_connect(); set_forward_close();
		sethost("h"); setuser("u"); seturi("sip:a@b");
		log("hello\n"); log(1, "hello\n");
		error("e", "f");
		t_relay_to(); t_relay_to("0x01"); t_relay_to("udp:127.0.0.1:5090"); t_relay_to("udp:127.0.0.1:5090", "0x02");
		sht_lock("h=>k"); sht_unlock("h=>k");
	}
	$var(a) = (int)"12" + MYNUM;
	$var(b) = (str)$var(a) + "x";
	$var(c) = 1 << 3;
	$var(d) = 16 >> 2;
	$var(e) = 5 ^ 3;
	if ($var(b) eq "17x" && $var(b) ne "y") { $var(f) = 1; }
	if (!($var(a) > 20) || $var(a) <= 17) { $var(g) = 1; }
	$var(h) = $var(a) mod 5;
	$var(i) = -$var(a);
	switch ($rm) {
		case "OPTIONS":
			$var(j) = "o";
			break;
		default:
			$var(j) = "x";
	}
	while ($var(k) < 3) { $var(k) = $var(k) + 1; }
	route(INC);
	if ($(ru{uri.host}) == "example.com" && $(var(b){s.len}) == 3) { $var(l) = 1; }
	$avp(x) = 1;
	$var(m) = @ruri.host;
	if (defined $avp(x) && !strempty($var(b)) && strlen($var(b)) == 3) { $var(n) = 1; }
	if (src_ip == MYLOOP/8 && af == INET && proto == UDP) { $var(o) = 1; }
	if (is_method("OPTIONS") and $var(o) == 1 or not defined $avp(x)) { $var(p) = 1; }
	$var(q) = "SUBSTME";
	$var(s) = $var(a) * 2 / 3 - 1 + (4 & 6) + (4 | 1) + ~0 + TRY;
	if ($var(a) =~ "^1[0-9]$" && !($var(b) =~ "zz")) { $var(t) = 1; }
	$var(u) = 1 + 2 << 1 == 6;
	$var(pl) = $var(a) + "3" + "/" + "x";
	$var(pm) = "x" + $var(a) + 1;
	$var(name) = "R" + 2;
	route($var(name));
	$var(v) = $rc;
	$var(nope) = "NO" + "PE";
	route($var(nope));
	$var(w) = $rc;
	$var(env) = GTB + "/" + KEMI_GT_C;
	#!ifdef KEMI_GT_A
	$var(env) = $var(env) + "/a";
	#!endif
	#!ifdef KEMI_GT_UNSET
	$var(env) = "unset is defined";
	#!endif
	if (pv_isset("$var(env)")) { pv_unset("$avp(x)"); }
	if (!pv_isset("$avp(x)")) { $var(env) = $var(env) + "/unset"; }
	$var(hm) = $(hdr(X-M)[1]) + "|" + $(hdr(X-M)[-1]) + "|" + $(hdr(X-M)[*]) + "|" + $hdr(X-M);
	if ($(hdr(X-M)[5]) == $null) { $var(hm) = $var(hm) + "|none"; }
	$var(an) = "dyn";
	$avp($var(an)) = 7;
	$var(hn) = "X-M";
	$var(hm) = $var(hm) + "|" + $avp(dyn) + "|" + $hdr($var(hn)) + "|" + $hdrc($var(hn));
	append_to_reply("X-H: $var(hm)\r\n");
	append_to_reply("X-G: $var(env) $var(a) $var(b) $var(c) $var(d) $var(e) $var(f) $var(g) $var(h) $var(i) $var(j) $var(k) $var(inc) $var(l) $var(m) $var(n) $var(o) $var(p) $var(q) $var(s) $var(t) $var(u) $var(pl) $var(pm) $var(r2) $var(v) $var(w)\r\n");
	sl_send_reply("200", "OK");
	exit;
}
`

// TestKamailioGrammar: a config of those forms is accepted by kamailio -c
// and kemi -c and computes the same values in Kamailio 5.6 and kemi.
func TestKamailioGrammar(t *testing.T) {
	t.Setenv("KEMI_GT_A", "a")
	t.Setenv("KEMI_GT_B", "b")
	t.Setenv("KEMI_GT_C", "c")
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc.cfg")
	if err := os.WriteFile(inc, []byte("route[INC] { $var(inc) = 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(grammarCfg, listen, inc) })
	hm := kamailiotest.Options("X-M: a\r\nX-M: b, c\r\nX-M: d\r\n")
	km, em := kamailiotest.Ask(t, pair.Kamailio, 2*time.Second, hm), kamailiotest.Ask(t, pair.Kemi, 2*time.Second, hm)
	k, e := kamailiotest.Header(km, "X-G"), kamailiotest.Header(em, "X-G")
	if kh, eh := kamailiotest.Header(km, "X-H"), kamailiotest.Header(em, "X-H"); kh != eh || kh == "" {
		t.Errorf("$(hdr(X-M)[i]):\nKamailio %q\nkemi     %q", kh, eh)
	} else {
		t.Logf("$(hdr(X-M)[1]), [-1], [*], no index, [5], $avp($var(an)), $hdr($var(hn)), $hdrc($var(hn)): %s", kh)
	}
	if k != e || k == "" {
		t.Errorf("X-G:\nKamailio %q\nkemi     %q", k, e)
	}
	if n := len(strings.Fields(k)); n != 27 || !strings.HasPrefix(k, "b/c/a/unset ") {
		t.Errorf("Kamailio computed %d values, want 27 starting with b/c/a/unset: %q", n, k)
	}
	t.Logf("both: %s", k)

	// a route name that is a constant expression is looked up at start-up:
	// Kamailio does not start (kamailio -c passes it), kemi -c refuses it
	kam := kamailiotest.Need(t)
	bad := filepath.Join(dir, "bad.cfg")
	os.WriteFile(bad, []byte(fmt.Sprintf("#!KAMAILIO\nlisten=udp:127.0.0.1:%d\nloadmodule \"sl.so\"\nrequest_route {\n\troute(\"NO\" + \"PE\");\n}\n", kamailiotest.FreePort(t))), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kout, err := exec.CommandContext(ctx, kam, "-f", bad, "-DD", "-E", "-n", "1", "-w", dir).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(kout), `route "NOPE" not found`) {
		t.Errorf("Kamailio on route(\"NO\" + \"PE\"): %v %s", err, kout)
	}
	// an environment variable that is not set stops both, at the line
	noenv := filepath.Join(dir, "noenv.cfg")
	os.WriteFile(noenv, []byte("#!KAMAILIO\n#!defenv KEMI_GT_NOPE\nrequest_route {\n\texit;\n}\n"), 0o644)
	if ok, out := kamailiotest.Check(kam, noenv); ok {
		t.Errorf("kamailio -c accepts #!defenv of a variable not set: %s", out)
	}
	var eout, eerr strings.Builder
	if code := run([]string{"-c", "-f", noenv}, &eout, &eerr, nil); code == 0 || !strings.Contains(eerr.String(), "noenv.cfg:2") || !strings.Contains(eerr.String(), "KEMI_GT_NOPE") {
		t.Errorf("kemi -c on #!defenv of a variable not set: exit %d, %s", code, eerr.String())
	}
	var out, errb strings.Builder
	if code := run([]string{"-c", "-f", bad}, &out, &errb, nil); code == 0 || !strings.Contains(errb.String(), "bad.cfg:5") || !strings.Contains(errb.String(), "NOPE") {
		t.Errorf("kemi -c on route(\"NO\" + \"PE\"): exit %d, %s", code, errb.String())
	}
}
