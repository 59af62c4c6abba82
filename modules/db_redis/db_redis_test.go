package db_redis_test

import (
	"strings"
	"testing"

	_ "github.com/kemi-sip/kemi/modules/db_redis"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestParams: a keys definition or a schema_path db_redis cannot read
// stops start-up with what was wrong; Kamailio's default schema_path,
// when it is not installed, leaves kemi's own schemas.
func TestParams(t *testing.T) {
	dir := t.TempDir()
	for cfg, want := range map[string]string{
		`modparam("db_redis", "keys", "dialog=entry:hash_entry,hash_id&cid:callid")`: "",
		`modparam("db_redis", "schema_path", "` + dir + `")`:                         "",
		`modparam("db_redis", "keys", "dialog")`:                                     `db_redis: db_redis keys "dialog": want table=entry:column`,
		`modparam("db_redis", "keys", "dialog=entry")`:                               `"entry": want type:column`,
		`modparam("db_redis", "schema_path", "` + dir + `/none")`:                    "not a directory",
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"db_redis.so\"\n"+cfg+"\n")
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}
