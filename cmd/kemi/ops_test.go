package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/engines/proxy"
	"github.com/kemi-sip/kemi/modules/jsonrpcs"
	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/rtpengine/rtpenginetest"
)

// rpcOK runs `kemi rpc -s addr args...` and decodes its output.
func rpcOK(t *testing.T, addr string, args ...string) any {
	t.Helper()
	var out, errb bytes.Buffer
	if code := rpcCommand(append([]string{"-s", addr}, args...), &out, &errb); code != 0 {
		t.Fatalf("kemi rpc -s %s %s: exit %d: %s", addr, strings.Join(args, " "), code, errb.String())
	}
	var v any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("kemi rpc %s: output is not JSON: %v\n%s", args[0], err, out.String())
	}
	return v
}

// rpcFails runs a command that must fail with code.
func rpcFails(t *testing.T, addr string, code int, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := rpcCommand(append([]string{"-s", addr}, args...), &out, &errb); rc != 1 || !strings.Contains(errb.String(), "error: "+strconv.Itoa(code)+" ") {
		t.Errorf("kemi rpc %s: exit %d, %q; want exit 1 with error %d", strings.Join(args, " "), rc, errb.String(), code)
	}
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestOperations: the reference proxy with every operations module
// (jsonrpcs, kemix, ctl, cfg_rpc, xhttp_prom, kex, corex, acc, nathelper,
// rtpengine, htable, pike) carries calls through a real rtpengine, which
// rewrites the SDP both ways; the calls land in the acc table and a busy
// call in missed_calls (SQLite, and PostgreSQL when KEMI_TEST_PG is set);
// every RPC command answers over
// HTTP and over the FIFO; /metrics passes Prometheus' linter.
func TestOperations(t *testing.T) {
	sipp := sipptest.Need(t)
	rtpe := rtpenginetest.Start(t)
	urls := []string{"sqlite://" + filepath.Join(t.TempDir(), "kemi.db")}
	if admin := os.Getenv("KEMI_TEST_PG"); admin != "" {
		urls = append(urls, createPGDatabase(t, admin))
	} else if os.Getenv("CI") == "true" {
		t.Fatal("KEMI_TEST_PG is not set in CI: .ci/run starts PostgreSQL and sets it")
	} else {
		t.Log("KEMI_TEST_PG not set: acc checked on SQLite only")
	}
	for i, url := range urls {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			d, err := db.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Init(context.Background()); err != nil {
				t.Fatal(err)
			}
			d.Close()
			fifo := filepath.Join(t.TempDir(), "kemi_rpc.fifo")
			s, logs := startFile(t, repoFile("scripts", "proxy", "kamailio.cfg"), map[string]string{
				"WITH_JSONRPC": "", "WITH_ACCDB": "", "WITH_RTPENGINE": "", "WITH_NAT": "", "WITH_ANTIFLOOD": "",
				"PIKE_DENSITY": "1000", "DBURL": strconv.Quote(url), "RPC_LISTEN": `"127.0.0.1:0"`,
				"RPC_FIFO": strconv.Quote(fifo), "RTPENGINE_SOCK": strconv.Quote("udp:" + rtpe.NG),
			})
			proxy := s.Addr(sip.TransportUDP).String()
			port := freeUDPPort(t)
			startCallee(t, sipp, "call-uas-rtp.xml", port)
			registerContact(t, proxy, "bob", "127.0.0.1:"+strconv.Itoa(port))
			const calls = 5
			sipptest.Run(t, sipp, repoFile("scripts", "sipp", "call-uac-rtp.xml"), "u1", proxy, calls, 10, "-s", "bob")

			// acc: every INVITE answered 200, and its BYE (the flag set in
			// the dialog), with the extras of db_extra.
			n := countRows(t, url, "SELECT COUNT(*) FROM acc WHERE method = 'INVITE' AND sip_code = '200' AND sip_reason = 'OK' AND dst_ouser = 'bob' AND src_user = 'caller' AND from_tag <> '' AND to_tag <> '' AND callid <> ''")
			waitFor(t, func() bool {
				n = countRows(t, url, "SELECT COUNT(*) FROM acc WHERE method = 'INVITE' AND sip_code = '200' AND sip_reason = 'OK' AND dst_ouser = 'bob' AND src_user = 'caller' AND from_tag <> '' AND to_tag <> '' AND callid <> ''")
				return n == calls
			}, "acc rows of the INVITEs")
			// The last BYE's row may still be in the writer's queue.
			waitFor(t, func() bool {
				return countRows(t, url, "SELECT COUNT(*) FROM acc WHERE method = 'BYE' AND sip_code = '200'") == calls
			}, "acc rows of the BYEs")
			if !strings.Contains(logs.String(), "ACC: transaction answered: ") || !strings.Contains(logs.String(), ";dst_ouser=bob") {
				t.Errorf("no acc log line with its extras:\n%s", logs.String())
			}
			missedCall(t, proxy)
			waitFor(t, func() bool {
				return countRows(t, url, "SELECT COUNT(*) FROM missed_calls WHERE method = 'INVITE' AND sip_code = '486' AND sip_reason = 'Busy Here' AND dst_ouser = 'carol'") == 1
			}, "a missed_calls row for the busy call")
			if n := countRows(t, url, "SELECT COUNT(*) FROM acc WHERE sip_code = '486'"); n != 0 {
				t.Errorf("a failed call is in acc without failed_transaction_flag: %d rows", n)
			}
			if i > 0 {
				return // the RPC and metrics checks once
			}
			httpAddr := "http://" + rpcAddr(s) + "/RPC"
			for _, addr := range []string{httpAddr, "fifo:" + fifo} {
				checkRPCs(t, addr)
			}
			checkMetrics(t, "http://"+rpcAddr(s)+"/metrics", calls)
		})
	}
}

