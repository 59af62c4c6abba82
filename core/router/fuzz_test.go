package router

import "testing"

// FuzzPV: pseudo-variable names and format strings (xlog, $var values,
// KSR.pv.get) parse or fail, never panic; what parses names itself again.
func FuzzPV(f *testing.F) {
	for _, s := range []string{"$ru", "$(ru{s.len})", "$hdr(Via)", "$(hdr(Via)[1]{s.select,1,;})", "$var(x)", "$avp(i:1)",
		"$sht(ipban=>$si)", "$(fu{uri.user}{s.tolower})", "$T(reply_code)", "$(x", "$)", "${", "$var()", "$(ru{s.substr,1,-1})",
		"from $fu to $tu: $rm $(ci{s.md5}) $$ \\n", "$xavp(a=>b[0])", "$(avp(x)[*])"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if pv, err := ParsePV(s); err == nil && pv == nil {
			t.Fatal("nil pseudo-variable without an error")
		}
		if fm, err := ParseFormat(s); err == nil && fm == nil {
			t.Fatal("nil format without an error")
		}
	})
}
