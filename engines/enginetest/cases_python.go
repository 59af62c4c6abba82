package enginetest

import "strings"

// PyScript writes a script in Kamailio's Python shape around a request
// route's body (its first line is line 6 of the script) and other methods
// of the object.
func PyScript(body string, methods ...string) string {
	var b strings.Builder
	b.WriteString("import KSR as KSR\ndef mod_init():\n    return kamailio()\nclass kamailio:\n    def ksr_request_route(self, msg):\n")
	for _, l := range strings.Split(body, "\n") {
		b.WriteString("        " + l + "\n")
	}
	for _, m := range methods {
		for _, l := range strings.Split(m, "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

// PythonCases are the script semantics the Python engine must give, on a
// script named t.py: the Lua cases in Python.
var PythonCases = []Case{
	{Name: "return", Src: PyScript("return 5"), RC: 1},
	{Name: "exit", Src: PyScript("KSR.x.exit()\nraise Exception('not reached')")},
	{Name: "exit in nested calls", Src: PyScript("self.b()\nraise Exception('not reached')", "def b(self):\n    self.c()\n    raise Exception('not reached')", "def c(self):\n    KSR.x.exit()")},
	{Name: "drop", Src: PyScript("KSR.x.drop()"), Drop: true},
	{Name: "KSR.drop goes on", Src: PyScript("KSR.drop()\nKSR.x.exit()"), Drop: true},
	{Name: "try/except cannot catch exit", Src: PyScript("try:\n    KSR.x.exit()\nexcept:\n    pass\nraise Exception('not reached')")},
	{Name: "except Exception cannot catch exit", Src: PyScript("try:\n    self.b()\nexcept Exception as e:\n    pass\nfinally:\n    pass\nraise Exception('not reached')", "def b(self):\n    KSR.x.exit()")},
	{Name: "try still catches errors", Src: PyScript("caught = False\ntry:\n    x = None\n    x.y = 1\nexcept AttributeError:\n    caught = True\nif not caught:\n    raise Exception('caught nothing')"), RC: 1},
	{Name: "try catches a KSR call error", Src: PyScript("try:\n    KSR.sl.send_reply(404)\nexcept TypeError as e:\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "zero return code stops", Src: PyScript("KSR.kemibench.zero()\nraise Exception('not reached')")},
	{Name: "value int 0 does not stop", Src: PyScript("KSR.pv.geti('$var(none)')\nraise Exception('reached')"), RC: -1, ErrHas: "t.py:7: Exception: reached"},
	{Name: "runtime error", Src: PyScript("t = None\nt.x = 1"), RC: -1, ErrHas: "t.py:7: AttributeError"},
	{Name: "arity", Src: PyScript("KSR.sl.send_reply(404)"), RC: -1, ErrHas: "t.py:6: TypeError: invalid number of parameters for: KSR.sl.send_reply"},
	{Name: "type", Src: PyScript("KSR.setflag('x')"), RC: -1, ErrHas: "t.py:6: TypeError: invalid parameter 1 for: KSR.setflag (an int is expected"},
	{Name: "None for a string", Src: PyScript("KSR.pv.sets('$var(x)', None)"), RC: -1, ErrHas: "t.py:6: TypeError: invalid parameter 2 for: KSR.pv.sets (a string is expected, got NoneType)"},
	{Name: "module panic", Src: PyScript("KSR.kemibench.panic()"), RC: -1, ErrHas: "t.py:6: RuntimeError: KSR.kemibench.panic: panic in the module"},
	{Name: "number as string", Src: PyScript("KSR.pv.sets('$var(n)', 42)\nif KSR.pv.get('$var(n)') == '42':\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "xval null is None", Src: PyScript("if KSR.pv.get('$hdr(X-None)') is None:\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "xval dict and array", Src: PyScript("KSR.pvx.xavp_child_seti('t', 'a', 1)\nKSR.pvx.xavp_child_sets('t', 'b', 'x')\nd, k = KSR.pvx.xavp_getd('t'), KSR.pvx.xavp_get_keys('t', 0)\nif len(d) == 2 and d[0]['a'][0] == 1 and d[0]['b'][0] == 'x' and 'b' not in d[1] and d[1]['a'][0] == 1 and k == ['b', 'a'] and KSR.pvx.xavp_getd_p1('t', 0)['b'][0] == 'x':\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "bool results", Src: PyScript("KSR.setflag(4)\nif KSR.isflagset(4) == True and KSR.isflagset(5) == False:\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "modf", Src: PyScript("KSR.x.modf('setxflag', '3')\nif KSR.corex.isxflagset(3) > 0:\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "modf arity", Src: PyScript("KSR.x.modf('setxflag')"), RC: -1, ErrHas: "invalid number of parameters for: setxflag"},
	{Name: "only loaded modules", Src: PyScript("if not hasattr(KSR, 'tm') and not hasattr(KSR, 'registrar'):\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "route() runs a method", Src: PyScript("KSR.route('other')\nif KSR.isflagset(9):\n    KSR.x.exit()\nraise Exception('x')", "def other(self, msg):\n    KSR.setflag(9)")},
	{Name: "exit in a called route stops the caller", Src: PyScript("KSR.route('other')\nraise Exception('not reached')", "def other(self, msg):\n    KSR.x.exit()")},
	{Name: "string methods", Src: PyScript("s = 'Friendly-Scanner'\nif s.lower() == 'friendly-scanner' and s.upper() == 'FRIENDLY-SCANNER' and ','.join(['a', 'b']) == 'a,b' and s.count('n') == 3 and '{}:{}'.format('a', 1) == 'a:1' and '5060'.isdigit():\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "re", Src: PyScript("import re\nm = re.search('^sip:([^@]+)@(.*)$', 'sip:alice@example.com')\nif m and m.group(1) == 'alice' and m.group(2) == 'example.com' and re.sub('[0-9]', '#', 'a1b22') == 'a#b##' and re.match('b', 'abc') is None:\n    KSR.x.exit()\nraise Exception('x')")},
	{Name: "app_python3.exec calls a method", Src: PyScript("if KSR.app_python3.exec_p1('f', 'x') != 7 or not KSR.isflagset(3):\n    raise Exception('exec_p1')\nif KSR.app_python3.exec('none') != -1 or KSR.app_python3.execx('g') != 1:\n    raise Exception('exec')\nKSR.x.exit()", "def f(self, msg, a):\n    if a == 'x':\n        KSR.setflag(3)\n    return 7", "def g(self, msg):\n    KSR.x.exit()")},
	{Name: "negative literals", Src: PyScript("a, b, c = -255, -(2**63), -(-3)\nif a == 0 - 255 and b < -9223372036854775807 and c == 3 and -a == 255:\n    KSR.x.exit()\nraise Exception(str((a, b, c)))")},
	{Name: "percent formatting", Src: PyScript("s = 'from %s:%d %i%% %s %s' % ('1.2.3.4', 5060, 7, None, True)\nif s == 'from 1.2.3.4:5060 7% None True':\n    KSR.x.exit()\nraise Exception(s)")},
}
