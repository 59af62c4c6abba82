package topos_redis_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestParams: topos_redis needs topos and ndb_redis before it and one of
// ndb_redis' servers by name; topos with storage "redis" needs it.
func TestParams(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	ndb := fmt.Sprintf("loadmodule \"ndb_redis.so\"\nmodparam(\"ndb_redis\", \"server\", \"name=srv;addr=127.0.0.1;port=%d;db=4\")\n", port)
	topos := "loadmodule \"topos.so\"\nmodparam(\"topos\", \"storage\", \"redis\")\n"
	for cfg, want := range map[string]string{
		topos: "topos_redis",
		ndb + "loadmodule \"topos_redis.so\"\nmodparam(\"topos_redis\", \"serverid\", \"srv\")\n":          "topos",
		topos + "loadmodule \"topos_redis.so\"\nmodparam(\"topos_redis\", \"serverid\", \"srv\")\n":        "ndb_redis",
		ndb + topos + "loadmodule \"topos_redis.so\"\n":                                                    "serverid is not set",
		ndb + topos + "loadmodule \"topos_redis.so\"\nmodparam(\"topos_redis\", \"serverid\", \"nope\")\n": "no such server",
	} {
		if _, err := moduletest.NewErr(t, cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", cfg, err, want)
		}
	}
}

// TestStripsWithRedis: with the kit, an INVITE going out is stripped and
// its records are in Redis; the 200 coming back gets its Vias back.
func TestStripsWithRedis(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	k := moduletest.New(t, fmt.Sprintf("loadmodule \"ndb_redis.so\"\nmodparam(\"ndb_redis\", \"server\", \"name=srv;addr=127.0.0.1;port=%d;db=4\")\n"+
		"loadmodule \"topos.so\"\nmodparam(\"topos\", \"storage\", \"redis\")\nloadmodule \"topos_redis.so\"\nmodparam(\"topos_redis\", \"serverid\", \"srv\")\n", port))
	invite := "INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n" +
		"Record-Route: <sip:127.0.0.1:5060;lr>\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@192.0.2.10>\r\nContent-Length: 0\r\n\r\n"
	k.Transport.Send(nil, sip.TransportUDP, netip.MustParseAddrPort("192.0.2.20:5060"), []byte(invite))
	out := string(k.Sent()[0].Msg.Bytes())
	if strings.Contains(out, "192.0.2.10") || !strings.Contains(out, "Contact: <sip:btpsh-") {
		t.Fatalf("stripped INVITE:\n%s", out)
	}
	reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-proxy\r\nFrom: <sip:alice@example.com>;tag=a1\r\n" +
		"To: <sip:bob@example.com>;tag=b1\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n"
	if back := string(k.NetIn([]byte(reply))); !strings.Contains(back, "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n") {
		t.Errorf("the 200 received:\n%s", back)
	}
}
