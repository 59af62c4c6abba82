package pv_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// xavpSteps are assignments and reads of $xavp, $xavu and $xavi; the
// test writes each read's value (or <null>) into the reply.
var xavpSteps = []string{
	// root values, the most recent first
	`$xavp(a) = 1;`, `$xavp(a) = "two";`, `?$xavp(a)`, `?$xavp(a[0])`, `?$xavp(a[1])`, `?$xavp(a[2])`,
	// items of fields: a new item, fields added to the first
	`$xavp(b=>k) = 1;`, `$xavp(b[0]=>k) = 2;`, `$xavp(b[0]=>j) = "x";`,
	`?$xavp(b=>k)`, `?$xavp(b=>k[0])`, `?$xavp(b=>k[1])`, `?$xavp(b=>j)`, `?$xavp(b[0]=>k)`, `?$xavp(b=>nope)`,
	`$xavp(b=>k) = 3;`, `?$xavp(b=>k)`, `?$xavp(b[1]=>k)`, `?$xavp(b[1]=>j)`,
	// replacing and removing
	`$xavp(a[1]) = "replaced";`, `?$xavp(a[1])`, `?$xavp(a)`,
	`$xavp(b[1]=>k) = $null;`, `?$xavp(b[1]=>k)`, `?$xavp(b[1]=>j)`,
	`$xavp(a) = $null;`, `?$xavp(a)`, `?$xavp(a[1])`,
	// a root value read as fields, fields read as a value
	`$xavp(c) = "v";`, `?$xavp(c=>k)`,
	// $xavu: one value per name and per key
	`$xavu(u) = 1;`, `$xavu(u) = 2;`, `?$xavu(u)`,
	`$xavu(v=>k) = 1;`, `$xavu(v=>k) = 2;`, `$xavu(v=>j) = "three";`, `?$xavu(v=>k)`, `?$xavu(v=>j)`,
	`$xavu(v=>k) = $null;`, `?$xavu(v=>k)`, `?$xavu(v=>j)`,
	`$xavu(u) = $null;`, `?$xavu(u)`,
	// $xavi: names without case
	`$xavi(Case=>Key) = "ci";`, `?$xavi(case=>key)`, `?$xavi(CASE=>KEY)`, `?$xavi(Case=>Key)`,
	`$xavi(Case[0]=>Other) = "o";`, `?$xavi(cAsE=>oThEr)`,
	`$xavi(Root) = 7;`, `?$xavi(root)`, `$xavi(ROOT) = $null;`, `?$xavi(Root)`,
	// the three are apart
	`$xavp(s) = "p";`, `$xavu(s) = "u";`, `$xavi(s) = "i";`, `?$xavp(s)`, `?$xavu(s)`, `?$xavi(s)`,
}

func xavpCfg(listen string) string {
	var b strings.Builder
	for _, s := range xavpSteps {
		if r, ok := strings.CutPrefix(s, "?"); ok {
			fmt.Fprintf(&b, "\tif (%s == $null) { $var(r) = $var(r) + \" <null>\"; } else { $var(r) = $var(r) + \" \" + %s; }\n", r, r)
		} else {
			b.WriteString("\t" + s + "\n")
		}
	}
	return `#!KAMAILIO
` + listen + `
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"

request_route {
	if ($hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	$var(r) = "";
` + b.String() + `	append_to_reply("X-R:$var(r)\r\n");
	sl_send_reply("200", "OK");
}
`
}

// TestKamailioXAVP: $xavp (root values and items of fields, indexes,
// replacing, removing), $xavu (one value per name and key) and $xavi
// (names without case) read the same in Kamailio 5.6 and kemi after the
// same assignments.
func TestKamailioXAVP(t *testing.T) {
	pair := kamailiotest.StartPair(t, xavpCfg)
	k := kamailiotest.Ask(t, pair.Kamailio, 2*time.Second, kamailiotest.Options("X-Case: x\r\n"))
	e := kamailiotest.Ask(t, pair.Kemi, 2*time.Second, kamailiotest.Options("X-Case: x\r\n"))
	kr, er := kamailiotest.Header(k, "X-R"), kamailiotest.Header(e, "X-R")
	ks, es := strings.Fields(kr), strings.Fields(er)
	reads := []string{}
	for _, s := range xavpSteps {
		if r, ok := strings.CutPrefix(s, "?"); ok {
			reads = append(reads, r)
		}
	}
	for i, r := range reads {
		var kv, ev string
		if i < len(ks) {
			kv = ks[i]
		}
		if i < len(es) {
			ev = es[i]
		}
		if kv != ev {
			t.Errorf("%s: Kamailio %q, kemi %q", r, kv, ev)
		}
	}
	t.Logf("Kamailio:%s\nkemi:    %s", kr, er)
}
