package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// defaultDefines are the features Debian's kamailio.cfg documents in its
// header, each enabled by a #!define.
var defaultDefines = []string{"WITH_DEBUG", "WITH_MYSQL", "WITH_AUTH", "WITH_IPAUTH", "WITH_USRLOCDB",
	"WITH_PRESENCE", "WITH_MSGREBUILD", "WITH_NAT", "WITH_NATSIPPING", "WITH_RTPENGINE", "WITH_PSTN",
	"WITH_ALIASDB", "WITH_SPEEDDIAL", "WITH_MULTIDOMAIN", "WITH_TLS", "WITH_JSONRPC", "WITH_ANTIFLOOD",
	"WITH_BLOCK3XX", "WITH_BLOCK401407", "WITH_VOICEMAIL", "WITH_ACCDB"}

// needs are the defines the default config's header asks to enable
// before each one.
var needs = map[string][]string{
	"WITH_AUTH": {"WITH_MYSQL"}, "WITH_IPAUTH": {"WITH_MYSQL", "WITH_AUTH"}, "WITH_USRLOCDB": {"WITH_MYSQL"},
	"WITH_PRESENCE": {"WITH_MYSQL"}, "WITH_ALIASDB": {"WITH_MYSQL"}, "WITH_SPEEDDIAL": {"WITH_MYSQL"},
	"WITH_MULTIDOMAIN": {"WITH_MYSQL"}, "WITH_ACCDB": {"WITH_MYSQL"},
}

// kemiEngines are the basic KEMI example's engine defines for the engines
// kemi has ("" is the native script). WITH_CFGPYTHON is Python 2, which
// Debian no longer packages; Squirrel (WITH_CFGSQLANG) and Ruby are not
// kemi engines: those configs are listed as left out.
var kemiEngines = []string{"", "WITH_CFGLUA", "WITH_CFGPYTHON3", "WITH_CFGJSDT", "WITH_CFGPYTHON"}

var leftOut = map[string]string{
	"kemi/kamailio-basic-kemi.cfg -A WITH_CFGSQLANG": "kemi has no Squirrel engine",
	"kemi/kamailio-basic-kemi.cfg -A WITH_CFGJRUBY":  "kemi has no Ruby engine",
}

type kamailioConfig struct {
	name    string // as printed: file relative to the examples, defines
	file    string
	defines []string
}

// kamailioConfigs lists the configs the Debian package installs: the
// default config under each documented define alone and under the
// combination a database-backed install uses, the basic KEMI example
// under each engine, and every example config. The basic KEMI example
// includes its scripts from /usr/local/etc/kamailio; the copy in dir
// finds them where the package put them.
func kamailioConfigs(t *testing.T, dir string) []kamailioConfig {
	list := []kamailioConfig{{name: "kamailio.cfg", file: kamailiotest.DefaultConfig}}
	for _, d := range defaultDefines {
		list = append(list, kamailioConfig{"kamailio.cfg -A " + d, kamailiotest.DefaultConfig, []string{d}})
		// The header says which need "enable mysql" (and authentication)
		// first: alone, Kamailio refuses them; with those, they count.
		if pre := needs[d]; pre != nil {
			ds := append(pre, d)
			list = append(list, kamailioConfig{"kamailio.cfg -A " + strings.Join(ds, " -A "), kamailiotest.DefaultConfig, ds})
		}
	}
	combo := []string{"WITH_MYSQL", "WITH_AUTH", "WITH_USRLOCDB", "WITH_NAT", "WITH_ANTIFLOOD", "WITH_ACCDB", "WITH_IPAUTH"}
	list = append(list, kamailioConfig{"kamailio.cfg -A " + strings.Join(combo, " -A "), kamailiotest.DefaultConfig, combo})

	kemiDir := filepath.Join(kamailiotest.Examples, "kemi")
	basic := kamailiotest.Copy(t, filepath.Join(kemiDir, "kamailio-basic-kemi.cfg"), dir,
		"/usr/local/etc/kamailio/", kemiDir+"/")
	for _, e := range append(kemiEngines, "WITH_CFGSQLANG", "WITH_CFGJRUBY") {
		c := kamailioConfig{name: "kemi/kamailio-basic-kemi.cfg", file: basic}
		if e != "" {
			c.name += " -A " + e
			c.defines = []string{e}
		}
		list = append(list, c)
	}

	var examples []string
	filepath.WalkDir(kamailiotest.Examples, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".cfg") && !strings.HasPrefix(p, kemiDir+"/") {
			examples = append(examples, p)
		}
		return nil
	})
	sort.Strings(examples)
	for _, f := range examples {
		rel, _ := filepath.Rel(kamailiotest.Examples, f)
		list = append(list, kamailioConfig{name: rel, file: f})
	}
	return list
}

