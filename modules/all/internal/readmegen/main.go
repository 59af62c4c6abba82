// Readmegen rewrites the parameter and function tables of every module's
// README.md from the modules' registration: go generate ./modules/all.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kemi-sip/kemi/modules/all"
)

func main() {
	dirs, err := os.ReadDir("..")
	if err != nil {
		fail(err)
	}
	for _, d := range dirs {
		m := all.ModuleOf(d.Name())
		path := filepath.Join("..", d.Name(), "README.md")
		old, err := os.ReadFile(path)
		if m == "" || err != nil {
			continue
		}
		b, err := all.UpdateREADME(old, m)
		if err != nil {
			fail(err)
		}
		if !bytes.Equal(b, old) {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				fail(err)
			}
			fmt.Println("wrote", path)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "readmegen:", err)
	os.Exit(1)
}
