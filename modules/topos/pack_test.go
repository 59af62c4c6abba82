package topos

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/internal/wire"
)

func parse(t *testing.T, msg string) *sip.Msg {
	t.Helper()
	var m sip.Msg
	if err := m.Parse([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	return &m
}

const req = "INVITE sip:bob@192.0.2.20 SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-p\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1, SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK-0\n" +
	"%sFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>%s\nCall-ID: c1\nCSeq: 1 INVITE\n" +
	"Contact: <sip:alice@192.0.2.10>\nContent-Length: 0\n\n"

// TestPack: the Vias and Record-Routes as Kamailio's tps_pack_message
// splits them — the proxy's own (two with r2=on) from the others.
func TestPack(t *testing.T) {
	m := &Module{}
	for _, c := range []struct {
		rr, totag                           string
		rrUpdate                            bool
		sRR, aRR, bRR, asContact, bsContact string
	}{
		{"", "", false, "", "", "", "", ""},
		{"Record-Route: <sip:192.0.2.1;lr>\n", "", false, "<sip:192.0.2.1;lr>", "", "", "sip:192.0.2.1;lr", "sip:192.0.2.1;lr"},
		{"Record-Route: <sip:192.0.2.1;lr>, <sip:192.0.2.9;lr>\nRecord-Route: <sip:192.0.2.8;lr>\n", "", false,
			"<sip:192.0.2.1;lr>", "<sip:192.0.2.9;lr>,<sip:192.0.2.8;lr>", "", "sip:192.0.2.1;lr", "sip:192.0.2.1;lr"},
		{"Record-Route: <sip:192.0.2.1;r2=on;lr>\nRecord-Route: <sip:10.0.0.1;r2=on;lr>\n", "", false,
			"<sip:192.0.2.1;r2=on;lr>,<sip:10.0.0.1;r2=on;lr>", "", "", "sip:10.0.0.1;r2=on;lr", "sip:192.0.2.1;r2=on;lr"},
		{"Record-Route: <sip:192.0.2.1;r2=on;lr>,<sip:10.0.0.1;r2=on;lr>,<sip:192.0.2.9;lr>\n", "", false,
			"<sip:192.0.2.1;r2=on;lr>,<sip:10.0.0.1;r2=on;lr>", "<sip:192.0.2.9;lr>", "", "sip:10.0.0.1;r2=on;lr", "sip:192.0.2.1;r2=on;lr"},
		// rr_update: in a dialog every Record-Route is b_rr too; not for an initial request
		{"Record-Route: <sip:192.0.2.1;lr>, <sip:192.0.2.9;lr>\n", ";tag=b1", true,
			"<sip:192.0.2.1;lr>", "<sip:192.0.2.9;lr>", "<sip:192.0.2.1;lr>,<sip:192.0.2.9;lr>", "sip:192.0.2.1;lr", "sip:192.0.2.1;lr"},
		{"Record-Route: <sip:192.0.2.1;lr>, <sip:192.0.2.9;lr>\n", "", true,
			"<sip:192.0.2.1;lr>", "<sip:192.0.2.9;lr>", "", "sip:192.0.2.1;lr", "sip:192.0.2.1;lr"},
	} {
		m.rrUpdate = c.rrUpdate
		td := m.pack(parse(t, strings.Replace(strings.Replace(req, "%s", c.rr, 1), "%s", c.totag, 1)))
		if td.xVia1 != "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-p" || td.xVbranch1 != "z9hG4bK-p" ||
			td.xVia2 != "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1,SIP/2.0/TCP 192.0.2.9;branch=z9hG4bK-0" {
			t.Errorf("vias: %q %q %q", td.xVia1, td.xVbranch1, td.xVia2)
		}
		if td.sRR != c.sRR || td.aRR != c.aRR || td.bRR != c.bRR || td.asContact != c.asContact || td.bsContact != c.bsContact || td.xRR != td.aRR {
			t.Errorf("%q rr_update %v:\n got s %q a %q b %q as %q bs %q\nwant s %q a %q b %q as %q bs %q", c.rr, c.rrUpdate,
				td.sRR, td.aRR, td.bRR, td.asContact, td.bsContact, c.sRR, c.aRR, c.bRR, c.asContact, c.bsContact)
		}
	}
	// a reply: every Record-Route is b_rr; an early one's is y_rr too
	m.rrUpdate = false
	for code, y := range map[string]bool{"180 Ringing": true, "183 Progress": true, "199 Early Dialog Terminated": false, "200 OK": false} {
		td := m.pack(parse(t, "SIP/2.0 "+code+"\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-p\nRecord-Route: <sip:192.0.2.30;lr>, <sip:192.0.2.1;lr>\n"+
			"From: <sip:a@b>;tag=a1\nTo: <sip:b@c>;tag=b1\nCall-ID: c1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"))
		if td.bRR != "<sip:192.0.2.30;lr>,<sip:192.0.2.1;lr>" || td.sRR != "" || td.aRR != "" || (td.yRR == td.bRR) != y {
			t.Errorf("%s: b %q s %q a %q y %q", code, td.bRR, td.sRR, td.aRR, td.yRR)
		}
	}
}

// TestReappendRoute: a route list comes back as Route headers, one each
// and last first with rev, else as one.
func TestReappendRoute(t *testing.T) {
	for _, c := range []struct {
		body string
		rev  bool
		want string
	}{
		{"<sip:a;lr>,<sip:b;lr>,<sip:c;lr>", true, "Route: <sip:c;lr>\r\nRoute: <sip:b;lr>\r\nRoute: <sip:a;lr>\r\n"},
		{"<sip:a;lr>,<sip:b;lr>", false, "Route: <sip:a;lr>,<sip:b;lr>\r\n"},
		{"<sip:a;lr>", true, "Route: <sip:a;lr>\r\n"},
		{"<sip:a;lr>,", false, "Route: <sip:a;lr>\r\n"},
		{"", true, ""},
	} {
		var w wire.Msg
		b := []byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n")
		if !w.Prepare(b) {
			t.Fatal("the message does not parse")
		}
		reappendRoute(&w, c.body, c.rev)
		got := strings.TrimSuffix(strings.SplitN(string(w.Apply(nil)), "CSeq: 1 OPTIONS\r\n", 2)[1], "\r\n")
		if got != c.want {
			t.Errorf("%q rev %v: %q, want %q", c.body, c.rev, got, c.want)
		}
	}
}

// TestNextUID: Kamailio's sruid: tpsh-<time>-<pid>-<counter, least
// significant hex digit first>[-<context>], with server_id after tpsh.
func TestNextUID(t *testing.T) {
	m := &Module{}
	first, second := m.nextUID(""), m.nextUID("srvone")
	if !regexp.MustCompile(`^tpsh-[0-9a-f]+-[0-9a-f]+-1$`).MatchString(first) || !strings.HasSuffix(second, "-2-srvone") {
		t.Errorf("uids %q %q", first, second)
	}
	for range 16 {
		m.nextUID("")
	}
	if got := m.nextUID(""); !strings.HasSuffix(got, "-31") { // 19 = 0x13, digits reversed
		t.Errorf("the 19th uid %q", got)
	}
	m2 := &Module{serverID: 7}
	if got := m2.nextUID(""); !strings.HasPrefix(got, "tpsh-7-") {
		t.Errorf("with server_id 7: %q", got)
	}
}

// TestFillContact: the proxy's Contact on each side, from its
// Record-Route: host, port and transport kept, the key in the user part
// or (contact_mode 1) in the parameter with the user of the message.
func TestFillContact(t *testing.T) {
	msg := parse(t, strings.Replace(strings.Replace(req, "%s", "", 1), "%s", "", 1))
	for _, c := range []struct {
		mode         int
		host         string
		as, bs       string
		wantA, wantB string
	}{
		{0, "", "sip:192.0.2.1:5070;transport=tcp;lr", "sips:[2001:db8::1];lr",
			"<sip:atpsh-X@192.0.2.1:5070;transport=tcp>", "<sips:btpsh-X@[2001:db8::1]>"},
		{0, "proxy.example.com", "sip:192.0.2.1;lr", "sip:192.0.2.1;lr", "<sip:atpsh-X@proxy.example.com>", "<sip:btpsh-X@proxy.example.com>"},
		{1, "", "sip:192.0.2.1;lr", "sip:192.0.2.1:5080;lr", "<sip:bob@192.0.2.1;tps=atpsh-X>", "<sip:alice@192.0.2.1:5080;tps=btpsh-X>"},
	} {
		m := &Module{contactMode: c.mode, contactHost: c.host, cparamName: "tps"}
		td := &tdata{asContact: c.as, bsContact: c.bs}
		if err := m.fillContact(msg, td, "tpsh-X", downstream); err != nil {
			t.Fatal(err)
		}
		if err := m.fillContact(msg, td, "tpsh-X", upstream); err != nil {
			t.Fatal(err)
		}
		if td.asContact != c.wantA || td.bsContact != c.wantB || td.aUUID != "atpsh-X" || td.bUUID != "btpsh-X" {
			t.Errorf("mode %d host %q: a %q b %q (%q %q)", c.mode, c.host, td.asContact, td.bsContact, td.aUUID, td.bUUID)
		}
	}
}
