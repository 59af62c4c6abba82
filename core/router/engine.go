package router

import "fmt"

// RouteKind names the kind of route block a script runs.
type RouteKind uint8

const (
	RouteRequest RouteKind = iota // request_route, ksr_request_route
	RouteReply                    // reply_route, ksr_reply_route
	RouteOnSend                   // onsend_route, ksr_onsend_route
	RouteNamed                    // route[NAME], a callback function by name
	RouteFailure                  // failure_route[NAME]
	RouteBranch                   // branch_route[NAME]
	RouteOnReply                  // onreply_route[NAME]
	RouteEvent                    // event_route[NAME]
	numRouteKinds
)

var routeKindNames = [...]string{"request_route", "reply_route", "onsend_route", "route", "failure_route", "branch_route", "onreply_route", "event_route"}

func (k RouteKind) String() string {
	if int(k) < len(routeKindNames) {
		return routeKindNames[k]
	}
	return fmt.Sprintf("route kind %d", k)
}

// Engine is a loaded routing script: compiled once, run by one Runner per
// worker.
type Engine interface {
	Name() string
	// NewRunner makes the interpreter state for one worker.
	NewRunner(rank int) (Runner, error)
}

// Runner runs routes of one script in one worker, one at a time.
type Runner interface {
	// Has reports whether the script defines the route.
	Has(kind RouteKind, name string) bool
	// Run runs a route with c and returns its return code (0 after exit or
	// drop, the route's return value otherwise, 1 when it returns none).
	// A script error is returned as a *ScriptError; the runner stays
	// usable.
	Run(c *Ctx, kind RouteKind, name string) (int, error)
}

// Caller is a Runner that calls its script's functions by name and runs
// code given as text, for the app_* modules' KSR functions (app_lua's
// run and runstring, app_jsdt's, app_python's exec).
type Caller interface {
	// Call calls the script's function fn (Python: the method of the
	// object mod_init returned, given the message first) with string
	// arguments. found is false when there is no such function; rc is
	// what it returned as an int where the language's module passes it
	// on (Python), else 1.
	Call(c *Ctx, fn string, args ...string) (rc int, found bool, err error)
	// Exec runs code in the script's state; name names it in errors.
	Exec(c *Ctx, name, code string) error
}

// ScriptError is an error raised by a script at run time.
type ScriptError struct {
	Route string // "ksr_request_route", "request_route", "route[AUTH]"
	Where string // "file.lua:12", empty when the engine cannot tell
	Msg   string
}

func (e *ScriptError) Error() string {
	if e.Where == "" {
		return e.Route + ": " + e.Msg
	}
	return e.Route + ": " + e.Where + ": " + e.Msg
}

// mainFunctions are the script functions of the main routes in KEMI.
var mainFunctions = [...]string{RouteRequest: "ksr_request_route", RouteReply: "ksr_reply_route", RouteOnSend: "ksr_onsend_route"}

// Functions caches a runner's route functions by name: each is looked up
// in the script once, found or not (the zero T). The main routes sit in
// an array: no map lookup per message.
type Functions[T comparable] struct {
	main   [RouteNamed]T
	known  [RouteNamed]bool
	m      map[string]T
	Lookup func(name string) T
}

// Get returns the function of a route and its name.
func (f *Functions[T]) Get(kind RouteKind, name string) (T, string) {
	if kind < RouteNamed {
		if !f.known[kind] {
			f.main[kind], f.known[kind] = f.Lookup(mainFunctions[kind]), true
		}
		return f.main[kind], mainFunctions[kind]
	}
	fn, ok := f.m[name]
	if !ok {
		fn = f.Lookup(name)
		if f.m == nil {
			f.m = map[string]T{}
		}
		f.m[name] = fn
	}
	return fn, name
}

// Has reports whether the script defines the route's function.
func (f *Functions[T]) Has(kind RouteKind, name string) bool {
	var zero T
	fn, _ := f.Get(kind, name)
	return fn != zero
}
