package kamailiotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/redis"
)

// RedisServer starts a redis-server of the test's own on a free port of
// 127.0.0.1 (nothing saved) and returns the port. Outside CI a missing
// redis-server skips the test; in CI (.ci/run installs it) it fails.
func RedisServer(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found in CI: .ci/run installs it")
		}
		t.Skip("redis-server not installed (apt-get install redis-server); skipped outside CI")
	}
	port := FreePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis-server does not answer")
	return 0
}

// RedisEntry is a key of a Redis database: its type ("hash", "set") and,
// sorted, a hash's fields as "name=value" or a set's members.
type RedisEntry struct {
	Type  string
	Items []string
}

// RedisDump reads every hash and set of database n.
func RedisDump(t *testing.T, c *redis.Conn, n int) map[string]RedisEntry {
	t.Helper()
	if _, err := c.Do("SELECT", strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]RedisEntry{}
	for _, k := range keys.Elements {
		typ, err := c.Do("TYPE", k.Str)
		if err != nil {
			t.Fatal(err)
		}
		cmd := "SMEMBERS"
		if typ.Str == "hash" {
			cmd = "HGETALL"
		}
		r, err := c.Do(cmd, k.Str)
		if err != nil {
			t.Fatal(err)
		}
		e := RedisEntry{Type: typ.Str}
		for i := 0; i < len(r.Elements); i++ {
			if typ.Str == "hash" {
				e.Items = append(e.Items, r.Elements[i].Str+"="+r.Elements[i+1].Str)
				i++
			} else {
				e.Items = append(e.Items, r.Elements[i].Str)
			}
		}
		sort.Strings(e.Items)
		out[k.Str] = e
	}
	return out
}
