// Package db_mysql accepts loadmodule "db_mysql.so": the MySQL and MariaDB
// driver (go-sql-driver/mysql) is built into kemi and chosen by a mysql://
// db_url.
package db_mysql

import "github.com/kemi-sip/kemi/dispatch"

func init() {
	accepted := "accepted; the driver's pool reconnects and times out on its own"
	dispatch.Register(dispatch.ModuleInfo{
		Name: "db_mysql",
		KSR:  "-",
		New:  dispatch.NewParamsOnly,
		Params: []dispatch.Param{
			{Name: "ping_interval", Kind: dispatch.Int, Doc: accepted},
			{Name: "connect_timeout", Kind: dispatch.Int, Doc: accepted},
			{Name: "send_timeout", Kind: dispatch.Int, Doc: accepted},
			{Name: "receive_timeout", Kind: dispatch.Int, Doc: accepted},
			{Name: "retries", Kind: dispatch.Int, Doc: accepted},
			{Name: "timeout_interval", Kind: dispatch.Int, Doc: accepted},
			{Name: "auto_reconnect", Kind: dispatch.Int, Doc: accepted},
			{Name: "server_timezone", Kind: dispatch.Int, Doc: "accepted; DATETIME columns hold local wall-clock time, as Kamailio writes them"},
			{Name: "insert_delayed", Kind: dispatch.Int, Doc: "accepted; inserts are plain INSERTs (MySQL 8 dropped INSERT DELAYED)"},
			{Name: "update_affected_found", Kind: dispatch.Int, Doc: "accepted"},
			{Name: "unsigned_type", Kind: dispatch.Int, Doc: "accepted"},
			{Name: "opt_ssl_mode", Kind: dispatch.Int, Doc: "accepted; connections are plain TCP"},
		},
	})
}
