package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/proxy"
)

// tortureCfg answers every request but ACK with 200, one worker (the
// messages of a test are handled in the order sent); the corpus comes
// from one address, which bad input must not get banned here.
const tortureCfg = `#!KAMAILIO
children=1
bad_msg_ban_limit=0
loadmodule "sl.so"
request_route {
	if (is_method("ACK")) {
		exit;
	}
	sl_send_reply("200", "OK");
}
`

// tortureOutcomes is what the proxy must do with each message of the
// torture corpus (core/sip/testdata/torture: RFC 4475's section 3.1 and
// kemi's own cases), over UDP and over TCP (each message on a stream of
// its own): "processed" (a request's route runs and answers 200, a reply
// goes on); "answered" (UDP) or the code (TCP) for a request answered
// without running the route, broken but with a Via, From, To, Call-ID and
// CSeq that a reply can copy; "drop" (counted and logged: nothing to
// answer with); "close" (TCP: the stream cannot be framed past it, closed
// as Kamailio closes it); "wait" (TCP: its Content-Length says more body
// is coming, and the stream waits for it, the OPTIONS behind taken as
// body); "ignored" (a keepalive).
var tortureOutcomes = map[string]struct{ udp, tcp string }{
	// valid: every one processed; without Content-Length a stream cannot
	// be framed (RFC 3261 18.3)
	"authreg": {"processed", "processed"}, "barelf": {"processed", "processed"},
	"challenge401": {"processed", "processed"}, "compact": {"processed", "processed"},
	"contactstar": {"processed", "processed"}, "cseqmax": {"processed", "processed"},
	"dblcontact": {"processed", "processed"}, "esc01": {"processed", "processed"},
	"escnull": {"processed", "processed"}, "escuser": {"processed", "processed"},
	"foldvia": {"processed", "processed"}, "intmeth": {"processed", "processed"},
	"ipv6ruri": {"processed", "processed"}, "leadcrlf": {"processed", "processed"},
	"longhdr": {"processed", "processed"}, "longreq": {"processed", "processed"},
	"lwsdisp": {"processed", "processed"}, "manyhdrs": {"processed", "processed"},
	"maxfwdzero": {"processed", "processed"}, "mpart": {"processed", "processed"},
	"noclen": {"processed", "close"}, "nonutf8": {"processed", "processed"},
	"noreason": {"processed", "processed"}, "quotedcomma": {"processed", "processed"},
	"rrempty": {"processed", "processed"}, "semiuri": {"processed", "processed"},
	"telruri": {"processed", "processed"}, "transports": {"processed", "processed"},
	"twomsgs": {"processed", "processed"}, "unkscheme": {"processed", "processed"},
	"unreason": {"processed", "processed"}, "ws-colon": {"processed", "processed"},
	"wsinv": {"processed", "processed"}, "wsparams": {"processed", "processed"},

	// invalid, answerable: 400 (RFC 4475 3.1.2.5 scalar02, 3.1.2.7 ltgtruri,
	// 3.1.2.8 lwsruri, 3.1.2.14 mcl, 3.1.2.12 multiple single-value fields),
	// 505 for an unknown SIP version (3.1.2.16), over TCP a close where the
	// Content-Length cannot frame the stream, a wait where it asks for more
	"badmaxfwd": {"answered", "400"}, "maxfwd256": {"answered", "400"},
	"cseqmismatch": {"answered", "400"}, "ltgtruri": {"answered", "400"},
	"lwsruri": {"answered", "400"}, "ruriempty": {"answered", "400"},
	"dupcallid": {"answered", "400"}, "dupcseq": {"answered", "400"},
	"dupcompactfrom": {"answered", "400"}, "emptyname": {"answered", "400"},
	"nocolon": {"answered", "400"}, "nul": {"answered", "400"},
	"spacename": {"answered", "400"}, "toomanyhdrs": {"answered", "400"},
	"version": {"answered", "505"}, "scalar02": {"answered", "close"},
	"clerr": {"answered", "wait"}, "mcl": {"answered", "close"},
	"ncl": {"answered", "close"}, "unterminated": {"answered", "close"},
	"toolarge": {"", "close"},
	// a start line without its end takes the next message's bytes on a
	// stream: the OPTIONS behind it gets the 400
	"nostartend": {"drop", "400"},

	// invalid, nothing a reply could copy (or a reply the sender could
	// not parse): dropped
	"badcallid": {"drop", "drop"}, "badcseqsp": {"drop", "drop"}, "cseqbig": {"drop", "drop"},
	"badstatus": {"drop", "drop"}, "badvia": {"drop", "drop"}, "viaport": {"drop", "drop"},
	"viaproto": {"drop", "drop"}, "contfirst": {"drop", "drop"}, "fromnohost": {"drop", "drop"},
	"toltgt": {"drop", "drop"}, "unquoted": {"drop", "drop"}, "novia": {"drop", "drop"},
	"nocallid": {"drop", "drop"}, "nocseq": {"drop", "drop"}, "nulstart": {"drop", "drop"},
	"garbage":  {"drop", "close"},
	"crlfonly": {"ignored", "ignored"}, "empty": {"ignored", "ignored"},
}

// counts are the proxy's counters an outcome is read from.
type counts struct{ req, rep, bad, replied uint64 }

func readCounts(s *proxy.Proxy) counts {
	st := &s.Env.Stats
	return counts{st.Requests.Load(), st.Replies.Load(), st.Malformed.Load(), st.BadReplied.Load()}
}

