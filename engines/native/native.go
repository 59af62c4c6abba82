// Package native runs the route blocks of a kamailio.cfg, Kamailio's own
// routing language. The AST from core/cfg is compiled once, at load, into a
// tree of Go closures: function names, route names, constant parameters,
// pseudo-variables and constant regexes are resolved then, and every name
// that does not resolve is a start-up error with its file:line.
package native

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// The contracts the proxy holds the engine to.
var (
	_ router.Engine = (*Engine)(nil)
	_ router.Runner = (*runner)(nil)
)

// Engine is a compiled config.
type Engine struct {
	table    *dispatch.Table
	routes   map[routeKey]*route
	main     [router.RouteNamed]*route // request_route, reply_route, onsend_route: found once, not per message
	nbufs    int                       // scratch buffers a runner needs
	maxWhile int
}

type routeKey struct {
	kind string
	name string
}

type route struct {
	name string // "route[AUTH]", for logs
	pos  cfg.Pos
	body stmt
}

// flow is what a statement tells its block.
type flow uint8

const (
	next flow = iota
	brk       // break out of a switch or loop
	ret       // return from the route
	stop      // exit or drop: end the script
)

type stmt func(r *runner, c *router.Ctx) flow

// New compiles the route blocks of c against the export table t.
func New(c *cfg.Config, t *dispatch.Table) (*Engine, error) {
	e := &Engine{table: t, routes: map[routeKey]*route{}, maxWhile: 100}
	if n, err := c.Int("max_while_loops", 100); err != nil {
		return nil, err
	} else if n > 0 {
		e.maxWhile = n
	}
	for _, r := range c.Routes {
		name := r.Kind
		if r.Name != "" {
			name += "[" + r.Name + "]"
		}
		e.routes[routeKey{r.Kind, r.Name}] = &route{name: name, pos: r.Pos}
	}
	if e.routes[routeKey{"request_route", ""}] == nil {
		return nil, errors.New("config: no request_route block")
	}
	for k := router.RouteKind(0); k < router.RouteNamed; k++ {
		e.main[k] = e.routes[routeKey{kindNames[k], ""}]
	}
	cp := &compiler{e: e, cfg: c}
	cp.tracer, _ = t.FindModule("debugger").(router.Tracer)
	for _, r := range c.Routes {
		cp.blockName, cp.blockKind = r.Name, r.Kind
		if cp.blockName == "" {
			cp.blockName = "DEFAULT"
		}
		e.routes[routeKey{r.Kind, r.Name}].body = cp.block(r.Body)
	}
	if len(cp.errs) > 0 {
		var msgs []string
		for _, err := range cp.errs {
			msgs = append(msgs, err.Error())
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	return e, nil
}

// Name is "native".
func (e *Engine) Name() string { return "native" }

// NewRunner makes the state of one worker.
func (e *Engine) NewRunner(rank int) (router.Runner, error) {
	return &runner{e: e, bufs: make([][]byte, e.nbufs)}, nil
}

// runner is one worker's state: the argument array for calls, the return
// value of the running route and the scratch buffers of the expressions.
type runner struct {
	e     *Engine
	args  dispatch.Args
	retv  int
	bufs  [][]byte
	depth int
	err   error // a function's failure that stopped the script (a panic in a module)
}

var kindNames = map[router.RouteKind]string{
	router.RouteRequest: "request_route", router.RouteReply: "reply_route", router.RouteOnSend: "onsend_route",
	router.RouteNamed: "route", router.RouteFailure: "failure_route", router.RouteBranch: "branch_route",
	router.RouteOnReply: "onreply_route", router.RouteEvent: "event_route",
}

func (r *runner) find(kind router.RouteKind, name string) *route {
	if kind < router.RouteNamed {
		return r.e.main[kind]
	}
	return r.e.routes[routeKey{kindNames[kind], name}]
}

// Has reports whether the config has the route block.
func (r *runner) Has(kind router.RouteKind, name string) bool { return r.find(kind, name) != nil }

// Run runs a route block. It returns 0 after exit or drop, else the
// route's return value (1 when it has none).
func (r *runner) Run(c *router.Ctx, kind router.RouteKind, name string) (int, error) {
	rt := r.find(kind, name)
	if rt == nil {
		return -1, &router.ScriptError{Route: kindNames[kind] + "[" + name + "]", Msg: "no such route block"}
	}
	rc, f := r.call(c, rt)
	if err := r.err; err != nil {
		r.err = nil
		return 0, err
	}
	if f == stop {
		return 0, nil
	}
	return rc, nil
}

// call runs a route body and gives its return value and whether the
// script stopped inside it.
func (r *runner) call(c *router.Ctx, rt *route) (int, flow) {
	if r.depth > 100 {
		c.Log().Error("route recursion deeper than 100, stopping", "route", rt.name)
		return -1, stop
	}
	r.depth++
	r.retv = 1
	f := rt.body(r, c)
	r.depth--
	rc := r.retv
	r.retv = 1
	c.RC = rc
	return rc, f
}

// compiler turns the AST into closures, collecting every error.
type compiler struct {
	e         *Engine
	cfg       *cfg.Config
	errs      []error
	tracer    router.Tracer // the debugger module's cfgtrace, when loaded
	blockName string        // the route block being compiled, for the tracer
	blockKind string        // and its kind: "request_route", "onsend_route", ...
}

func (cp *compiler) errorf(p cfg.Pos, f string, a ...any) {
	cp.errs = append(cp.errs, &cfg.Error{Pos: p, Msg: fmt.Sprintf(f, a...)})
}

// buf reserves a scratch buffer in every runner and returns its index.
func (cp *compiler) buf() int {
	cp.e.nbufs++
	return cp.e.nbufs - 1
}
