package router

import "runtime"

// Version is what kemi -V and the core.version RPC command print.
const Version = "kemi 0.4.0 (Kamailio 5.6 KEMI compatible)"

// ServerHeader is the Server header of the replies kemi makes when the
// config does not set server_header, as Kamailio's "Server: kamailio
// (5.6.3 (x86_64/linux))".
const ServerHeader = "Server: kemi (0.4.0 (" + runtime.GOARCH + "/" + runtime.GOOS + "))"