// outcome is what the counters say happened to one message sent before a
// sync OPTIONS (which counts one request).
func outcome(before, after counts) string {
	switch {
	case after.replied > before.replied:
		return "answered"
	case after.bad > before.bad:
		return "drop"
	case after.req > before.req+1 || after.rep > before.rep:
		return "processed"
	}
	return "ignored"
}

func tortureUDP(t *testing.T, s *proxy.Proxy, c *net.UDPConn, msg []byte) string {
	t.Helper()
	before := readCounts(s)
	c.Write(msg)
	syncUDP(t, c)
	return outcome(before, readCounts(s))
}

// syncUDP sends an OPTIONS and waits for its 200: with one worker,
// everything sent before it was handled.
func syncUDP(t *testing.T, c *net.UDPConn) {
	t.Helper()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	fmt.Fprintf(c, "OPTIONS sip:sync@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;rport;branch=z9hG4bK-s%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:s@h>;tag=s\r\nTo: <sip:sync@h>\r\nCall-ID: sync-%[2]s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", c.LocalAddr(), id)
	b := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("the sync OPTIONS got no answer: %v", err)
		}
		if strings.Contains(string(b[:n]), "sync-"+id) {
			return
		}
	}
}

// tortureTCP sends msg on a stream of its own, then an OPTIONS, and reads
// until the OPTIONS is answered or the stream ends: "close" when it ends
// first, the code of an answer the route did not make, else what the
// counters say.
func tortureTCP(t *testing.T, s *proxy.Proxy, addr string, msg []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := readCounts(s)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	go func() {
		c.Write(msg)
		fmt.Fprintf(c, "OPTIONS sip:sync@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-tsync\r\nMax-Forwards: 70\r\n"+
			"From: <sip:s@h>;tag=s\r\nTo: <sip:sync@h>\r\nCall-ID: tcp-sync\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	}()
	r := bufio.NewReader(c)
	code, replies := "", 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				if replies == 0 {
					return "close"
				}
				break
			}
			if replies == 0 {
				return "wait" // the OPTIONS went into a body still coming
			}
			break // the OPTIONS went into the message before it
		}
		if strings.HasPrefix(line, "SIP/2.0 ") && len(line) > 11 {
			replies++
			c.SetDeadline(time.Now().Add(time.Second))
			if line[8:11] != "200" && code == "" {
				code = line[8:11]
			}
		}
		if strings.Contains(line, "tcp-sync") && (strings.HasPrefix(line, "Call-ID:") || strings.HasPrefix(line, "i:")) {
			break
		}
	}
	o := outcome(before, readCounts(s))
	// A reply to a bad message is counted once it has been sent: the
	// client can read it first.
	for deadline := time.Now().Add(time.Second); code != "" && o != "answered" && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		o = outcome(before, readCounts(s))
	}
	if o != "answered" {
		return o
	}
	return code
}

// TestTortureThroughProxy sends every message of the torture corpus to
// the running proxy over UDP and over TCP, and the valid ones as one TCP
// stream, and checks each outcome against tortureOutcomes; the proxy
// logs a bounded number of lines about them and serves on.
func TestTortureThroughProxy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "torture.cfg")
	os.WriteFile(path, []byte(tortureCfg), 0o644)
	s, logs := startListening(t, path, nil, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr(sip.TransportUDP)))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tcpAddr := s.Addr(sip.TransportTCP).String()
	files, _ := filepath.Glob(filepath.Join("..", "..", "core", "sip", "testdata", "torture", "*", "*.sip"))
	if len(files) != len(tortureOutcomes) {
		t.Errorf("%d messages in the corpus, %d outcomes in the table", len(files), len(tortureOutcomes))
	}
	var stream []byte
	streamed := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sip")
		msg, _ := os.ReadFile(f)
		want, ok := tortureOutcomes[name]
		if !ok {
			t.Errorf("%s: no outcome in the table", name)
			continue
		}
		udp := ""
		if len(msg) <= 65507 {
			udp = tortureUDP(t, s, uc, msg)
		}
		tcp := tortureTCP(t, s, tcpAddr, msg)
		if udp != want.udp || tcp != want.tcp {
			t.Errorf("%s: udp %q, tcp %q; want %q, %q", name, udp, tcp, want.udp, want.tcp)
		}
		if want.tcp == "processed" && filepath.Base(filepath.Dir(f)) == "valid" {
			stream = append(stream, msg...)
			streamed++
		}
	}
	// The valid messages, one after another on one stream: each goes
	// through the route (twomsgs is two).
	before := readCounts(s)
	if got := tortureTCP(t, s, tcpAddr, stream); got != "processed" {
		t.Errorf("the valid messages as one stream: %s", got)
	}
	after := readCounts(s)
	if n := int(after.req-before.req) + int(after.rep-before.rep) - 1; n != streamed+1 {
		t.Errorf("the valid messages as one stream: %d processed, want %d", n, streamed+1)
	}
	// Alive, and the log bounded: one line per bad message at most.
	syncUDP(t, uc)
	bad := 0
	for _, o := range tortureOutcomes {
		if o.udp == "drop" || o.udp == "answered" {
			bad += 2
		}
	}
	if n := strings.Count(logs.String(), "malformed message"); n > bad {
		t.Errorf("%d log lines about malformed messages for %d bad messages", n, bad)
	}
}
