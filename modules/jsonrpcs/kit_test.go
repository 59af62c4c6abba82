package jsonrpcs_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/jsonrpcs"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestHTTP: a JSON-RPC request over real HTTP on 127.0.0.1 runs the
// proxy's commands; GET /metrics is the Prometheus exporter.
func TestHTTP(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"jsonrpcs.so\"\nloadmodule \"kex.so\"\nloadmodule \"sl.so\"\n"+
		"modparam(\"jsonrpcs\", \"transport\", 1)\nmodparam(\"jsonrpcs\", \"http_listen\", \"127.0.0.1:0\")")
	addr := k.Module("jsonrpcs").(*jsonrpcs.Module).HTTPAddr().String()
	k.Request(moduletest.Options)
	k.Call("sl.send_reply", 200, "OK")
	body := post(t, "http://"+addr+"/RPC", `{"jsonrpc":"2.0","method":"stats.get_statistics","params":["sl:sent_replies"],"id":1}`)
	if !strings.Contains(body, "sl:sent_replies = 1") {
		t.Errorf("stats.get_statistics: %s", body)
	}
	if body := post(t, "http://"+addr+"/RPC", `{"jsonrpc":"2.0","method":"no.such","id":2}`); !strings.Contains(body, "-32601") {
		t.Errorf("an unknown method: %s", body)
	}
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if b, _ := io.ReadAll(r.Body); !strings.Contains(string(b), "kemi_sl_sent_replies") {
		t.Errorf("/metrics has no sl counter:\n%.500s", b)
	}
}

func post(t *testing.T, url, doc string) string {
	t.Helper()
	r, err := http.Post(url, "application/json", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestBadParameters(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`modparam("jsonrpcs", "transport", 9)`, "transport 9"},
		{`modparam("jsonrpcs", "http_listen", "nowhere")`, "http_listen"},
	} {
		if _, err := moduletest.NewErr(t, "loadmodule \"jsonrpcs.so\"\n"+c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestDefaultHTTPBusy: the default HTTP listener (127.0.0.1:5071, kemi's
// own addition) already taken — a second kemi with the same config — is a
// warning, and the proxy starts; an http_listen the config sets and that
// is taken is an error.
func TestDefaultHTTPBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:5071")
	if err == nil {
		defer l.Close()
	} // else it is in use already: the same case
	k := moduletest.New(t, "loadmodule \"jsonrpcs.so\"\nmodparam(\"jsonrpcs\", \"transport\", 1)")
	if !strings.Contains(k.Logs.String(), "RPC over HTTP not started: 127.0.0.1:5071 is in use") {
		t.Errorf("no warning:\n%s", k.Logs.String())
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"jsonrpcs.so\"\nmodparam(\"jsonrpcs\", \"transport\", 1)\nmodparam(\"jsonrpcs\", \"http_listen\", \"127.0.0.1:5071\")"); err == nil {
		t.Error("a taken http_listen set by the config: no error")
	}
}
