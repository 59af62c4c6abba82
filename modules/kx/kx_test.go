package kx_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestGetters(t *testing.T) {
	k := moduletest.New(t, "#!define WITH_X 5\nloadmodule \"kemix.so\"")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"kx.get_method", nil, "INVITE"}, {"kx.get_fuser", nil, "alice"}, {"kx.gete_fhost", nil, "example.com"},
		{"kx.get_tuser", nil, "bob"}, {"kx.get_ruri", nil, "sip:bob@example.com"}, {"kx.get_rhost", nil, "example.com"},
		{"kx.get_callid", nil, "invite-1@192.0.2.10"}, {"kx.get_cturi", nil, "sip:alice@192.0.2.10:5062"},
		{"kx.get_srcip", nil, "192.0.2.10"}, {"kx.get_srcport", nil, "5062"}, {"kx.get_status", nil, "-1"},
		{"kx.gets_status", nil, ""}, {"kx.get_msgtype", nil, "1"}, {"kx.get_bodylen", nil, "0"}, {"kx.get_proto", nil, "udp"},
		{"kx.get_def", []any{"WITH_X"}, "5"}, {"kx.get_defn", []any{"WITH_X"}, "5"}, {"kx.ifdef", []any{"WITH_X"}, "1"},
		{"kx.ifndef", []any{"WITH_X"}, "-1"}, {"kx.get_def", []any{"NOPE"}, ""},
		{"kx.gete_ua", nil, ""}, {"kx.getw_au", nil, "<<null>>"}, {"kx.get_duri", nil, ""},
		{"kx.get_srcaddr_sock", nil, "udp:192.0.2.10:5062"}, {"kx.get_rcvaddr_sock", nil, "udp:127.0.0.1:5060"},
		{"kx.get_rcvip", nil, "127.0.0.1"}, {"kx.get_rcvport", nil, "5060"},
		{"kx.get_rcvadvip", nil, "127.0.0.1"}, {"kx.get_rcvadvport", nil, "5060"}, {"kx.get_rcv_sock_name", nil, ""},
	})
	k.Request("SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: r1\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
	k.Run([]moduletest.Case{{"kx.get_status", nil, "180"}, {"kx.gets_status", nil, "180"}, {"kx.get_msgtype", nil, "2"}})
}
