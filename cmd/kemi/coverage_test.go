package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/dispatch"
)

// ksrRow is a row of KSR-FUNCTIONS.md: KSR.<name>, its parameter kinds,
// its result kind, and whether the reference scripts use it.
type ksrRow struct {
	name, params, ret string
	used              bool
}

// ksrTable reads the table of KSR-FUNCTIONS.md (the repository's copy of
// the project's compatibility target).
func ksrTable(t *testing.T) []ksrRow {
	t.Helper()
	path := repoFile("modules", "all", "testdata", "KSR-FUNCTIONS.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The shared original, where it is next to the repository, must be
	// the same: the copy is what CI sees.
	if orig, err := os.ReadFile(filepath.Join(filepath.Dir(repoFile("go.mod")), "..", "shared", "KSR-FUNCTIONS.md")); err == nil && !bytes.Equal(orig, b) {
		t.Errorf("%s differs from ../shared/KSR-FUNCTIONS.md: copy it again", path)
	}
	var rows []ksrRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	inTable := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "## KSR.") {
			inTable = true
			continue
		}
		if !inTable || !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "| name") {
			continue
		}
		c := strings.Split(strings.Trim(l, "|"), "|")
		if len(c) < 4 {
			continue
		}
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		rows = append(rows, ksrRow{name: c[0], params: c[1], ret: c[2], used: c[3] == "yes"})
	}
	return rows
}

// TestKSRFunctionCoverage compares `kemi -api-list` of a config loading
// every module with KSR-FUNCTIONS.md: every row marked "yes" must exist,
// every row that exists must have the table's parameters and result, and
// the rows still missing are reported.
func TestKSRFunctionCoverage(t *testing.T) {
	api := apiList(t)
	type sig struct{ params, ret string }
	have := map[string]sig{}
	for name, s := range api.funcs {
		p, r, _ := strings.Cut(s, " -> ")
		have[name] = sig{p, r}
	}
	rows := ksrTable(t)
	if len(rows) != 514 {
		t.Errorf("KSR-FUNCTIONS.md: %d rows read, want 514", len(rows))
	}
	var missing []string
	perModule := map[string]int{}
	for _, r := range rows {
		s, ok := have[r.name]
		if !ok {
			if r.used {
				t.Errorf("KSR.%s is used by the reference scripts and is missing", r.name)
			}
			missing = append(missing, r.name)
			mod, _, found := strings.Cut(r.name, ".")
			if !found {
				mod = "(core)"
			}
			perModule[mod]++
			continue
		}
		if s.params != r.params || s.ret != r.ret {
			t.Errorf("KSR.%s: kemi has (%s) %s, the table (%s) %s", r.name, s.params, s.ret, r.params, r.ret)
		}
	}
	var mods []string
	for m, n := range perModule {
		mods = append(mods, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(mods)
	t.Logf("KSR-FUNCTIONS.md: %d of %d rows exist; missing by module: %s", len(rows)-len(missing), len(rows), strings.Join(mods, ", "))
	t.Logf("missing: %s", strings.Join(missing, " "))
}

// ksr56 reads KSR-FUNCTIONS-5.6.md (every KEMI function of Kamailio 5.6.3,
// by KSR namespace; the repository's copy of ../shared's): namespace
// ("" for KSR.*) to function name to "params -> result".
func ksr56(t *testing.T) map[string]map[string]string {
	t.Helper()
	path := repoFile("modules", "all", "testdata", "KSR-FUNCTIONS-5.6.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if orig, err := os.ReadFile(filepath.Join(filepath.Dir(repoFile("go.mod")), "..", "shared", "KSR-FUNCTIONS-5.6.md")); err == nil && !bytes.Equal(orig, b) {
		t.Errorf("%s differs from ../shared/KSR-FUNCTIONS-5.6.md: copy it again", path)
	}
	out := map[string]map[string]string{}
	var ns string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "## KSR."); ok {
			name, _, _ := strings.Cut(rest, " ")
			ns, in = strings.TrimSuffix(strings.TrimSuffix(name, "*"), "."), true
			out[ns] = map[string]string{}
			continue
		}
		if !in || !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "| name") {
			continue
		}
		c := strings.Split(strings.Trim(l, "|"), "|")
		if len(c) < 3 {
			continue
		}
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		out[ns][c[0]] = c[1] + " -> " + c[2]
	}
	return out
}

