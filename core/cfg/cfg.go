// Package cfg reads a kamailio.cfg-style config file: the preprocessor,
// global parameters, loadmodule, modparam, cfgengine and the route blocks
// (as an AST for the native engine). Errors carry file:line:column.
package cfg

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Config is a parsed config file.
type Config struct {
	File      string
	Defines   map[string]string
	Globals   []Global
	Modules   []Module
	Params    []ModParam
	Engine    string // cfgengine; "" means native
	EnginePos Pos
	Routes    []*Route
	// Warnings are things worth telling the operator that do not stop
	// start-up (an unknown global parameter).
	Warnings []*Error
}

// Global is one "name = value" line. Value is the text after '=', with
// the quotes of a string value removed.
type Global struct {
	Name   string
	Value  string
	Quoted bool
	Desc   string // a custom cfg var's description: group.name = value desc "..."
	Pos    Pos
}

// Module is one loadmodule.
type Module struct {
	Name string
	Pos  Pos
}

// ModParam is one modparam(module, name, value).
type ModParam struct {
	Module string
	Name   string
	Str    string
	Int    int64
	IsInt  bool
	Pos    Pos
}

// Global returns the last value of a global parameter.
func (c *Config) Global(name string) (Global, bool) {
	for i := len(c.Globals) - 1; i >= 0; i-- {
		if c.Globals[i].Name == name {
			return c.Globals[i], true
		}
	}
	return Global{}, false
}

// All returns every value of a global parameter that may repeat (listen,
// alias).
func (c *Config) All(name string) []Global {
	var out []Global
	for _, g := range c.Globals {
		if g.Name == name {
			out = append(out, g)
		}
	}
	return out
}

// Int returns a global parameter as an int, or def.
func (c *Config) Int(name string, def int) (int, error) {
	g, ok := c.Global(name)
	if !ok {
		return def, nil
	}
	if b, ok := BoolWord(g.Value); ok {
		return int(b), nil
	}
	n, err := strconv.Atoi(g.Value)
	if err != nil {
		return 0, &Error{g.Pos, fmt.Sprintf("%s: wants an integer, got %q", name, g.Value)}
	}
	return n, nil
}

// BoolWord reads Kamailio's words for 1 and 0: yes, true, on, enable and
// no, false, off, disable (lower case, as cfg.lex has them).
func BoolWord(s string) (int64, bool) {
	switch s {
	case "yes", "true", "on", "enable":
		return 1, true
	case "no", "false", "off", "disable":
		return 0, true
	}
	return 0, false
}

// Bool returns a global parameter as a boolean (yes/no, on/off,
// true/false, 1/0), or def.
func (c *Config) Bool(name string, def bool) (bool, error) {
	g, ok := c.Global(name)
	if !ok {
		return def, nil
	}
	switch strings.ToLower(g.Value) {
	case "yes", "on", "true", "1", "enable":
		return true, nil
	case "no", "off", "false", "0", "disable":
		return false, nil
	}
	return false, &Error{g.Pos, fmt.Sprintf("%s: wants yes or no, got %q", name, g.Value)}
}

// Route finds a route block.
func (c *Config) Route(kind, name string) *Route {
	for _, r := range c.Routes {
		if r.Kind == kind && r.Name == name {
			return r
		}
	}
	return nil
}

