package jansson_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestKEMI: KSR.jansson.get reads into the variable it names (not
// expanded), with Kamailio's conversions; a read-only variable or a
// document that does not parse is -1.
func TestKEMI(t *testing.T) {
	k := moduletest.New(t, `loadmodule "jansson.so"`)
	k.Request(moduletest.Options)
	doc := `{"user":{"name":"alice","tags":["a","b"],"ok":true,"n":3000000000,"f":0.5}}`
	k.Run([]moduletest.Case{
		{"jansson.get", []any{"user.name", doc, "$var(x)"}, "1"},
		{"pv.get", []any{"$var(x)"}, "alice"},
		{"jansson.get", []any{"user.tags", doc, "$var(x)"}, "1"},
		{"pv.get", []any{"$var(x)"}, `["a","b"]`},
		{"jansson.get", []any{"user.ok", doc, "$var(x)"}, "1"},
		{"pv.get", []any{"$var(x)"}, "1"},
		{"jansson.get", []any{"user.n", doc, "$var(x)"}, "1"},
		{"pv.get", []any{"$var(x)"}, "3000000000"},
		{"jansson.get", []any{"user.f", doc, "$avp(f)"}, "1"},
		{"pv.get", []any{"$avp(f)"}, "0.5"},
		{"jansson.get", []any{"user.none", doc, "$var(x)"}, "-1"},
		{"jansson.get", []any{"user.name", doc, "$ci"}, "-1"},
		{"jansson.get", []any{"user.name", "{broken", "$var(x)"}, "-1"},
	})
}
