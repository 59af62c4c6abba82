package avpops_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// sippCfg answers a ping after its sender's preference: the "answer"
// row of the From user, loaded and checked; each ping's Call-ID is
// stored as a "seen" row.
const sippCfg = `#!KAMAILIO
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "avpops.so"
modparam("avpops", "db_url", "%s")
modparam("avpops", "avp_table", "usr_preferences")

request_route {
	if (!avp_db_load("$fu/username", "$avp(s:answer)")) {
		sl_send_reply("500", "No preference");
		exit;
	}
	$avp(seen) = $ci;
	avp_db_store("$fu/username", "$avp(seen)");
	if (avp_check("$avp(answer)", "eq/s:ok")) {
		sl_send_reply("200", "OK");
		exit;
	}
	sl_send_reply("403", "Not ok");
}
`

// TestPreferencesWithSipp: 200 sipp pings through kemi, each answered
// after the preference it loads (SQLite, PostgreSQL, MariaDB); every
// ping stored its row.
func TestPreferencesWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for name, mk := range map[string]func(testing.TB) string{"sqlite": moduletest.SQLite, "postgres": moduletest.Postgres, "mysql": moduletest.MySQL} {
		t.Run(name, func(t *testing.T) {
			url := mk(t)
			d, err := db.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			if _, err := d.Exec(ctx, "INSERT INTO usr_preferences (uuid, username, domain, attribute, type, value) VALUES ('', 'ping', '', 'answer', 0, 'ok')"); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(t.TempDir(), "kemi.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, url)), 0o644)
			p := proxytest.Start(t, cfg, nil)
			sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", p.Addr.String(), 200, 200)
			var n int
			if err := d.QueryRow(ctx, "SELECT count(*) FROM usr_preferences WHERE username = 'ping' AND attribute = 'seen'").Scan(&n); err != nil || n != 200 {
				t.Errorf("%d seen rows (%v), want 200", n, err)
			}
		})
	}
}
