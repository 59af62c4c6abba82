package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// transformInputs are the strings the transformations of
// transformCases read, as $var(inN), written as the cfg's literals.
var transformInputs = []string{
	`"Hello, World"`,
	`"a,b,,c;d"`,
	`"  pad me \t"`,
	`"sip:bob:pw@Example.COM:5070;transport=TCP;ttl=5;user=phone;maddr=10.0.0.1;method=INVITE;lr;r2=on;foo=bar?h=v&x=y"`,
	`"\"Alice Liddell\" <sip:alice@example.com;transport=tcp>;tag=abc123;x=1"`,
	`"a=1;b=2;c;d=xy"`,
	`"line one\nfoo: bar\r\nline three\n"`,
	`"+1 (555) 010-9999"`,
	`"he said \"hi\" and 'bye' \\o/"`,
	`"a b&c=d/e?f;g[h]:i"`,
	`""`,
	`1234`,
	`"'quoted'"`,
	`"<bracketed>"`,
	`"SGVsbG8sIFdvcmxk"`,
	`"1700000000"`,
	`"sip:127.0.0.1"`,
	`"<sip:carol@example.org>"`,
	`"a%20b+c%2F"`,
	`"12345"`,
	`"x=1|y=2|z"`,
	`"42abc"`,
	`"sip:dave@example.net;transport=tls"`,
}

