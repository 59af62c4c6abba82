package stun_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
	"github.com/kemi-sip/kemi/modules/stun"
)

const stunCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "stun.so"

request_route {
	sl_send_reply("200", "OK");
}
`

// request is a STUN message of type typ with the attributes attrs (type,
// value, padded to four bytes), the RFC 5389 magic cookie unless old.
func request(typ uint16, old bool, id string, attrs ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	var body []byte
	for _, a := range attrs {
		body = append(body, a...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	if old {
		b = append(b, 0xde, 0xad, 0xbe, 0xef)
	} else {
		b = binary.BigEndian.AppendUint32(b, 0x2112A442)
	}
	b = append(b, id[:12]...)
	return append(b, body...)
}

func attr(typ uint16, v string) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ask sends b to srv from a socket of its own; the answer (nil: none
// within 300 ms) and the socket's address.
func ask(t *testing.T, srv netip.AddrPort, b []byte) ([]byte, netip.AddrPort) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(b, srv)
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if err != nil {
		return nil, local
	}
	return buf[:n], local
}

// withoutSoftware is an answer with its SOFTWARE attribute (each
// server's own Server header; always the last) and the length that counts
// it taken out. It is found from the end: after Kamailio's
// UNKNOWN-ATTRIBUTES the attributes are not on four-byte boundaries.
func withoutSoftware(b []byte) []byte {
	for i := 20; i+4 <= len(b); i++ {
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if binary.BigEndian.Uint16(b[i:]) == 0x8022 && i+4+(n+3)&^3 == len(b) {
			out := append([]byte(nil), b[:i]...)
			binary.BigEndian.PutUint16(out[2:], uint16(len(out)-20))
			return out
		}
	}
	return b
}

// TestKamailioBinding: Kamailio 5.6's stun module and kemi's answer the
// same STUN messages with the same bytes but the SOFTWARE text (each its
// Server header): a Binding request (XOR-MAPPED-ADDRESS of the client's
// address), an RFC 3489 one (MAPPED-ADDRESS, no SOFTWARE), with a
// FINGERPRINT and a SOFTWARE of the client's, another type (600), a body
// shorter than the header says (400), unknown mandatory attributes (420,
// listed) and an unknown optional one (ignored); a 4-byte ping of zeros
// gets nothing; SIP on the same socket is still answered.
func TestKamailioBinding(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(stunCfg, listen) })
	id := "0123456789ab"
	cases := []struct {
		name string
		req  []byte
	}{
		{"binding", request(0x0001, false, id)},
		{"rfc3489 binding", request(0x0001, true, id)},
		{"with software and fingerprint", request(0x0001, false, id, attr(0x8022, "test client"), attr(0x8028, "\x01\x02\x03\x04"))},
		{"another type", request(0x0003, false, id)},
		{"body cut short", request(0x0001, false, id, attr(0x8022, "x"))[:24]},
		{"unknown mandatory", request(0x0001, false, id, attr(0x0777, "abcd"))},
		{"two unknown mandatory", request(0x0001, false, id, attr(0x0777, "abcd"), attr(0x0778, ""))},
		{"unknown optional", request(0x0001, false, id, attr(0x8777, "abcd"))},
		{"zero ping", make([]byte, 4)},
	}
	for _, c := range cases {
		c.req = append([]byte(nil), c.req...)
		if c.name == "body cut short" {
			binary.BigEndian.PutUint16(c.req[2:], 8) // says 8, has 4
		}
		k, klocal := ask(t, pair.Kamailio, c.req)
		e, elocal := ask(t, pair.Kemi, c.req)
		// the mapped address is each client's own: compare against the
		// answer kemi's function gives for Kamailio's client
		if c.name == "zero ping" {
			if k != nil || e != nil {
				t.Errorf("zero ping: Kamailio %x, kemi %x: want no answer", k, e)
			}
			continue
		}
		if k == nil || e == nil {
			t.Errorf("%s: Kamailio %x, kemi %x", c.name, k, e)
			continue
		}
		want := stun.Answer(nil, klocal, c.req, "")
		mine := stun.Answer(nil, elocal, c.req, "")
		if !bytes.Equal(withoutSoftware(k), withoutSoftware(want)) || !bytes.Equal(withoutSoftware(e), withoutSoftware(mine)) {
			t.Errorf("%s:\n  Kamailio %s\n  as kemi  %s\n  kemi     %s", c.name, hex.EncodeToString(k), hex.EncodeToString(want), hex.EncodeToString(e))
		} else {
			t.Logf("%s: %s", c.name, hex.EncodeToString(k))
		}
		if modern := c.req[4] == 0x21; modern && !bytes.Contains(e, []byte(router.ServerHeader)) {
			t.Errorf("%s: kemi's SOFTWARE is not its Server header: %q", c.name, e)
		}
	}
	r := kamailiotest.Ask(t, pair.Kemi, 2*time.Second, kamailiotest.Options(""))
	if r.StatusCode() != 200 {
		t.Errorf("SIP after STUN: %d", r.StatusCode())
	}
}

// TestAnswerIPv6: an IPv6 client's XOR-MAPPED-ADDRESS reads back as its
// address, XORed with the magic cookie and the transaction ID.
func TestAnswerIPv6(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:db8::7]:5070")
	req := request(0x0001, false, "0123456789ab")
	a := stun.Answer(nil, src, req, "")
	if len(a) < 20+4+20 || binary.BigEndian.Uint16(a[20:]) != 0x0020 || binary.BigEndian.Uint16(a[22:]) != 20 || binary.BigEndian.Uint16(a[24:]) != 2 {
		t.Fatalf("answer %x: want XOR-MAPPED-ADDRESS of an IPv6 address first", a)
	}
	port := binary.BigEndian.Uint16(a[26:]) ^ 0x2112
	var ip [16]byte
	for i := range ip {
		ip[i] = a[28+i] ^ req[4+i]
	}
	if got := netip.AddrPortFrom(netip.AddrFrom16(ip), port); got != src {
		t.Errorf("read back %s, want %s", got, src)
	}
}
