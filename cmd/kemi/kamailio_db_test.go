package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
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

	alice, bob := contactSocket(t), contactSocket(t)
	kemiAddr := func() (stop func(), addr string) {
		s, _ := startListening(t, cfg, map[string]string{"DBURL": dburl}, "udp:127.0.0.1:0")
		return s.Stop, s.Addr(sip.TransportUDP).String()
	}

	// kemi registers alice; Kamailio, started on the table, finds her.
	stop, addr := kemiAddr()
	register(t, addr, "alice", alice)
	reached(t, addr, "alice", alice, "kemi")
	stop()
	t.Run("Kamailio reads kemi's rows", func(t *testing.T) {
		kamailiotest.Start(t, kam, cfg, dir, fmt.Sprintf("127.0.0.1:%d", port), "DBURL="+dburl)
		k := fmt.Sprintf("127.0.0.1:%d", port)
		reached(t, k, "alice", alice, "Kamailio")
		register(t, k, "bob", bob)
	})
	// Kamailio registered bob; kemi, started again, finds both.
	_, addr = kemiAddr()
	reached(t, addr, "bob", bob, "kemi (Kamailio's row)")
	reached(t, addr, "alice", alice, "kemi (its own row)")
}

// contactSocket is a UDP socket standing for a phone.
func contactSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// register sends user's REGISTER (contact: the socket, an hour) to addr
// and waits for the 200.
func register(t *testing.T, addr, user string, contact *net.UDPConn) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.LocalAddr().String()
	fmt.Fprintf(c, "REGISTER sip:kemi.test SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-reg-%[2]s-%[3]d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%[2]s@kemi.test>;tag=r1\r\nTo: <sip:%[2]s@kemi.test>\r\nCall-ID: reg-%[2]s-%[3]d\r\nCSeq: 1 REGISTER\r\n"+
		"Contact: <sip:%[2]s@%[4]s>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n", l, user, time.Now().UnixNano(), contact.LocalAddr())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil || !strings.HasPrefix(string(b[:n]), "SIP/2.0 200") {
		t.Fatalf("REGISTER %s at %s: %v %q", user, addr, err, b[:n])
	}
}

// reached sends an OPTIONS to user through addr and expects it at the
// user's contact socket.
func reached(t *testing.T, addr, user string, contact *net.UDPConn, who string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.LocalAddr().String()
	callID := fmt.Sprintf("reach-%s-%d", user, time.Now().UnixNano())
	fmt.Fprintf(c, "OPTIONS sip:%s@kemi.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@kemi.test>;tag=p1\r\nTo: <sip:%[1]s@kemi.test>\r\nCall-ID: %[3]s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		user, l, callID)
	b := make([]byte, 4096)
	for {
		contact.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := contact.Read(b)
		if err != nil {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			m, _ := c.Read(b)
			t.Fatalf("%s: the OPTIONS to %s did not reach the contact (%v); the proxy answered %q", who, user, err, b[:m])
		}
		if strings.Contains(string(b[:n]), callID) {
			return
		}
	}
}
