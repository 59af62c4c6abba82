package native

import (
	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
)

func (cp *compiler) block(b *cfg.Block) stmt {
	list := make([]stmt, 0, len(b.Stmts))
	for _, s := range b.Stmts {
		if st := cp.stmt(s); st != nil {
			list = append(list, st)
		}
	}
	switch len(list) {
	case 0:
		return func(*runner, *router.Ctx) flow { return next }
	case 1:
		return list[0]
	}
	return func(r *runner, c *router.Ctx) flow {
		for _, s := range list {
			if f := s(r, c); f != next {
				return f
			}
		}
		return next
	}
}

// stmt compiles a statement; with the debugger's cfgtrace, one that
// tells the tracer of itself before it runs, as Kamailio's does of each
// action.
func (cp *compiler) stmt(s cfg.Stmt) stmt {
	st := cp.stmt1(s)
	if cp.tracer == nil || st == nil {
		return st
	}
	if _, block := s.(*cfg.Block); block {
		return st
	}
	tr, pos, name, block := cp.tracer, cfg.PosOf(s), actionName(s), cp.blockName
	return func(r *runner, c *router.Ctx) flow {
		if tr.Tracing() {
			tr.Trace(c, block, pos.File, pos.Line, name)
		}
		return st(r, c)
	}
}

// actionName is what a trace line calls a statement: the function it
// calls, or the kind of statement.
func actionName(s cfg.Stmt) string {
	switch s := s.(type) {
	case *cfg.ExprStmt:
		switch x := s.X.(type) {
		case *cfg.Call:
			return x.Name
		case *cfg.Ident:
			return x.Name
		}
		return "expression"
	case *cfg.Assign:
		return "assign"
	case *cfg.If:
		return "if"
	case *cfg.While:
		return "while"
	case *cfg.Switch:
		return "switch"
	case *cfg.Return:
		return "return"
	case *cfg.Exit:
		return "exit"
	case *cfg.Drop:
		return "drop"
	case *cfg.Break:
		return "break"
	}
	return "action"
}

func (cp *compiler) stmt1(s cfg.Stmt) stmt {
	switch s := s.(type) {
	case *cfg.Block:
		return cp.block(s)
	case *cfg.Exit:
		return func(*runner, *router.Ctx) flow { return stop }
	case *cfg.Drop:
		return func(r *runner, c *router.Ctx) flow { c.Drop = true; return stop }
	case *cfg.Break:
		return func(*runner, *router.Ctx) flow { return brk }
	case *cfg.Return:
		if s.Value == nil {
			return func(r *runner, c *router.Ctx) flow { r.retv = 1; return ret }
		}
		v := cp.expr(s.Value)
		pos := s.Pos
		return func(r *runner, c *router.Ctx) flow {
			x, f := v(r, c)
			if f == stop {
				return stop
			}
			n, ok := x.Int64()
			if !ok {
				c.Log().Warn("return: not an integer, returning -1", "where", pos.String(), "route", c.Route)
				n = -1
			}
			r.retv = int(n)
			return ret
		}
	case *cfg.If:
		cond := cp.cond(s.Cond)
		then := cp.stmt(s.Then)
		if then == nil {
			then = func(*runner, *router.Ctx) flow { return next }
		}
		els := func(*runner, *router.Ctx) flow { return next }
		if s.Else != nil {
			els = cp.stmt(s.Else)
		}
		return func(r *runner, c *router.Ctx) flow {
			ok, f := cond(r, c)
			switch {
			case f == stop:
				return stop
			case ok:
				return then(r, c)
			}
			return els(r, c)
		}
	case *cfg.While:
		cond := cp.cond(s.Cond)
		body := cp.stmt(s.Body)
		max := cp.e.maxWhile
		pos := s.Pos
		return func(r *runner, c *router.Ctx) flow {
			for i := 0; ; i++ {
				ok, f := cond(r, c)
				if f == stop {
					return stop
				}
				if !ok {
					return next
				}
				if i == max {
					c.Log().Warn("while loop stopped at max_while_loops", "max", max, "where", pos.String(), "route", c.Route)
					return next
				}
				if f, leave := leaves(body(r, c)); leave {
					return f
				}
			}
		}
	case *cfg.Switch:
		return cp.switchStmt(s)
	case *cfg.Assign:
		return cp.assign(s)
	case *cfg.ExprStmt:
		x := cp.exprStmt(s.X)
		return func(r *runner, c *router.Ctx) flow {
			_, f := x(r, c)
			return f
		}
	}
	cp.errorf(cfg.PosOf(s), "unsupported statement")
	return nil
}

