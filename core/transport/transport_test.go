package transport

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

func TestParseAddr(t *testing.T) {
	cases := []struct {
		in    string
		proto sip.Transport
		host  string
		port  int
		adv   string
		err   bool
	}{
		{"udp:127.0.0.1:5070", sip.TransportUDP, "127.0.0.1", 5070, "", false},
		{"tcp:127.0.0.1", sip.TransportTCP, "127.0.0.1", 5060, "", false},
		{"127.0.0.1:0", sip.TransportOther, "127.0.0.1", 0, "", false},
		{"udp:[::1]:5080", sip.TransportUDP, "::1", 5080, "", false},
		{"[::1]", sip.TransportOther, "::1", 5060, "", false},
		{"udp:10.0.0.1:5060 advertise 192.0.2.1:5060", sip.TransportUDP, "10.0.0.1", 5060, "192.0.2.1:5060", false},
		{"udp:10.0.0.1:99999", 0, "", 0, "", true},
		{"tls:10.0.0.1:5062", sip.TransportTLS, "10.0.0.1", 5062, "", false},
		{"tls:10.0.0.1", sip.TransportTLS, "10.0.0.1", 5061, "", false},
		{"sctp:10.0.0.1:5060", 0, "", 0, "", true},
		{"udp:10.0.0.1 advertise", 0, "", 0, "", true},
		{"udp:10.0.0.1 name", 0, "", 0, "", true},
		{"", 0, "", 0, "", true},
	}
	for i, c := range cases {
		a, err := ParseAddr(c.in, 5060)
		if c.err {
			if err == nil {
				t.Errorf("case %d (%s): no error", i, c.in)
			}
			continue
		}
		if err != nil || a.Proto != c.proto || a.Host != c.host || a.Port != c.port || a.Advertise != c.adv {
			t.Errorf("case %d (%s): got %+v %v", i, c.in, a, err)
		}
	}
}

func TestMyself(t *testing.T) {
	l := &Listener{Proto: sip.TransportUDP, Addr: netip.MustParseAddrPort("127.0.0.1:5070"), Advertise: "sip.example.com"}
	m := NewMyself([]*Listener{l}, []string{"alias.example.com", "tcp:other.example.com:5080"})
	cases := []struct {
		host string
		port int
		want bool
	}{
		{"127.0.0.1", 5070, true}, {"127.0.0.1", 5060, false}, {"127.0.0.1", 0, false},
		{"SIP.example.com", 5070, true}, {"alias.example.com", 1234, true}, {"other.example.com", 5080, true},
		{"other.example.com", 5060, false}, {"example.com", 5070, false},
	}
	for i, c := range cases {
		if got := m.Is([]byte(c.host), c.port, false); got != c.want {
			t.Errorf("case %d (%s:%d): got %v", i, c.host, c.port, got)
		}
	}
	if !m.IsIP(netip.MustParseAddr("127.0.0.1")) || m.IsIP(netip.MustParseAddr("127.0.0.2")) {
		t.Errorf("IsIP")
	}
	v6 := NewMyself([]*Listener{{Addr: netip.MustParseAddrPort("[::1]:5060")}}, nil)
	if !v6.Is([]byte("[::1]"), 0, false) {
		t.Errorf("[::1] on the default port is not myself")
	}
}

// TestWriteBatch sends 300 datagrams in one call to a socket that counts
// them, over IPv4, and a TCP listener refuses the call.
func TestWriteBatch(t *testing.T) {
	s, err := Listen(Config{Listen: []Addr{{Proto: sip.TransportUDP, Host: "127.0.0.1"}, {Proto: sip.TransportTCP, Host: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(1 << 20)
	bufs := make([][]byte, 300)
	for i := range bufs {
		bufs[i] = []byte(fmt.Sprintf("datagram %d", i))
	}
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	n, err := s.Listener(sip.TransportUDP, true).WriteBatch(bufs, dst)
	if err != nil || n != len(bufs) {
		t.Fatalf("WriteBatch = %d, %v; want %d sent", n, err, len(bufs))
	}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for i := range bufs {
		m, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got, want := string(buf[:m]), fmt.Sprintf("datagram %d", i); got != want {
			t.Fatalf("datagram %d is %q, want %q (in order, one per message)", i, got, want)
		}
	}
	if _, err := s.Listener(sip.TransportTCP, true).WriteBatch(bufs, dst); err == nil {
		t.Error("WriteBatch on a TCP listener: no error")
	}
}

// TestMyselfAnyPort: IsHost matches a name of the proxy on any port
// (Kamailio's check_self with port 0), Is on the port given or 5060.
func TestMyselfAnyPort(t *testing.T) {
	m := NewMyself([]*Listener{{Addr: netip.MustParseAddrPort("127.0.0.1:5080")}}, []string{"sip.example.com:5090"})
	cases := []struct {
		host string
		any  bool
		port bool // Is(host, 0): the default port 5060
	}{{"127.0.0.1", true, false}, {"sip.example.com", true, false}, {"[::1]", false, false}, {"192.0.2.1", false, false}}
	for i, c := range cases {
		if got := m.IsHost([]byte(c.host)); got != c.any {
			t.Errorf("case %d (%s): IsHost %v, want %v", i, c.host, got, c.any)
		}
		if got := m.Is([]byte(c.host), 0, false); got != c.port {
			t.Errorf("case %d (%s): Is on 5060 %v, want %v", i, c.host, got, c.port)
		}
	}
	if !m.Is([]byte("127.0.0.1"), 5080, false) {
		t.Error("Is(127.0.0.1, 5080) false")
	}
}

// TestParseAddrName: name "x" names the socket.
func TestParseAddrName(t *testing.T) {
	a, err := ParseAddr(`udp:10.0.0.1:5060 advertise 192.0.2.1 name "edge"`, 5060)
	if err != nil || a.Name != "edge" || a.Advertise != "192.0.2.1" {
		t.Errorf("got %+v %v", a, err)
	}
}

// TestOutHookPanic: a hook on messages sent that panics is logged and the
// message goes as it was; the proxy goes on.
func TestOutHookPanic(t *testing.T) {
	s := NewRecorder(netip.MustParseAddrPort("127.0.0.1:5060"))
	s.Out = func(*Listener, sip.Transport, netip.AddrPort, []byte) []byte { panic("boom") }
	dst := netip.MustParseAddrPort("192.0.2.1:5060")
	if err := s.Send(nil, sip.TransportUDP, dst, []byte("OPTIONS")); err != nil {
		t.Fatal(err)
	}
	if sent := s.TakeSent(); len(sent) != 1 || string(sent[0].Msg) != "OPTIONS" {
		t.Errorf("sent %v", sent)
	}
}
