// Package kex is Kamailio's kex module as loadmodule sees it. Its
// functions (setflag, km_append_branch, ...) are the core functions here,
// so loading it only keeps existing configs valid.
package kex

import "github.com/kemi-sip/kemi/dispatch"

func init() {
	dispatch.Register(dispatch.Module{Name: "kex", KSR: "-"})
}