// transformCases are pseudo-variables with transformations, each read
// into $var(r): every class Kamailio's pv module defines but the
// encodings of SMS and base58, corehash and fmtlines; constant
// parameters and parameters from variables ($var(i) is 1, $var(pn) "b",
// $var(sep) ";", $var(re) "/World/There/"). Left out: uri.saor, uri.suri and uri.duri, where
// Kamailio 5.6.3 writes a byte of old buffer contents after the scheme;
// s.rbefore and s.rafter, where it reads past the value's end (its loop
// counts up from the last byte).
var transformCases = []string{
	// s.*
	"$(var(in0){s.len})", "$(var(in10){s.len})", "$(var(in11){s.len})",
	"$(var(in21){s.int})", "$(var(in11){s.int})",
	"$(var(in0){s.md5})", "$(var(in0){s.sha256})", "$(var(in0){s.sha384})", "$(var(in0){s.sha512})",
	"$(var(in2){s.rmws})", "$(var(in0){s.tolower})", "$(var(in0){s.toupper})", "$(var(in11){s.toupper})",
	"$(var(in7){s.numeric})",
	"$(var(in0){s.encode.hexa})", "$(var(in0){s.encode.hexa}{s.decode.hexa})",
	"$(var(in0){s.encode.base64})", "$(var(in14){s.decode.base64})", "$(var(in19){s.encode.base64t})",
	"$(var(in19){s.encode.base64t}{s.decode.base64t})", "$(var(in9){s.encode.base64url})",
	"$(var(in9){s.encode.base64url}{s.decode.base64url})", "$(var(in9){s.encode.base64urlt})",
	"$(var(in9){s.encode.base64urlt}{s.decode.base64urlt})",
	"$(var(in8){s.escape.common})", "$(var(in8){s.escape.common}{s.unescape.common})",
	"$(var(in9){s.escape.user})", "$(var(in9){s.escape.user}{s.unescape.user})",
	"$(var(in9){s.escape.param})", "$(var(in9){s.escape.param}{s.unescape.param})",
	"$(var(in8){s.escape.csv})",
	"$(var(in19){s.prefixes})", "$(var(in19){s.prefixes,3})", "$(var(in19){s.prefixes.quoted,2})",
	"$(var(in0){s.substr,0,5})", "$(var(in0){s.substr,7,0})", "$(var(in0){s.substr,-5,0})",
	"$(var(in0){s.substr,-5,2})", "$(var(in0){s.substr,7,100})", "$(var(in0){s.substr,$var(i),3})",
	"$(var(in1){s.select,0,,})", "$(var(in1){s.select,1,,})", "$(var(in1){s.select,2,,})",
	"$(var(in1){s.select,3,,})", "$(var(in1){s.select,9,,})", "$(var(in1){s.select,-1,,})",
	"$(var(in1){s.select,-2,,})", "$(var(in1){s.select,1,;})", "$(var(in1){s.select,$var(i),,})",
	"$(var(in0){s.strip,2})", "$(var(in0){s.strip,100})", "$(var(in0){s.striptail,3})",
	"$(var(in0){s.stripto,W})", "$(var(in0){s.stripto,z})",
	"$(var(in15){s.ftime,%Y-%m-%d})",
	"$(var(in0){s.replace,l,L})", "$(var(in0){s.replace,World,There})",
	"$(var(in2){s.trim})", "$(var(in2){s.rtrim})", "$(var(in2){s.ltrim})",
	"$(var(in0){s.rm,l})", "$(var(in0){s.rm,o})",
	"$(var(in9){s.urlencode.param})", "$(var(in18){s.urldecode.param})",
	"$(var(in12){s.unquote})", "$(var(in0){s.unquote})", "$(var(in13){s.unbracket})",
	"$(var(in1){s.count,,})", "$(var(in0){s.count,l})", "$(var(in1){s.count,$var(sep)})",
	"$(var(in1){s.before,,})", "$(var(in1){s.after,,})", "$(var(in1){s.before,z})", "$(var(in1){s.after,z})",
	"$(var(in1){s.after,,}{s.after,,}{s.after,,})",
	// re.subst (textops')
	"$(var(in0){re.subst,/o/0/g})", "$(var(in0){re.subst,/([A-Za-z]+), ([A-Za-z]+)/\\2 \\1/})",
	"$(var(in0){re.subst,/xyz/abc/})", "$(var(in0){re.subst,/L/_/ig})", "$(var(in0){re.subst,$var(re)})",
	"$(var(in1){re.subst,/[,;]+/-/g}{s.len})",
	// uri.*
	"$(var(in3){uri.user})", "$(var(in3){uri.host})", "$(var(in3){uri.domain})", "$(var(in3){uri.passwd})",
	"$(var(in3){uri.port})", "$(var(in3){uri.params})", "$(var(in3){uri.param,foo})", "$(var(in3){uri.param,lr})",
	"$(var(in3){uri.param,nope})", "$(var(in3){uri.headers})", "$(var(in3){uri.transport})",
	"$(var(in3){uri.ttl})", "$(var(in3){uri.uparam})", "$(var(in3){uri.maddr})", "$(var(in3){uri.method})",
	"$(var(in3){uri.lr})", "$(var(in3){uri.r2})", "$(var(in3){uri.scheme})", "$(var(in3){uri.tosocket})",
	"$(var(in16){uri.user})", "$(var(in16){uri.port})", "$(var(in16){uri.tosocket})", "$(var(in22){uri.tosocket})",
	// param.*
	"$(var(in5){param.value,b})", "$(var(in5){param.value,c})", "$(var(in5){param.value,zz})",
	"$(var(in5){param.value,$var(pn)})", "$(var(in5){param.in,c})", "$(var(in5){param.in,zz})",
	"$(var(in5){param.valueat,0})", "$(var(in5){param.valueat,1})", "$(var(in5){param.valueat,-1})",
	"$(var(in5){param.valueat,7})", "$(var(in5){param.name,0})", "$(var(in5){param.name,-2})",
	"$(var(unset){param.value,b})", "$(var(in5){param.count})", "$(var(in20){param.count,|})", "$(var(in20){param.value,y,|})",
	// nameaddr.*, tobody.*
	"$(var(in4){nameaddr.uri})", "$(var(in4){nameaddr.name})", "$(var(in4){nameaddr.len})",
	"$(var(in17){nameaddr.uri})", "$(var(in17){nameaddr.name})", "$(var(in22){nameaddr.uri})",
	"$(var(in4){nameaddr.uri}{uri.user}{s.toupper})",
	"$(var(in4){tobody.uri})", "$(var(in4){tobody.tag})", "$(var(in4){tobody.display})",
	"$(var(in4){tobody.user})", "$(var(in4){tobody.host})", "$(var(in4){tobody.params})",
	"$(var(in17){tobody.user})", "$(var(in17){tobody.tag})",
	// line.*
	"$(var(in6){line.count})", "$(var(in6){line.at,0})", "$(var(in6){line.at,1})", "$(var(in6){line.at,2})",
	"$(var(in6){line.at,-1})", "$(var(in6){line.at,-3})", "$(var(in6){line.at,5})", "$(var(in6){line.sw,foo})",
	"$(var(in6){line.sw,nope})", "$(var(in0){line.count})",
}

// transformChunk is how many cases a request asks for (a reply of them
// all has more header lines than a SIP parser takes).
const transformChunk = 40

