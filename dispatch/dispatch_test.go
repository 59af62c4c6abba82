package dispatch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
)

func init() {
	RegisterLegacy(Legacy{Name: "dt_core", KSR: "-", Core: true, Exports: []Export{
		{Name: "dt_always", Ret: Bool, Fn: F0(func(*router.Ctx) int { return 1 })},
	}})
	RegisterLegacy(Legacy{Name: "dt_one", Params: []Param{{Name: "limit", Kind: Int}, {Name: "name", Kind: Str}, {Name: "multi", Kind: Str, Multi: true}},
		Init: func(p *Params) error {
			initSeen = p.Int("limit", -1)
			return nil
		},
		Exports: []Export{
			{Name: "add", Ret: Int, Fn: FII(func(c *router.Ctx, a, b int) int { return a + b }), Native: "dt_add"},
			{Name: "echo", Ret: XVal, Fn: VS(func(c *router.Ctx, s string) router.Value { return router.StrValue(s) })},
			{Name: "mix", Ret: Int, Fn: FSSII(func(c *router.Ctx, a, b string, x, y int) int { return len(a) + len(b) + x + y })},
		}})
	RegisterLegacy(Legacy{Name: "dt_two", KSR: "two", Exports: []Export{{Name: "log", Ret: None, Fn: NS(func(*router.Ctx, string) {})}}})
}

var initSeen int

func TestBuild(t *testing.T) {
	tab, err := Build([]Load{{Name: "/usr/lib/kamailio/modules/dt_one.so"}, {Name: "dt_two"}, {Name: "dt_one.so"}},
		[]Setting{
			{Module: "dt_one|dt_two", Name: "limit", Value: router.IntValue(7)},
			{Module: "dt_one", Name: "name", Value: router.IntValue(5)}, // an int for a str parameter becomes its text
			{Module: "dt_one", Name: "multi", Value: router.StrValue("a")},
			{Module: "dt_one", Name: "multi", Value: router.StrValue("b")},
		})
	if err != nil {
		t.Fatal(err)
	}
	if initSeen != 7 {
		t.Errorf("Init saw limit %d, want 7", initSeen)
	}
	if p := tab.Params("dt_one"); p.Str("name", "") != "5" || len(p.All("multi")) != 2 {
		t.Errorf("params: name %q, multi %v", p.Str("name", ""), p.All("multi"))
	}
	i, ok := tab.Lookup("dt_one", "add")
	if !ok {
		t.Fatal("dt_one.add not in the table")
	}
	e := tab.At(i)
	var a Args
	a.I[0], a.I[1] = 2, 3
	if v, err := e.Invoke(nil, &a); err != nil || v.I != 5 {
		t.Errorf("add(2, 3) = %d", v.I)
	}
	if j, ok := tab.Native("dt_add"); !ok || j != i {
		t.Errorf("native name: %d %v, want %d", j, ok, i)
	}
	if _, ok := tab.Lookup("", "dt_always"); !ok {
		t.Errorf("core export missing")
	}
	if _, ok := tab.Lookup("two", "log"); !ok {
		t.Errorf("export under its KSR name missing")
	}
	if got := strings.Join(tab.Submodules(), ","); !strings.Contains(got, "dt_one") || !strings.Contains(got, "two") {
		t.Errorf("submodules %q", got)
	}
	mi, _ := tab.Lookup("dt_one", "mix")
	if got := tab.At(mi).Params; len(got) != 4 || got[0] != Str || got[3] != Int {
		t.Errorf("mix params %v", got)
	}
	var list struct {
		MSize   int `json:"msize"`
		Methods []struct {
			Func APIEntry `json:"func"`
		} `json:"methods"`
	}
	b, _ := tab.APIListJSON()
	if err := json.Unmarshal(b, &list); err != nil || list.MSize != tab.Len() || len(list.Methods) != tab.Len() {
		t.Fatalf("api_list: %v, %d of %d", err, list.MSize, tab.Len())
	}
	for _, m := range list.Methods {
		if m.Func.Module == "dt_one" && m.Func.Name == "echo" && (m.Func.Ret != "xval" || len(m.Func.Params) != 1 || m.Func.Params[0] != "str") {
			t.Errorf("api_list entry %+v", m.Func)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name     string
		loads    []Load
		settings []Setting
		want     string
	}{
		{"unknown module", []Load{{Name: "nope.so", Where: "k.cfg:3:1"}}, nil, `k.cfg:3:1: loadmodule "nope.so": no such module; built in: `},
		{"wrong type", []Load{{Name: "dt_one"}}, []Setting{{Module: "dt_one", Name: "limit", Value: router.StrValue("x"), Where: "k.cfg:4:1"}},
			`k.cfg:4:1: modparam("dt_one", "limit"): wants an int, got the string "x"`},
		{"unknown param", []Load{{Name: "dt_one"}}, []Setting{{Module: "dt_one", Name: "nope", Value: router.IntValue(1)}},
			`modparam("dt_one", "nope"): no such parameter; it has: limit (int), name (str), multi (str)`},
		{"not loaded", nil, []Setting{{Module: "dt_one", Name: "limit", Value: router.IntValue(1)}}, "module not loaded"},
	}
	for i, c := range cases {
		_, err := Build(c.loads, c.settings)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): got %v, want %q", i, c.name, err, c.want)
		}
	}
	_, err := Build([]Load{{Name: "nope.so"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "dt_one") {
		t.Errorf("the error does not list the modules: %v", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	cases := []struct {
		name string
		m    Legacy
		want string
	}{
		{"duplicate module", Legacy{Name: "dt_one"}, "registered twice"},
		{"duplicate export", Legacy{Name: "dt_dup", Exports: []Export{
			{Name: "a", Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })},
			{Name: "a", Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })}}}, "dt_dup.a registered twice"},
		{"result mismatch", Legacy{Name: "dt_bad", Exports: []Export{{Name: "b", Ret: XVal, Fn: F0(func(*router.Ctx) int { return 1 })}}},
			"dt_bad.b declares a xval result"},
		{"no function", Legacy{Name: "dt_nofn", Exports: []Export{{Name: "c", Ret: Int}}}, "has no function"},
		{"param kind", Legacy{Name: "dt_param", Params: []Param{{Name: "p", Kind: Bool}}}, "must be int or str"},
	}
	for i, c := range cases {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), c.want) {
					t.Errorf("case %d (%s): panic %v, want %q", i, c.name, r, c.want)
				}
			}()
			RegisterLegacy(c.m)
		}()
	}
}

func TestTableFull(t *testing.T) {
	defs := make([]Export, TableSize)
	for i := range defs {
		defs[i] = Export{Name: "f" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)), Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })}
	}
	RegisterLegacy(Legacy{Name: "dt_big", Exports: defs})
	_, err := Build([]Load{{Name: "dt_big"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "more than 1024 exports") {
		t.Errorf("got %v, want the table-full error", err)
	}
}
