package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("#!KAMAILIO\n")
	for _, m := range dispatch.ModuleNames() {
		if strings.HasPrefix(m, "app_") {
			continue // the engines' modules need a script
		}
		fmt.Fprintf(&cfg, "loadmodule \"%s.so\"\n", m)
	}
	dbURL := "sqlite://" + filepath.Join(dir, "k.db")
	for _, p := range [][3]string{{"auth_db", "db_url", dbURL}, {"permissions", "db_url", dbURL},
		{"rtpengine", "rtpengine_sock", "udp:127.0.0.1:2223"}, {"rtpproxy", "rtpproxy_sock", "udp:127.0.0.1:7722"}} {
		fmt.Fprintf(&cfg, "modparam(%q, %q, %q)\n", p[0], p[1], p[2])
	}
	cfg.WriteString("request_route { exit; }\n")
	path := filepath.Join(dir, "all.cfg")
	os.WriteFile(path, []byte(cfg.String()), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"-api-list", "-f", path}, &out, &errb, nil); code != 0 {
		t.Fatalf("kemi -api-list: exit %d: %s", code, errb.String())
	}
	var list struct {
		Methods []struct {
			Func struct {
				Module, Name, Ret string
				Params            []string
			} `json:"func"`
		} `json:"methods"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	type sig struct{ params, ret string }
	have := map[string]sig{}
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
		have[name] = sig{p, f.Ret}
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