// transformCfg reads each case into $var(r) ("unset" before) and writes
// it in the reply with its type: $var(r) + 0 adds to an integer and
// appends to a string.
func transformCfg(listen string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!KAMAILIO\n%s\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"textops.so\"\n\nrequest_route {\n", listen)
	for i, in := range transformInputs {
		fmt.Fprintf(&b, "\t$var(in%d) = %s;\n", i, in)
	}
	b.WriteString("\t$var(i) = 1;\n\t$var(pn) = \"b\";\n\t$var(sep) = \";\";\n\t$var(re) = \"/World/There/\";\n")
	for i, c := range transformCases {
		if i%transformChunk == 0 {
			if i > 0 {
				b.WriteString("\t}\n")
			}
			fmt.Fprintf(&b, "\tif ($hdr(X-Chunk) == \"%d\") {\n", i/transformChunk)
		}
		fmt.Fprintf(&b, "\t$var(r) = \"unset\";\n\t$var(r) = %s;\n\t$var(t) = $var(r) + 0;\n\tappend_to_reply(\"X-T%d: [$var(r)] [$var(t)]\\r\\n\");\n", c, i)
	}
	b.WriteString("\t}\n\tsl_send_reply(\"200\", \"OK\");\n\texit;\n}\n")
	return b.String()
}

// TestKamailioTransformations: Kamailio 5.6 and kemi read every case of
// transformCases to the same value and type.
func TestKamailioTransformations(t *testing.T) {
	pair := kamailiotest.StartPair(t, transformCfg)
	same := 0
	var km, em *sip.Msg
	for i, c := range transformCases {
		if i%transformChunk == 0 {
			req := kamailiotest.Options(fmt.Sprintf("X-Chunk: %d\r\n", i/transformChunk))
			km, em = kamailiotest.Ask(t, pair.Kamailio, 2*time.Second, req), kamailiotest.Ask(t, pair.Kemi, 2*time.Second, req)
		}
		h := fmt.Sprintf("X-T%d", i)
		k, e := kamailiotest.Header(km, h), kamailiotest.Header(em, h)
		switch {
		case k == "":
			t.Errorf("%s: Kamailio wrote no %s", c, h)
		case k != e:
			t.Errorf("%s:\n  Kamailio %s\n  kemi     %s", c, k, e)
		default:
			same++
			if testing.Verbose() {
				t.Logf("%s: %s", c, k)
			}
		}
	}
	t.Logf("%d of %d cases read the same", same, len(transformCases))
}

// TestKamailioTransformationErrors: a transformation whose parameters
// Kamailio 5.6 refuses stops kamailio -c, and kemi -c names its line and
// what is wrong.
func TestKamailioTransformationErrors(t *testing.T) {
	kam := kamailiotest.Need(t)
	for _, c := range []struct{ tr, says string }{
		{"{s.stripto,,}", "expected '}'"},          // a string parameter is not ','
		{"{param.value,y,,}", "expected '}'"},      // nor a separator
		{"{param.value,y,ab}", "one character"},    // which is one character
		{"{s.substr,1,-2}", "negative"},            // a length is not negative
		{"{s.select,1}", "separator"},              // select wants one
		{"{s.substr,a,1}", "number"},               // an offset is a number
		{"{uri.user,x}", "expected '}'"},           // uri.user takes none
		{"{s.encode.7bit}", "kemi does not have"},  // not in kemi, said so
		{"{s.nope}", "unknown transformation"},     // not in Kamailio
		{"{param.count,;;}", "one character"},      // a separator
		{"{s.select,$var(i),,}{s.len", "unclosed"}, // the last one unclosed
	} {
		path := filepath.Join(t.TempDir(), "tr.cfg")
		text := fmt.Sprintf("#!KAMAILIO\nloadmodule \"pv.so\"\nrequest_route {\n\t$var(x) = $(var(y)%s);\n}\n", c.tr)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if c.tr != "{s.encode.7bit}" {
			if ok, out := kamailiotest.Check(kam, path); ok {
				t.Errorf("%s: kamailio -c accepts it: %s", c.tr, out)
			}
		}
		var out, errb strings.Builder
		if code := run([]string{"-c", "-f", path}, &out, &errb, nil); code == 0 || !strings.Contains(errb.String(), "tr.cfg:4") || !strings.Contains(errb.String(), c.says) {
			t.Errorf("%s: kemi -c: exit %d, %s (want the line and %q)", c.tr, code, errb.String(), c.says)
		} else {
			t.Logf("%s: %s", c.tr, strings.TrimSpace(errb.String()))
		}
	}
}
