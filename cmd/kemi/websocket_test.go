package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/wstest"
)

// wsPhone is a browser phone's side of a test: SIP in WebSocket frames,
// with the made-up host names and addresses JsSIP and SIP.js use.
type wsPhone struct {
	t  *testing.T
	ws *wstest.Conn
}

const wsHost = "df7jal23ls0d.invalid"

// next reads the next SIP message the proxy sends, skipping frames that
// carry none.
func (p *wsPhone) next() *sip.Msg {
	p.t.Helper()
	for {
		op, b := p.ws.Next()
		if op != wstest.Text && op != wstest.Binary {
			continue
		}
		m := new(sip.Msg)
		if err := m.Parse(b); err != nil {
			p.t.Fatalf("a frame that is not SIP: %v\n%s", err, b)
		}
		return m
	}
}

// reply answers req in a frame, with a To tag and a Contact of its own.
func (p *wsPhone) reply(req *sip.Msg, code int, reason string) {
	p.ws.Send(string(sip.AppendReply(nil, req, &sip.Reply{Code: code, Reason: reason, ToTag: []byte("ws-callee"),
		Headers: []byte("Contact: <sip:a1b2@" + wsHost + ";transport=ws>\r\n")})))
}

// TestProxyWebSocket: the reference proxy with WITH_WEBSOCKETS, in each
// engine: a browser-like phone upgrades a TCP connection to WebSocket and
// registers over it (the REGISTER, its 200); a UDP phone calls it through
// kemi — the INVITE arrives in a frame with kemi's Via "SIP/2.0/WS" and
// two Record-Routes (the WebSocket side's, the UDP side's), the 200 goes
// back to the caller, whose ACK and BYE, routed by that route set and the
// contact's alias, reach the browser over the same connection; when the
// browser goes, websocket:closed runs.
func TestProxyWebSocket(t *testing.T) {
	for _, cfg := range []string{"kamailio.cfg", "kamailio-lua.cfg", "kamailio-js.cfg", "kamailio-py.cfg"} {
		t.Run(cfg, func(t *testing.T) {
			s, logs := startListening(t, repoFile("scripts", "proxy", cfg), map[string]string{"WITH_WEBSOCKETS": ""},
				"udp:127.0.0.1:0", "tcp:127.0.0.1:0")
			udp, tcp := s.Addr(sip.TransportUDP), s.Addr(sip.TransportTCP)
			p := &wsPhone{t: t, ws: wstest.Open(t, tcp.String(), nil)}
			p.ws.Send("REGISTER sip:" + testDomain + " SIP/2.0\r\nVia: SIP/2.0/WS " + wsHost + ";branch=z9hG4bK-wsreg\r\nMax-Forwards: 70\r\n" +
				"From: <sip:alice@" + testDomain + ">;tag=wsr\r\nTo: <sip:alice@" + testDomain + ">\r\nCall-ID: wsreg@test\r\nCSeq: 1 REGISTER\r\n" +
				"Contact: <sip:a1b2@" + wsHost + ";transport=ws>;expires=600\r\nUser-Agent: JsSIP 3.10.1\r\nContent-Length: 0\r\n\r\n")
			if r := p.next(); r.StatusCode() != 200 {
				t.Fatalf("REGISTER over WebSocket: %s", r.Bytes())
			}

			caller := newUA(t, udp.String())
			invite := fmt.Sprintf("INVITE sip:alice@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-wsinv;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:bob@%[1]s>;tag=bob1\r\nTo: <sip:alice@%[1]s>\r\nCall-ID: wscall@test\r\nCSeq: 1 INVITE\r\n"+
				"Contact: <sip:bob@%[2]s>\r\nContent-Length: 0\r\n\r\n", testDomain, caller.addr())
			caller.send(invite, nil)
			inv := p.next()
			if !strings.HasPrefix(string(inv.Bytes()), "INVITE sip:a1b2@"+wsHost) {
				t.Fatalf("the browser got %q", strings.SplitN(string(inv.Bytes()), "\r\n", 2)[0])
			}
			via, _ := inv.Get(sip.HdrVia)
			rr := hdrValues(inv, "Record-Route")
			if !strings.HasPrefix(string(via), "SIP/2.0/WS ") || len(rr) != 2 || !strings.Contains(rr[0], "transport=ws") || !strings.Contains(rr[0], "r2=on") {
				t.Fatalf("INVITE over WebSocket: Via %q, Record-Route %q", via, rr)
			}
			p.reply(inv, 200, "OK")
			var ok *sip.Msg
			for ok == nil || ok.StatusCode() < 200 {
				if ok, _ = caller.recv(3 * time.Second); ok == nil {
					t.Fatal("the caller got no 200")
				}
			}
			if ok.StatusCode() != 200 {
				t.Fatalf("the caller got %d", ok.StatusCode())
			}
			// The caller's route set is the Record-Routes reversed; its
			// requests go to the browser's Contact (with kemi's alias).
			rs := hdrValues(ok, "Record-Route")
			var route []string
			for i := len(rs) - 1; i >= 0; i-- {
				route = append(route, rs[i])
			}
			contact := hdrValues(ok, "Contact")
			if len(contact) != 1 || !strings.Contains(contact[0], "alias=") {
				t.Fatalf("200's Contact %q: want kemi's alias\n%s", contact, logs.String())
			}
			target := strings.Trim(contact[0], "<>")
			inDialog := func(method string, cseq int) string {
				return fmt.Sprintf("%[1]s %[2]s SIP/2.0\r\nVia: SIP/2.0/UDP %[3]s;branch=z9hG4bK-ws%[1]s;rport\r\nMax-Forwards: 70\r\n"+
					"Route: %[4]s\r\nFrom: <sip:bob@%[5]s>;tag=bob1\r\nTo: <sip:alice@%[5]s>;tag=ws-callee\r\nCall-ID: wscall@test\r\n"+
					"CSeq: %[6]d %[1]s\r\nContent-Length: 0\r\n\r\n", method, target, caller.addr(), strings.Join(route, ", "), testDomain, cseq)
			}
			caller.send(inDialog("ACK", 1), nil)
			if ack := p.next(); ack.Method() != sip.MethodACK {
				t.Fatalf("the browser got %q, want the ACK", ack.Bytes())
			}
			caller.send(inDialog("BYE", 2), nil)
			bye := p.next()
			if bye.Method() != sip.MethodBYE {
				t.Fatalf("the browser got %q, want the BYE", bye.Bytes())
			}
			p.reply(bye, 200, "OK")
			if r, _ := caller.recv(3 * time.Second); r == nil || r.StatusCode() != 200 {
				t.Fatalf("the BYE's answer: %v", r)
			}
			p.ws.C.Close()
			deadline := time.Now().Add(3 * time.Second)
			for !strings.Contains(logs.String(), "WebSocket connection from 127.0.0.1:") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), "WebSocket connection from 127.0.0.1:") {
				t.Errorf("websocket:closed did not run:\n%s", logs.String())
			}
		})
	}
}

// hdrValues are the values of every header named name, each line's
// comma-separated values apart.
func hdrValues(m *sip.Msg, name string) []string {
	var out []string
	for i := range m.NumHeaders() {
		h := m.Header(i)
		if strings.EqualFold(string(h.Name), name) {
			for v := range strings.SplitSeq(string(h.Value), ",") {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}
