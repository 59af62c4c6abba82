package all

import (
	"testing"

	"github.com/kemi-sip/kemi/dispatch"
)

// BenchmarkModuleLookup is how a module's pseudo-variable finds its
// module on each read ($sht, $dlg, $shv, $x_hdr...), in a table of a
// proxy's usual modules.
func BenchmarkModuleLookup(b *testing.B) {
	var loads []dispatch.Load
	for _, m := range []string{"tm", "sl", "rr", "maxfwd", "sanity", "siputils", "textops", "textopsx", "xlog", "kex", "tmx", "corex", "usrloc", "registrar", "htable", "dialog"} {
		loads = append(loads, dispatch.Load{Name: m + ".so"})
	}
	t, err := dispatch.Build(loads, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if t.FindModule("dialog") == nil || t.FindModule("htable") == nil {
			b.Fatal("not loaded")
		}
	}
}
