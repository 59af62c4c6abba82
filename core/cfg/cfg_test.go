package cfg

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMain(t *testing.T) {
	c, err := Parse("testdata/main.cfg", nil, map[string]string{"FROM_CLI": "1"})
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, m := range c.Modules {
		mods = append(mods, m.Name)
	}
	if got := strings.Join(mods, " "); got != "maxfwd.so auth.so" {
		t.Errorf("modules: got %q, want include then the #!ifdef branch", got)
	}
	if c.Modules[0].Pos.File != "testdata/inc.cfg" || c.Modules[0].Pos.Line != 1 {
		t.Errorf("included module position %v", c.Modules[0].Pos)
	}
	if c.Modules[1].Pos.String() != "testdata/main.cfg:21:1" {
		t.Errorf("module position %v, want testdata/main.cfg:21:1", c.Modules[1].Pos)
	}
	want := []ModParam{
		{Module: "auth_db|usrloc", Name: "db_url", Str: "sqlite:///var/lib/kemi/kemi.db"},
		{Module: "maxfwd", Name: "max_limit", Int: -5, IsInt: true},
		{Module: "htable", Name: "htable", Str: "a=>size=8;autoexpire=60"},
	}
	if len(c.Params) != len(want) {
		t.Fatalf("params: %+v", c.Params)
	}
	for i, w := range want {
		p := c.Params[i]
		if p.Module != w.Module || p.Name != w.Name || p.Str != w.Str || p.Int != w.Int || p.IsInt != w.IsInt {
			t.Errorf("case %d: got %+v, want %+v", i, p, w)
		}
	}
	for _, g := range []struct{ name, value string }{
		{"debug", "3"}, {"log_stderror", "yes"}, {"children", "4"},
		{"listen", "udp:127.0.0.1:5060 advertise 192.0.2.1:5060"}, {"alias", "sip.example.com"},
	} {
		if v, ok := c.Global(g.name); !ok || v.Value != g.value {
			t.Errorf("global %s: got %q, want %q", g.name, v.Value, g.value)
		}
	}
	if n, _ := c.Int("children", 0); n != 4 {
		t.Errorf("children %d", n)
	}
	if b, _ := c.Bool("log_stderror", false); !b {
		t.Errorf("log_stderror not true")
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "main.cfg:16:1: unknown global parameter my_unknown_param") {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if c.Engine != "native" {
		t.Errorf("engine %q", c.Engine)
	}
	if _, ok := c.Defines["FROM_CLI"]; !ok {
		t.Errorf("-A define lost")
	}
	var routes []string
	for _, r := range c.Routes {
		routes = append(routes, r.Kind+"["+r.Name+"]")
	}
	if got := strings.Join(routes, " "); got != "request_route[] route[AUTH] event_route[htable:mod-init] onreply_route[MANAGE_REPLY]" {
		t.Errorf("routes: %s", got)
	}
	got := dump(c.Route("request_route", "").Body)
	wantAST := `{if(!mf_process_maxfwd_header("10")){sl_send_reply("483","Too Many Hops");exit;};` +
		`if(((($rm=="OPTIONS")&&(uri==myself))&&($rU==$null))){sl_send_reply("200","Keepalive from 127.0.0.1");exit;}` +
		`else if(((method=="REGISTER")||is_method("INVITE|BYE"))){setflag(1);$var(n)=(1+(2*3));$avp(s:x)+="y";};` +
		`switch($rU){case "alice":route(AUTH);break;case 1:default:drop;};` +
		`while(($var(n)>0)){$var(n)=($var(n)-1);};` +
		`if((($ua=~"friendly-scanner")||!defined $hdr(User-Agent)))exit;` +
		`return ((-1&3)|4);}`
	if got != wantAST {
		t.Errorf("AST:\n got %s\nwant %s", got, wantAST)
	}
}

// dump prints an AST compactly, fully parenthesised.
func dump(n any) string {
	switch n := n.(type) {
	case *Block:
		var b strings.Builder
		b.WriteString("{")
		for _, s := range n.Stmts {
			b.WriteString(dump(s))
			b.WriteString(";")
		}
		b.WriteString("}")
		return b.String()
	case *If:
		s := "if(" + dump(n.Cond) + ")" + dump(n.Then)
		if n.Else != nil {
			s += "else " + dump(n.Else)
		}
		return s
	case *Switch:
		s := "switch(" + dump(n.X) + "){"
		for _, c := range n.Cases {
			if c.Value == nil {
				s += "default:"
			} else {
				s += "case " + dump(c.Value) + ":"
			}
			for _, st := range c.Body {
				s += dump(st) + ";"
			}
		}
		return s + "}"
	case *While:
		return "while(" + dump(n.Cond) + ")" + dump(n.Body)
	case *Assign:
		return n.Target.Name + n.Op + dump(n.Value)
	case *ExprStmt:
		return dump(n.X)
	case *Exit:
		return "exit"
	case *Drop:
		return "drop"
	case *Break:
		return "break"
	case *Return:
		if n.Value == nil {
			return "return"
		}
		return "return " + dump(n.Value)
	case *IntLit:
		return fmt.Sprint(n.Value)
	case *StrLit:
		return fmt.Sprintf("%q", n.Value)
	case *PVar:
		return n.Name
	case *Ident:
		return n.Name
	case *Call:
		var args []string
		for _, a := range n.Args {
			args = append(args, dump(a))
		}
		return n.Name + "(" + strings.Join(args, ",") + ")"
	case *Unary:
		if n.Op == "defined" {
			return "defined " + dump(n.X)
		}
		return n.Op + dump(n.X)
	case *Binary:
		return "(" + dump(n.X) + n.Op + dump(n.Y) + ")"
	}
	return fmt.Sprintf("<%T>", n)
}

func TestErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unbalanced ifdef", "#!ifdef A\ndebug=1\n", "t.cfg:1:1: #!ifdef/#!ifndef without #!endif"},
		{"else twice", "#!ifdef A\n#!else\n#!else\n#!endif\n", "t.cfg:3:1: second #!else"},
		{"endif alone", "debug=1\n#!endif\n", "t.cfg:2:1: #!endif without #!ifdef"},
		{"unknown directive", "#!frobnicate X\n", "t.cfg:1:1: unknown preprocessor directive #!frobnicate"},
		{"define twice", "#!define A 1\n#!define A 2\n", "t.cfg:2:1: #!define: A is already defined"},
		{"bad subst", "#!subst \"/(/x/\"\n", "t.cfg:1:1: #!subst: error parsing regexp"},
		{"missing include", "include_file \"/nonexistent/x.cfg\"\n", "t.cfg:1:1: include_file \"/nonexistent/x.cfg\""},
		{"global without value", "debug=\n", "t.cfg:1:1: debug: missing value"},
		{"stray word", "loadmodule \"a.so\"\nhello\n", "t.cfg:2:1: expected '=' after \"hello\""},
		{"loadmodule without quotes", "loadmodule sl\n", "t.cfg:1:12: loadmodule needs a module name in quotes"},
		{"modparam value", "modparam(\"a\", \"b\", $x)\n", "t.cfg:1:20: modparam(\"a\", \"b\"): the value must be a string or an integer"},
		{"route twice", "route[A] { exit; }\nroute[A] { drop; }\n", "t.cfg:2:1: route[A] is already defined at t.cfg:1:1"},
		{"missing semicolon", "request_route {\n  exit\n}\n", "t.cfg:3:1: expected ';', found '}'"},
		{"else without if", "request_route {\n  else { exit; }\n}\n", "t.cfg:2:3: 'else' without 'if'"},
		{"unterminated string", "request_route {\n  xlog(\"abc);\n}\n", "t.cfg:2:8: unterminated string"},
		{"unclosed comment", "debug=1\n/* never closed\n", "t.cfg:2:1: unclosed /* comment"},
		{"unclosed block", "request_route {\n  if (1) {\n", "t.cfg:2:10: '{' is never closed"},
		{"case outside switch", "request_route { case 1: exit; }", "t.cfg:1:17: 'case' outside a switch"},
	}
	for i, c := range cases {
		_, err := Parse("t.cfg", []byte(c.text), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): got %v, want %q", i, c.name, err, c.want)
		}
	}
}

