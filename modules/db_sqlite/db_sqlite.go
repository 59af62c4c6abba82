// Package db_sqlite accepts loadmodule "db_sqlite.so": the SQLite driver
// (modernc.org/sqlite) is built into kemi and chosen by a sqlite:// db_url.
package db_sqlite

import "github.com/kemi-sip/kemi/dispatch"

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "db_sqlite",
		KSR:  "-",
		New:  dispatch.NewParamsOnly,
		Params: []dispatch.Param{
			// Kamailio's; kemi always runs SQLite in WAL mode with one
			// writer connection and a 10 s busy timeout.
			{Name: "db_set_readonly", Kind: dispatch.Str, Multi: true},
			{Name: "db_set_cache_size", Kind: dispatch.Str, Multi: true},
			{Name: "db_set_journal_mode", Kind: dispatch.Str, Multi: true},
		},
	})
}
