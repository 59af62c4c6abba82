package dispatch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
)

// dtOne is a module with parameters and state: Init keeps the limit it
// was given, which add adds.
type dtOne struct{ limit int }

func (m *dtOne) Init(p *Params) error {
	m.limit = p.Int("limit", -1)
	return nil
}

func (m *dtOne) Exports() []Export {
	return []Export{
		{Name: "add", Ret: Int, Fn: FII(func(c *router.Ctx, a, b int) int { return a + b + m.limit }), Native: "dt_add"},
		{Name: "echo", Ret: XVal, Fn: VS(func(c *router.Ctx, s string) router.Value { return router.StrValue(s) })},
		{Name: "mix", Ret: Int, Fn: FSSII(func(c *router.Ctx, a, b string, x, y int) int { return len(a) + len(b) + x + y })},
	}
}

var _ Initializer = (*dtOne)(nil)

var dtOneParams = []Param{{Name: "limit", Kind: Int}, {Name: "name", Kind: Str}, {Name: "multi", Kind: Str, Multi: true}}

// stateless wraps exports as a module's New.
func stateless(exports ...Export) func() Module { return func() Module { return Stateless(exports) } }

func init() {
	Register(ModuleInfo{Name: "dt_core", KSR: "-", Core: true, New: stateless(Export{Name: "dt_always", Ret: Bool, Fn: F0(func(*router.Ctx) int { return 1 })})})
	Register(ModuleInfo{Name: "dt_one", Params: dtOneParams, New: func() Module { return &dtOne{} }})
	Register(ModuleInfo{Name: "dt_two", KSR: "two", New: stateless(Export{Name: "log", Ret: None, Fn: NS(func(*router.Ctx, string) {})})})
}

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
	if m := tab.Module("dt_one").(*dtOne); m.limit != 7 {
		t.Errorf("Init saw limit %d, want 7", m.limit)
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
	if v, err := e.Invoke(&router.Ctx{}, &a); err != nil || v.I != 12 {
		t.Errorf("add(2, 3) with limit 7 = %d, want 12", v.I)
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
		m    ModuleInfo
		want string
	}{
		{"duplicate module", ModuleInfo{Name: "dt_one", New: stateless()}, "registered twice"},
		{"duplicate export", ModuleInfo{Name: "dt_dup", New: stateless(
			Export{Name: "a", Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })},
			Export{Name: "a", Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })})}, "dt_dup.a registered twice"},
		{"duplicate native", ModuleInfo{Name: "dt_dupn", New: stateless(
			Export{Name: "a", Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 }), Native: "n"},
			Export{Name: "n", NativeOnly: true, Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })})}, "native function n/0 registered twice"},
		{"result mismatch", ModuleInfo{Name: "dt_bad", New: stateless(Export{Name: "b", Ret: XVal, Fn: F0(func(*router.Ctx) int { return 1 })})},
			"dt_bad.b declares a xval result"},
		{"no function", ModuleInfo{Name: "dt_nofn", New: stateless(Export{Name: "c", Ret: Int})}, "has no function"},
		{"no New", ModuleInfo{Name: "dt_nonew"}, "has no New"},
		{"param kind", ModuleInfo{Name: "dt_param", Params: []Param{{Name: "p", Kind: Bool}}, New: stateless()}, "must be int or str"},
	}
	for i, c := range cases {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), c.want) {
					t.Errorf("case %d (%s): panic %v, want %q", i, c.name, r, c.want)
				}
			}()
			Register(c.m)
		}()
	}
}

func TestTableFull(t *testing.T) {
	defs := make([]Export, TableSize)
	for i := range defs {
		defs[i] = Export{Name: "f" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)), Ret: Int, Fn: F0(func(*router.Ctx) int { return 1 })}
	}
	Register(ModuleInfo{Name: "dt_big", New: stateless(defs...)})
	_, err := Build([]Load{{Name: "dt_big"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "more than 1024 exports") {
		t.Errorf("got %v, want the table-full error", err)
	}
}

// TestTablesShareNothing: two tables of the same module, each with its
// own parameters, each call reaching its own module value.
func TestTablesShareNothing(t *testing.T) {
	var results []int64
	for _, limit := range []int64{1, 100} {
		tab, err := Build([]Load{{Name: "dt_one"}}, []Setting{{Module: "dt_one", Name: "limit", Value: router.IntValue(limit)}})
		if err != nil {
			t.Fatal(err)
		}
		i, _ := tab.Lookup("dt_one", "add")
		var a Args
		v, _ := tab.At(i).Invoke(&router.Ctx{}, &a)
		results = append(results, v.I)
	}
	if results[0] != 1 || results[1] != 100 {
		t.Errorf("add(0, 0) in the two tables: %v, want [1 100]", results)
	}
}
