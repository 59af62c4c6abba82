// Package enginetest runs golden files against the routing engines: a
// config (and script), SIP messages in, the expected messages out, over
// real UDP sockets. Every engine runs the same files.
package enginetest
