package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/kemi-sip/kemi/engines/proxy"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/sl"
)

// syncBuf is a log sink the test can read while the server writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testCfg = `#!KAMAILIO
debug=2
children=2
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "sanity.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "route.lua")
cfgengine "lua"
`

const testLua = `-- test routing
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end
	if KSR.hdr.is_present("X-Boom") > 0 then
		local t = nil
		return t.field -- line 13: a runtime error
	end
	KSR.sl.sl_send_reply(404, "Not Here")
end
`

// startTest starts an in-process kemi with cfg and lua in a temp dir.
func startTest(t *testing.T, cfgText, luaText string) (*proxy.Proxy, *syncBuf) {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	os.WriteFile(cfgPath, []byte(cfgText), 0o644)
	os.WriteFile(filepath.Join(dir, "route.lua"), []byte(luaText), 0o644)
	logs := &syncBuf{}
	lv := &slog.LevelVar{}
	o := &options{cfgFile: cfgPath, defines: map[string]string{}, level: lv, log: slog.New(newLogHandler(logs, lv, "", false))}
	s, err := start(o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s, logs
}

func request(method, uri string, extra string, n int) string {
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/%%s 127.0.0.1:5999;branch=z9hG4bK-test-%d;rport\r\n"+
		"From: <sip:alice@example.com>;tag=a%d\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: test-%d@127.0.0.1\r\n"+
		"CSeq: %d %s\r\n"+
		"%s"+
		"Content-Length: 0\r\n\r\n", method, uri, n, n, uri, n, n, method, extra)
}

// exchange sends a request and reads the reply over a real socket.
func exchange(t *testing.T, proto, addr, req string) *sip.Msg {
	t.Helper()
	c, err := net.Dial(proto, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req = fmt.Sprintf(req, strings.ToUpper(proto))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b []byte
	if proto == "udp" {
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no reply to %q: %v", firstLine(req), err)
		}
		b = buf[:n]
	} else {
		b = readStream(t, c)
	}
	m := new(sip.Msg)
	if err := m.Parse(b); err != nil {
		t.Fatalf("reply does not parse: %v\n%s", err, b)
	}
	return m
}

func readStream(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		if _, n, err := sip.FrameLen(buf, 65535); err == nil && n > 0 {
			return buf[:n]
		}
		k, err := c.Read(tmp)
		if err != nil {
			t.Fatalf("reading stream: %v (have %q)", err, buf)
		}
		buf = append(buf, tmp[:k]...)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }

func TestProxyAnswers(t *testing.T) {
	s, logs := startTest(t, testCfg, testLua)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			tp := sip.TransportUDP
			if proto == "tcp" {
				tp = sip.TransportTCP
			}
			addr := s.Addr(tp).String()
			cases := []struct {
				name string
				req  string
				code int
			}{
				{"options", request("OPTIONS", "sip:127.0.0.1", "Max-Forwards: 70\r\n", 1), 200},
				{"max-forwards 0", request("MESSAGE", "sip:bob@127.0.0.1", "Max-Forwards: 0\r\n", 2), 483},
				{"other", request("MESSAGE", "sip:bob@127.0.0.1", "Max-Forwards: 70\r\n", 3), 404},
			}
			for i, c := range cases {
				m := exchange(t, proto, addr, c.req)
				if m.StatusCode() != c.code {
					t.Errorf("case %d (%s): got %d %s, want %d", i, c.name, m.StatusCode(), m.Reason(), c.code)
				}
				if to := m.To(); to == nil || len(to.Tag) == 0 {
					t.Errorf("case %d (%s): reply without a To tag", i, c.name)
				}
			}

			// A script error is logged with file:line and the next request
			// is still served.
			before := s.Env.Stats.ScriptErrors.Load()
			c, err := net.Dial(proto, addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte(fmt.Sprintf(request("MESSAGE", "sip:bob@127.0.0.1", "X-Boom: 1\r\n", 4), strings.ToUpper(proto))))
			c.Close()
			waitFor(t, func() bool { return s.Env.Stats.ScriptErrors.Load() > before }, "script error counted")
			if !strings.Contains(logs.String(), "route.lua:13:") {
				t.Errorf("script error not logged with file:line; log:\n%s", logs.String())
			}
			if m := exchange(t, proto, addr, request("OPTIONS", "sip:127.0.0.1", "", 5)); m.StatusCode() != 200 {
				t.Errorf("after the script error: got %d, want 200", m.StatusCode())
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	if !eventually(3*time.Second, cond) {
		t.Fatalf("timed out waiting for: %s", what)
	}
}

// eventually polls cond every 5 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

func TestMalformedUDP(t *testing.T) {
	s, logs := startTest(t, testCfg, testLua)
	addr := s.Addr(sip.TransportUDP).String()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bad := [][]byte{
		[]byte("garbage\x00\xff\r\n\r\n"),
		[]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-x\r\nContent-Length: 0\r\n\r\n"), // no From/To/Call-ID/CSeq
		[]byte("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\n"),
	}
	before := s.Env.Stats.Malformed.Load()
	for _, b := range bad {
		c.Write(b)
	}
	waitFor(t, func() bool { return s.Env.Stats.Malformed.Load() >= before+uint64(len(bad)) }, "malformed datagrams counted")
	if !strings.Contains(logs.String(), "malformed message") {
		t.Errorf("malformed message not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "\xff") {
		t.Errorf("raw bytes in the log")
	}
	// still serving
	if m := exchange(t, "udp", addr, request("OPTIONS", "sip:127.0.0.1", "", 9)); m.StatusCode() != 200 {
		t.Errorf("after malformed input: got %d, want 200", m.StatusCode())
	}
}

// TestMalformedTCP: a stream without Content-Length cannot be framed; the
// connection is closed and the server goes on.
func TestMalformedTCP(t *testing.T) {
	s, _ := startTest(t, testCfg, testLua)
	addr := s.Addr(sip.TransportTCP).String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(bufio.NewReader(c)); err != nil {
		t.Errorf("connection not closed: %v", err)
	}
	c.Close()
	waitFor(t, func() bool { return s.Transport.Stats.TCPFrame.Load() > 0 }, "framing error counted")
	// a parse error inside a well-framed message is counted like UDP's
	before := s.Env.Stats.Malformed.Load()
	c, _ = net.Dial("tcp", addr)
	c.Write([]byte("BAD\x01 x\r\nContent-Length: 0\r\n\r\n"))
	waitFor(t, func() bool { return s.Env.Stats.Malformed.Load() > before }, "malformed stream message counted")
	c.Close()
	if m := exchange(t, "tcp", addr, request("OPTIONS", "sip:127.0.0.1", "", 10)); m.StatusCode() != 200 {
		t.Errorf("after malformed input: got %d, want 200", m.StatusCode())
	}
}

func TestDefaultConfig(t *testing.T) {
	// The embedded config, moved to a free port with -A as a user could.
	logs := &syncBuf{}
	lv := &slog.LevelVar{}
	o := &options{defines: map[string]string{"LISTEN_UDP": `"udp:127.0.0.1:0"`, "LISTEN_TCP": `"tcp:127.0.0.1:0"`},
		level: lv, log: slog.New(newLogHandler(logs, lv, "", false))}
	s, err := start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	addr := s.Addr(sip.TransportUDP).String()
	slm := s.Table.Module("sl").(*sl.Module)
	sent := slm.Stats.SentReplies.Load()
	cases := []struct {
		method string
		extra  string
		code   int
	}{
		{"OPTIONS", "", 200},
		{"OPTIONS", "Max-Forwards: 0\r\n", 483},
		{"INVITE", "", 405},
		{"REGISTER", "", 405},
		{"FOO", "", 501},
		{"CANCEL", "", 481},
	}
	for i, c := range cases {
		m := exchange(t, "udp", addr, request(c.method, "sip:127.0.0.1", c.extra, 20+i))
		if m.StatusCode() != c.code {
			t.Errorf("case %d (%s): got %d, want %d", i, c.method, m.StatusCode(), c.code)
		}
		if c.code == 405 || c.code == 200 {
			if v, _ := m.Get(sip.HdrAllow); string(v) != "OPTIONS" {
				t.Errorf("case %d (%s): Allow %q, want OPTIONS", i, c.method, v)
			}
		}
	}
	// sl counts a reply once it is sent: the last may be counted a moment
	// after the client has it
	deadline := time.Now().Add(2 * time.Second)
	for slm.Stats.SentReplies.Load()-sent < uint64(len(cases)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := slm.Stats.SentReplies.Load() - sent; got < uint64(len(cases)) {
		t.Errorf("sl counted %d replies, want %d", got, len(cases))
	}
}