// TestKamailioConfigsAccepted: every config of the kamailio package that
// `kamailio -c` accepts with the installed modules, `kemi -c` accepts
// too. It prints the configs it read, N of M accepted, and why kemi
// refuses each one it does.
func TestKamailioConfigsAccepted(t *testing.T) {
	kam := kamailiotest.Need(t)
	var accepted, refusedByKamailio, out []string
	var m int
	for _, c := range kamailioConfigs(t, t.TempDir()) {
		if why, ok := leftOut[c.name]; ok {
			out = append(out, fmt.Sprintf("  left out  %s: %s", c.name, why))
			continue
		}
		if ok, kout := kamailiotest.Check(kam, c.file, c.defines...); !ok {
			refusedByKamailio = append(refusedByKamailio, fmt.Sprintf("  %s: %s", c.name, kamailiotest.FirstError(kout)))
			continue
		}
		m++
		args := []string{"-c", "-f", c.file}
		for _, d := range c.defines {
			args = append(args, "-A", d)
		}
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr, nil); code != 0 {
			out = append(out, fmt.Sprintf("  REFUSED   %s: %s", c.name, lastLine(stderr.String())))
			continue
		}
		accepted = append(accepted, c.name)
		out = append(out, "  accepted  "+c.name)
	}
	t.Logf("configs Kamailio refuses with the installed modules (not counted):\n%s", strings.Join(refusedByKamailio, "\n"))
	t.Logf("configs Kamailio accepts:\n%s", strings.Join(out, "\n"))
	t.Logf("kemi -c: %d of %d accepted", len(accepted), m)
	if m == 0 {
		t.Fatal("kamailio -c accepted no config: the package's files are missing")
	}
	if len(accepted) < m {
		t.Errorf("kemi -c accepts %d of the %d configs kamailio -c accepts", len(accepted), m)
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// TestScriptsKnownToKamailio: kemi's own configs under scripts/ call no
// function and read no pseudo-variable that Kamailio 5.6 does not know
// with the modules each loads (kemi knows them all, loaded or not, so only
// Kamailio can tell a missing loadmodule). A module Debian's packages do
// not ship (db_postgres) and kemi's own parameters (app_lua's engine) stop
// kamailio -c before it reads the routes: such a config is checked with
// those lines left out.
func TestScriptsKnownToKamailio(t *testing.T) {
	kam := kamailiotest.Need(t)
	files, _ := filepath.Glob(repoFile("scripts", "*", "*.cfg"))
	if len(files) < 5 {
		t.Fatalf("scripts/*/*.cfg: %d files", len(files))
	}
	kemiOnly := regexp.MustCompile(`(?m)^(loadmodule "db_postgres\.so"|modparam\("app_lua", "engine".*)$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(t.TempDir(), filepath.Base(f))
		os.WriteFile(tmp, kemiOnly.ReplaceAll(b, []byte("# (left out for kamailio -c) $1")), 0o644)
		_, out := kamailiotest.Check(kam, tmp)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "failed to find command") || strings.Contains(l, "error searching pvar") {
				t.Errorf("%s: %s", strings.TrimPrefix(f, repoFile()+"/"), strings.TrimSpace(l))
			}
		}
	}
}
