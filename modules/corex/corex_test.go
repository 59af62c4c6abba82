package corex_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestCorex(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	c := k.Request(moduletest.Invite)
	file := filepath.Join(t.TempDir(), "f.txt")
	k.Run([]moduletest.Case{
		{"corex.has_ruri_user", nil, "1"}, {"corex.has_user_agent", nil, "-1"},
		{"corex.setxflag", []any{100}, "1"}, {"corex.isxflagset", []any{100}, "1"}, {"corex.isxflagset", []any{99}, "-1"},
		{"corex.resetxflag", []any{100}, "1"}, {"corex.isxflagset", []any{100}, "-1"},
		{"corex.append_branch", nil, "1"}, {"corex.append_branch_uri", []any{"sip:carol@example.net"}, "1"},
		{"corex.append_branch_uri_q", []any{"sip:dave@example.net", "0.5"}, "1"},
		{"corex.append_branch_uri_q", []any{"sip:dave@example.net", "2"}, "-1"},
		{"corex.is_faked_msg", nil, "-1"},
		{"corex.file_write", []any{file, "text"}, "1"}, {"corex.file_read", []any{file}, "text"},
		{"corex.file_read", []any{filepath.Join(t.TempDir(), "none")}, ""},
	})
	bs := c.Branches()
	if len(bs) != 3 || string(bs[0].URI) != "sip:bob@example.com" || string(bs[2].URI) != "sip:dave@example.net" || bs[2].Q != 500 {
		t.Errorf("branches %+v", bs)
	}
	if b, _ := os.ReadFile(file); string(b) != "text" {
		t.Errorf("file_write wrote %q", b)
	}
}

// TestSendData: send_data and sendx send the data as it is, to the URI's
// address, from the socket sendx names.
func TestSendData(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	k.Request(moduletest.Invite)
	data := "OPTIONS sip:x@192.0.2.50 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@192.0.2.50>\r\nCall-ID: sd1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	k.Run([]moduletest.Case{
		{"corex.send_data", []any{"sip:192.0.2.50:5070", data}, "1"},
		{"corex.sendx", []any{"sip:192.0.2.51;transport=tcp", "udp:127.0.0.1:5060", data}, "1"},
		{"corex.sendx", []any{"sip:192.0.2.51", "udp:10.9.9.9:5060", data}, "-1"}, // not a socket of the proxy
		{"corex.send_data", []any{"tel:+1234", data}, "-1"},
	})
	sent := k.Transport.TakeSent()
	if len(sent) != 2 || string(sent[0].Msg) != data || sent[0].Dst.String() != "192.0.2.50:5070" ||
		sent[1].Dst.String() != "192.0.2.51:5060" || sent[1].Proto.String() != "UDP" {
		t.Errorf("sent %+v", sent)
	}
}

func TestSocketAndSource(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	c := k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"corex.set_recv_socket", []any{"tcp:127.0.0.1:5060"}, "1"},
		{"pv.get", []any{"$Rp"}, "5060"},
		{"corex.set_recv_socket", []any{"udp:10.1.1.1:5060"}, "-1"},
		{"corex.set_source_address", []any{"udp:198.51.100.9:5099"}, "1"},
		{"pv.get", []any{"$si"}, "198.51.100.9"},
		{"pv.geti", []any{"$sp"}, "5099"},
		{"corex.set_source_address", []any{"nonsense"}, "-1"},
	})
	if c.Pkt.Local == nil || c.Pkt.Local.Proto.String() != "TCP" {
		t.Errorf("receiving socket %v", c.Pkt.Local)
	}
}

