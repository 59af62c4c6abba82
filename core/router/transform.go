package router

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kemi-sip/kemi/core/cfg"
)

// A transformation ({s.len}, {uri.host}, ...) maps a pseudo-variable's
// value to another, as Kamailio's pv module defines them. A failure (a
// URI that does not parse, an index out of range where Kamailio says
// error) is Null, which is what reading the pseudo-variable gives in
// Kamailio then.
type transform func(c *Ctx, v Value) Value

// transBufs counts the scratch buffers transformations have reserved;
// each worker grows its own set to match.
var transBufs atomic.Int64

// newBuf reserves a scratch buffer for one compiled transformation.
func newBuf() int { return int(transBufs.Add(1) - 1) }

// tbuf is the worker's scratch buffer i.
func (c *Ctx) tbuf(i int) *[]byte {
	w := c.W
	for len(w.tbufs) <= i {
		w.tbufs = append(w.tbufs, nil)
	}
	return &w.tbufs[i]
}

// textOf is v's text without a copy; an integer's digits are written
// into the worker's buffer b.
func (c *Ctx) textOf(v Value, b int) []byte {
	if v.Kind != Int {
		return view(v, nil)
	}
	buf := strconv.AppendInt((*c.tbuf(b))[:0], v.I, 10)
	*c.tbuf(b) = buf
	return buf
}

// result copies out into the worker's buffer b and is its value.
func (c *Ctx) result(b int, out []byte) Value {
	buf := append((*c.tbuf(b))[:0], out...)
	*c.tbuf(b) = buf
	return BytesValue(buf)
}

// splitTransforms takes "$(name(arg){t1}{t2})" apart into "$name(arg)" and
// the text of the transformations ("{t1}{t2}"); other names come back as
// they are.
func splitTransforms(name string) (string, string, error) {
	if !strings.HasPrefix(name, "$(") || !strings.HasSuffix(name, ")") {
		return name, "", nil
	}
	inner := name[2 : len(name)-1]
	depth, cut := 0, -1
	for i := 0; i < len(inner) && cut < 0; i++ {
		switch inner[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '{', '[':
			if depth == 0 {
				cut = i
			}
		}
	}
	if cut < 0 {
		return name, "", nil
	}
	if inner[cut] == '[' { // an index: the classes that take one read it
		end := strings.IndexByte(inner[cut:], ']')
		if end < 0 {
			return "", "", errBad("unclosed '['")
		}
		cut += end + 1
	}
	return "$" + inner[:cut], inner[cut:], nil
}

// parseTransforms compiles the transformations of "{t1}{t2}", each read as
// Kamailio reads it: the class and name, then the parameters the name
// takes — a number, a string up to ',' or '}', or a pseudo-variable read
// when the transformation runs.
func parseTransforms(text string) ([]transform, error) {
	var out []transform
	for text != "" {
		if text[0] != '{' {
			return nil, errBad("expected '{' at " + strconv.Quote(text))
		}
		sc := &tscan{s: text, i: 1}
		fn, err := sc.transform()
		if err != nil {
			return nil, err
		}
		out = append(out, fn)
		text = text[sc.i:]
	}
	return out, nil
}

// tscan reads one transformation, s[i] the next byte.
type tscan struct {
	s    string
	i    int
	name string
}

func (sc *tscan) errorf(what string) error {
	end := strings.IndexByte(sc.s, '}')
	if end < 0 {
		end = len(sc.s) - 1
	}
	return errBad(sc.s[:end+1] + ": " + what)
}

func (sc *tscan) ws() {
	for sc.i < len(sc.s) && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t' || sc.s[sc.i] == '\n') {
		sc.i++
	}
}

func (sc *tscan) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

// comma reads the ',' before a parameter.
func (sc *tscan) comma() bool {
	if sc.peek() == ',' {
		sc.i++
		return true
	}
	return false
}

// close reads the '}' that ends the transformation.
func (sc *tscan) close() error {
	sc.ws()
	if sc.peek() != '}' {
		return sc.errorf("expected '}' after " + sc.name + "'s parameters")
	}
	sc.i++
	return nil
}

// transform reads "class.name[,params]}" and compiles it.
func (sc *tscan) transform() (transform, error) {
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] != ',' && sc.s[sc.i] != '}' {
		sc.i++
	}
	if sc.i >= len(sc.s) {
		return nil, errBad("unclosed '{'")
	}
	sc.name = strings.ToLower(strings.TrimSpace(sc.s[start:sc.i]))
	if mk := transNames[sc.name]; mk != nil {
		return mk(sc)
	}
	transMu.RLock()
	mk := transClasses[sc.name]
	transMu.RUnlock()
	if mk == nil && notBuilt[sc.name] {
		return nil, sc.errorf("a transformation of Kamailio's that kemi does not have")
	}
	if mk == nil {
		return nil, sc.errorf("unknown transformation")
	}
	// a module's transformation takes its parameters as text
	end := strings.IndexByte(sc.s[sc.i:], '}')
	var args []string
	if sc.s[sc.i] == ',' {
		args = strings.Split(sc.s[sc.i+1:sc.i+end], ",")
	}
	fn, err := mk(args)
	if err != nil {
		return nil, sc.errorf(err.Error())
	}
	sc.i += end + 1
	return fn, nil
}

// tparam is a transformation's parameter: a constant, or a
// pseudo-variable read when the transformation runs.
type tparam struct {
	pv *PV
	s  string
	n  int64
}

