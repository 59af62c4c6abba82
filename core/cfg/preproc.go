package cfg

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Source is a config file after the preprocessor: one text with every
// include inlined and every directive applied, and a map from each of its
// lines back to the file and line it came from.
type Source struct {
	Text  []byte
	lines []srcLine // one per line of Text
}

type srcLine struct {
	file string
	line int // 1-based
	off  int // offset of the line in Text
}

// Pos is a place in a config file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a config error at a place.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Pos maps an offset in Text to its file, line and column.
func (s *Source) Pos(off int) Pos {
	lo, hi := 0, len(s.lines)-1
	if hi < 0 {
		return Pos{}
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.lines[mid].off <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	l := s.lines[lo]
	return Pos{File: l.file, Line: l.line, Col: off - l.off + 1}
}

// subst is a #!subst rule, applied to the string literals after it.
type subst struct {
	re   *regexp.Regexp
	repl string
	all  bool
}

type preproc struct {
	src     *Source
	defines map[string]string
	substs  []subst
	depth   int // include depth
	comment bool
}

type cond struct {
	active, parentActive, seenElse bool
	pos                            Pos
}

// Preprocess reads file (or text, when text is not nil, named file) and
// applies the preprocessor with the given defines (changed in place: the
// file's #!define lines add to it).
func Preprocess(file string, text []byte, defines map[string]string) (*Source, error) {
	if defines == nil {
		defines = map[string]string{}
	}
	if _, ok := defines["KEMI"]; !ok {
		// Always defined, as Kamailio defines KAMAILIO_5: a config shared
		// with Kamailio puts kemi's own parameters under #!ifdef KEMI.
		defines["KEMI"] = ""
	}
	p := &preproc{src: &Source{}, defines: defines}
	if text == nil {
		b, err := readConfigFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		text = b
	}
	if err := p.file(file, text); err != nil {
		return nil, err
	}
	return p.src, nil
}

// maxConfigFile bounds what one config or included file may hold.
const maxConfigFile = 16 << 20

// readConfigFile reads a config or an included file: a regular file of at
// most maxConfigFile bytes ("/dev/zero" or a FIFO would never end).
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxConfigFile {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, st.Size(), maxConfigFile)
	}
	return io.ReadAll(io.LimitReader(f, maxConfigFile+1))
}

var includeRe = regexp.MustCompile(`^\s*(?:#!|!!)?(include_file|import_file)\s*\(?\s*"([^"]*)"\s*\)?\s*;?\s*$`)