// knownGlobals are the core parameters kemi knows; others are kept and
// warned about.
var knownGlobals = map[string]bool{
	"server_id": true, "xavp_via_params": true, "xavp_via_fields": true,
	"debug": true, "log_stderror": true, "log_prefix": true, "log_prefix_mode": true, "log_facility": true,
	"log_name": true, "log_color": true, "fork": true, "children": true, "listen": true, "port": true,
	"alias": true, "auto_aliases": true, "mpath": true, "latency_cfg_log": true, "latency_log": true,
	"latency_limit_action": true, "latency_limit_db": true, "memdbg": true, "memlog": true,
	"tcp_connection_lifetime": true, "tcp_conn_wq_max": true, "tcp_wq_max": true, "tcp_send_timeout": true, "tcp_max_connections": true, "tcp_children": true, "disable_tcp": true,
	"enable_tls": true, "tls_max_connections": true, "dns": true, "rev_dns": true, "dns_try_ipv6": true,
	"use_dns_cache": true, "dns_cache_init": true, "server_header": true, "server_signature": true,
	"user_agent_header": true, "sip_warning": true, "maxbuffer": true, "tcp_accept_no_cl": true,
	"tcp_rd_buf_size": true, "tcp_keepalive": true, "enable_sctp": true, "phone2tel": true,
	"async_workers": true, "corelog": true, "max_while_loops": true, "mhomed": true, "onsend_route_reply": true,
	"reply_to_via": true, "udp_mtu": true, "udp_mtu_try_proto": true, "tcp_async": true, "received_route_mode": true,
	"kemi.onsend_route_callback": true, "kemi.reply_route_callback": true, "kemi.event_route_callback": true,
	"pv_buffer_size": true, "pv_buffer_slots": true, "shm_mem_size": true, "pkg_mem_size": true,
	"stats_name_separator": true, "uri_host_extra_chars": true, "http_reply_parse": true,
	"advertised_address": true, "advertised_port": true, "socket_workers": true, "tos": true, "runtime_dir": true,
	"tcp_max_connections_per_ip": true, "tcp_conn_limit_ban": true, "bad_msg_ban_limit": true, "bad_msg_ban_unit": true, "ban_time": true, "overload_backlog": true,
	"loadpath": true, "user": true, "group": true, "workdir": true, "wdir": true, "chroot": true,
}

var routeKinds = map[string]string{
	"request_route": "request_route", "route": "route", "reply_route": "reply_route",
	"onreply_route": "onreply_route", "failure_route": "failure_route", "branch_route": "branch_route",
	"onsend_route": "onsend_route", "event_route": "event_route",
}

// Parse preprocesses and parses a config file. text, when not nil, is the
// file's content (the embedded default config). defines are the -A ones.
func Parse(file string, text []byte, defines map[string]string) (*Config, error) {
	d := map[string]string{}
	for k, v := range defines {
		d[k] = v
	}
	src, err := Preprocess(file, text, d)
	if err != nil {
		return nil, err
	}
	c := &Config{File: file, Defines: d}
	p := &parser{lx: lexer{src: src, b: src.Text}, src: src, cfg: c}
	if err := p.top(); err != nil {
		return nil, err
	}
	return c, nil
}

type parser struct {
	lx  lexer
	src *Source
	cfg *Config
	tok token
}

type stop struct{ err error }

func (p *parser) advance() {
	p.tok = p.lx.next()
	if p.lx.err != nil {
		panic(stop{p.lx.err})
	}
}

func (p *parser) pos(off int) Pos { return p.src.Pos(off) }

func (p *parser) failf(off int, f string, a ...any) {
	panic(stop{&Error{p.pos(off), fmt.Sprintf(f, a...)}})
}

func (p *parser) describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tStr:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

func (p *parser) expect(op string) token {
	t := p.tok
	if t.kind != tOp || t.text != op {
		p.failf(t.off, "expected '%s', found %s", op, p.describe(t))
	}
	p.advance()
	return t
}

func (p *parser) isOp(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

func (p *parser) top() (err error) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(stop)
			if !ok {
				panic(r)
			}
			err = s.err
		}
	}()
	p.advance()
	for p.tok.kind != tEOF {
		t := p.tok
		switch {
		case p.isOp(";"):
			p.advance()
		case t.kind != tIdent:
			p.failf(t.off, "expected a global parameter, loadmodule, modparam or a route block, found %s", p.describe(t))
		case t.text == "loadmodule" || t.text == "loadmodulex":
			p.advance()
			paren := p.isOp("(")
			if paren {
				p.advance()
			}
			s := p.str("loadmodule needs a module name in quotes")
			if paren {
				p.expect(")")
			}
			p.cfg.Modules = append(p.cfg.Modules, Module{Name: s, Pos: p.pos(t.off)})
		case t.text == "modparam":
			p.modparam()
		case t.text == "cfgengine":
			p.advance()
			if p.isOp("=") {
				p.advance()
			}
			p.cfg.Engine = p.str("cfgengine needs an engine name in quotes")
			p.cfg.EnginePos = p.pos(t.off)
		case (t.text == "loadpath" || t.text == "mpath") && !p.peekIs("="):
			// Kamailio's grammar takes loadpath "dir" without '=' too
			p.advance()
			dir := p.str(t.text + " needs a folder in quotes")
			p.cfg.Globals = append(p.cfg.Globals, Global{Name: t.text, Value: dir, Quoted: true, Pos: p.pos(t.off)})
		case routeKinds[t.text] != "" && !p.peekIs("="):
			p.route()
		default:
			p.global()
		}
	}
	return nil
}

