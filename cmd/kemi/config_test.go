package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrors: each bad config stops start-up with an error naming
// the file, line and column of the fault.
func TestConfigErrors(t *testing.T) {
	const head = "listen=udp:127.0.0.1:0\nloadmodule \"sl.so\"\nloadmodule \"app_lua.so\"\nmodparam(\"app_lua\", \"load\", \"route.lua\")\n"
	goodLua := "function ksr_request_route()\n  KSR.sl.send_reply(200, \"OK\")\nend\n"
	cases := []struct {
		name string
		cfg  string
		lua  string
		want string // substring of the error
	}{
		{"good", head + "cfgengine \"lua\"\n", goodLua, ""},
		{"unknown module", head + "loadmodule \"nosuch.so\"\ncfgengine \"lua\"\n", goodLua,
			`kamailio.cfg:5:1: loadmodule "nosuch.so": no such module; built in: `},
		{"modparam type", head + "loadmodule \"maxfwd.so\"\nmodparam(\"maxfwd\", \"max_limit\", \"ten\")\ncfgengine \"lua\"\n", goodLua,
			`kamailio.cfg:6:1: modparam("maxfwd", "max_limit"): wants an int, got the string "ten"`},
		{"modparam unknown", head + "modparam(\"sl\", \"nosuch\", 1)\ncfgengine \"lua\"\n", goodLua,
			`kamailio.cfg:5:1: modparam("sl", "nosuch"): no such parameter`},
		{"modparam module not loaded", head + "modparam(\"tm\", \"fr_timer\", 1)\ncfgengine \"lua\"\n", goodLua,
			`kamailio.cfg:5:1: modparam("tm", "fr_timer"): module not loaded`},
		{"unbalanced ifdef", head + "#!ifdef WITH_X\ncfgengine \"lua\"\n", goodLua,
			`kamailio.cfg:5:1: #!ifdef/#!ifndef without #!endif`},
		{"stray endif", head + "cfgengine \"lua\"\n  #!endif\n", goodLua,
			`kamailio.cfg:6:3: #!endif without #!ifdef`},
		{"missing route", head + "cfgengine \"lua\"\n", "function ksr_reply_route()\nend\n",
			`kamailio.cfg:5:1: app_lua: ` + "%DIR%" + `/route.lua defines no function ksr_request_route()`},
		{"lua syntax error", head + "cfgengine \"lua\"\n", "function ksr_request_route()\n  if x then\nend\n",
			"route.lua:3:"},
		{"lua error while loading", head + "cfgengine \"lua\"\n", "local x = nil\nx.y = 1\nfunction ksr_request_route() end\n",
			"route.lua:2:"},
		{"unknown engine", head + "cfgengine \"cobol\"\n", goodLua, `kamailio.cfg:5:1: cfgengine "cobol": unknown engine`},
		{"bad global", head + "children = many\ncfgengine \"lua\"\n", goodLua, `kamailio.cfg:5:1: children: wants an integer, got "many"`},
		{"route block syntax", head + "cfgengine \"lua\"\nrequest_route {\n  if (\n}\n", goodLua,
			`kamailio.cfg:8:1: expected an expression, found '}'`},
		{"unclosed route", head + "cfgengine \"lua\"\nrequest_route {\n  exit;\n", goodLua, `kamailio.cfg:6:15: '{' is never closed`},
		{"native", head + "request_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n", goodLua, ""},
		{"native unbuilt function", head + "request_route {\n  avp_printf(\"$avp(x)\", \"y\");\n}\n", goodLua, "kamailio.cfg:6:3: function avp_printf (module pv) is not built yet"},
		{"native function of a module not loaded", head + "request_route {\n  t_relay();\n}\n", goodLua, `kamailio.cfg:6:3: function t_relay needs loadmodule "tm.so"`},
		{"native module not loaded", head + "request_route {\n  mf_process_maxfwd_header(\"10\");\n}\n", goodLua,
			`kamailio.cfg:6:3: function mf_process_maxfwd_header needs loadmodule "maxfwd.so"`},
		{"native unknown route", head + "request_route {\n  route(NOPE);\n}\n", goodLua, "kamailio.cfg:6:3: unknown route NOPE"},
		{"native parameter count", head + "request_route {\n  sl_send_reply(\"404\");\n}\n", goodLua,
			"kamailio.cfg:6:3: sl_send_reply: wrong number of parameters: 1 given, 2 expected"},
		{"native bad regex", head + "request_route {\n  if ($ua =~ \"(unclosed\") { exit; }\n}\n", goodLua, `kamailio.cfg:6:14: bad regular expression "(unclosed"`},
		{"native bad int", head + "request_route {\n  sl_send_reply(\"four\", \"x\");\n}\n", goodLua, `kamailio.cfg:6:17: sl_send_reply: parameter 1 must be an integer, got "four"`},
		{"native unknown pv", head + "request_route {\n  $nosuch = 1;\n}\n", goodLua, `kamailio.cfg:6:3: unknown pseudo-variable "$nosuch"`},
		{"native no request_route", head + "route[X] {\n  exit;\n}\n", goodLua, "no request_route block"},
	}
	for i, c := range cases {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "kamailio.cfg")
		os.WriteFile(cfgPath, []byte(c.cfg), 0o644)
		os.WriteFile(filepath.Join(dir, "route.lua"), []byte(c.lua), 0o644)
		lv := &slog.LevelVar{}
		o := &options{cfgFile: cfgPath, defines: map[string]string{}, level: lv, log: slog.New(slog.DiscardHandler)}
		_, err := load(o)
		want := strings.ReplaceAll(c.want, "%DIR%", dir)
		switch {
		case want == "" && err != nil:
			t.Errorf("case %d (%s): unexpected error %v", i, c.name, err)
		case want != "" && err == nil:
			t.Errorf("case %d (%s): no error, want %q", i, c.name, want)
		case want != "" && !strings.Contains(err.Error(), want):
			t.Errorf("case %d (%s): got %q, want it to contain %q", i, c.name, err.Error(), want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	var out, errb syncBuf
	if code := run([]string{"-V"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "kemi") {
		t.Errorf("-V: code %d, out %q", code, out.String())
	}
	out = syncBuf{}
	if code := run([]string{"-c", "-dd", "-E", "-DD", "-L", "/usr/lib/kamailio/modules", "-m", "64"}, &out, &errb, nil); code != 0 ||
		!strings.Contains(out.String(), "config file ok") {
		t.Errorf("-c on the embedded config: code %d, out %q, err %q", code, out.String(), errb.String())
	}
	out = syncBuf{}
	if code := run([]string{"-api-list"}, &out, &errb, nil); code != 0 {
		t.Fatalf("-api-list: code %d: %s", code, errb.String())
	}
	for _, want := range []string{`"msize"`, `"name": "sl_send_reply"`, `"module": "sl"`, `"params": [`, `"ret": "bool"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-api-list output lacks %s", want)
		}
	}
	if strings.Contains(out.String(), `"module": "tm"`) {
		t.Errorf("-api-list shows a module the config does not load")
	}
	errb = syncBuf{}
	if code := run([]string{"-x"}, &out, &errb, nil); code != 2 || !strings.Contains(errb.String(), "unknown option") {
		t.Errorf("-x: code %d, err %q", code, errb.String())
	}
}
