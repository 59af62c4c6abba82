package http_client_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestKEMI: the KEMI faces on the test's HTTP server: the status code as
// the result, the body (its first line for the queries, whole for the
// connections) in the variable named (not expanded), libcurl's 7 for a
// refused connection, an unknown connection, a read-only variable; bad
// connection definitions stop the start.
func TestKEMI(t *testing.T) {
	s := api(t)
	host := strings.TrimPrefix(s.URL, "http://")
	k := moduletest.New(t, "loadmodule \"http_client.so\"\nmodparam(\"http_client\", \"httpcon\", \"root=>http://"+host+"\")\n")
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{
		{"http_client.query", []any{s.URL + "/ok", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "line1"},
		{"http_client.query_post", []any{s.URL + "/echo", "x=1", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "POST|application/x-www-form-urlencoded||:|x=1"},
		{"http_client.query_post_hdrs", []any{s.URL + "/echo", "x=2", "X-Test: h", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "POST|application/x-www-form-urlencoded|h|:|x=2"},
		{"http_client.get_hdrs", []any{s.URL + "/echo", "", "X-Test: g", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "GET||g|:|"},
		{"http_client.curl_connect", []any{"root", "/ok", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "line1\nline2\n"},
		{"http_client.curl_connect_post", []any{"root", "/echo", "application/json", "{}", "$var(o)"}, "200"},
		{"pv.get", []any{"$var(o)"}, "POST|application/json||:|{}"},
		{"http_client.query", []any{"http://127.0.0.1:1/", "$var(o)"}, "7"},
		{"pv.get", []any{"$curlerror(7)"}, "Couldn't connect to server"},
		{"http_client.curl_connect", []any{"nope", "/ok", "$var(o)"}, "-1"},
		{"http_client.query", []any{s.URL + "/ok", "$ci"}, "-1"},
	})
	for _, bad := range []string{`root=>127.0.0.1`, `=>http://x`, `a=>http://x;failover=b`} {
		if _, err := moduletest.NewErr(t, "loadmodule \"http_client.so\"\nmodparam(\"http_client\", \"httpcon\", \""+bad+"\")\n"); err == nil {
			t.Errorf("httpcon %q: no error", bad)
		}
	}
	if r, err := k.Table.CallRPC("httpclient.listcon"); err != nil || !strings.Contains(moduletest.JSON(r), `"NAME":"root"`) {
		t.Errorf("httpclient.listcon: %v %s", err, moduletest.JSON(r))
	}
}
