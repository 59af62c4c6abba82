package router

// Version is what kemi -V and the core.version RPC command print.
const Version = "kemi 0.4.0 (Kamailio 5.6 KEMI compatible)"
