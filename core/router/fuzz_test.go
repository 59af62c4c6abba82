package router

import (
	"log/slog"
	"testing"
)

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

// FuzzTransform: any transformation text either fails to parse or runs on
// any value, a string or an integer, without a panic.
func FuzzTransform(f *testing.F) {
	for _, s := range []string{"{s.len}", "{s.select,-2,,}", "{s.substr,-5,2}", "{s.prefixes.quoted,2}", "{s.strip,100}",
		"{s.decode.base64t}", "{s.unescape.user}", "{s.urldecode.param}", "{s.ftime,%Y-%m-%d %e %j %z}", "{s.count,,}",
		"{s.before,,}{s.after,;}", "{s.rbefore,x}{s.rafter,x}", "{s.replace,a,bb}{s.rm,\\n}", "{s.select,0,\\t}",
		"{uri.param,transport}{uri.tosocket}", "{param.valueat,-1,|}", "{param.count,,}", "{nameaddr.uri}{uri.user}",
		"{tobody.params}", "{line.at,-3}{line.sw,a}", "{re.subst,/(a)(b)?/\\2\\1/g}", "{s.unquote}{s.unbracket}"} {
		f.Add(s, "sip:a:b@h:5;transport=tcp;x=\"y\" <z>\n\r\nA=1;b;c=2")
	}
	c := FakedCtx(slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, text, in string) {
		fns, err := parseTransforms(text)
		if err != nil {
			return
		}
		for _, v := range []Value{StrValue(in), IntValue(int64(len(in)) - 3), {}} {
			for _, fn := range fns {
				v = fn(c, v)
			}
		}
	})
}