// missedCall registers carol at a socket that answers INVITE with 486 and
// calls her through the proxy.
func missedCall(t *testing.T, proxy string) {
	t.Helper()
	callee, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	registerContact(t, proxy, "carol", callee.LocalAddr().String())
	ua := newUA(t, proxy)
	ua.send(inviteSDP(ua, "sip:carol@"+testDomain, "busy-1", 6000), nil)
	answerOn(t, callee, "486 Busy Here", "")
	for {
		r, _ := ua.recv(3 * time.Second)
		if r == nil {
			t.Fatal("the caller got no final reply to the busy call")
		}
		if r.StatusCode() >= 200 {
			if r.StatusCode() != 486 {
				t.Fatalf("busy call: %d", r.StatusCode())
			}
			break
		}
	}
}

// checkRPCs runs every RPC command the issue lists against addr.
func checkRPCs(t *testing.T, addr string) {
	t.Helper()
	if v := rpcOK(t, addr, "core.version"); !strings.Contains(asJSON(v), "kemi") {
		t.Errorf("core.version: %v", v)
	}
	if v, _ := rpcOK(t, addr, "core.uptime").(map[string]any); v["uptime"] == nil || v["up_since"] == nil {
		t.Errorf("core.uptime: %v", v)
	}
	if v, _ := rpcOK(t, addr, "core.psx").([]any); len(v) < 2 {
		t.Errorf("core.psx: %v, want the main process and the workers", v)
	}
	if v, _ := rpcOK(t, addr, "core.shmmem").(map[string]any); v["used"] == nil || v["total"].(float64) <= 0 {
		t.Errorf("core.shmmem: %v", v)
	}
	st := asJSON(rpcOK(t, addr, "stats.get_statistics", "all"))
	for _, want := range []string{"core:rcv_requests = ", "sl:sent_replies = ", "tmx:active_transactions = ", "tmx:UAS_transactions = ",
		"usrloc:registered_users = 2", "registrar:accepted_regs = ", "registrar:rejected_regs = 0", "acc:written = "} {
		if !strings.Contains(st, want) {
			t.Errorf("stats.get_statistics all: no %q in %s", want, st)
		}
	}
	if v := rpcOK(t, addr, "stats.get_statistics", "accepted_regs"); addr[0] == 'h' && asJSON(v) != `["registrar:accepted_regs = 2"]` {
		t.Errorf("stats.get_statistics accepted_regs before the reset: %v", v)
	}
	rpcOK(t, addr, "stats.reset_statistics", "registrar:")
	if st := asJSON(rpcOK(t, addr, "stats.get_statistics", "registrar:accepted_regs")); !strings.Contains(st, "registrar:accepted_regs = 0") {
		t.Errorf("after stats.reset_statistics: %s", st)
	}
	if st := asJSON(rpcOK(t, addr, "stats.get_statistics", "usrloc:registered_users")); !strings.Contains(st, "= 2") {
		t.Errorf("a gauge must survive a reset: %s", st)
	}
	rpcFails(t, addr, 404, "stats.get_statistics", "nosuch:stat")

	// usrloc
	if d := asJSON(rpcOK(t, addr, "ul.dump")); !strings.Contains(d, `"AoR":"bob"`) {
		t.Errorf("ul.dump: %s", d)
	}
	if l := asJSON(rpcOK(t, addr, "ul.lookup", "location", "bob")); !strings.Contains(l, "sip:bob@127.0.0.1") {
		t.Errorf("ul.lookup: %s", l)
	}
	rpcOK(t, addr, "ul.add", "location", "dave", "sip:dave@192.0.2.7:5060", "600", "0.5")
	if l := asJSON(rpcOK(t, addr, "ul.lookup", "location", "dave")); !strings.Contains(l, "sip:dave@192.0.2.7:5060") || !strings.Contains(l, `"Q":"0.5"`) {
		t.Errorf("ul.lookup after ul.add: %s", l)
	}
	rpcOK(t, addr, "ul.rm", "location", "dave")
	rpcFails(t, addr, 404, "ul.lookup", "location", "dave")
	rpcFails(t, addr, 404, "ul.rm", "location", "dave")
	rpcOK(t, addr, "ul.flush")

	// htable
	rpcOK(t, addr, "htable.sets", "ipban", "192.0.2.1", "x")
	if g := asJSON(rpcOK(t, addr, "htable.get", "ipban", "192.0.2.1")); !strings.Contains(g, `"value":"x"`) {
		t.Errorf("htable.get: %s", g)
	}
	if d := asJSON(rpcOK(t, addr, "htable.dump", "ipban")); !strings.Contains(d, `"name":"192.0.2.1"`) {
		t.Errorf("htable.dump: %s", d)
	}
	rpcOK(t, addr, "htable.delete", "ipban", "192.0.2.1")
	rpcFails(t, addr, 404, "htable.get", "ipban", "192.0.2.1")
	rpcFails(t, addr, 404, "htable.dump", "nosuchtable")

	if ts, _ := rpcOK(t, addr, "tm.stats").(map[string]any); ts["total"] == nil || ts["total"].(float64) < 1 {
		t.Errorf("tm.stats: %v", ts)
	}

	// runtime configuration
	rpcOK(t, addr, "cfg.set", "tm", "fr_timer", "20000")
	if v := rpcOK(t, addr, "cfg.get", "tm", "fr_timer"); v != 20000.0 {
		t.Errorf("cfg.get tm fr_timer after cfg.set: %v", v)
	}
	rpcOK(t, addr, "cfg.set", "tm", "fr_timer", "30000")
	rpcOK(t, addr, "cfg.set", "core", "latency_limit_action", "100000")
	if v := rpcOK(t, addr, "cfg.get", "core", "latency_limit_action"); v != 100000.0 {
		t.Errorf("cfg.get core latency_limit_action: %v", v)
	}
	rpcOK(t, addr, "cfg.set", "core", "latency_limit_action", "0")
	rpcFails(t, addr, 400, "cfg.set", "tm", "fr_timer", "-5")
	rpcFails(t, addr, 404, "cfg.get", "core", "nosuch")

	methods := asJSON(rpcOK(t, addr, "system.listMethods"))
	for _, m := range []string{"core.version", "ul.dump", "htable.dump", "tm.stats", "cfg.set", "stats.get_statistics", "system.listMethods"} {
		if !strings.Contains(methods, `"`+m+`"`) {
			t.Errorf("system.listMethods: no %s", m)
		}
	}
	rpcFails(t, addr, -32601, "no.such.command")
}

