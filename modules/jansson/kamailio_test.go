package jansson_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg runs the jansson functions on the request's body (a JSON
// document) with X-Path, X-Type and X-Value, and answers with every
// result in X-R.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "jansson.so"

request_route {
	if ($fU == "ping") {
		# the sipp run (and Kamailio's start-up ping): answer 200 when the document built says so
		$var(doc) = $null; # not text: jansson_set starts from {}
		jansson_set("string", "a.b", "yes", "$var(doc)");
		jansson_append("int", "list", "1", "$var(doc)");
		jansson_get("a.b", "$var(doc)", "$var(v)");
		if ($var(v) == "yes") { sl_send_reply("200", "OK"); } else { sl_send_reply("500", "No"); }
		exit;
	}
	$var(doc) = $rb;
	$var(path) = $hdr(X-Path);
	$var(r) = "";
	$var(v) = "-";
	jansson_get("$var(path)", "$var(doc)", "$var(v)"); $var(r) = $var(r) + " get=" + $rc + "/" + $var(v);
	$var(n) = "-";
	jansson_array_size("$var(path)", "$var(doc)", "$var(n)"); $var(r) = $var(r) + " size=" + $rc + "/" + $var(n);
	$var(s) = $var(doc);
	jansson_set("$hdr(X-Type)", "$var(path)", "$hdr(X-Value)", "$var(s)"); $var(r) = $var(r) + " set=" + $rc + "/" + $var(s);
	$var(a) = $var(doc);
	jansson_append("$hdr(X-Type)", "$var(path)", "$hdr(X-Value)", "$var(a)"); $var(r) = $var(r) + " app=" + $rc + "/" + $var(a);
	jansson_xdecode("$var(doc)", "j"); $var(r) = $var(r) + " xd=" + $rc + "/" + $xavp(j=>id) + "/" + $xavp(j[1]=>id);
	$var(e) = "-";
	jansson_xencode("j", "$var(e)"); $var(r) = $var(r) + " xe=" + $rc + "/" + $var(e);
	append_to_reply("X-R:$var(r)\r\n");
	sl_send_reply("200", "OK");
}
`

// cases are documents, paths, and a value to set or append.
var cases = []struct{ doc, path, typ, val string }{
	{`{"a":{"b":[1,2.5,"x",true,null,{"c":"d"}]},"id":7}`, "a.b[5].c", "string", "new"},
	{`{"a":{"b":[1,2.5,"x",true,null,{"c":"d"}]},"id":7}`, "a.b", "int", "42"},
	{`{"a":{"b":[1,2.5,"x",true,null,{"c":"d"}]},"id":7}`, "a.b[1]", "real", "0.1"},
	{`{"a":{"b":[1,2.5,"x",true,null,{"c":"d"}]},"id":7}`, "a.b[3]", "false", ""},
	{`{"a":{"b":[1,2.5,"x",true,null,{"c":"d"}]},"id":7}`, "a.b[9]", "null", ""},
	{`{"a":{"b":[1]},"id":7}`, "a.z.y", "object", `{"k":"v","n":1}`},
	{`{"a":{"b":[1]},"id":7}`, "a", "object", `{"m":[1,2]}`},
	{`{"a":{"b":[1]},"id":7}`, "a.b", "array", `[3,4]`},
	{`{"a":{"b":[1]},"id":7}`, "a.q[0]", "int", "1"},
	{`{"id":9000000000,"r":1e+20,"s":"tab\tquote\" slash/ é","e":1.5e-7,"big":123456789012345678}`, "s", "str", "x"},
	{`{"id":9000000000,"r":1e+20}`, "r", "real", "3"},
	{`[{"id":1,"x":"a"},{"id":2,"x":"b"}]`, "[1].x", "str", "z"},
	{`[{"id":1},{"id":2}]`, "[0]", "object", `{"w":1}`},
	{`{"a":1,"a":2}`, "a", "int", "1"},
	{`{"a":1}`, "a.", "int", "2"},
	{`{"a":1}`, "", "int", "2"},
	{`not json`, "a", "int", "1"},
	{`"just a string"`, "", "int", "1"},
	{`{"a":[1,2,3]}`, "a[0x1]", "int", "5"},
	{`{"a":[1,2,3]}`, "a[-1]", "int", "5"},
	{`{"a":{"b":1}}`, "a.b", "bogus", "5"},
	{`{"a":{"b":1}}`, "a.b", "int", "5x"},
}

// TestKamailioDifferential: Kamailio 5.6 (with libjansson) and kemi on the
// same config answer the same to every document and path: values read
// (types, reals, big integers, escapes), array sizes, values set and
// appended (objects made on the way, arrays not), XAVPs decoded and
// encoded, documents refused. Then sipp calls through kemi.
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	ask := func(srv netip.AddrPort, doc, path, typ, val string) string {
		m := kamailiotest.Ask(t, srv, 5*time.Second, func(local, id string) string {
			return fmt.Sprintf("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nX-Path: %s\r\nX-Type: %s\r\nX-Value: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				local, id, id, path, typ, val, len(doc), doc)
		})
		return kamailiotest.Header(m, "X-R")
	}
	for _, c := range cases {
		kv, ev := ask(pair.Kamailio, c.doc, c.path, c.typ, c.val), ask(pair.Kemi, c.doc, c.path, c.typ, c.val)
		if kv != ev {
			t.Errorf("%s %q %s %q:\nKamailio %s\nkemi     %s", c.doc, c.path, c.typ, c.val, kv, ev)
		} else {
			t.Logf("%q: %s", c.path, ev)
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
	sipp := sipptest.Need(t)
	sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", pair.Kemi.String(), 50, 50, "-s", "ping")
}