// num is a number parameter; from a pseudo-variable it must be an
// integer, as Kamailio wants.
func (p *tparam) num(c *Ctx) (int64, bool) {
	if p.pv == nil {
		return p.n, true
	}
	v := p.pv.Get(c)
	return v.I, v.Kind == Int
}

// str is a string parameter; from a pseudo-variable it must not be null
// or empty, as Kamailio wants.
func (p *tparam) str(c *Ctx, tmp *[24]byte) ([]byte, bool) {
	if p.pv == nil {
		return view(StrValue(p.s), tmp), true
	}
	b := view(p.pv.Get(c), tmp)
	return b, len(b) > 0
}

// pvParam reads a pseudo-variable parameter.
func (sc *tscan) pvParam() (tparam, error) {
	n := cfg.PVLen(sc.s[sc.i:])
	if n <= 1 {
		return tparam{}, sc.errorf("a pseudo-variable parameter does not parse")
	}
	pv, err := ParsePV(sc.s[sc.i : sc.i+n])
	if err != nil {
		return tparam{}, err
	}
	sc.i += n
	return tparam{pv: pv}, nil
}

// num reads a number parameter (a pseudo-variable, or digits with a
// sign).
func (sc *tscan) num() (tparam, error) {
	sc.ws()
	if sc.peek() == '$' {
		return sc.pvParam()
	}
	sign := int64(1)
	switch sc.peek() {
	case '-':
		sign = -1
		sc.i++
	case '+':
		sc.i++
	default:
		if c := sc.peek(); c < '0' || c > '9' {
			return tparam{}, sc.errorf("a number parameter is expected")
		}
	}
	sc.ws()
	var n int64
	for c := sc.peek(); c >= '0' && c <= '9'; c = sc.peek() {
		n = n*10 + int64(c-'0')
		sc.i++
	}
	return tparam{n: sign * n}, nil
}

// str reads a string parameter: a pseudo-variable, or the text up to
// ',', '}', a tab or a newline; with marker a ',' right away is the
// parameter (s.count,,).
func (sc *tscan) str(marker bool) (tparam, error) {
	sc.ws()
	if sc.peek() == '$' {
		return sc.pvParam()
	}
	start := sc.i
	for c := sc.peek(); c != 0 && c != '\t' && c != '\n' && c != ',' && c != '}'; c = sc.peek() {
		sc.i++
	}
	if sc.i >= len(sc.s) {
		return tparam{}, sc.errorf("unclosed '{'")
	}
	if marker && sc.i == start && sc.peek() == ',' {
		sc.i++
	}
	return tparam{s: sc.s[start:sc.i]}, nil
}

// params reads the parameters kinds names ('n' a number, 's' a string,
// 'm' a string that may be ','), each after a ',', then the '}'.
func (sc *tscan) params(kinds string) ([]tparam, error) { return sc.paramsOpt(kinds, "") }

// paramsOpt is params with the parameters opt after them, which may be
// left out (param.value's separator).
func (sc *tscan) paramsOpt(kinds, opt string) ([]tparam, error) {
	ps := make([]tparam, 0, len(kinds)+len(opt))
	for i, k := range kinds + opt {
		if !sc.comma() {
			if i >= len(kinds) {
				break
			}
			return nil, sc.errorf(sc.name + " wants " + strconv.Itoa(len(kinds)) + " parameters")
		}
		var p tparam
		var err error
		if k == 'n' {
			p, err = sc.num()
		} else {
			p, err = sc.str(k == 'm')
		}
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		sc.ws()
	}
	return ps, sc.close()
}

// notBuilt are the pv module's transformations kemi leaves out.
var notBuilt = map[string]bool{"s.encode.7bit": true, "s.decode.7bit": true, "s.encode.base58": true,
	"s.decode.base58": true, "s.corehash": true, "s.fmtlines": true, "s.fmtlinet": true}

// transNames are the pv module's transformations by full name; each
// reads its parameters from the scanner.
var transNames = map[string]func(sc *tscan) (transform, error){}

// simple adds a transformation without parameters; mk makes one per use.
func simple(name string, mk func() transform) {
	transNames[name] = func(sc *tscan) (transform, error) {
		if err := sc.close(); err != nil {
			return nil, err
		}
		return mk(), nil
	}
}

// A TransformMaker makes a module's transformation ({sql.val}) from its
// parameters, once, when a script is loaded.
type TransformMaker func(args []string) (func(c *Ctx, v Value) Value, error)

var (
	transMu      sync.RWMutex
	transClasses = map[string]TransformMaker{}
)

// RegisterTransform adds a module's transformation under its full name
// ("sql.val"). A duplicate or a name of the core's panics.
func RegisterTransform(name string, mk TransformMaker) {
	transMu.Lock()
	defer transMu.Unlock()
	if _, dup := transClasses[name]; dup || transNames[name] != nil {
		panic("router: transformation {" + name + "} registered twice")
	}
	transClasses[name] = mk
}

type errBad string

func (e errBad) Error() string { return string(e) }

// view is a value's string form without a copy: a view into its bytes, or
// the decimal of an int written into tmp.
func view(v Value, tmp *[24]byte) []byte {
	switch v.Kind {
	case Int:
		return strconv.AppendInt(tmp[:0], v.I, 10)
	case Str:
		if v.B != nil {
			return v.B
		}
		return unsafe.Slice(unsafe.StringData(v.S), len(v.S))
	}
	return nil
}

// View is a value's string form without a copy (tmp holds an int's
// digits). The bytes must not be changed.
func View(v Value, tmp *[24]byte) []byte { return view(v, tmp) }
