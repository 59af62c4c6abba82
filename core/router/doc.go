// Package router runs a message's routes: the request context (Ctx: the
// message, flags, variables, destination, branches, the modules'
// per-request slots), the worker that parses a packet and runs the
// script's routes on it through an Engine's Runner, the reply and forward
// paths, pseudo-variables and transformations, and route latency. It knows
// no module: modules reach it through dispatch and keep their per-request
// state in slots (Slot) they own.
package router