// exprStmt compiles an expression used as a statement: a call, or a bare
// name that is a function without parameters (force_rport;).
func (cp *compiler) exprStmt(x cfg.Expr) expr {
	if id, ok := x.(*cfg.Ident); ok {
		return cp.call(&cfg.Call{Name: id.Name, Pos: id.Pos})
	}
	return cp.expr(x)
}

func (cp *compiler) switchStmt(s *cfg.Switch) stmt {
	x := cp.expr(s.X)
	type compiledCase struct {
		val   router.Value
		isDef bool
		body  []stmt
	}
	cases := make([]compiledCase, len(s.Cases))
	for i, k := range s.Cases {
		cc := compiledCase{isDef: k.Value == nil}
		if k.Value != nil {
			v, ok := constValue(k.Value)
			if !ok {
				cp.errorf(k.Pos, "case: the value must be a string or an integer constant")
			}
			cc.val = v
		}
		for _, st := range k.Body {
			if c := cp.stmt(st); c != nil {
				cc.body = append(cc.body, c)
			}
		}
		cases[i] = cc
	}
	return func(r *runner, c *router.Ctx) flow {
		v, f := x(r, c)
		if f == stop {
			return stop
		}
		start := -1
		for i := range cases {
			if !cases[i].isDef && equal(v, cases[i].val) {
				start = i
				break
			}
		}
		if start < 0 {
			for i := range cases {
				if cases[i].isDef {
					start = i
					break
				}
			}
		}
		if start < 0 {
			return next
		}
		for i := start; i < len(cases); i++ { // fall through until break
			for _, st := range cases[i].body {
				if f, leave := leaves(st(r, c)); leave {
					return f
				}
			}
		}
		return next
	}
}

func constValue(x cfg.Expr) (router.Value, bool) {
	switch x := x.(type) {
	case *cfg.IntLit:
		return router.IntValue(x.Value), true
	case *cfg.StrLit:
		return router.StrValue(x.Value), true
	case *cfg.Unary:
		if il, ok := x.X.(*cfg.IntLit); ok && x.Op == "-" {
			return router.IntValue(-il.Value), true
		}
	}
	return router.Value{}, false
}

func (cp *compiler) assign(s *cfg.Assign) stmt {
	pv := cp.pvar(s.Target)
	if pv == nil {
		return nil
	}
	if !pv.Writable() {
		cp.errorf(s.Pos, "%s cannot be assigned", s.Target.Name)
		return nil
	}
	v := cp.expr(s.Value)
	pos := s.Pos
	add := s.Op == "+="
	b := cp.buf()
	return func(r *runner, c *router.Ctx) flow {
		x, f := v(r, c)
		if f == stop {
			return stop
		}
		if add && pv.Class != "avp" { // $var(x) += y: x + y
			x = plus(r, b, pv.Get(c), x)
		}
		if err := pv.Set(c, x); err != nil {
			c.Log().Error("assignment to "+pv.Name+": "+err.Error(), "where", pos.String(), "route", c.Route)
		}
		return next
	}
}

// leaves says whether a statement inside a loop or switch ends it, and
// with what flow for the enclosing block: break ends it there, return and
// exit go on up.
func leaves(f flow) (flow, bool) {
	switch f {
	case brk:
		return next, true
	case ret, stop:
		return f, true
	}
	return next, false
}
