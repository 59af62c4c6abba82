package main

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// benchRegister runs the registrar routing of scripts/registrar on one
// worker, in the benchmark's goroutine: a REGISTER with valid credentials
// is parsed, auth_check reads the subscriber from SQLite and checks the
// digest, save stores the contact in memory (usrloc db_mode 0) and the
// 200 goes out on a real UDP socket. The CSeq grows each time, so every
// run is an update of the binding, as a re-registration is.
func benchRegister(b *testing.B, cfgFile string) {
	benchAuth(b, cfgFile, "user0001", "pass0001", 200)
}

// benchAuth is benchRegister with the credentials of user and password
// (user0001's registration for want 200; a wrong password, or a user that
// does not exist, for want 401).
func benchAuth(b *testing.B, cfgFile, user, password string, want int) {
	dir := b.TempDir()
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(b, url, 1)
	s, _ := startFile(b, repoFile("scripts", "registrar", cfgFile), map[string]string{"DBURL": strconv.Quote(url), "DBMODE": "0"})
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	w, err := s.Env.NewWorker(99)
	if err != nil {
		b.Fatal(err)
	}
	var local *transport.Listener
	for _, l := range s.Transport.Listeners {
		if l.Proto == sip.TransportUDP {
			local = l
		}
	}
	src := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := &transport.Packet{Src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), Local: local, Proto: sip.TransportUDP}
	reg := func(cseq int, auth string) string {
		return fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-bench-1;rport\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: <sip:user0001@%[1]s>;tag=b1\r\n"+
			"To: <sip:user0001@%[1]s>\r\n"+
			"Call-ID: bench-register\r\n"+
			"CSeq: %010[3]d REGISTER\r\n"+
			"Contact: <sip:user0001@%[2]s>\r\n"+
			"Expires: 3600\r\n"+
			"%[4]s"+
			"Content-Length: 0\r\n\r\n", testDomain, sink.LocalAddr(), cseq, auth)
	}
	var m sip.Msg
	if err := m.Parse([]byte(reg(1, ""))); err != nil {
		b.Fatal(err)
	}
	w.RunRequest(pkt, &m)
	buf := make([]byte, 65536)
	sink.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := sink.ReadFromUDP(buf)
	if err != nil {
		b.Fatal(err)
	}
	var ch sip.Msg
	if err := ch.Parse(buf[:n]); err != nil || ch.StatusCode() != 401 {
		b.Fatalf("want a 401: %v\n%s", err, buf[:n])
	}
	msg := []byte(reg(2, authHeader(user, password, &ch, "", "")))
	// the CSeq digits, to count up in place
	at := -1
	for i := 0; i+6 < len(msg); i++ {
		if string(msg[i:i+6]) == "CSeq: " {
			at = i + 6
			break
		}
	}
	b.ReportAllocs()
	cseq := 2
	for b.Loop() {
		cseq++
		strconv.AppendInt(msg[:at], int64(cseq)+1e9, 10)
		msg[at] = '0'
		if err := m.Parse(msg); err != nil {
			b.Fatal(err)
		}
		w.RunRequest(pkt, &m)
		if w.Ctx().Replied != want {
			b.Fatalf("reply %d, want %d", w.Ctx().Replied, want)
		}
	}
}

func BenchmarkRegisterAuthNative(b *testing.B) { benchRegister(b, "kamailio.cfg") }
func BenchmarkRegisterAuthLua(b *testing.B)    { benchRegister(b, "kamailio-lua.cfg") }

// BenchmarkAuthFailure: a wrong password for an existing user and any
// password for a user that does not exist cost the same (auth_db checks
// unknown users against a dummy HA1): compare the two with benchstat.
func BenchmarkAuthFailure(b *testing.B) {
	b.Run("known", func(b *testing.B) { benchAuth(b, "kamailio.cfg", "user0001", "wrong", 401) })
	b.Run("unknown", func(b *testing.B) { benchAuth(b, "kamailio.cfg", "nobody01", "wrong", 401) })
}