// checkMetrics scrapes /metrics: Prometheus' linter finds nothing, the
// counters and the route histogram are there with the traffic's values.
func checkMetrics(t *testing.T, url string, calls int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "kemi_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	fams := moduletest.Metrics(t, string(body))
	value := func(name string) float64 { return moduletest.MetricValue(t, fams, name) }
	if v := value("kemi_core_rcv_requests_total"); v < float64(3*calls+1) {
		t.Errorf("kemi_core_rcv_requests_total %v, want at least %d (INVITE, ACK, BYE per call, a REGISTER)", v, 3*calls+1)
	}
	if v := value("kemi_tmx_uas_transactions_total"); v < float64(2*calls) {
		t.Errorf("kemi_tmx_uas_transactions_total %v", v)
	}
	value("kemi_sl_sent_replies_total")
	value("kemi_tmx_active_transactions")
	value("kemi_usrloc_registered_users")
	value("kemi_registrar_rejected_regs_total")
	h := fams["kemi_route_duration_seconds"]
	if h == nil {
		t.Fatalf("/metrics: no kemi_route_duration_seconds")
	}
	found := false
	for _, m := range h.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["engine"] == "native" && labels["route"] == "request_route" {
			found = true
			hist := m.Histogram
			if hist.GetSampleCount() < uint64(3*calls+1) || hist.GetSampleSum() <= 0 || len(hist.Bucket) == 0 {
				t.Errorf("request_route histogram: count %d sum %v buckets %d", hist.GetSampleCount(), hist.GetSampleSum(), len(hist.Bucket))
			}
			last := uint64(0)
			for _, b := range hist.Bucket {
				if b.GetCumulativeCount() < last || b.GetCumulativeCount() > hist.GetSampleCount() {
					t.Errorf("bucket le=%v: %d after %d (count %d)", b.GetUpperBound(), b.GetCumulativeCount(), last, hist.GetSampleCount())
				}
				last = b.GetCumulativeCount()
			}
		}
	}
	if !found {
		t.Errorf("no request_route histogram for the native engine")
	}
}

