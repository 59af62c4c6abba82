package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// sharedLocationCfg is a registrar on a SQLite location table (db_mode 1:
// each change written at once, the table read at start), in the words
// both Kamailio and kemi take; a request to a user goes to its contact.
const sharedLocationCfg = `#!KAMAILIO
children=2
listen=udp:127.0.0.1:%d
alias="kemi.test"
loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_url", DBURL)
modparam("usrloc", "db_mode", 1)
request_route {
	if (method == "REGISTER") {
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not here");
		exit;
	}
	forward();
}
`

// TestLocationSharedWithKamailio: a location table kemi wrote is
// Kamailio's to read, and one Kamailio wrote is kemi's: a Kamailio user
// moves to kemi (or back) and loses no registration. Kamailio's db_sqlite
// keeps DATETIME values as Julian day numbers; kemi read them as an
// error and wrote text, which Kamailio reads as a year.
func TestLocationSharedWithKamailio(t *testing.T) {
	kam := kamailiotest.Need(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "location.db")
	d, err := db.Open("sqlite://" + dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	port := kamailiotest.FreePort(t)
	cfg := filepath.Join(dir, "location.cfg")
	os.WriteFile(cfg, fmt.Appendf(nil, sharedLocationCfg, port), 0o644)
	dburl := `"sqlite:///` + dbPath + `"`

	alice, bob := newUA(t, "127.0.0.1:9"), newUA(t, "127.0.0.1:9") // phones: each registers its own socket
	kemiAddr := func() (stop func(), addr string) {
		s, _ := startListening(t, cfg, map[string]string{"DBURL": dburl}, "udp:127.0.0.1:0")
		return s.Stop, s.Addr(sip.TransportUDP).String()
	}

	// kemi registers alice; Kamailio, started on the table, finds her.
	stop, addr := kemiAddr()
	register(t, alice, addr, "alice")
	reached(t, addr, "alice", alice, "kemi")
	stop()
	k := fmt.Sprintf("127.0.0.1:%d", port)
	kamailiotest.Start(t, kam, cfg, dir, k, "DBURL="+dburl)
	reached(t, k, "alice", alice, "Kamailio (kemi's row)")
	register(t, bob, k, "bob")
	// Kamailio registered bob; kemi, started again, finds both.
	_, addr = kemiAddr()
	reached(t, addr, "bob", bob, "kemi (Kamailio's row)")
	reached(t, addr, "alice", alice, "kemi (its own row)")
}

// register sends user's REGISTER from ua, its socket the contact, to
// addr and waits for the 200.
func register(t *testing.T, ua *sipUA, addr, user string) {
	t.Helper()
	ua.SendRaw(netip.MustParseAddrPort(addr), []byte(registerMsg(user, ua.addr(), ua.addr(), 1, "")))
	if m, _ := ua.recv(5 * time.Second); m == nil || m.StatusCode() != 200 {
		t.Fatalf("REGISTER %s at %s: got %v, want 200", user, addr, m)
	}
}

// reached sends an OPTIONS to user through addr and expects it at the
// user's contact.
func reached(t *testing.T, addr, user string, contact *sipUA, who string) {
	t.Helper()
	probe := newUA(t, addr)
	callID := fmt.Sprintf("reach-%s-%d", user, time.Now().UnixNano())
	probe.send(fmt.Sprintf("OPTIONS sip:%[1]s@%[2]s SIP/2.0\r\nVia: SIP/2.0/UDP %[3]s;branch=z9hG4bK-%[4]s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%[2]s>;tag=p1\r\nTo: <sip:%[1]s@%[2]s>\r\nCall-ID: %[4]s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		user, testDomain, probe.addr(), callID), nil)
	for {
		m, _ := contact.recv(5 * time.Second)
		if m == nil {
			r, _ := probe.recv(100 * time.Millisecond)
			t.Fatalf("%s: the OPTIONS to %s did not reach the contact; the proxy answered %v", who, user, r)
		}
		if string(m.CallID()) == callID {
			return
		}
	}
}
