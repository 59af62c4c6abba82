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
// preprocessor's #!substdef, #!subst and #!trydef, loadpath without '=',
// import_file, the casts (int) and (str), << >> ^ ~, eq/ne, the words and,
// or, not and mod, route() with a computed name, selects,
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
%s
loadpath "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
import_file "%s"

route[R2] { $var(r2) = "two"; return 2; }

request_route {
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
	if ($(ru{uri.host}) == "127.0.0.1" && $(var(b){s.len}) == 3) { $var(l) = 1; }
	$avp(x) = 1;
	$var(m) = @ruri.host;
	if (defined $avp(x) && !strempty($var(b)) && strlen($var(b)) == 3) { $var(n) = 1; }
	if (src_ip == MYLOOP/8 && af == INET && proto == UDP) { $var(o) = 1; }
	if (is_method("OPTIONS") and $var(o) == 1 or not defined $avp(x)) { $var(p) = 1; }
	$var(q) = "SUBSTME";
	$var(s) = $var(a) * 2 / 3 - 1 + (4 & 6) + (4 | 1) + ~0 + TRY;
	if ($var(a) =~ "^1[0-9]$" && !($var(b) =~ "zz")) { $var(t) = 1; }
	$var(u) = 1 + 2 << 1 == 6;
	$var(name) = "R" + 2;
	route($var(name));
	$var(v) = $rc;
	$var(nope) = "NO" + "PE";
	route($var(nope));
	$var(w) = $rc;
	append_to_reply("X-G: $var(a) $var(b) $var(c) $var(d) $var(e) $var(f) $var(g) $var(h) $var(i) $var(j) $var(k) $var(inc) $var(l) $var(m) $var(n) $var(o) $var(p) $var(q) $var(s) $var(t) $var(u) $var(r2) $var(v) $var(w)\r\n");
	sl_send_reply("200", "OK");
	exit;
}
`

// TestKamailioGrammar: a config of those forms is accepted by kamailio -c
// and kemi -c and computes the same values in Kamailio 5.6 and kemi.
func TestKamailioGrammar(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc.cfg")
	if err := os.WriteFile(inc, []byte("route[INC] { $var(inc) = 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(grammarCfg, listen, inc) })
	k := kamailiotest.Header(kamailiotest.Ask(t, pair.Kamailio, 2*time.Second, kamailiotest.Options("")), "X-G")
	e := kamailiotest.Header(kamailiotest.Ask(t, pair.Kemi, 2*time.Second, kamailiotest.Options("")), "X-G")
	if k != e || k == "" {
		t.Errorf("X-G:\nKamailio %q\nkemi     %q", k, e)
	}
	if n := len(strings.Fields(k)); n != 24 {
		t.Errorf("Kamailio computed %d values, want 24: %q", n, k)
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
	var out, errb strings.Builder
	if code := run([]string{"-c", "-f", bad}, &out, &errb, nil); code == 0 || !strings.Contains(errb.String(), "bad.cfg:5") || !strings.Contains(errb.String(), "NOPE") {
		t.Errorf("kemi -c on route(\"NO\" + \"PE\"): exit %d, %s", code, errb.String())
	}
}
