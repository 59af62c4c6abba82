// Package all links every built-in module into the binary.
package all

import (
	_ "github.com/kemi-sip/kemi/modules/auth"
	_ "github.com/kemi-sip/kemi/modules/auth_db"
	_ "github.com/kemi-sip/kemi/modules/core"
	_ "github.com/kemi-sip/kemi/modules/corex"
	_ "github.com/kemi-sip/kemi/modules/db_postgres"
	_ "github.com/kemi-sip/kemi/modules/db_sqlite"
	_ "github.com/kemi-sip/kemi/modules/hdr"
	_ "github.com/kemi-sip/kemi/modules/kex"
	_ "github.com/kemi-sip/kemi/modules/kx"
	_ "github.com/kemi-sip/kemi/modules/maxfwd"
	_ "github.com/kemi-sip/kemi/modules/pv"
	_ "github.com/kemi-sip/kemi/modules/registrar"
	_ "github.com/kemi-sip/kemi/modules/rr"
	_ "github.com/kemi-sip/kemi/modules/sanity"
	_ "github.com/kemi-sip/kemi/modules/siputils"
	_ "github.com/kemi-sip/kemi/modules/sl"
	_ "github.com/kemi-sip/kemi/modules/textops"
	_ "github.com/kemi-sip/kemi/modules/tm"
	_ "github.com/kemi-sip/kemi/modules/tmx"
	_ "github.com/kemi-sip/kemi/modules/usrloc"
	_ "github.com/kemi-sip/kemi/modules/xlog"
)
