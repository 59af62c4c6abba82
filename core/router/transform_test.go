package router

import (
	"log/slog"
	"testing"
)

// TestTransformAllocs: the transformations a route runs per message
// allocate nothing once the worker's buffers have grown.
func TestTransformAllocs(t *testing.T) {
	c := FakedCtx(slog.New(slog.DiscardHandler))
	for text, in := range map[string]string{
		"{s.select,1,,}{s.toupper}":          "a,b,c",
		"{s.substr,2,3}{s.len}":              "abcdefgh",
		"{uri.user}":                         "sip:bob@example.com;transport=tcp",
		"{uri.param,transport}":              "sip:bob@example.com;transport=tcp",
		"{param.value,b}":                    "a=1;b=2",
		"{s.replace,b,xx}{s.rm,x}":           "abcabc",
		"{nameaddr.uri}{uri.host}":           "\"Bob\" <sip:bob@example.com>",
		"{tobody.tag}":                       "<sip:bob@example.com>;tag=12",
		"{s.md5}":                            "secret",
		"{s.escape.param}{s.unescape.param}": "a b;c",
		"{line.sw,foo}":                      "a\nfoo: 1\n",
	} {
		fns, err := parseTransforms(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		run := func() {
			v := StrValue(in)
			for _, fn := range fns {
				v = fn(c, v)
			}
			if v.Kind == Null {
				t.Fatalf("%s on %q: null", text, in)
			}
		}
		run()
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", text, n)
		}
	}
}
