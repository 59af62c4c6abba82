// Package db_redis is Kamailio's db_redis: a redis:// db_url keeps a
// module's table in Redis, laid out as Kamailio's db_redis lays it out
// (core/db/redis.go), so that dialog, usrloc, htable and the rest share
// their rows through the Redis server Kamailio users already run. This
// module takes the layout: which columns make each table's keys
// ("keys") and where the tables' schema files are ("schema_path").
package db_redis

import (
	"errors"
	"io/fs"
	"os"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/dispatch"
)

// defaultSchemaPath is Kamailio's default; Debian's package puts the files
// of Kamailio's tables one level down, in its "kamailio" folder.
const defaultSchemaPath = "/usr/share/kamailio/db_redis"

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "db_redis",
		KSR:  "-",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			dispatch.P("schema_path", dispatch.Str, defaultSchemaPath,
				"a folder of schema files, one per table (\"col/type,...\" and the version); a table without one has kemi's own schema"),
			{Name: "keys", Kind: dispatch.Str, Multi: true,
				Doc: "table=entry:col[,col][&map:col[,col]]...[;table2=...]: the columns of a row's key and of its mapping sets; a table written to needs an entry key"},
			dispatch.P("verbosity", dispatch.Int, "1", "accepted"),
		},
	})
}

// Module holds nothing: the layout is core/db's, for every redis:// URL.
type Module struct{}

// Exports: none.
func (*Module) Exports() []dispatch.Export { return nil }

// Init hands the layout to core/db; a definition it cannot read stops
// start-up (and kemi -c).
func (*Module) Init(p *dispatch.Params) error {
	var keys []string
	for _, v := range p.All("keys") {
		keys = append(keys, v.String())
	}
	path := p.Str("schema_path", defaultSchemaPath)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !p.IsSet("schema_path") {
		path = "" // Kamailio's default folder, not installed: kemi's schemas
	}
	err := db.ConfigureRedis(keys, path)
	if err != nil {
		return errors.New("db_redis: " + err.Error())
	}
	return nil
}
