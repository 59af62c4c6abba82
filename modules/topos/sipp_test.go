package topos_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const sippCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "topos.so"
%s
modparam("topos", "branch_expire", 3)
modparam("topos", "dialog_expire", 6)
modparam("topos", "clean_interval", 1)

request_route {
` + sipptest.InDialog + `	record_route();
	$du = "sip:127.0.0.1:%d;transport=%s";
	t_relay();
}
`

// count is the rows of a table.
func count(t *testing.T, url, table string) int {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// redisKeys is the number of keys in Redis database db.
func redisKeys(t *testing.T, port, db int) int {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "SELECT %d\r\nDBSIZE\r\n", db)
	r := bufio.NewReader(c)
	readRESP(t, r)
	n, _ := strconv.Atoi(readRESP(t, r)[0])
	return n
}

// TestCallsWithSipp: 20 sipp calls (INVITE, 180, 200, ACK, BYE, 200)
// through kemi with topos, over UDP (SQLite, MariaDB, Redis through
// topos_redis) and TCP (SQLite):
// every call completes; the callee gets every request with the proxy's
// Via alone, no Record-Route and the proxy's Contact (a BYE none); the
// records are there after the calls and go when they expire.
func TestCallsWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, tr := range []struct{ flag, name, listen string }{{"u1", "udp", "udp:127.0.0.1:0"}, {"t1", "tcp", "tcp:127.0.0.1:0"}} {
		for _, dbName := range []string{"SQLite", "MariaDB", "Redis"} {
			if tr.name == "tcp" && dbName != "SQLite" {
				continue // the storage does not care how the message came
			}
			t.Run(tr.name+"/"+dbName, func(t *testing.T) {
				var storage string
				var records func() int
				switch dbName {
				case "Redis":
					rp := kamailiotest.RedisServer(t)
					storage = fmt.Sprintf(`modparam("topos", "storage", "redis")`+"\n"+`loadmodule "ndb_redis.so"`+"\n"+
						`modparam("ndb_redis", "server", "name=srv;addr=127.0.0.1;port=%d;db=3")`+"\n"+
						`loadmodule "topos_redis.so"`+"\n"+`modparam("topos_redis", "serverid", "srv")`, rp)
					records = func() int { return redisKeys(t, rp, 3) }
				default:
					url := moduletest.SQLite(t)
					if dbName == "MariaDB" {
						url = moduletest.MySQL(t)
					}
					storage = `modparam("topos", "db_url", "` + url + `")`
					records = func() int { return count(t, url, "topos_d") + count(t, url, "topos_t") }
				}
				port := kamailiotest.FreePort(t)
				cfg := filepath.Join(t.TempDir(), "kemi.cfg")
				os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, storage, port, tr.name)), 0o644)
				p := proxytest.StartListen(t, cfg, nil, tr.listen)
				target := p.Addr
				if tr.name == "tcp" {
					target = p.TCPAddr
				}
				party := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), tr.flag, port, "-m", "20")
				sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), tr.flag, target.String(), 20, 20, "-s", "bob")
				// the last calls' records are younger than branch_expire
				if n := records(); n == 0 {
					t.Errorf("no records right after the calls")
				}
				got, ok, out := party.Wait()
				if !ok {
					t.Fatalf("the callee's sipp: %s", out)
				}
				n := 0
				for _, m := range got {
					if strings.HasPrefix(m, "SIP/2.0") {
						continue
					}
					n++
					first, _, _ := strings.Cut(m, "\r\n")
					vias := strings.Split(strings.TrimSpace(kamailiotest.Hdrs(m, "Via")), "\r\n")
					if len(vias) != 1 || strings.Contains(vias[0], ",") {
						t.Errorf("%s: more than the proxy's Via: %q", first, vias)
					}
					if rr := kamailiotest.Hdr(m, "Record-Route"); rr != "" {
						t.Errorf("%s: Record-Route %q", first, rr)
					}
					if ct := kamailiotest.Hdr(m, "Contact"); !strings.HasPrefix(first, "BYE") && !strings.Contains(ct, "btpsh-") {
						t.Errorf("%s: Contact %q is not the proxy's", first, ct)
					}
					if kamailiotest.Hdr(m, "P-SR-XUID") != "" || kamailiotest.Hdr(m, "P-SR-XBranch") != "" {
						t.Errorf("%s: topos' own header leaked:\n%s", first, m)
					}
				}
				if n != 60 {
					t.Errorf("the callee got %d requests, want 60 (20 INVITEs, ACKs and BYEs)", n)
				}
				deadline := time.Now().Add(15 * time.Second)
				for records() > 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%d records left 15 s after they expired", records())
					}
					time.Sleep(200 * time.Millisecond)
				}
			})
		}
	}
}