// peekIs reports whether the token after the current one is op.
func (p *parser) peekIs(op string) bool {
	save := p.lx.off
	t := p.lx.next()
	p.lx.off = save
	return t.kind == tOp && t.text == op
}

func (p *parser) str(msg string) string {
	t := p.tok
	if t.kind != tStr {
		p.failf(t.off, "%s, found %s", msg, p.describe(t))
	}
	p.advance()
	return t.text
}

func (p *parser) modparam() {
	start := p.tok.off
	p.advance()
	p.expect("(")
	mod := p.str("modparam: the module name must be a string")
	p.expect(",")
	name := p.str("modparam: the parameter name must be a string")
	p.expect(",")
	mp := ModParam{Module: mod, Name: name, Pos: p.pos(start)}
	neg := false
	if p.isOp("-") {
		neg = true
		p.advance()
	}
	switch t := p.tok; t.kind {
	case tInt:
		mp.Int, mp.IsInt = t.num, true
		if neg {
			mp.Int = -mp.Int
		}
		p.advance()
	case tIdent:
		// Kamailio's lexer reads these words as the numbers 1 and 0
		// wherever a number may stand (cfg.lex's YES and NO).
		n, ok := BoolWord(t.text)
		if !ok || neg {
			p.failf(t.off, "modparam(%q, %q): the value must be a string or an integer, found %s", mod, name, p.describe(t))
		}
		mp.Int, mp.IsInt = n, true
		p.advance()
	case tStr:
		var sb strings.Builder
		for p.tok.kind == tStr { // "a" "b" concatenates, as in Kamailio
			sb.WriteString(p.tok.text)
			p.advance()
			if p.isOp("+") {
				p.advance()
			}
		}
		mp.Str = sb.String()
	default:
		p.failf(t.off, "modparam(%q, %q): the value must be a string or an integer, found %s", mod, name, p.describe(t))
	}
	p.expect(")")
	p.cfg.Params = append(p.cfg.Params, mp)
}

// global parses "name = value" up to the end of the line or a ';'.
func (p *parser) global() {
	t := p.tok
	p.advance()
	if !p.isOp("=") {
		p.failf(t.off, "expected '=' after %q (a global parameter), found %s", t.text, p.describe(p.tok))
	}
	b := p.src.Text
	i := p.tok.off + 1
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	start := i
	inq := byte(0)
	for ; i < len(b) && b[i] != '\n'; i++ {
		c := b[i]
		if inq != 0 {
			if c == inq {
				inq = 0
			}
			continue
		}
		if c == '"' || c == '\'' {
			inq = c
			continue
		}
		if c == ';' || c == '#' || (c == '/' && i+1 < len(b) && (b[i+1] == '/' || b[i+1] == '*')) {
			break
		}
	}
	raw := strings.TrimSpace(string(b[start:i]))
	if raw == "" {
		p.failf(t.off, "%s: missing value", t.text)
	}
	g := Global{Name: t.text, Value: raw, Pos: p.pos(t.off)}
	if j := strings.Index(raw, " desc "); j > 0 && strings.Contains(t.text, ".") {
		// A custom cfg var: group.name = value desc "description".
		raw, g.Desc = strings.TrimSpace(raw[:j]), strings.Trim(strings.TrimSpace(raw[j+6:]), `"'`)
		g.Value = raw
	}
	if len(raw) >= 2 && (raw[0] == '"' && raw[len(raw)-1] == '"' || raw[0] == '\'' && raw[len(raw)-1] == '\'') {
		g.Value, g.Quoted = raw[1:len(raw)-1], true
	}
	p.cfg.Globals = append(p.cfg.Globals, g)
	if !knownGlobals[t.text] && !strings.Contains(t.text, ".") {
		p.cfg.Warnings = append(p.cfg.Warnings, &Error{g.Pos, "unknown global parameter " + t.text + " (kept, not used)"})
	}
	p.lx.off = i
	p.advance()
}