// TestEngineReloadRPC: app_lua.reload, app_jsdt.reload,
// app_python3.reload and their api_list over jsonrpcs, on the reference
// proxy in each engine.
func TestEngineReloadRPC(t *testing.T) {
	for _, c := range []struct{ cfg, module string }{
		{"kamailio-lua.cfg", "app_lua"}, {"kamailio-js.cfg", "app_jsdt"}, {"kamailio-py.cfg", "app_python3"},
	} {
		t.Run(c.module, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "rpc.fifo")
			s, _ := startFile(t, repoFile("scripts", "proxy", c.cfg), map[string]string{"WITH_JSONRPC": "",
				"RPC_LISTEN": `"127.0.0.1:0"`, "RPC_FIFO": strconv.Quote(fifo)})
			for _, addr := range []string{"http://" + rpcAddr(s) + "/RPC", "fifo:" + fifo} {
				r, _ := rpcOK(t, addr, c.module+".reload").(map[string]any)
				if r["new"] == nil || r["new"].(float64) <= r["old"].(float64) {
					t.Errorf("%s.reload: %v", c.module, r)
				}
				if l := asJSON(rpcOK(t, addr, c.module+".api_list")); !strings.Contains(l, `"name":"t_relay"`) {
					t.Errorf("%s.api_list: no t_relay in %.200s", c.module, l)
				}
			}
		})
	}
}

