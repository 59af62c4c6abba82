package topos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const eventCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "topos.so"
modparam("topos", "db_url", "%s")

request_route {
	if ($hdr(X-Ctx) != $null) {
		tps_set_context("$hdr(X-Ctx)");
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
		} else {
			sl_send_reply("404", "Not here");
		}
		exit;
	}
	record_route();
	t_relay();
}

event_route[topos:msg-outgoing] {
	if ($sndto(port) == %d) {
		drop;
	}
}

event_route[topos:msg-sending] {
	if (is_request() && $fU == "carol") {
		drop;
	}
}

event_route[topos:msg-incoming] {
	if ($sp == %d) {
		drop;
	}
}

event_route[topos:msg-receiving] {
	if (is_request() && $hdr(X-Raw) != $null) {
		drop;
	}
}
`

// TestEventsAndContext: each of topos' four event routes, dropping,
// leaves a message as it is — an INVITE to one address (msg-outgoing)
// and from carol (msg-sending) go out whole, a reply from one address
// (msg-incoming) is not rebuilt, an in-dialog request marked X-Raw
// (msg-receiving) keeps the proxy's Contact as its request URI and is
// refused; tps_set_context scopes a call's records.
func TestEventsAndContext(t *testing.T) {
	url := moduletest.SQLite(t)
	caller, callee, plain, raw := kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	port := func(u *kamailiotest.UA) uint16 {
		return kamailiotest.ViaAddr(t, "X\r\nVia: SIP/2.0/UDP "+u.Addr()+"\r\n").Port()
	}
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(eventCfg, url, port(plain), port(raw))), 0o644)
	p := proxytest.Start(t, cfg, nil)
	invite := func(from string, to *kamailiotest.UA, id, extra string) string {
		caller.Send(p.Addr, fmt.Sprintf("INVITE sip:bob@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK-up%s\n"+
			"Max-Forwards: 70\nFrom: <sip:%s@example.com>;tag=%s\nTo: <sip:bob@example.com>\nCall-ID: ev-%s\nCSeq: 1 INVITE\n%s"+
			"Contact: <sip:%s@%s>\nContent-Length: 0\n\n", to.Addr(), caller.Addr(), id, id, from, id, id, extra, from, caller.Addr()))
		m, _ := to.Recv("INVITE ")
		return m
	}

	// msg-outgoing drops for the plain UA's address: the INVITE goes whole
	m := invite("alice", plain, "o1", "")
	if !strings.Contains(m, "192.0.2.7") || !strings.Contains(m, "Contact: <sip:alice@"+caller.Addr()+">") || !strings.Contains(m, "Record-Route:") {
		t.Errorf("msg-outgoing dropped, the INVITE was stripped:\n%s", m)
	}
	plain.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "486 Busy Here", "p1", ""))
	caller.Recv("SIP/2.0 486")

	// msg-incoming drops for what the raw UA sends: its 180 to a stripped
	// INVITE is not rebuilt (it goes up with its own Contact, no Via of
	// the caller's below the proxy's)
	m = invite("alice", raw, "i1", "")
	if strings.Contains(m, "192.0.2.7") {
		t.Fatalf("the INVITE to the raw UA was not stripped:\n%s", m)
	}
	raw.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "180 Ringing", "r1", "Contact: <sip:bob@"+raw.Addr()+">\r\n"))
	r, got180 := caller.TryRecv("SIP/2.0 180", 2*time.Second)
	if got180 && (kamailiotest.Hdr(r, "Contact") != "<sip:bob@"+raw.Addr()+">" || strings.Contains(r, "192.0.2.7")) {
		t.Errorf("msg-incoming dropped, the 180 was rebuilt:\n%s", r)
	}
	raw.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "486 Busy Here", "r1", ""))

	// msg-sending drops for carol's requests
	m = invite("carol", callee, "s1", "")
	if !strings.Contains(m, "192.0.2.7") || !strings.Contains(m, "Contact: <sip:carol@") {
		t.Errorf("msg-sending dropped, carol's INVITE was stripped:\n%s", m)
	}
	callee.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "486 Busy Here", "x", ""))
	caller.Recv("SIP/2.0 486")

	// a call in context ctxA; its records say so
	m = invite("alice", callee, "c1", "X-Ctx: ctxA\n")
	if strings.Contains(m, "192.0.2.7") || !strings.Contains(m, "btpsh-") {
		t.Fatalf("a plain call was not stripped:\n%s", m)
	}
	callee.Send(kamailiotest.ViaAddr(t, m), kamailiotest.Reply(m, "200 OK", "b1", "Contact: <sip:bob@"+callee.Addr()+">\r\n"))
	ok, _ := caller.Recv("SIP/2.0 200")
	target := kamailiotest.URIOf(kamailiotest.Hdr(ok, "Contact"))
	if !strings.Contains(target, "atpsh-") || !strings.HasSuffix(target, "-ctxA@"+p.Addr.String()) {
		t.Errorf("the caller's target %q: not the proxy's with the context in the key", target)
	}
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	d.QueryRow(context.Background(), "SELECT COUNT(*) FROM topos_d WHERE x_context = 'ctxA' AND a_callid = 'ev-c1'").Scan(&n)
	if n != 1 {
		t.Errorf("%d dialog records of ev-c1 in context ctxA, want 1", n)
	}

	// msg-receiving drops for X-Raw: the request URI stays the proxy's
	// Contact, loose_route finds nothing, the proxy refuses it
	bye := "BYE " + target + " SIP/2.0\nVia: SIP/2.0/UDP " + caller.Addr() + ";branch=z9hG4bK-%s\nMax-Forwards: 70\n" +
		"From: <sip:alice@example.com>;tag=c1\nTo: " + kamailiotest.Hdr(ok, "To") + "\nCall-ID: ev-c1\nCSeq: %d BYE\n%sContent-Length: 0\n\n"
	caller.Send(p.Addr, fmt.Sprintf(bye, "r1", 2, "X-Raw: 1\n"))
	caller.Recv("SIP/2.0 404")
	// without it the BYE is rebuilt and reaches the callee
	caller.Send(p.Addr, fmt.Sprintf(bye, "r2", 3, ""))
	got, _ := callee.Recv("BYE ")
	if !strings.HasPrefix(got, "BYE sip:bob@"+callee.Addr()+" ") {
		t.Errorf("the BYE reached the callee as:\n%s", got)
	}
}
