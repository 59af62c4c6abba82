package ndb_redis_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// diffCfg runs Redis commands for each request and answers with what
// $redis says of their replies; X-Op picks the commands.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "ndb_redis.so"
modparam("ndb_redis", "server", "name=srv;addr=127.0.0.1;port=%d;db=%d")

request_route {
	if ($fU == "ping") {
		# the sipp run (and Kamailio's start-up ping): count the pings in Redis
		redis_cmd("srv", "INCR pings", "r");
		if ($redis(r=>type) == $redisd(rpl_int)) { sl_send_reply("200", "OK"); } else { sl_send_reply("500", "No"); }
		exit;
	}
	if (!is_present_hf("X-Op")) { sl_send_reply("200", "OK"); exit; } # the start-up ping
	$var(r) = "";
	$var(op) = $hdr(X-Op);
	if ($var(op) == "set") {
		redis_cmd("srv", "SET k:%%s %%s", "$hdr(X-K)", "$hdr(X-V)", "r"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "get") {
		redis_cmd("srv", "GET k:%%s", "$hdr(X-K)", "r"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "incr") { redis_cmd("srv", "INCRBY n %%s", "$hdr(X-V)", "r"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "list") {
		redis_cmd("srv", "RPUSH l a b 3", "x");
		redis_cmd("srv", "LRANGE l 0 -1", "r"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "hash") {
		redis_cmd("srv", "HSET h f1 v1 f2 %%s", "$hdr(X-V)", "x");
		redis_cmd("srv", "HGETALL h", "r"); $var(r) = $var(r) + " rc=" + $rc;
	}
	if ($var(op) == "nested") { redis_cmd("srv", "EVAL %%s 0", "return {1, {'x', 2}, 'y'}", "r"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "err") { redis_cmd("srv", "NOSUCHCOMMAND a", "r"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "wrongtype") { redis_cmd("srv", "SET s x", "x"); redis_cmd("srv", "LPUSH s y", "r"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "noserver") { redis_free("r"); redis_cmd("none", "GET a", "r"); $var(r) = $var(r) + " rc=" + $rc; }
	if ($var(op) == "pipe") {
		redis_pipe_cmd("srv", "SET p1 %%s", "$hdr(X-V)", "a");
		redis_pipe_cmd("srv", "GET p1", "r");
		redis_execute("srv"); $var(r) = $var(r) + " rc=" + $rc + " a=" + $redis(a=>info);
	}
	if ($var(op) == "free") { redis_cmd("srv", "GET k:x", "r"); redis_free("r"); $var(r) = $var(r) + " rc=" + $rc; }
	$var(r) = $var(r) + " type=" + $redis(r=>type) + " value=" + $redis(r=>value) + " info=" + $redis(r=>info) + " size=" + $redis(r=>size);
	$var(r) = $var(r) + " v0=" + $redis(r=>value[0]) + " v1=" + $redis(r=>value[1]) + " v2=" + $redis(r=>value[2]) + " t1=" + $redis(r=>type[1]);
	$var(r) = $var(r) + " n=" + $redis(r=>value[1]=>value[0]) + "/" + $redis(r=>value[1]=>value[1]) + "/" + $redis(r=>value[1]=>type[0]);
	append_to_reply("X-R:$var(r)\r\n");
	sl_send_reply("200", "OK");
}
`

// TestKamailioDifferential: Kamailio 5.6's ndb_redis and kemi's on one
// real Redis (each its own database) run the same commands — status,
// string, nil, integer, array, nested array and error replies, %s
// parameters with spaces, a pipeline, a freed reply, an unknown server —
// and $redis says the same of every reply. Then sipp pings kemi, each
// ping counted in Redis.
func TestKamailioDifferential(t *testing.T) {
	rport := kamailiotest.RedisServer(t)
	db := 1 // Kamailio's; kemi's is 2
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen == "" {
			db = 2
		}
		return fmt.Sprintf(diffCfg, listen, rport, db)
	})
	ask := func(srv netip.AddrPort, h string) string {
		return kamailiotest.Header(kamailiotest.Ask(t, srv, 5*time.Second, kamailiotest.Options(h)), "X-R")
	}
	for _, h := range []string{
		"X-Op: set\r\nX-K: a\r\nX-V: hello world\r\n",
		"X-Op: get\r\nX-K: a\r\n",
		"X-Op: get\r\nX-K: missing\r\n",
		"X-Op: set\r\nX-K: e\r\nX-V: \r\n",
		"X-Op: get\r\nX-K: e\r\n",
		"X-Op: incr\r\nX-V: 41\r\n",
		"X-Op: incr\r\nX-V: 3000000000\r\n",
		"X-Op: list\r\n",
		"X-Op: hash\r\nX-V: 7 8\r\n",
		"X-Op: nested\r\n",
		"X-Op: err\r\n",
		"X-Op: wrongtype\r\n",
		"X-Op: noserver\r\n",
		"X-Op: pipe\r\nX-V: piped\r\n",
		"X-Op: free\r\n",
	} {
		kv, ev := ask(pair.Kamailio, h), ask(pair.Kemi, h)
		if kv != ev {
			t.Errorf("%q:\nKamailio %s\nkemi     %s", h, kv, ev)
		} else {
			t.Logf("%q: %s", strings.Split(h, "\r\n")[0], ev)
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
	sipp := sipptest.Need(t)
	sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", pair.Kemi.String(), 50, 50, "-s", "ping")
	if n := moduletest.JSON(redisGet(t, rport, 2, "pings")); n != `"50"` {
		t.Errorf("pings counted in Redis: %s, want 50", n)
	}
}

// redisGet reads a key with a RESP exchange of the test's own.
func redisGet(t *testing.T, port, db int, key string) string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(strconv.Itoa(db)), db, len(key), key)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 512)
	var all string
	for {
		parts := strings.Split(all, "\r\n")
		if len(parts) >= 3 && parts[1] == "$-1" {
			return "(nil)"
		}
		if len(parts) >= 4 {
			return parts[2]
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("redis: %v (%q)", err, all)
		}
		all += string(buf[:n])
	}
}