// TestRPCDatagramAndErrors: the datagram socket, JSON-RPC's own errors
// (parse error, invalid request, batch), and a FIFO request naming a
// reply path outside the reply directory is not answered.
func TestRPCDatagramAndErrors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "rpc.sock")
	cfg := fmt.Sprintf(`#!KAMAILIO
loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "sl.so"
modparam("jsonrpcs", "http_listen", "127.0.0.1:0")
modparam("jsonrpcs", "dgram_socket", %q)
request_route { sl_send_reply("200", "OK"); }
`, sock)
	p := filepath.Join(dir, "k.cfg")
	os.WriteFile(p, []byte(cfg), 0o644)
	s, _ := startFile(t, p, map[string]string{})
	if v := rpcOK(t, "unix:"+sock, "core.version"); !strings.Contains(asJSON(v), "kemi") {
		t.Errorf("core.version over the datagram socket: %v", v)
	}
	url := "http://" + rpcAddr(s) + "/RPC"
	post := func(body string) string {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(bytes.Join(bytes.Fields(b), nil))
	}
	for _, c := range []struct{ body, want string }{
		{`{"jsonrpc":"2.0","method":"core.version","id":7`, `"code":-32700`},
		{`{"method":"core.version","id":7}`, `"code":-32600`},
		{`{"jsonrpc":"2.0","method":"core.version","params":{"a":1},"id":7}`, `"code":-32602`},
		{`[{"jsonrpc":"2.0","method":"core.version","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]`, `"id":1},{"jsonrpc":"2.0","error":{"code":-32601`},
		{`{"jsonrpc":"2.0","method":"core.version"}`, `204 No Content `},
	} {
		if got := post(c.body); !strings.Contains(got, c.want) {
			t.Errorf("POST %s: %s, want %s", c.body, got, c.want)
		}
	}
	var out, errb bytes.Buffer
	if rpcCommand([]string{"-s", "fifo:" + filepath.Join(dir, "nofifo")}, &out, &errb) != 2 {
		t.Errorf("kemi rpc without a method must exit 2")
	}
	if rc := rpcCommand([]string{"-s", "127.0.0.1:1", "-t", "1", "core.version"}, &out, &errb); rc != 2 {
		t.Errorf("kemi rpc to nothing: exit %d, want 2", rc)
	}
}

// TestAccRequest: acc_log_request, acc_db_request and acc_request account
// the request the script is on (log line and acc rows, code and reason
// from the comment); a bad table name is refused with -1 and no row.
func TestAccRequest(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(t, url, 0)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	writeFile(t, cfgPath, `loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "acc.so"
modparam("acc", "db_url", DBURL)
request_route {
	$var(a) = acc_log_request("201 Logged");
	$var(b) = acc_db_request("202 Stored", "acc");
	$var(c) = acc_request("203 Both", "acc");
	$var(d) = acc_db_request("204 Never", "acc; DROP TABLE acc");
	append_to_reply("X-RC: $var(a) $var(b) $var(c) $var(d)\r\n");
	sl_send_reply("200", "OK");
}
`)
	s, logs := startFile(t, cfgPath, map[string]string{"DBURL": strconv.Quote(url)})
	ua := newUA(t, s.Addr(sip.TransportUDP).String())
	ua.send(fmt.Sprintf("MESSAGE sip:bob@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-accreq\r\n"+
		"From: <sip:alice@%[2]s>;tag=a\r\nTo: <sip:bob@%[2]s>\r\nCall-ID: acc-request\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
		ua.addr(), testDomain), nil)
	r, _ := ua.recv(3 * time.Second)
	if r == nil {
		t.Fatalf("no reply\n%s", logs.String())
	}
	if i := r.NextHeaderNamed([]byte("X-RC"), -1); i < 0 || string(r.Header(i).Value) != "1 1 1 -1" {
		t.Errorf("results: %s", r.Bytes())
	}
	waitFor(t, func() bool { return countRows(t, url, "SELECT COUNT(*) FROM acc") == 2 }, "two acc rows")
	if n := countRows(t, url, "SELECT COUNT(*) FROM acc WHERE method = 'MESSAGE' AND callid = 'acc-request' AND "+
		"((sip_code = '202' AND sip_reason = 'Stored') OR (sip_code = '203' AND sip_reason = 'Both'))"); n != 2 {
		t.Errorf("%d acc rows with the comments' codes and reasons, want 2", n)
	}
	if l := logs.String(); strings.Count(l, "request accounted") != 2 || !strings.Contains(l, "acc_db_request:") {
		t.Errorf("want two accounting log lines (201, 203) and acc_db_request's refusal:\n%s", l)
	}
}

// rpcAddr is where the proxy's jsonrpcs serves HTTP.
func rpcAddr(p *proxy.Proxy) string {
	return p.Table.Module("jsonrpcs").(*jsonrpcs.Module).HTTPAddr().String()
}
