package all

//go:generate go run ./internal/readmegen

import (
	"fmt"
	"strings"

	"github.com/kemi-sip/kemi/dispatch"
)

// ModuleOf is the module a folder of modules/ registers (and its README
// documents), "" for the folders that are not one (all, moduletest).
func ModuleOf(folder string) string {
	if folder == "kx" {
		return "kemix"
	}
	if _, ok := dispatch.LookupModule(folder); ok {
		return folder
	}
	return ""
}

const (
	generatedNote = "<!-- The parameter and function tables are generated from the module's registration: `go generate ./modules/all`. Edit the registration (its Default and Doc), not the tables. -->"
	resultNote    = "An `int` result > 0 is true, < 0 false, and 0 stops the script, in every engine — except results that are values (`pv.geti`, `kx.get_msglen`, `kx.get_status`, ...)."
	nativeOnly    = "Native only: "
)

// UpdateREADME rewrites the "## Parameters" and "## KEMI functions"
// sections of a module's README from its registration, keeping the notes
// written by hand in them (the lines that are not the tables). It is
// idempotent: a README that is current comes back unchanged.
func UpdateREADME(readme []byte, module string) ([]byte, error) {
	info, ok := dispatch.LookupModule(module)
	if !ok {
		return nil, fmt.Errorf("no module %q", module)
	}
	s := string(readme)
	start := strings.Index(s, "\n## Parameters\n")
	fn := strings.Index(s, "\n## KEMI functions\n")
	if start < 0 || fn < start {
		return nil, fmt.Errorf("%s: README needs a \"## Parameters\" section and then a \"## KEMI functions\" section", module)
	}
	end := len(s)
	if i := strings.Index(s[fn+1:], "\n## "); i >= 0 {
		end = fn + 1 + i
	}
	paramNotes := notes(s[start+len("\n## Parameters\n") : fn])
	fnNotes := notes(s[fn+len("\n## KEMI functions\n") : end])

	var b strings.Builder
	b.WriteString("\n## Parameters\n\n" + generatedNote + "\n\n")
	if len(info.Params) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| name | type | default | meaning |\n|---|---|---|---|\n")
		for _, p := range info.Params {
			kind := p.Kind.String()
			if p.Multi {
				kind += ", several"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, kind, cell(p.Default), cell(p.Doc))
		}
	}
	if paramNotes != "" {
		b.WriteString("\n" + paramNotes + "\n")
	}
	b.WriteString("\n## KEMI functions\n\n")
	var ksr, native []string
	for _, e := range dispatch.Declared(module) {
		if e.NativeOnly {
			native = append(native, "`"+e.NativeName()+"("+kinds(e.Params, "")+")`")
			continue
		}
		name := "`" + e.NativeName() + "`"
		if e.NativeName() == "" {
			name = "-"
		}
		ret := e.Ret.String()
		if e.Value {
			ret += " (a value)"
		}
		ksr = append(ksr, fmt.Sprintf("| `KSR.%s` | %s | %s | %s |", e.FullName(), kinds(e.Params, "-"), ret, name))
	}
	if len(ksr) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| function | params | returns | native name |\n|---|---|---|---|\n" + strings.Join(ksr, "\n") + "\n\n" + resultNote + "\n")
	}
	if len(native) > 0 {
		b.WriteString("\n" + nativeOnly + strings.Join(native, ", ") + ".\n")
	}
	if fnNotes != "" {
		b.WriteString("\n" + fnNotes + "\n")
	}
	return []byte(s[:start] + b.String() + s[end:]), nil
}

// notes are a section's lines that the generator did not write, blank
// lines at the ends dropped.
func notes(section string) string {
	var keep []string
	for _, l := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(l, "|"), l == generatedNote, l == resultNote, l == "None.", strings.HasPrefix(l, nativeOnly):
			continue
		}
		keep = append(keep, l)
	}
	out := strings.TrimSpace(strings.Join(keep, "\n"))
	for strings.Contains(out, "\n\n\n") {
		out = strings.ReplaceAll(out, "\n\n\n", "\n\n")
	}
	return out
}

func kinds(ks []dispatch.Kind, none string) string {
	if len(ks) == 0 {
		return none
	}
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