func (p *parser) route() {
	t := p.tok
	kind := routeKinds[t.text]
	p.advance()
	name := ""
	if p.isOp("[") {
		b := p.src.Text
		i := p.tok.off + 1
		end := i
		for end < len(b) && b[end] != ']' && b[end] != '\n' {
			end++
		}
		if end >= len(b) || b[end] != ']' {
			p.failf(p.tok.off, "%s: unclosed '['", t.text)
		}
		name = strings.Trim(strings.TrimSpace(string(b[i:end])), `"`)
		if name == "" {
			p.failf(p.tok.off, "%s: empty name", t.text)
		}
		p.lx.off = end + 1
		p.advance()
	}
	if kind == "route" && name == "" {
		kind = "request_route"
	}
	if name == "0" && kind == "route" {
		kind, name = "request_route", ""
	}
	if kind == "onreply_route" && (name == "" || name == "0") {
		kind, name = "reply_route", "" // the main reply route, as in Kamailio
	}
	if r := p.cfg.Route(kind, name); r != nil {
		p.failf(t.off, "%s[%s] is already defined at %s", kind, name, r.Pos)
	}
	if !p.isOp("{") {
		p.failf(p.tok.off, "expected '{' to start %s, found %s", t.text, p.describe(p.tok))
	}
	body := p.block()
	p.cfg.Routes = append(p.cfg.Routes, &Route{Kind: kind, Name: name, Body: body, Pos: p.pos(t.off)})
}

func (p *parser) block() *Block {
	open := p.expect("{")
	b := &Block{Pos: p.pos(open.off)}
	for !p.isOp("}") {
		if p.tok.kind == tEOF {
			p.failf(open.off, "'{' is never closed")
		}
		if s := p.stmt(); s != nil {
			b.Stmts = append(b.Stmts, s)
		}
	}
	p.advance()
	return b
}

func (p *parser) semi() {
	if !p.isOp(";") {
		p.failf(p.tok.off, "expected ';', found %s", p.describe(p.tok))
	}
	p.advance()
}

func (p *parser) stmt() Stmt {
	t := p.tok
	pos := p.pos(t.off)
	switch {
	case p.isOp(";"):
		p.advance()
		return nil
	case p.isOp("{"):
		return p.block()
	case t.kind == tPVar:
		p.advance()
		if !(p.isOp("=") || p.isOp("+=") || p.isOp(":=")) {
			p.failf(p.tok.off, "expected an assignment to %s, found %s", t.text, p.describe(p.tok))
		}
		op := p.tok.text
		p.advance()
		v := p.expr()
		p.semi()
		return &Assign{Target: &PVar{Name: t.text, Pos: pos}, Op: op, Value: v, Pos: pos}
	case t.kind == tIdent:
		switch t.text {
		case "if":
			p.advance()
			p.expect("(")
			c := p.expr()
			p.expect(")")
			s := &If{Cond: c, Then: p.body(), Pos: pos}
			if p.tok.kind == tIdent && p.tok.text == "else" {
				p.advance()
				s.Else = p.body()
			}
			return s
		case "while":
			p.advance()
			p.expect("(")
			c := p.expr()
			p.expect(")")
			return &While{Cond: c, Body: p.body(), Pos: pos}
		case "switch":
			return p.switchStmt()
		case "exit":
			p.advance()
			p.optParens()
			p.semi()
			return &Exit{Pos: pos}
		case "drop":
			p.advance()
			p.optParens()
			p.semi()
			return &Drop{Pos: pos}
		case "break":
			p.advance()
			p.semi()
			return &Break{Pos: pos}
		case "return":
			p.advance()
			r := &Return{Pos: pos}
			if !p.isOp(";") {
				r.Value = p.expr()
			}
			p.semi()
			return r
		case "else":
			p.failf(t.off, "'else' without 'if'")
		case "case", "default":
			p.failf(t.off, "'%s' outside a switch", t.text)
		}
		x := p.expr()
		p.semi()
		return &ExprStmt{X: x, Pos: pos}
	}
	p.failf(t.off, "expected a statement, found %s", p.describe(t))
	return nil
}

