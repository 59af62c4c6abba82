// Package topos_redis is Kamailio's topos_redis module: topos keeps its
// records in Redis, through a server of ndb_redis, instead of the
// database — what several proxies behind one address share.
package topos_redis

import (
	"fmt"

	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/ndb_redis"
	"github.com/kemi-sip/kemi/modules/topos"
)

// Module is the topos_redis module of one proxy.
type Module struct{}

var _ dispatch.Initializer = (*Module)(nil)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "topos_redis",
		Params: []dispatch.Param{
			dispatch.P("serverid", dispatch.Str, "", "the name of the ndb_redis server the records go to (needed)"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Exports: none.
func (m *Module) Exports() []dispatch.Export { return nil }

// Init hands topos the Redis store; topos and ndb_redis are loaded first.
func (m *Module) Init(p *dispatch.Params) error {
	t, err := dispatch.Need[*topos.Module](p, "topos")
	if err != nil {
		return fmt.Errorf("topos_redis: %w", err)
	}
	r, err := dispatch.Need[*ndb_redis.Module](p, "ndb_redis")
	if err != nil {
		return fmt.Errorf("topos_redis: %w", err)
	}
	// a wrong serverid stops the start (topos', which comes first), not
	// the load: kemi -api-list loads every module without parameters
	switch srv := p.Str("serverid", ""); {
	case srv == "":
		t.StorageError(fmt.Errorf("topos_redis: serverid is not set"))
	case !r.HasServer(srv):
		t.StorageError(fmt.Errorf("topos_redis: serverid %q: ndb_redis has no such server", srv))
	default:
		t.UseRedis(r, srv)
	}
	return nil
}
