package http_client_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// api is the test's HTTP server: each path answers in its way; /echo
// answers with what it received (the method, Content-Type, the X-Test
// header, the basic credentials, the body).
func api(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "line1\nline2\n") })
	mux.HandleFunc("/base/route", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "sip:gw1.example.com") })
	mux.HandleFunc("/notfound", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404); io.WriteString(w, "gone\n") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); io.WriteString(w, "down") })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("0123456789", 10)) })
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="api"`)
			w.WriteHeader(401)
			io.WriteString(w, "who are you")
			return
		}
		io.WriteString(w, "welcome alice")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		fmt.Fprintf(w, "%s|%s|%s|%s:%s|%s", r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Test"), u, p, b)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "http_client.so"
modparam("http_client", "httpcon", "api=>http://%[2]s/base;timeout=2")
modparam("http_client", "httpcon", "root=>http://%[2]s")
modparam("http_client", "httpcon", "small=>http://%[2]s;maxdatasize=10")
modparam("http_client", "httpcon", "auth=>http://alice:secret@%[2]s")
modparam("http_client", "httpcon", "dead=>http://127.0.0.1:%[3]d/base;failover=api")
modparam("http_client", "httpcon", "noredir=>http://%[2]s;httpredirect=0")

request_route {
	if (is_method("ACK")) { exit; }
	if ($fU == "ping") {
		# the sipp run (and Kamailio's start-up ping): the route comes from the API
		http_connect("api", "/route", "$var(dst)");
		if ($var(dst) == "sip:gw1.example.com") { sl_send_reply("200", "OK"); } else { sl_send_reply("500", "No route"); }
		exit;
	}
	$var(r) = "";
	$var(op) = $hdr(X-Op);
	$var(u) = "http://" + $hdr(X-Host);
	if ($var(op) == "q1") { http_client_query("$var(u)/ok", "$var(o)"); }
	if ($var(op) == "q2") { http_client_query("$var(u)/notfound", "$var(o)"); }
	if ($var(op) == "q3") { http_client_query("$var(u)/down", "$var(o)"); }
	if ($var(op) == "q4") { http_client_query("$var(u)/redirect", "$var(o)"); }
	if ($var(op) == "q5") { http_client_query("$var(u)/echo", "a=1&b=2", "$var(o)"); }
	if ($var(op) == "q6") { http_client_query("$var(u)/echo", "{\"x\":1}", "X-Test: yes", "$var(o)"); }
	if ($var(op) == "q7") { http_client_get("$var(u)/echo", "get-body", "X-Test: g", "$var(o)"); }
	if ($var(op) == "q8") { http_client_query("http://127.0.0.1:1/nothing", "$var(o)"); }
	if ($var(op) == "c1") { http_connect("api", "/route", "$var(o)"); }
	if ($var(op) == "c2") { http_connect("root", "echo", "application/json", "{\"k\":\"v\"}", "$var(o)"); }
	if ($var(op) == "c3") { http_connect("small", "/big", "$var(o)"); }
	if ($var(op) == "c4") { http_connect("auth", "/echo", "$var(o)"); }
	if ($var(op) == "c5") { http_connect("dead", "/route", "$var(o)"); }
	if ($var(op) == "c6") { http_connect("root", "/redirect", "$var(o)"); http_get_redirect("root", "$var(loc)"); $var(r) = $var(r) + " loc=" + $var(loc); }
	if ($var(op) == "c7") { http_connect("noredir", "/redirect", "$var(o)"); }
	if ($var(op) == "c8") { http_connect("root", "", "$var(o)"); }
	if ($var(op) == "c10") { http_connect("auth", "/private", "$var(o)"); }
	if ($var(op) == "c11") { http_connect("root", "/private", "$var(o)"); }
	if ($var(op) == "c9") { http_connect_raw("root", "/echo", "text/plain", "raw $var(x)", "$var(o)"); }
	$var(r) = $var(r) + " rc=" + $rc + " out=" + $var(o);
	append_to_reply("X-R:$var(r)\r\n");
	sl_send_reply("200", "OK");
}
`

// TestKamailioDifferential: Kamailio 5.6's http_client (libcurl) and
// kemi's ask the same HTTP server the same things — queries (first line
// kept), GET and POST with a body, a header, redirects followed or not,
// 4xx and 5xx, a refused connection (libcurl's 7), connections with a
// base path, credentials, maxdatasize and failover — and give the same
// results and bodies. Then sipp pings kemi, whose route asks the API.
func TestKamailioDifferential(t *testing.T) {
	s := api(t)
	host := strings.TrimPrefix(s.URL, "http://")
	dead := kamailiotest.FreePort(t)
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen, host, dead) })
	ask := func(srv netip.AddrPort, op string) string {
		m := kamailiotest.Ask(t, srv, 10*time.Second, kamailiotest.Options("X-Op: "+op+"\r\nX-Host: "+host+"\r\n"))
		return kamailiotest.Header(m, "X-R")
	}
	for _, op := range []string{"q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"} {
		kv, ev := ask(pair.Kamailio, op), ask(pair.Kemi, op)
		if kv != ev {
			t.Errorf("op %s:\nKamailio %s\nkemi     %s", op, kv, ev)
		} else {
			t.Logf("op %s: %s", op, ev)
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
	}
	sipp := sipptest.Need(t)
	sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", pair.Kemi.String(), 50, 50)
}
