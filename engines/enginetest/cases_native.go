package enginetest

// NativeCases are the semantics of the native config language that the
// KEMI engines' cases also check, on a config named t.cfg: functions are
// reached by their native names (a KEMI function's name when it has no
// other), through the same call path as KSR.* in the other engines.
var NativeCases = []Case{
	{Name: "return", Src: "request_route { return 5; }", RC: 5},
	{Name: "exit", Src: "request_route { exit; xlog(\"L_ERR\", \"not reached\"); }"},
	{Name: "drop", Src: "request_route { drop; }", Drop: true},
	{Name: "zero return code stops", Src: "request_route { zero(); return 3; }"},
	{Name: "return code in $rc", Src: "request_route { int_int(-7); if ($rc == -7) { exit; } return 3; }"},
	{Name: "module panic", Src: "request_route {\n  panic();\n}", RC: 0, ErrHas: "t.cfg:2:3: KSR.kemibench.panic: panic in the module"},
	{Name: "route() runs a route", Src: "route[OTHER] { setflag(9); }\nrequest_route { route(OTHER); if (isflagset(9)) { exit; } return 3; }"},
	{Name: "exit in a called route stops the caller", Src: "route[OTHER] { exit; }\nrequest_route { route(OTHER); return 3; }"},
	{Name: "string parameter", Src: "request_route { $var(s) = \"abcd\"; if (str_int(\"$var(s)\") == 4) { exit; } return 3; }"},
}
