package cfg

import (
	"os"
	"testing"
)

// FuzzParse: any text gives a config or an error, never a panic or a hang.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/main.cfg", "testdata/inc.cfg"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("#!ifdef A\n#!else\nrequest_route { if ($x =~ \"a\") { exit; } }\n#!endif\n"))
	f.Add([]byte("#!subst \"/a/b/g\"\n#!define X \"a\"\nlog_prefix=X\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("f.cfg", b, nil)
		if err == nil && c == nil {
			t.Fatal("nil config without an error")
		}
	})
}