func (p *preproc) file(name string, text []byte) error {
	if p.depth > 10 {
		return &Error{Pos{File: name, Line: 1, Col: 1}, "includes nested too deep (a loop?)"}
	}
	lines := strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n")
	var stack []cond
	active := func() bool { return len(stack) == 0 || stack[len(stack)-1].active }
	for i := 0; i < len(lines); i++ {
		num := i + 1
		line := lines[i]
		at := func(col int, f string, a ...any) error {
			return &Error{Pos{File: name, Line: num, Col: col}, fmt.Sprintf(f, a...)}
		}
		trimmed := strings.TrimLeft(line, " \t")
		col := len(line) - len(trimmed) + 1
		if !p.comment && (strings.HasPrefix(trimmed, "#!") || strings.HasPrefix(trimmed, "!!")) {
			dir, rest, _ := strings.Cut(trimmed[2:], " ")
			dir = strings.TrimRight(dir, "\t")
			if j := strings.IndexByte(dir, '\t'); j >= 0 {
				dir, rest = dir[:j], dir[j+1:]+" "+rest
			}
			rest = strings.TrimSpace(rest)
			switch dir {
			case "ifdef", "ifndef":
				_, def := p.defines[firstWord(rest)]
				if firstWord(rest) == "" {
					return at(col, "#!%s needs a name", dir)
				}
				stack = append(stack, cond{active: active() && def == (dir == "ifdef"), parentActive: active(), pos: Pos{name, num, col}})
			case "else":
				if len(stack) == 0 {
					return at(col, "#!else without #!ifdef")
				}
				c := &stack[len(stack)-1]
				if c.seenElse {
					return at(col, "second #!else for the #!ifdef at %s", c.pos)
				}
				c.seenElse, c.active = true, c.parentActive && !c.active
			case "endif":
				if len(stack) == 0 {
					return at(col, "#!endif without #!ifdef")
				}
				stack = stack[:len(stack)-1]
			default:
				if !active() {
					break
				}
				for strings.HasSuffix(rest, "\\") && i+1 < len(lines) { // continued define
					i++
					rest = strings.TrimSuffix(rest, "\\") + "\n" + lines[i]
					p.blank(name, num) // keep the line count of the output in step
					num = i + 1
				}
				if err := p.directive(dir, rest, at, col); err != nil {
					return err
				}
			}
			p.blank(name, num)
			continue
		}
		if !active() {
			p.blank(name, num)
			continue
		}
		if m := includeRe.FindStringSubmatch(line); m != nil && !p.comment {
			path := m[2]
			if !filepath.IsAbs(path) {
				if rel := filepath.Join(filepath.Dir(name), path); fileExists(rel) {
					path = rel
				}
			}
			b, err := readConfigFile(path)
			if err != nil {
				if m[1] == "import_file" && os.IsNotExist(err) {
					p.blank(name, num)
					continue
				}
				return at(col, "%s %q: %v", m[1], m[2], err)
			}
			p.depth++
			err = p.file(path, b)
			p.depth--
			if err != nil {
				return err
			}
			continue
		}
		p.emit(name, num, p.substitute(line))
	}
	if len(stack) > 0 {
		c := stack[len(stack)-1]
		return &Error{c.pos, "#!ifdef/#!ifndef without #!endif"}
	}
	return nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func (p *preproc) blank(file string, line int) { p.emit(file, line, "") }

func (p *preproc) emit(file string, line int, text string) {
	s := p.src
	s.lines = append(s.lines, srcLine{file: file, line: line, off: len(s.Text)})
	s.Text = append(s.Text, text...)
	s.Text = append(s.Text, '\n')
}

func (p *preproc) directive(dir, rest string, at func(int, string, ...any) error, col int) error {
	switch dir {
	case "KAMAILIO", "SER", "OPENSER", "ALL", "MAXCOMPAT":
		return nil
	case "define", "trydef", "redefine":
		name, val, _ := strings.Cut(rest, " ")
		if j := strings.IndexByte(name, '\t'); j >= 0 {
			name, val = name[:j], name[j+1:]+" "+val
		}
		if !isIdent(name) {
			return at(col, "#!%s: bad name %q", dir, name)
		}
		val = strings.TrimSpace(val)
		if _, dup := p.defines[name]; dup {
			switch dir {
			case "trydef":
				return nil
			case "define":
				return at(col, "#!define: %s is already defined (use #!redefine)", name)
			}
		}
		p.defines[name] = val
	case "defenv", "defenvs", "trydefenv", "trydefenvs":
		// #!defenv NAME (the variable NAME) or NAME=VAR; the s forms quote
		// the value; the try forms skip a variable that is not set
		name, env, eq := strings.Cut(firstWord(rest), "=")
		if !eq {
			env = name
		}
		if !isIdent(name) || env == "" {
			return at(col, "#!%s: bad name %q", dir, firstWord(rest))
		}
		v, set := os.LookupEnv(env)
		if !set {
			if strings.HasPrefix(dir, "try") {
				return nil
			}
			return at(col, "#!%s: the environment variable %s is not set", dir, env)
		}
		if _, dup := p.defines[name]; dup {
			return at(col, "#!%s: %s is already defined", dir, name)
		}
		if strings.HasSuffix(dir, "s") {
			v = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
		}
		p.defines[name] = v
	case "subst", "substdef", "substdefs":
		s, id, val, err := parseSubst(rest)
		if err != nil {
			return at(col, "#!%s: %v", dir, err)
		}
		p.substs = append(p.substs, s)
		switch dir {
		case "substdef":
			p.defines[id] = val
		case "substdefs":
			p.defines[id] = `"` + val + `"`
		}
	default:
		return at(col, "unknown preprocessor directive #!%s", dir)
	}
	return nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseSubst parses "/regexp/replacement/flags" (any delimiter).
func parseSubst(s string) (subst, string, string, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) < 3 {
		return subst{}, "", "", fmt.Errorf("expected /regexp/replacement/flags")
	}
	d := s[0]
	parts := strings.Split(s[1:], string(d))
	if len(parts) != 3 {
		return subst{}, "", "", fmt.Errorf("expected %cregexp%creplacement%cflags", d, d, d)
	}
	flags := parts[2]
	re := parts[0]
	if strings.Contains(flags, "i") {
		re = "(?i)" + re
	}
	r, err := regexp.Compile(re)
	if err != nil {
		return subst{}, "", "", err
	}
	repl := regexp.MustCompile(`\\([0-9])`).ReplaceAllString(parts[1], "$${$1}")
	return subst{re: r, repl: repl, all: strings.Contains(flags, "g")}, parts[0], parts[1], nil
}

// substitute replaces defined names outside strings and comments, and
// applies the #!subst rules inside string literals.
func (p *preproc) substitute(line string) string {
	var out strings.Builder
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case p.comment:
			j := strings.Index(line[i:], "*/")
			if j < 0 {
				out.WriteString(line[i:])
				return out.String()
			}
			out.WriteString(line[i : i+j+2])
			i += j + 2
			p.comment = false
		case c == '/' && i+1 < len(line) && line[i+1] == '*':
			p.comment = true
			out.WriteString("/*")
			i += 2
		case c == '#' || c == '/' && i+1 < len(line) && line[i+1] == '/':
			out.WriteString(line[i:])
			return out.String()
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(line) && line[j] != c {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				out.WriteString(line[i:])
				return out.String()
			}
			out.WriteByte(c)
			out.WriteString(p.applySubst(line[i+1 : j]))
			out.WriteByte(c)
			i = j + 1
		case c == '$': // a pseudo-variable name is never a define
			j := i + 1
			for j < len(line) && (isWordByte(line[j]) || line[j] == '(' || line[j] == ')') {
				j++
			}
			out.WriteString(line[i:j])
			i = j
		case isWordByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(line) && isWordByte(line[j]) {
				j++
			}
			w := line[i:j]
			if v, ok := p.defines[w]; ok && (i == 0 || line[i-1] != '.') {
				out.WriteString(v)
			} else {
				out.WriteString(w)
			}
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *preproc) applySubst(s string) string {
	for _, r := range p.substs {
		if r.all {
			s = r.re.ReplaceAllString(s, r.repl)
		} else if loc := r.re.FindStringSubmatchIndex(s); loc != nil {
			var dst []byte
			dst = r.re.ExpandString(dst, r.repl, s, loc)
			s = s[:loc[0]] + string(dst) + s[loc[1]:]
		}
	}
	return s
}