// TestViaParams: via_add_srvid and via_add_xavp_params put ;srvid=
// server_id and the fields of the xavp_via_params XAVP into the Via of a
// forwarded request, as the anycast example config has them.
func TestViaParams(t *testing.T) {
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	path := filepath.Join(t.TempDir(), "k.cfg")
	os.WriteFile(path, []byte(`server_id = 7
xavp_via_params = "via"
loadmodule "corex.so"
request_route {
	via_add_srvid(1);
	$xavp(via=>node) = "n1";
	$xavp(via[0]=>lb) = $null;
	$xavp(via[0]=>mark) = "x";
	via_add_xavp_params(1);
	$du = "sip:`+peer.LocalAddr().String()+`";
	forward();
}
`), 0o644)
	p := proxytest.Start(t, path, nil)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.LocalAddr().String()
	c.Write([]byte("OPTIONS sip:x@" + peer.LocalAddr().String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + l + ";branch=z9hG4bK-vp\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:t@" + l + ">;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: vp1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	via, _, _ := strings.Cut(string(buf[:n]), "\r\nVia: SIP/2.0/UDP "+l)
	if !strings.HasSuffix(via, ";srvid=7;node=n1;mark=x") {
		t.Errorf("the proxy's Via: %q, want it to end ;srvid=7;node=n1;mark=x", via)
	}
}

// TestSendSocket: set_send_socket (force_send_socket in the native
// config) chooses the socket a forwarded request leaves from: its
// transport and the address in the proxy's Via.
func TestSendSocket(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@198.51.100.20 SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"corex.set_send_socket", []any{"udp:10.1.1.1:5060"}, "-1"}, // not ours
		{"corex.set_send_socket", []any{"tcp:127.0.0.1:5060"}, "1"},
		{"forward", nil, "1"},
	})
	sent := k.Sent()
	if len(sent) != 1 || sent[0].Proto.String() != "TCP" || !strings.HasPrefix(sent[0].Header("Via"), "SIP/2.0/TCP 127.0.0.1:5060;") {
		t.Fatalf("sent %d, proto %v, Via %q", len(sent), sent[0].Proto, sent[0].Header("Via"))
	}
	if got := k.Native("force_send_socket", "udp:127.0.0.1:5060").String(); got != "1" { // the core's
		t.Errorf("force_send_socket: %s", got)
	}
}

// TestSocketNames: the functions that find a socket by its listen name;
// via_use_xavp_fields writes the xavp_via_fields XAVP's address and port
// in the proxy's Via.
func TestSocketNames(t *testing.T) {
	k := moduletest.New(t, `loadmodule "corex.so"`)
	for _, l := range k.Transport.Listeners {
		if l.Proto.String() == "TCP" && l.Addr.Addr().Is4() {
			l.Name = "tcp4"
		}
	}
	k.Env.XAVPViaFields = "vf"
	c := k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@198.51.100.20 SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"corex.is_socket_name", []any{"tcp4"}, "1"}, {"corex.is_socket_name", []any{"nope"}, "-1"},
		{"corex.set_recv_socket_name", []any{"nope"}, "-1"},
		{"corex.set_recv_socket_name", []any{"tcp4"}, "1"},
		{"corex.set_send_socket_name", []any{"nope"}, "-1"},
		{"corex.set_send_socket_name", []any{"tcp4"}, "1"},
		{"pv.sets", []any{"$xavp(vf=>address)", "edge.example.com"}, "1"},
		{"corex.via_use_xavp_fields", []any{1}, "1"},
		{"forward", nil, "1"},
	})
	if c.Pkt.Local.Name != "tcp4" {
		t.Errorf("receiving socket %v", c.Pkt.Local)
	}
	if v := k.Sent()[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/TCP edge.example.com:5060;") {
		t.Errorf("Via %q: want the XAVP's address, the socket's port, over the named TCP socket", v)
	}
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@198.51.100.20 SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"pv.sets", []any{"$xavp(vf=>port)", "5999"}, "1"},
		{"corex.via_use_xavp_fields", []any{1}, "1"},
		{"forward", nil, "1"},
	})
	if v := k.Sent()[0].Header("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP 127.0.0.1:5999;") {
		t.Errorf("Via %q: want the socket's address and the XAVP's port", v)
	}
}
