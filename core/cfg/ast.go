package cfg

import "net/netip"

// The route blocks of a config, as parsed: the input of engines/native.

// Route is one route block.
type Route struct {
	Kind string // "request_route", "route", "reply_route", "onreply_route", "failure_route", "branch_route", "onsend_route", "event_route"
	Name string // the name in [...], "" for none
	Body *Block
	Pos  Pos
}

// Stmt is a statement.
type Stmt interface{ stmtPos() Pos }

// Expr is an expression.
type Expr interface{ exprPos() Pos }

type (
	Block struct {
		Stmts []Stmt
		Pos   Pos
	}
	If struct {
		Cond Expr
		Then Stmt
		Else Stmt // nil, or a Block or an If
		Pos  Pos
	}
	Switch struct {
		X     Expr
		Cases []Case
		Pos   Pos
	}
	Case struct {
		Value Expr // nil for default
		Body  []Stmt
		Pos   Pos
	}
	While struct {
		Cond Expr
		Body Stmt
		Pos  Pos
	}
	Assign struct {
		Target *PVar
		Op     string // "=", "+=", ":="
		Value  Expr
		Pos    Pos
	}
	ExprStmt struct {
		X   Expr // a Call, or a bare keyword
		Pos Pos
	}
	Exit   struct{ Pos Pos }
	Drop   struct{ Pos Pos }
	Break  struct{ Pos Pos }
	Return struct {
		Value Expr // nil: return 1
		Pos   Pos
	}
)

type (
	IntLit struct {
		Value int64
		Pos   Pos
	}
	StrLit struct {
		Value string
		Pos   Pos
	}
	// IPLit is an address or a network written bare: 10.0.0.1, 10.0.0.0/8.
	IPLit struct {
		Text   string
		Prefix netip.Prefix
		Pos    Pos
	}
	PVar struct {
		Name string // "$var(x)"
		Pos  Pos
	}
	// Ident is a bare name: a core keyword (method, uri, src_ip, myself,
	// ...) or a route name given to route().
	Ident struct {
		Name string
		Pos  Pos
	}
	Call struct {
		Name string
		Args []Expr
		Pos  Pos
	}
	Unary struct {
		Op  string // "!", "-", "~", "defined", "(int)", "(str)"
		X   Expr
		Pos Pos
	}
	Binary struct {
		Op   string
		X, Y Expr
		Pos  Pos
	}
)

func (s *Block) stmtPos() Pos    { return s.Pos }
func (s *If) stmtPos() Pos       { return s.Pos }
func (s *Switch) stmtPos() Pos   { return s.Pos }
func (s *While) stmtPos() Pos    { return s.Pos }
func (s *Assign) stmtPos() Pos   { return s.Pos }
func (s *ExprStmt) stmtPos() Pos { return s.Pos }
func (s *Exit) stmtPos() Pos     { return s.Pos }
func (s *Drop) stmtPos() Pos     { return s.Pos }
func (s *Break) stmtPos() Pos    { return s.Pos }
func (s *Return) stmtPos() Pos   { return s.Pos }
func (e *IntLit) exprPos() Pos   { return e.Pos }
func (e *IPLit) exprPos() Pos    { return e.Pos }
func (e *StrLit) exprPos() Pos   { return e.Pos }
func (e *PVar) exprPos() Pos     { return e.Pos }
func (e *Ident) exprPos() Pos    { return e.Pos }
func (e *Call) exprPos() Pos     { return e.Pos }
func (e *Unary) exprPos() Pos    { return e.Pos }
func (e *Binary) exprPos() Pos   { return e.Pos }

// PosOf is the position of a statement or an expression.
func PosOf(n any) Pos {
	switch n := n.(type) {
	case Stmt:
		return n.stmtPos()
	case Expr:
		return n.exprPos()
	}
	return Pos{}
}
