package siptrace_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// kit loads siptrace with params (modparam lines) on a database of the
// test's own.
func kit(t *testing.T, params string) (*moduletest.Kit, string) {
	return kitOn(t, moduletest.SQLite(t), params)
}

func kitOn(t *testing.T, url, params string) (*moduletest.Kit, string) {
	return moduletest.New(t, "loadmodule \"siptrace.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n"+
		"modparam(\"siptrace\", \"db_url\", \""+url+"\")\n"+params), url
}

// TestStore: with trace_on, sip_trace stores the request and sl's reply
// to it in the table, on SQLite, PostgreSQL and MariaDB; with it off
// nothing is stored and -1 returned.
func TestStore(t *testing.T) {
	for name, mk := range map[string]func(testing.TB) string{"sqlite": moduletest.SQLite, "postgres": moduletest.Postgres, "mysql": moduletest.MySQL} {
		t.Run(name, func(t *testing.T) {
			k, url := kitOn(t, mk(t), "modparam(\"siptrace\", \"trace_on\", 1)\n")
			k.Request(moduletest.Options)
			k.Run([]moduletest.Case{{"siptrace.sip_trace", nil, "1"}, {"sl.send_reply", []any{200, "OK"}, "1"}})
			tag := string(k.Reply().To().Tag)
			want := []string{
				"options-1@192.0.2.10 |  | OPTIONS sip:127.0.0.1 SIP/2.0 | OPTIONS |  | udp:192.0.2.10:5062 | udp:127.0.0.1:5060 | f1 |  | in",
				"options-1@192.0.2.10 |  | SIP/2.0 200 OK | OPTIONS | 200 | udp:127.0.0.1:5060 | udp:192.0.2.10:5062 | f1 | " + tag + " | out",
			}
			if got := rows(t, url); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	off, url := kit(t, "")
	off.Request(moduletest.Options)
	off.Run([]moduletest.Case{{"siptrace.sip_trace", nil, "-1"}})
	if got := rows(t, url); len(got) != 0 {
		t.Errorf("trace_on 0 stored %v", got)
	}
}

// TestTracedUser: with trace_on 0, a message is traced while the
// traced_user_avp is set, and its value is stored as traced_user.
func TestTracedUser(t *testing.T) {
	k, url := kit(t, "modparam(\"siptrace\", \"traced_user_avp\", \"$avp(tu)\")\n")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"siptrace.sip_trace", nil, "-1"},
		{"pv.sets", []any{"$avp(tu)", "sip:alice@example.com"}, "1"},
		{"siptrace.sip_trace", nil, "1"},
	})
	got := rows(t, url)
	if len(got) != 1 || !strings.HasPrefix(got[0], "invite-1@192.0.2.10 | sip:alice@example.com | INVITE ") {
		t.Errorf("rows: %q", got)
	}
}

// TestHEP3: to a capture server (not stored), sip_trace_dst_cid sends one
// HEP 3 packet with the addresses, the capture id, the correlation id,
// the auth key and the message whole.
func TestHEP3(t *testing.T) {
	k, url := kit(t, `modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", 3)
modparam("siptrace", "hep_capture_id", 7)
modparam("siptrace", "auth_key", "secret")
`)
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"siptrace.sip_trace_dst_cid", []any{"sip:127.0.0.1:9060", "corr-1"}, "1"}})
	sent := k.Transport.TakeSent()
	if len(sent) != 1 || sent[0].Dst.String() != "127.0.0.1:9060" {
		t.Fatalf("sent %+v", sent)
	}
	b := sent[0].Msg
	if string(b[:4]) != "HEP3" || int(binary.BigEndian.Uint16(b[4:])) != len(b) {
		t.Fatalf("not a HEP 3 packet: %q", b)
	}
	chunks := map[uint16][]byte{}
	for p := 6; p+6 <= len(b); {
		typ, n := binary.BigEndian.Uint16(b[p+2:]), int(binary.BigEndian.Uint16(b[p+4:]))
		if n < 6 || p+n > len(b) {
			t.Fatalf("chunk at %d has length %d", p, n)
		}
		chunks[typ] = b[p+6 : p+n]
		p += n
	}
	for typ, want := range map[uint16][]byte{
		0x01: {2}, 0x02: {17}, 0x03: {192, 0, 2, 10}, 0x04: {127, 0, 0, 1},
		0x07: {0x13, 0xc6}, 0x08: {0x13, 0xc4}, 0x0b: {1}, 0x0c: {0, 0, 0, 7},
		0x11: []byte("corr-1"), 0x0e: []byte("secret"), 0x0f: []byte(k.Ctx().Msg.Bytes()),
	} {
		if !bytes.Equal(chunks[typ], want) {
			t.Errorf("chunk %#x: %q, want %q", typ, chunks[typ], want)
		}
	}
	if got := rows(t, url); len(got) != 0 {
		t.Errorf("trace_to_database 0 stored %v", got)
	}
}

// TestErrors: a bad trace type, transaction mode without tm, hlog
// without HEP, and bad parameters are refused with their reason.
func TestErrors(t *testing.T) {
	k, _ := kit(t, "modparam(\"siptrace\", \"trace_on\", 1)\n")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"siptrace.sip_trace_mode", []any{"x"}, "-1"},
		{"siptrace.sip_trace_mode", []any{"t"}, "-1"},
		{"siptrace.hlog", []any{"a line"}, "-1"},
	})
	for _, want := range []string{"invalid trace type [x]", "transaction mode needs tm", "HEP is not enabled"} {
		if !strings.Contains(k.Logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, k.Logs)
		}
	}
	for params, want := range map[string]string{
		`modparam("siptrace", "hep_version", 4)`:              "unsupported hep_version 4",
		`modparam("siptrace", "duplicate_uri", "sip:host:9")`: "duplicate_uri: host: want an IP address",
		`modparam("siptrace", "traced_user_avp", "$nope(x)")`: "traced_user_avp",
		`modparam("siptrace", "table", "sip_trace; drop x")`:  "table",
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"siptrace.so\"\n"+params+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", params, err, want)
		}
	}
}