// optParens accepts "exit()" and "drop()".
func (p *parser) optParens() {
	if p.isOp("(") {
		p.advance()
		p.expect(")")
	}
}

// body is the statement after if/else/while: a block or one statement.
func (p *parser) body() Stmt {
	if p.isOp("{") {
		return p.block()
	}
	s := p.stmt()
	if s == nil {
		return &Block{Pos: p.pos(p.tok.off)}
	}
	return s
}

func (p *parser) switchStmt() Stmt {
	pos := p.pos(p.tok.off)
	p.advance()
	p.expect("(")
	x := p.expr()
	p.expect(")")
	open := p.expect("{")
	s := &Switch{X: x, Pos: pos}
	for !p.isOp("}") {
		t := p.tok
		switch {
		case t.kind == tEOF:
			p.failf(open.off, "switch: '{' is never closed")
		case t.kind == tIdent && t.text == "case":
			p.advance()
			var v Expr
			if p.isOp("-") { // case -1: (lookup's and auth_check's return codes)
				p.advance()
				n := p.tok
				if n.kind != tInt {
					p.failf(n.off, "case: expected a number after '-', found %s", p.describe(n))
				}
				p.advance()
				v = &IntLit{Value: -n.num, Pos: p.pos(t.off)}
			} else {
				v = p.primary()
			}
			p.expect(":")
			s.Cases = append(s.Cases, Case{Value: v, Pos: p.pos(t.off)})
		case t.kind == tIdent && t.text == "default":
			p.advance()
			p.expect(":")
			s.Cases = append(s.Cases, Case{Pos: p.pos(t.off)})
		default:
			if len(s.Cases) == 0 {
				p.failf(t.off, "switch: expected 'case' or 'default', found %s", p.describe(t))
			}
			if st := p.stmt(); st != nil {
				c := &s.Cases[len(s.Cases)-1]
				c.Body = append(c.Body, st)
			}
		}
	}
	p.advance()
	return s
}

// Expressions, by Kamailio's precedence (lowest first, cfg.y's %left
// lines): || && | & ^ << >> equality, relations + - * / % unary casts.
var binLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"&"}, {"^"}, {"<<"}, {">>"},
	{"==", "!=", "=~", "!~", "eq", "ne", "ieq", "ine"},
	{"<", ">", "<=", ">="},
	{"+", "-"}, {"*", "/", "%"},
}

// eqLevel is the level of the comparisons written as words (eq, ne).
const eqLevel = 7

func (p *parser) expr() Expr { return p.binary(0) }

