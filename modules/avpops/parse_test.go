package avpops

import "testing"

// FuzzParse: no parameter text makes a parser panic; what parses keeps
// what it was given. (go test -fuzz FuzzParse ./modules/avpops runs it
// beyond the seeds.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{"$avp(x)", "$avp(i:5)/g", "eq/i:0x10/g", "re/(/", "add/$avp(b)/d", "not/i:-1",
		"$fu/username", "a3/table", "$avp(x)/$scheme", "s:x", "$(avp(x)[2])/n", "", "/", "//", "$avp(", "i:", "eq/",
		"s1:table=t;value_type=integer", ":", "x:a=b;;c=d", "$avp($var(n))/$avp(y)/gd"} {
		f.Add(s)
	}
	m := &Module{schemes: map[string]*scheme{"scheme": {name: "scheme"}}, parsed: map[string]any{}}
	f.Fuzz(func(t *testing.T, s string) {
		parseAVP(s)
		parseSpec(s, "gdns")
		parseAVPs(s, "gd")
		parseSource(s)
		m.parseDBName(s, true)
		parseScheme(s)
		if o, err := parseOpValue(s, checkOp, "gi", true); err == nil && o.op == 0 {
			t.Errorf("%q parsed with no operator", s)
		}
		parseOpValue(s, opOp, "gd", false)
		flags(s, "g")
	})
}
