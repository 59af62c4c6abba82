package xhttp_test

import (
	"bufio"
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
)

const cfg = `loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "sl.so"
event_route[xhttp:request] {
	if (src_ip != 127.0.0.1) {
		xhttp_reply("403", "Forbidden", "text/plain", "not from $si");
		exit;
	}
	if ($hu =~ "^/RPC") {
		jsonrpc_dispatch();
		exit;
	}
	if ($hu == "/silent") {
		exit;
	}
	if ($hu == "/close") {
		set_reply_close();
	}
	xhttp_reply("200", "OK", "text/html", "<p>Wrong URL $hu</p>");
}
request_route {
	sl_send_reply("200", "OK");
}
`

// TestHTTPOnTheSIPPort: HTTP requests on the SIP TCP socket run
// event_route[xhttp:request]: JSON-RPC over HTTP through jsonrpc_dispatch,
// xhttp_reply's own answers, keep-alive and set_reply_close, a 500 for a
// request left unanswered; SIP on the same socket goes on as before.
func TestHTTPOnTheSIPPort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.cfg")
	os.WriteFile(path, []byte(cfg), 0o644)
	p := proxytest.StartListen(t, path, nil, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	base := "http://" + p.TCPAddr.String()

	res, err := http.Post(base+"/RPC", "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"core.version","id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"result"`) {
		t.Errorf("JSON-RPC over HTTP: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	c := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		url, want string
		code      int
	}{{"/nope", "<p>Wrong URL /nope</p>", 200}, {"/silent", "no reply from the script\n", 500}} {
		res, err := c.Get(base + tc.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || string(b) != tc.want {
			t.Errorf("GET %s: %d %q, want %d %q", tc.url, res.StatusCode, b, tc.code, tc.want)
		}
	}

	// Two requests on one connection, then one that closes it.
	conn, err := net.Dial("tcp", p.TCPAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for _, u := range []string{"/a", "/b", "/close"} {
		io.WriteString(conn, "GET "+u+" HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("GET %s on one connection: %v", u, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), u) {
			t.Errorf("GET %s: %q", u, b)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after set_reply_close the connection is open: %v", err)
	}

	// SIP over the same TCP socket.
	sc, err := net.Dial("tcp", p.TCPAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(5 * time.Second))
	l := sc.LocalAddr().String()
	io.WriteString(sc, "OPTIONS sip:"+p.TCPAddr.String()+";transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP "+l+";branch=z9hG4bK-x1\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:t@"+l+">;tag=1\r\nTo: <sip:"+p.TCPAddr.String()+">\r\nCall-ID: xh1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	line, err := bufio.NewReader(sc).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Errorf("SIP over the same socket: %q %v", line, err)
	}
}

// TestHTTPWithoutXHTTP: without xhttp, HTTP on a SIP socket is dropped
// as a malformed message.
func TestHTTPWithoutXHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.cfg")
	os.WriteFile(path, []byte("loadmodule \"sl.so\"\nrequest_route { sl_send_reply(\"200\", \"OK\"); }\n"), 0o644)
	p := proxytest.StartListen(t, path, nil, "tcp:127.0.0.1:0")
	c := &http.Client{Timeout: 2 * time.Second}
	if res, err := c.Get("http://" + p.TCPAddr.String() + "/RPC"); err == nil {
		res.Body.Close()
		t.Errorf("an answer without xhttp: %d", res.StatusCode)
	}
	if !strings.Contains(p.Logs.String(), "served on TCP and TLS when the xhttp module is loaded") {
		t.Errorf("the drop is not logged:\n%s", p.Logs.String())
	}
}