// TestKSRCoverage56: for every KSR namespace kemi has (KSR.* itself
// included), each of Kamailio 5.6's functions exists with Kamailio's
// parameters and result; the test prints how many exist and fails on any
// missing.
func TestKSRCoverage56(t *testing.T) {
	have := apiList(t)
	table := ksr56(t)
	total, found := 0, 0
	var missing []string
	var spaces []string
	for ns := range table {
		spaces = append(spaces, ns)
	}
	sort.Strings(spaces)
	// The namespaces of kemi's modules: the ones it exports, and the
	// modules that export none yet (app_lua's KSR.app_lua.* among them).
	kemiHas := map[string]bool{}
	for ns := range have.spaces {
		kemiHas[ns] = true
	}
	for _, m := range dispatch.ModuleNames() {
		kemiHas[m] = true
	}
	// A namespace of a module kemi has that kemi does not export at all
	// (KSR.pvx is Kamailio's pv module's second one) is not counted
	// above: said here, so that the figure is not read as all of it.
	siblings := map[string]string{"pvx": "pv"}
	for ns, mod := range siblings {
		if kemiHas[mod] && !kemiHas[ns] {
			t.Logf("not counted: KSR.%s (%d functions), the %s module's second namespace, which kemi does not have yet", ns, len(table[ns]), mod)
		}
	}
	nspaces := 0
	for _, ns := range spaces {
		if !kemiHas[ns] {
			continue // a module kemi does not have
		}
		nspaces++
		var names []string
		for n := range table[ns] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			full := n
			if ns != "" {
				full = ns + "." + n
			}
			total++
			sig, ok := have.funcs[full]
			if !ok {
				missing = append(missing, full)
				continue
			}
			found++
			if want := table[ns][n]; sig != want {
				t.Errorf("KSR.%s: kemi has %s, Kamailio 5.6 %s", full, sig, want)
			}
		}
	}
	t.Logf("KSR-FUNCTIONS-5.6.md: %d of the %d functions of the %d modules kemi has exist", found, total, nspaces)
	t.Logf("missing: %s", strings.Join(missing, " "))
	if found < total {
		t.Errorf("%d of %d functions exist: every KSR function of the modules kemi has must", found, total)
	}
}

// kemiAPI is `kemi -api-list` of a config loading every module: each
// function ("module.name", or "name" for KSR.*) as "params -> result",
// and the KSR namespaces ("" for KSR.*).
type kemiAPI struct {
	funcs  map[string]string
	spaces map[string]bool
}

func apiList(t *testing.T) kemiAPI {
	t.Helper()
	dir := t.TempDir()
	// every module at once has more exports than the 1024 slots of a
	// table (as in Kamailio, whose Lua table has as many): modules no
	// other needs go in a second config
	var names, apart []string
	for _, m := range dispatch.ModuleNames() {
		if slices.Contains([]string{"xhttp_prom", "ipops", "sdpops", "jansson", "http_client", "sqlops", "textopsx", "secfilter", "avpops"}, m) {
			apart = append(apart, m)
		} else {
			names = append(names, m)
		}
	}
	type method struct {
		Func struct {
			Module, Name, Ret string
			Params            []string
		} `json:"func"`
	}
	var methods []method
	for half, mods := range [][]string{names, apart} {
		var cfg strings.Builder
		cfg.WriteString("#!KAMAILIO\n")
		for _, m := range mods {
			fmt.Fprintf(&cfg, "loadmodule \"%s.so\"\n", m)
		}
		dbURL := "sqlite://" + filepath.Join(dir, "k.db")
		for _, p := range [][3]string{{"auth_db", "db_url", dbURL}, {"permissions", "db_url", dbURL},
			{"rtpengine", "rtpengine_sock", "udp:127.0.0.1:2223"}, {"rtpproxy", "rtpproxy_sock", "udp:127.0.0.1:7722"},
			{"auth_ephemeral", "secret", "s"}} {
			if slices.Contains(mods, p[0]) {
				fmt.Fprintf(&cfg, "modparam(%q, %q, %q)\n", p[0], p[1], p[2])
			}
		}
		cfg.WriteString("request_route { exit; }\n")
		path := filepath.Join(dir, fmt.Sprintf("all%d.cfg", half))
		os.WriteFile(path, []byte(cfg.String()), 0o644)
		var out, errb bytes.Buffer
		if code := run([]string{"-api-list", "-f", path}, &out, &errb, nil); code != 0 {
			t.Fatalf("kemi -api-list: exit %d: %s", code, errb.String())
		}
		var list struct {
			Methods []method `json:"methods"`
		}
		if err := json.Unmarshal(out.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		methods = append(methods, list.Methods...)
	}
	var list struct{ Methods []method }
	list.Methods = methods
	api := kemiAPI{funcs: map[string]string{}, spaces: map[string]bool{}}
	for _, m := range list.Methods {
		f := m.Func
		name := f.Name
		if f.Module != "" {
			name = f.Module + "." + f.Name
		}
		p := strings.Join(f.Params, ", ")
		if p == "" {
			p = "-"
		}
		api.funcs[name] = p + " -> " + f.Ret
		api.spaces[f.Module] = true
	}
	return api
}
