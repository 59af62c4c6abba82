package siptrace_test

import (
	"context"
	"database/sql"
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
)

const dbCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "%s"
loadmodule "siptrace.so"
modparam("siptrace", "db_url", "%s")
modparam("siptrace", "traced_user_avp", "$avp(tu)")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	$avp(tu) = $fU;
	sip_trace();
	sl_send_reply("202", "Traced");
}
`

func rows(t *testing.T, url string) []string {
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.Query(context.Background(), "SELECT callid, traced_user, msg, method, status, fromip, toip, fromtag, totag, direction FROM sip_trace ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var f [10]sql.NullString
		r.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9])
		line, _, _ := strings.Cut(f[2].String, "\r\n")
		out = append(out, strings.Join([]string{f[0].String, f[1].String, line, f[3].String, f[4].String, f[5].String, f[6].String, f[7].String, f[8].String, f[9].String}, " | "))
	}
	return out
}

// TestKamailioDatabase: Kamailio 5.6 and kemi store the same sip_trace
// rows (traced_user from the AVP, the addresses as proto:ip:port), each
// in a SQLite database made by Kamailio's schema scripts. (The message has
// a To tag: Kamailio writes NULL for a missing one, which the table's NOT
// NULL refuses — its row is lost; kemi writes ”.)
func TestKamailioDatabase(t *testing.T) {
	kp, ep := kamailiotest.SQLite(t), kamailiotest.SQLite(t)
	pair := kamailiotest.StartPair(t, func(listen string) string {
		if listen != "" {
			return fmt.Sprintf(dbCfg, listen, "db_sqlite.so", "sqlite:///"+kp)
		}
		return fmt.Sprintf(dbCfg, "", "db_sqlite.so", "sqlite://"+ep)
	})
	ask := func(srv string) string {
		ua := kamailiotest.NewUA(t)
		addr := kamailiotest.ViaAddr(t, "X\r\nVia: SIP/2.0/UDP "+srv+"\r\n\r\n")
		ua.Send(addr, "MESSAGE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+ua.Addr()+";branch=z9hG4bK-m1\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=f1\n"+
			"To: <sip:bob@example.com>;tag=t1\nCall-ID: trace-db\nCSeq: 1 MESSAGE\nX-Case: m\nContent-Length: 0\n\n")
		ua.Recv("SIP/2.0 202")
		return ua.Addr()
	}
	ka, ea := ask(pair.Kamailio.String()), ask(pair.Kemi.String())
	norm := func(rs []string, ua, proxy string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.Join(rs, "\n"), ua, "UA"), proxy, "PROXY")
	}
	k, e := norm(rows(t, "sqlite://"+kp), ka, pair.Kamailio.String()), norm(rows(t, "sqlite://"+ep), ea, pair.Kemi.String())
	if k != e || k == "" {
		t.Errorf("rows:\nKamailio:\n%s\nkemi:\n%s\nKamailio's log:\n%s", k, e, pair.KamailioLog())
	} else {
		t.Logf("rows:\n%s", e)
	}
}

// TestTraceWithSipp: 50 sipp calls through kemi, the INVITE and BYE
// transactions traced (sip_trace_mode "t") in HEP 3 to the test's
// capture server: every INVITE and BYE in and out, the 200s in and out.
func TestTraceWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	hep, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer hep.Close()
	callee := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), "u1", kamailiotest.FreePort(t), "-m", "50")
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "siptrace.so"
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", 3)
modparam("siptrace", "duplicate_uri", "sip:`+hep.LocalAddr().String()+`")

request_route {
	if (has_totag()) {
		if (loose_route()) {
			if (is_method("BYE")) { sip_trace_mode("t"); }
			t_relay();
			exit;
		}
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	sip_trace_mode("t");
	record_route();
	$du = "sip:127.0.0.1:`+strconv.Itoa(callee.Port)+`";
	t_relay();
}
`), 0o644)
	p := proxytest.Start(t, cfg, nil)
	counts := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			hep.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := hep.Read(buf)
			if err != nil {
				return
			}
			if b := buf[:n]; strings.HasPrefix(string(b), "HEP3") {
				if i := strings.Index(string(b), "INVITE sip:"); i >= 0 {
					counts["INVITE"]++
				} else if strings.Contains(string(b), "BYE sip:") {
					counts["BYE"]++
				} else if strings.Contains(string(b), "SIP/2.0 200 OK") {
					counts["200"]++
				}
			}
		}
	}()
	sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", p.Addr.String(), 50, 25, "-s", "bob")
	<-done
	if counts["INVITE"] < 100 || counts["BYE"] < 100 || counts["200"] < 200 {
		t.Errorf("HEP packets: %v, want 100 INVITEs and BYEs (in and out) and 200 200s", counts)
	}
}
