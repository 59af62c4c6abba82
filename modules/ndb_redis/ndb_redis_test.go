package ndb_redis_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestKEMI: the KEMI functions on a real Redis: redis_cmd returns
// Kamailio's KEMI 0 (a value: it ends no script), its parameters, the
// replies read through $redis, redis_free; a server that does not answer
// stops the start unless init_without_redis.
func TestKEMI(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	k := moduletest.New(t, fmt.Sprintf("loadmodule \"ndb_redis.so\"\nmodparam(\"ndb_redis\", \"server\", \"name=s;addr=127.0.0.1;port=%d;db=3\")\n", port))
	k.Request(moduletest.Options)
	if e, ok := k.Table.Lookup("ndb_redis", "redis_cmd"); !ok || !k.Table.At(e).Value {
		t.Error("KSR.ndb_redis.redis_cmd: its 0 must not end the script")
	}
	k.Run([]moduletest.Case{
		{"ndb_redis.redis_cmd_p2", []any{"s", "HSET h %s %s", "f", "v 1", "r"}, "0"},
		{"ndb_redis.redis_cmd_p1", []any{"s", "HGET h %s", "f", "r"}, "0"},
		{"pv.get", []any{"$redis(r=>value)"}, "v 1"},
		{"pv.get", []any{"$redis(r=>type)"}, "1"},
		{"ndb_redis.redis_cmd_p3", []any{"s", "RPUSH l %s %s %s", "a", "b", "c", "r"}, "0"},
		{"ndb_redis.redis_cmd", []any{"s", "LRANGE l 0 -1", "r"}, "0"},
		{"pv.get", []any{"$redis(r=>size)"}, "3"},
		{"pv.get", []any{"$redis(r=>value[-1])"}, ""},
		{"pv.get", []any{"$redis(r=>value[2])"}, "c"},
		{"ndb_redis.redis_cmd", []any{"s", "GET %s", "r"}, "-1"}, // %s without a parameter
		{"ndb_redis.redis_cmd", []any{"nope", "GET a", "r"}, "-1"},
		{"ndb_redis.redis_free", []any{"r"}, "1"},
		{"pv.get", []any{"$redis(r=>type)"}, ""},
		{"ndb_redis.redis_free", []any{"r"}, "-1"},
	})
	if _, err := moduletest.NewErr(t, "loadmodule \"ndb_redis.so\"\nmodparam(\"ndb_redis\", \"server\", \"name=s;addr=127.0.0.1;port=1\")\n"); err == nil || !strings.Contains(err.Error(), "server s") {
		t.Errorf("an unreachable server: %v", err)
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"ndb_redis.so\"\nmodparam(\"ndb_redis\", \"server\", \"name=s;addr=127.0.0.1;port=1\")\nmodparam(\"ndb_redis\", \"init_without_redis\", 1)\n"); err != nil {
		t.Errorf("init_without_redis: %v", err)
	}
}
