package ipops

import (
	"net"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// TestNAPTR: a NAPTR query to a name server of the test's own, whose
// answer has two records, the second's replacement a compressed name:
// both read, fields and all.
func TestNAPTR(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		n, from, err := srv.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dnsmessage.Message
		if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.Header.ID, Response: true})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q.Questions[0])
		b.StartAnswers()
		rdata := func(order, pref byte, flags, svc, re string, repl []byte) []byte {
			d := []byte{0, order, 0, pref}
			for _, s := range []string{flags, svc, re} {
				d = append(append(d, byte(len(s))), s...)
			}
			return append(d, repl...)
		}
		h := dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: typeNAPTR, Class: dnsmessage.ClassINET, TTL: 60}
		b.UnknownResource(h, dnsmessage.UnknownResource{Type: typeNAPTR, Data: rdata(20, 10, "s", "SIP+D2U", "", []byte("\x04_sip\x04_udp\x07example\x03com\x00"))})
		// The replacement is a pointer to the question's name (offset 12).
		b.UnknownResource(h, dnsmessage.UnknownResource{Type: typeNAPTR, Data: rdata(10, 50, "u", "E2U+sip", "!^.*$!sip:info@example.com!", []byte{0xc0, 12})})
		out, _ := b.Finish()
		srv.WriteTo(out, from)
	}()
	recs, err := lookupNAPTRAt([]string{srv.LocalAddr().String()}, "4.3.2.1.e164.arpa")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	want := []naptr{
		{order: 20, pref: 10, flags: "s", services: "SIP+D2U", replaced: "_sip._udp.example.com"},
		{order: 10, pref: 50, flags: "u", services: "E2U+sip", regex: "!^.*$!sip:info@example.com!", replaced: "4.3.2.1.e164.arpa"},
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, recs[i], want[i])
		}
	}
}
