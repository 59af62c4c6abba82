package golua

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/engines/enginetest"
	gopher "github.com/kemi-sip/kemi/engines/lua"
	_ "github.com/kemi-sip/kemi/modules/all"
)

func newEngine(t *dispatch.Table, file string, src []byte) (router.Engine, error) {
	return New(t, file, src)
}

var script = enginetest.BenchScript("lua")

func TestScriptSemantics(t *testing.T) {
	enginetest.RunCases(t, "app_lua", "t.lua", newEngine, enginetest.LuaCases)
}

func TestRegisterRoute(t *testing.T) { enginetest.CheckRegister(t, "app_lua", script, newEngine) }

func TestSyntaxError(t *testing.T) {
	_, err := New(enginetest.Table(t, "app_lua"), "bad.lua", []byte("function ksr_request_route()\n  if x then\nend\n"))
	if err == nil || !strings.Contains(err.Error(), "bad.lua:4:") {
		t.Fatalf("got %v, want an error at bad.lua:4", err)
	}
	_, err = New(enginetest.Table(t, "app_lua"), "none.lua", []byte("x = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "defines no function ksr_request_route") {
		t.Fatalf("got %v", err)
	}
}

// TestPatternsAsGopherLua: a pattern gives the same results in both Lua
// engines. The first four results of each expression are joined into one
// string by the script, in gopher-lua and in go-lua, and compared. (Not
// compared: an init past the end, where gopher-lua follows Lua 5.1 and
// go-lua Lua 5.2; and the count of results of a failed match, none in
// gopher-lua, one nil in Lua and go-lua.)
func TestPatternsAsGopherLua(t *testing.T) {
	exprs := []string{
		`string.find("hello world", "o w")`,
		`string.find("hello world", "o", 6)`,
		`string.find("hello world", "l+")`,
		`string.find("hello world", "(l+)(o)")`,
		`string.find("a.b", ".", 1, true)`,
		`string.find("a.b", "%.")`,
		`string.find("abc", "b", -1)`,
		`string.find("abc", "x")`,
		`string.find("key=val", "()=()")`,
		`string.match("sip:alice@example.com:5060", "^sip:([^@]+)@([^:;]+):?(%d*)")`,
		`string.match("  trim me  ", "^%s*(.-)%s*$")`,
		`string.match("2024-01-02", "(%d+)-(%d+)-(%d+)")`,
		`string.match("abc", "^(b)")`,
		`string.match("abc", "b", 3)`,
		`string.match("[x]", "%[(.)%]")`,
		`string.match("f(a(b)c)", "%b()")`,
		`string.match("THE (quick) fox", "%f[%a]%a+")`,
		`string.gsub("hello world", "o", "0")`,
		`string.gsub("hello world", "(o)", "<%1>", 1)`,
		`string.gsub("hello", "", "-")`,
		`string.gsub("abc", "%w", "%0%0")`,
		`string.gsub("$x and $y", "%$(%w+)", {x = "1", y = 2})`,
		`string.gsub("a b c", "%a", function(c) if c == "b" then return nil end return c:upper() end)`,
		`string.gsub('"sip:1.2.3.4"', '"', "")`,
		`string.gsub("100%", "%%", " percent")`,
		`("x=1, y=2"):gsub("(%w+)=(%w+)", "%2=%1")`,
		`("Friendly-Scanner"):find("Scanner")`,
	}
	var b strings.Builder
	b.WriteString("local function j(...) local t = {} for i = 1, 4 do t[i] = tostring((select(i, ...))) end return table.concat(t, '|') end\n")
	b.WriteString("local out = {}\n")
	for _, e := range exprs {
		fmt.Fprintf(&b, "out[#out + 1] = j(%s)\n", e)
	}
	b.WriteString(`local parts = {} for w in string.gmatch("one two  three", "%a+") do parts[#parts + 1] = w end out[#out + 1] = table.concat(parts, ",")
parts = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do parts[#parts + 1] = k .. v end out[#out + 1] = table.concat(parts, ",")
function ksr_request_route() KSR.pv.sets("$var(out)", table.concat(out, "\n")) end
`)
	src := []byte(b.String())
	run := func(name string, newEngine enginetest.NewEngine) []string {
		e, err := newEngine(enginetest.Table(t, "app_lua"), "p.lua", src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := enginetest.NewFixture(t, e, io.Discard)
		if _, err := f.Run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return strings.Split(f.W.Var("out").String(), "\n")
	}
	want := run("gopher-lua", func(t *dispatch.Table, file string, src []byte) (router.Engine, error) {
		return gopher.New(t, file, src)
	})
	got := run("go-lua", newEngine)
	if len(got) != len(exprs)+2 || len(want) != len(got) {
		t.Fatalf("got %d results, gopher-lua %d, want %d", len(got), len(want), len(exprs)+2)
	}
	for i := range want {
		what := "gmatch"
		if i < len(exprs) {
			what = exprs[i]
		}
		if got[i] != want[i] {
			t.Errorf("%s: go-lua %q, gopher-lua %q", what, got[i], want[i])
		}
	}
}

func BenchmarkRegisterRoute(b *testing.B) { enginetest.BenchRegister(b, "app_lua", script, newEngine) }

func BenchmarkKSRCall(b *testing.B) { enginetest.BenchCalls(b, "app_lua", script, newEngine) }

func TestReplyRouteDrop(t *testing.T) {
	enginetest.CheckReplyDrop(t, "app_lua", "t.lua", newEngine, "function ksr_request_route() end\nfunction ksr_reply_route() if KSR.kx.get_status() == 183 then KSR.x.drop() end end\n")
}

func TestLatencyLimit(t *testing.T) {
	enginetest.CheckLatencyLimit(t, "app_lua", "t.lua", newEngine, "function ksr_request_route() KSR.kemibench.sleep(5) end")
}

func TestKSROutsideARoute(t *testing.T) {
	enginetest.CheckOutsideRoute(t, "app_lua", "t.lua", newEngine, "KSR.info('loading\\n')\nlocal m = KSR.pv.get('$rm')\n"+
		"function ksr_request_route()\n  if m ~= 'OPTIONS' then KSR.err('saw ' .. tostring(m) .. '\\n') end\nend\n")
}
