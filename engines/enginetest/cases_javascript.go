package enginetest

// JSCases are the script semantics the JavaScript engine must give, on a
// script named t.js: the Lua cases in JavaScript.
var JSCases = []Case{
	{Name: "return", Src: "function ksr_request_route() { return 5; }", RC: 1},
	{Name: "exit", Src: "function ksr_request_route() { KSR.x.exit(); throw new Error('not reached'); }"},
	{Name: "exit in nested calls", Src: "function c() { KSR.x.exit(); }\nfunction b() { c(); throw new Error('not reached'); }\nfunction ksr_request_route() { b(); throw new Error('not reached'); }"},
	{Name: "drop", Src: "function ksr_request_route() { KSR.x.drop(); }", Drop: true},
	{Name: "KSR.drop goes on", Src: "function ksr_request_route() { KSR.drop(); KSR.x.exit(); }", Drop: true},
	{Name: "try/catch cannot catch exit", Src: "function ksr_request_route() { try { KSR.x.exit(); } catch (e) {} throw new Error('not reached'); }"},
	{Name: "nested try cannot catch exit", Src: "function f() { try { KSR.x.exit(); } catch (e) { KSR.setflag(1); } }\nfunction ksr_request_route() { try { f(); } catch (e) {} finally { KSR.setflag(2); } throw new Error('not reached'); }"},
	{Name: "try still catches errors", Src: "function ksr_request_route() { var caught = false; try { null.x = 1; } catch (e) { caught = true; } if (!caught) throw new Error('caught nothing'); }", RC: 1},
	{Name: "try catches a KSR call error", Src: "function ksr_request_route() { try { KSR.sl.send_reply(404); } catch (e) { if (String(e).indexOf('invalid number of parameters') >= 0) KSR.x.exit(); } throw new Error('x'); }"},
	{Name: "zero return code stops", Src: "function ksr_request_route() { KSR.kemibench.zero(); throw new Error('not reached'); }"},
	{Name: "value int 0 does not stop", Src: "function ksr_request_route() { KSR.pv.geti('$var(none)'); throw new Error('reached'); }", RC: -1, ErrHas: "t.js:1: Error: reached"},
	{Name: "runtime error", Src: "function ksr_request_route() {\n var t = null;\n t.x = 1;\n}", RC: -1, ErrHas: "t.js:3: TypeError"},
	{Name: "arity", Src: "function ksr_request_route() {\n KSR.sl.send_reply(404);\n}", RC: -1, ErrHas: "t.js:2: GoError: invalid number of parameters for: KSR.sl.send_reply"},
	{Name: "type", Src: "function ksr_request_route() {\n KSR.setflag('x');\n}", RC: -1, ErrHas: "t.js:2: GoError: invalid parameter 1 for: KSR.setflag (an int is expected"},
	{Name: "undefined for a string", Src: "function ksr_request_route() {\n KSR.pv.sets('$var(x)', undefined);\n}", RC: -1, ErrHas: "t.js:2: GoError: invalid parameter 2 for: KSR.pv.sets (a string is expected, got undefined)"},
	{Name: "module panic", Src: "function ksr_request_route() {\n KSR.kemibench.panic();\n}", RC: -1, ErrHas: "t.js:2: GoError: KSR.kemibench.panic: panic in the module"},
	{Name: "number as string", Src: "function ksr_request_route() { KSR.pv.sets('$var(n)', 42); if (KSR.pv.get('$var(n)') === '42') KSR.x.exit(); throw new Error('x'); }"},
	{Name: "xval null is null", Src: "function ksr_request_route() { if (KSR.pv.get('$hdr(X-None)') === null) KSR.x.exit(); throw new Error('x'); }"},
	{Name: "xval dict and array", Src: "function ksr_request_route() { KSR.pvx.xavp_child_seti('t', 'a', 1); KSR.pvx.xavp_child_sets('t', 'b', 'x'); var d = KSR.pvx.xavp_getd('t'), k = KSR.pvx.xavp_get_keys('t', 0); if (d.length == 2 && d[0].a[0] === 1 && d[0].b[0] === 'x' && d[1].b === undefined && d[1].a[0] === 1 && k.join() == 'b,a' && KSR.pvx.xavp_getd_p1('t', 0).b[0] === 'x') KSR.x.exit(); throw new Error('x'); }"},
	{Name: "bool results", Src: "function ksr_request_route() { KSR.setflag(4); if (KSR.isflagset(4) === true && KSR.isflagset(5) === false) KSR.x.exit(); throw new Error('x'); }"},
	{Name: "modf", Src: "function ksr_request_route() { KSR.x.modf('setxflag', '3'); if (KSR.corex.isxflagset(3) > 0) KSR.x.exit(); throw new Error('x'); }"},
	{Name: "modf arity", Src: "function ksr_request_route() { KSR.x.modf('setxflag'); }", RC: -1, ErrHas: "invalid number of parameters for: setxflag"},
	{Name: "only loaded modules", Src: "function ksr_request_route() { if (KSR.tm === undefined && KSR.registrar === undefined) KSR.x.exit(); throw new Error('x'); }"},
	{Name: "route() runs a function", Src: "function other() { KSR.setflag(9); }\nfunction ksr_request_route() { KSR.route('other'); if (KSR.isflagset(9)) KSR.x.exit(); throw new Error('x'); }"},
	{Name: "exit in a called route stops the caller", Src: "function other() { KSR.x.exit(); }\nfunction ksr_request_route() { KSR.route('other'); throw new Error('not reached'); }"},
	{Name: "app_jsdt.run calls a function with strings", Src: "function f(a, b) { if (a === 'x' && b === 'y') KSR.setflag(3); }\nfunction g() { KSR.x.exit(); }\nfunction ksr_request_route() {\n if (KSR.app_jsdt.run_p2('f', 'x', 'y') !== 1 || !KSR.isflagset(3)) throw new Error('run_p2');\n if (KSR.app_jsdt.run('g') !== 1) throw new Error('exit in run');\n if (KSR.app_jsdt.run('none') !== -1) throw new Error('none');\n if (KSR.app_jsdt.runstring('var v = 40 + 2;') !== 1 || v !== 42) throw new Error('runstring');\n if (KSR.app_jsdt.dostring('throw new Error(1)') !== -1) throw new Error('dostring');\n KSR.x.exit();\n}"},
}