func (p *parser) binary(level int) Expr {
	if level == len(binLevels) {
		return p.unary()
	}
	x := p.binary(level + 1)
	for {
		t := p.tok
		op := t.text
		if t.kind == tIdent && t.text == "mod" && level == len(binLevels)-1 {
			op = "%" // Kamailio's word for the remainder
		} else if t.kind == tIdent && (t.text == "and" && level == 1 || t.text == "or" && level == 0) {
			op = map[string]string{"and": "&&", "or": "||"}[t.text] // and the words for these
		} else if t.kind == tIdent && level == eqLevel && contains(binLevels[level], t.text) {
			// eq, ne: compared as strings; ieq, ine: as integers
		} else if t.kind != tOp || !contains(binLevels[level], t.text) {
			return x
		}
		p.advance()
		y := p.binary(level + 1)
		x = &Binary{Op: op, X: x, Y: y, Pos: p.pos(t.off)}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() Expr {
	t := p.tok
	if t.kind == tOp && (t.text == "!" || t.text == "-" || t.text == "~") {
		p.advance()
		return &Unary{Op: t.text, X: p.unary(), Pos: p.pos(t.off)}
	}
	if t.kind == tIdent && t.text == "not" {
		p.advance()
		return &Unary{Op: "!", X: p.unary(), Pos: p.pos(t.off)}
	}
	if t.kind == tIdent && t.text == "defined" {
		p.advance()
		return &Unary{Op: "defined", X: p.unary(), Pos: p.pos(t.off)}
	}
	if cast := p.castAt(t); cast != "" {
		// (int)x, (str)x: written without spaces, as Kamailio's lexer
		// reads them
		p.lx.off = t.off + len(cast)
		p.advance()
		return &Unary{Op: cast, X: p.unary(), Pos: p.pos(t.off)}
	}
	return p.primary()
}

// castAt is "(int)" or "(str)" when the source at t reads so, else "".
func (p *parser) castAt(t token) string {
	if t.kind != tOp || t.text != "(" {
		return ""
	}
	for _, c := range []string{"(int)", "(str)"} {
		if strings.HasPrefix(string(p.lx.b[t.off:min(len(p.lx.b), t.off+5)]), c) {
			return c
		}
	}
	return ""
}

func (p *parser) primary() Expr {
	t := p.tok
	pos := p.pos(t.off)
	switch t.kind {
	case tInt:
		p.advance()
		return &IntLit{Value: t.num, Pos: pos}
	case tStr:
		p.advance()
		return &StrLit{Value: t.text, Pos: pos}
	case tIP:
		p.advance()
		pfx, _ := ParseIPLit(t.text) // the lexer checked it
		return &IPLit{Text: t.text, Prefix: pfx, Pos: pos}
	case tPVar:
		p.advance()
		return &PVar{Name: t.text, Pos: pos}
	case tIdent:
		p.advance()
		if t.text == "msg" && p.isOp(":") {
			// msg:len, the core's name for the message's length
			p.advance()
			if p.tok.kind != tIdent || p.tok.text != "len" {
				p.failf(p.tok.off, "msg: expected len, found %s", p.describe(p.tok))
			}
			p.advance()
			return &Ident{Name: "msg:len", Pos: pos}
		}
		if !p.isOp("(") {
			return &Ident{Name: t.text, Pos: pos}
		}
		p.advance()
		c := &Call{Name: t.text, Pos: pos}
		for !p.isOp(")") {
			if s, ok := p.socketLit(); ok {
				c.Args = append(c.Args, s)
			} else {
				c.Args = append(c.Args, p.expr())
			}
			if p.isOp(",") {
				p.advance()
			} else if !p.isOp(")") {
				p.failf(p.tok.off, "%s(): expected ',' or ')', found %s", t.text, p.describe(p.tok))
			}
		}
		p.advance()
		return c
	case tOp:
		if t.text == "(" {
			p.advance()
			x := p.expr()
			p.expect(")")
			return x
		}
	}
	p.failf(t.off, "expected an expression, found %s", p.describe(t))
	return nil
}

// socketLit reads a socket written bare as a function's argument,
// proto:host[:port] (force_send_socket(udp:10.0.0.1:5060)), as a string;
// ok false when the argument is not one.
func (p *parser) socketLit() (Expr, bool) {
	t := p.tok
	b := p.lx.b
	if t.kind != tIdent || p.lx.off >= len(b) || b[p.lx.off] != ':' {
		return nil, false
	}
	switch strings.ToLower(t.text) {
	case "udp", "tcp", "tls", "sctp", "ws", "wss":
	default:
		return nil, false
	}
	j := t.off
	for j < len(b) && b[j] != ',' && b[j] != ')' && b[j] != '\n' {
		j++
	}
	lit := &StrLit{Value: strings.TrimSpace(string(b[t.off:j])), Pos: p.pos(t.off)}
	p.lx.off = j
	p.advance()
	return lit, true
}

// LogWarnings logs the config's warnings.
func (c *Config) LogWarnings(l *slog.Logger) {
	for _, w := range c.Warnings {
		l.Warn("config: " + w.Error())
	}
}
