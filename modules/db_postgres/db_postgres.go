// Package db_postgres accepts loadmodule "db_postgres.so": the PostgreSQL
// driver (pgx) is built into kemi and chosen by a postgres:// db_url.
package db_postgres

import "github.com/kemi-sip/kemi/dispatch"

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "db_postgres",
		KSR:  "-",
		New:  dispatch.NewParamsOnly,
		Params: []dispatch.Param{
			// Kamailio's; pgx handles reconnection and timeouts itself.
			{Name: "retries", Kind: dispatch.Int},
			{Name: "timeout", Kind: dispatch.Int},
			{Name: "tcp_keepalive", Kind: dispatch.Int},
			{Name: "lockset", Kind: dispatch.Int},
			{Name: "bytea_output_escape", Kind: dispatch.Int},
			{Name: "con_param", Kind: dispatch.Str},
		},
	})
}
