package xhttpprom_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	_ "github.com/kemi-sip/kemi/modules/all"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const cfg = `loadmodule "xhttp.so"
loadmodule "xhttp_prom.so"
loadmodule "sl.so"
modparam("xhttp_prom", "xhttp_prom_stats", "sl:")
modparam("xhttp_prom", "prom_counter", "name=requests;label=method:src")
modparam("xhttp_prom", "prom_gauge", "name=load")
modparam("xhttp_prom", "prom_histogram", "name=size;buckets=100:1000;label=method")
event_route[xhttp:request] {
	if (prom_check_uri()) {
		prom_dispatch();
		exit;
	}
	xhttp_reply("404", "Not Found", "text/plain", "no $hu");
}
request_route {
	prom_counter_inc("requests", "2", "$rm", "$si");
	prom_gauge_set("load", "0.75");
	prom_histogram_observe("size", "$ml", "$rm");
	sl_send_reply("200", "OK");
}
`

// TestScrape: the script's metrics and the selected statistics, scraped
// over HTTP on the SIP TCP port as Prometheus does, parse as its text
// format with the values the script gave.
func TestScrape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.cfg")
	os.WriteFile(path, []byte(cfg), 0o644)
	p := proxytest.StartListen(t, path, nil, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	c, err := net.Dial("udp", p.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.LocalAddr().String()
	for i := range 3 {
		c.Write([]byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + l + ";branch=z9hG4bK-p" + string(rune('a'+i)) + "\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:t@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: prom" + string(rune('a'+i)) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 2048)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := http.Get("http://" + p.TCPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d\n%s", res.StatusCode, body)
	}
	fams := moduletest.Metrics(t, string(body))
	get := func(name string) float64 { return moduletest.MetricValue(t, fams, name) }
	if v := get("kamailio_requests"); v != 6 {
		t.Errorf("kamailio_requests %v, want 6 (3 × 2)", v)
	}
	if lbl := fams["kamailio_requests"].GetMetric()[0].GetLabel(); len(lbl) != 2 || lbl[0].GetValue() != "OPTIONS" || lbl[1].GetValue() != "127.0.0.1" {
		t.Errorf("labels %v", lbl)
	}
	if v := get("kamailio_load"); v != 0.75 {
		t.Errorf("kamailio_load %v", v)
	}
	if v := get("kamailio_size"); v != 3 {
		t.Errorf("kamailio_size count %v, want 3", v)
	}
	if v := get("kamailio_sl_sent_replies"); v != 3 {
		t.Errorf("kamailio_sl_sent_replies %v, want 3", v)
	}
	res, err = http.Get("http://" + p.TCPAddr.String() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("GET /other: %d, want the script's 404", res.StatusCode)
	}
}

// TestFunctions: wrong names, kinds, label counts and numbers fail;
// resets; a bad definition stops start-up.
func TestFunctions(t *testing.T) {
	k := moduletest.New(t, `loadmodule "xhttp_prom.so"
modparam("xhttp_prom", "prom_counter", "name=c1;label=a")
modparam("xhttp_prom", "prom_gauge", "name=g2;label=a:b")
modparam("xhttp_prom", "prom_histogram", "name=h3;label=a:b:c")`)
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{
		{"xhttp_prom.counter_inc_l1", []any{"c1", 5, "x"}, "1"},
		{"xhttp_prom.counter_inc_l0", []any{"c1", 1}, "-1"},        // one label wanted
		{"xhttp_prom.counter_inc_l1", []any{"c1", -1, "x"}, "-1"},  // negative
		{"xhttp_prom.counter_inc_l1", []any{"nope", 1, "x"}, "-1"}, // no such metric
		{"xhttp_prom.gauge_set_l1", []any{"c1", "1", "x"}, "-1"},   // not a gauge
		{"xhttp_prom.gauge_set_l2", []any{"g2", "2.5", "x", "y"}, "1"},
		{"xhttp_prom.gauge_set_l2", []any{"g2", "many", "x", "y"}, "-1"},
		{"xhttp_prom.histogram_observe_l3", []any{"h3", "0.2", "x", "y", "z"}, "1"},
		{"xhttp_prom.counter_reset_l1", []any{"c1", "x"}, "1"},
		{"xhttp_prom.gauge_reset_l2", []any{"g2", "x", "y"}, "1"},
		{"xhttp_prom.check_uri", nil, "-1"}, // not HTTP
		{"xhttp_prom.dispatch", nil, "-1"},
	})
	text, err := k.Module("xhttp_prom").(interface{ Text() (string, error) }).Text()
	if err != nil || !strings.Contains(text, `kamailio_c1{a="x"} 0`) || !strings.Contains(text, `kamailio_g2{a="x",b="y"} 0`) ||
		!strings.Contains(text, `kamailio_h3_count{a="x",b="y",c="z"} 1`) {
		t.Errorf("after the resets: %v\n%s", err, text)
	}
	for _, bad := range []string{"label=a", "name=x;buckets=1:2", "name=x;label=a:b:c:d", "name=x;colour=red"} {
		if _, err := moduletest.NewErr(t, "loadmodule \"xhttp_prom.so\"\nmodparam(\"xhttp_prom\", \"prom_counter\", \""+bad+"\")"); err == nil {
			t.Errorf("prom_counter %q: no error", bad)
		}
	}
}