func TestPreprocessor(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sub.cfg"), []byte("#!define FROM_SUB 5\nchildren=FROM_SUB\n"), 0o644)
	text := `#!define PORT 5070
#!trydef PORT 9999
#!redefine NAME "kemi"
#!subst "/example\.com/example.org/g"
#!ifdef NOPE
#!ifdef NESTED
debug=9
#!endif
#!else
port=PORT
#!endif
#!define MULTI "a" \
  "b"
server_header="Server: NAME at example.com"
include_file "sub.cfg"
log_prefix=NAME
PORTS_NOT_A_DEFINE=1
`
	c, err := Parse(filepath.Join(dir, "main.cfg"), []byte(text), map[string]string{"EXTRA": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct{ name, value string }{
		{"port", "5070"}, {"children", "5"}, {"log_prefix", "kemi"},
		{"server_header", "Server: NAME at example.org"}, // defines are not replaced in strings; #!subst is
	} {
		if v, ok := c.Global(g.name); !ok || v.Value != g.value {
			t.Errorf("%s: got %q, want %q", g.name, v.Value, g.value)
		}
	}
	if _, ok := c.Global("debug"); ok {
		t.Errorf("a nested #!ifdef inside a false branch was used")
	}
	if _, ok := c.Global("PORTS_NOT_A_DEFINE"); !ok {
		t.Errorf("a name that only starts with a define was replaced")
	}
	if v := c.Defines["MULTI"]; v != "\"a\" \n  \"b\"" {
		t.Errorf("continued define: %q", v)
	}
	if g, _ := c.Global("log_prefix"); g.Pos.Line != 16 {
		t.Errorf("line numbers drift after a continued define and an include: log_prefix at %v, want line 16", g.Pos)
	}
}

func TestDirectiveInComment(t *testing.T) {
	c, err := Parse("t.cfg", []byte("/* a comment\n#!define HIDDEN 1\n*/\ndebug=1\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Defines["HIDDEN"]; ok {
		t.Errorf("a #!define inside a /* comment */ was applied")
	}
}

func TestRouteNames(t *testing.T) {
	c, err := Parse("t.cfg", []byte("route { exit; }\nonreply_route { exit; }\nroute[1] { exit; }\nfailure_route[F] { exit; }\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct{ kind, name string }{{"request_route", ""}, {"reply_route", ""}, {"route", "1"}, {"failure_route", "F"}} {
		if c.Route(k.kind, k.name) == nil {
			t.Errorf("no %s[%s]", k.kind, k.name)
		}
	}
}

// Return codes are negative: switch cases take them (case -1:).
func TestNegativeCase(t *testing.T) {
	c, err := Parse("t.cfg", []byte("request_route {\n switch ($var(rc)) {\n case -3:\n case 2:\n exit;\n }\n}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sw := c.Route("request_route", "").Body.Stmts[0].(*Switch)
	if v, ok := sw.Cases[0].Value.(*IntLit); !ok || v.Value != -3 {
		t.Errorf("case -3: got %#v", sw.Cases[0].Value)
	}
	if _, err := Parse("t.cfg", []byte("request_route { switch ($var(rc)) { case -x: exit; } }\n"), nil); err == nil || !strings.Contains(err.Error(), "expected a number after '-'") {
		t.Errorf("case -x: error %v", err)
	}
}

// TestIncludeNotARegularFile: include_file of a device or a directory is
// an error naming the line, not a read that never ends.
func TestIncludeNotARegularFile(t *testing.T) {
	for _, path := range []string{"/dev/zero", "/"} {
		_, err := Parse("f.cfg", []byte("debug=2\ninclude_file \""+path+"\"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "f.cfg:2") || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("include_file %s: err = %v", path, err)
		}
	}
}

// TestBooleanWords: yes, true, on, enable and no, false, off, disable are
// the numbers 1 and 0 as a modparam value and a global, as Kamailio's
// lexer reads them.
func TestBooleanWords(t *testing.T) {
	c, err := Parse("t.cfg", []byte("log_stderror=no\nauto_aliases=off\nx=enable\n"+
		"modparam(\"auth_db\", \"calculate_ha1\", yes)\nmodparam(\"a\", \"b\", false)\nmodparam(\"a\", \"c\", on)\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, p := range c.Params {
		if !p.IsInt {
			t.Errorf("modparam %s: not an int", p.Name)
		}
		got = append(got, p.Int)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("modparam values %v, want [1 0 1]", got)
	}
	if n, err := c.Int("x", 5); err != nil || n != 1 {
		t.Errorf("x=enable: %d %v", n, err)
	}
	if b, err := c.Bool("log_stderror", true); err != nil || b {
		t.Errorf("log_stderror=no: %v %v", b, err)
	}
	if _, err := Parse("t.cfg", []byte("modparam(\"a\", \"b\", maybe)\n"), nil); err == nil {
		t.Error("modparam with a word that is not a number: no error")
	}
}

// TestSocketArgument: a socket written bare as a function's argument is
// a string; an IPv6 address as one keeps its brackets.
func TestSocketArgument(t *testing.T) {
	c, err := Parse("t.cfg", []byte("request_route {\n force_send_socket(udp:127.0.0.1:5060);\n force_send_socket(tls:[::1]:5061);\n"+
		" if (src_ip == ::ffff:10.0.0.1 || dst_ip == [fe80::1]/64) { exit; }\n}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range c.Routes[0].Body.Stmts {
		if e, ok := st.(*ExprStmt); ok {
			if call, ok := e.X.(*Call); ok {
				got = append(got, call.Args[0].(*StrLit).Value)
			}
		}
	}
	if strings.Join(got, " ") != "udp:127.0.0.1:5060 tls:[::1]:5061" {
		t.Errorf("socket arguments %q", got)
	}
}
