package enginetest

// LuaCases are the script semantics both Lua engines (gopher-lua and
// go-lua) must give, on a script named t.lua.
var LuaCases = []Case{
	{Name: "return", Src: "function ksr_request_route() return 5 end", RC: 1},
	{Name: "exit", Src: "function ksr_request_route() KSR.x.exit() error('not reached') end"},
	{Name: "exit in nested calls", Src: "local function c() KSR.x.exit() end\nlocal function b() c() error('not reached') end\nfunction ksr_request_route() b() error('not reached') end"},
	{Name: "drop", Src: "function ksr_request_route() KSR.x.drop() end", Drop: true},
	{Name: "KSR.drop goes on", Src: "function ksr_request_route() KSR.drop() KSR.x.exit() end", Drop: true},
	{Name: "pcall cannot catch exit", Src: "function ksr_request_route() pcall(function() KSR.x.exit() end) error('not reached') end"},
	{Name: "nested pcall cannot catch exit", Src: "function ksr_request_route() pcall(pcall, function() KSR.x.exit() end) error('not reached') end"},
	{Name: "xpcall cannot catch exit", Src: "function ksr_request_route() xpcall(function() KSR.x.exit() end, function(e) return e end) error('x') end"},
	{Name: "pcall still catches errors", Src: "function ksr_request_route() local ok, e = pcall(function() error('x') end) if ok or not string.find(e, 'x') then error('caught nothing') end end", RC: 1},
	{Name: "xpcall calls its handler", Src: "function ksr_request_route() local ok, e = xpcall(function() error('x') end, function(e) return 'handled' end) if ok or e ~= 'handled' then error('handler not run') end end", RC: 1},
	{Name: "pcall passes arguments and results", Src: "function ksr_request_route() local ok, a, b = pcall(function(x, y) return x + y, 'z' end, 1, 2) if not ok or a ~= 3 or b ~= 'z' then error('bad results') end end", RC: 1},
	{Name: "zero return code stops", Src: "function ksr_request_route() KSR.kemibench.zero() error('not reached') end"},
	{Name: "value int 0 does not stop", Src: "function ksr_request_route() KSR.pv.geti('$var(none)') error('reached') end", RC: -1, ErrHas: "t.lua:1: reached"},
	{Name: "runtime error", Src: "function ksr_request_route()\n local t = nil\n t.x = 1\nend", RC: -1, ErrHas: "t.lua:3:"},
	{Name: "arity", Src: "function ksr_request_route()\n KSR.sl.send_reply(404)\nend", RC: -1, ErrHas: "t.lua:2: invalid number of parameters for: KSR.sl.send_reply"},
	{Name: "type", Src: "function ksr_request_route()\n KSR.setflag('x')\nend", RC: -1, ErrHas: "t.lua:2: invalid parameter 1 for: KSR.setflag (an int is expected"},
	{Name: "nil for a string", Src: "function ksr_request_route()\n KSR.pv.sets('$var(x)', nil)\nend", RC: -1, ErrHas: "t.lua:2: invalid parameter 2 for: KSR.pv.sets (a string is expected, got nil)"},
	{Name: "module panic", Src: "function ksr_request_route()\n KSR.kemibench.panic()\nend", RC: -1, ErrHas: "t.lua:2: KSR.kemibench.panic: panic in the module"},
	{Name: "number as string", Src: "function ksr_request_route() KSR.pv.sets('$var(n)', 42) if KSR.pv.get('$var(n)') == '42' then KSR.x.exit() end error('x') end"},
	{Name: "xval null is nil", Src: "function ksr_request_route() if KSR.pv.get('$hdr(X-None)') == nil then KSR.x.exit() end error('x') end"},
	{Name: "xval dict and array", Src: "function ksr_request_route() KSR.pvx.xavp_child_seti('t', 'a', 1) KSR.pvx.xavp_child_sets('t', 'b', 'x') local d, k = KSR.pvx.xavp_getd('t'), KSR.pvx.xavp_get_keys('t', 0) if #d == 2 and d[1].a[1] == 1 and d[1].b[1] == 'x' and d[2].b == nil and d[2].a[1] == 1 and k[1] == 'b' and k[2] == 'a' and KSR.pvx.xavp_getd_p1('t', 0).b[1] == 'x' then KSR.x.exit() end error('x') end"},
	{Name: "modf", Src: "function ksr_request_route() KSR.x.modf('setxflag', '3') if KSR.corex.isxflagset(3) > 0 then KSR.x.exit() end error('x') end"},
	{Name: "modf arity", Src: "function ksr_request_route() KSR.x.modf('setxflag') end", RC: -1, ErrHas: "invalid number of parameters for: setxflag"},
	{Name: "only loaded modules", Src: "function ksr_request_route() if KSR.tm == nil and KSR.registrar == nil then KSR.x.exit() end error('x') end"},
	{Name: "route() runs a function", Src: "function other() KSR.setflag(9) end\nfunction ksr_request_route() KSR.route('other') if KSR.isflagset(9) then KSR.x.exit() end error('x') end"},
	{Name: "exit in a called route stops the caller", Src: "function other() KSR.x.exit() end\nfunction ksr_request_route() KSR.route('other') error('not reached') end"},
	{Name: "app_lua.run calls a function with strings", Src: "function f(a, b, c) if a == 'x' and b == 'y' and c == 'z' then KSR.setflag(3) end end\nfunction g() KSR.x.exit() end\nfunction ksr_request_route()\n if KSR.app_lua.run_p3('f', 'x', 'y', 'z') ~= 1 or not KSR.isflagset(3) then error('run_p3') end\n if KSR.app_lua.run('g') ~= 1 then error('exit in run') end\n if KSR.app_lua.run('none') ~= -1 then error('none') end\n if KSR.app_lua.run_p1('error', 'boom') ~= -1 then error('error') end\n KSR.x.exit()\nend"},
	{Name: "app_lua.runstring and dostring run code in the state", Src: "function ksr_request_route()\n if KSR.app_lua.runstring('v = 41 + 1') ~= 1 or v ~= 42 then error('runstring') end\n if KSR.app_lua.dostring('KSR.setflag(4)') ~= 1 or not KSR.isflagset(4) then error('dostring') end\n if KSR.app_lua.dostring('this is not lua') ~= -1 then error('syntax') end\n if KSR.app_lua.dofile('/nonexistent.lua') ~= -1 then error('dofile') end\n KSR.x.exit()\nend"},
	{Name: "patterns", Src: `function ksr_request_route()
 local u, h = string.match("sip:alice@example.com;transport=udp", "^sip:([^@]+)@([^;]+)")
 local s, n = string.gsub("a-b-c", "-", "+")
 local parts = {}
 for w in string.gmatch("one two three", "%a+") do parts[#parts + 1] = w end
 local i, j = string.find("Friendly-Scanner", "Scan")
 if u == "alice" and h == "example.com" and s == "a+b+c" and n == 2 and #parts == 3 and i == 10 and j == 13 then KSR.x.exit() end
 error(table.concat({tostring(u), tostring(h), s, tostring(n), tostring(#parts), tostring(i), tostring(j)}, " "))
end`},
}
