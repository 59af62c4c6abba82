package all

import (
	"os"
	"path/filepath"
	"testing"
)

// TestREADMEs: every module folder has a README whose tables are what its
// registration says (go generate ./modules/all writes them).
func TestREADMEs(t *testing.T) {
	dirs, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		m := ModuleOf(d.Name())
		if m == "" {
			continue
		}
		path := filepath.Join("..", d.Name(), "README.md")
		old, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: the module has no README: %v", d.Name(), err)
			continue
		}
		b, err := UpdateREADME(old, m)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if string(b) != string(old) {
			t.Errorf("%s is stale: run go generate ./modules/all", path)
		}
	}
}
