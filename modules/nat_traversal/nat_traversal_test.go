package nat_traversal_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func kit(t *testing.T, extra string) *moduletest.Kit {
	return moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"nat_traversal.so\"\n"+
		"modparam(\"nat_traversal\", \"keepalive_state_file\", \""+filepath.Join(t.TempDir(), "state")+"\")\n"+extra)
}

// natted is alice's REGISTER from behind a NAT: Via and Contact say a
// private address, the packet comes from 203.0.113.7:40000.
var (
	natSrc = netip.MustParseAddrPort("203.0.113.7:40000")
	natted = strings.NewReplacer("192.0.2.10:5062", "192.168.1.10:5060").Replace(moduletest.Register)
)

// TestNATTests: client_nat_test's three tests alone and together, on a
// client behind a NAT and one that is not.
func TestNATTests(t *testing.T) {
	k := kit(t, "")
	k.Receive(sip.TransportUDP, natSrc, natted)
	k.Run([]moduletest.Case{
		{"nat_traversal.client_nat_test", []any{1}, "1"},
		{"nat_traversal.client_nat_test", []any{2}, "1"},
		{"nat_traversal.client_nat_test", []any{4}, "1"},
		{"nat_traversal.client_nat_test", []any{7}, "1"},
		{"pv.get", []any{"$source_uri"}, "sip:203.0.113.7:40000"},
	})
	k.Request(moduletest.Register) // from 192.0.2.10:5062, as its Via says
	k.Run([]moduletest.Case{
		{"nat_traversal.client_nat_test", []any{1}, "-1"},
		{"nat_traversal.client_nat_test", []any{2}, "-1"},
		{"nat_traversal.client_nat_test", []any{4}, "-1"},
		{"nat_traversal.client_nat_test", []any{7}, "-1"},
	})
	k.Receive(sip.TransportTCP, natSrc, natted)
	k.Run([]moduletest.Case{{"pv.get", []any{"$source_uri"}, "sip:203.0.113.7:40000;transport=tcp"}})
}

// TestFixContact: the Contact's host and port become the source's, its
// parameters kept; a Contact already right is left alone.
func TestFixContact(t *testing.T) {
	k := kit(t, "")
	k.Receive(sip.TransportUDP, natSrc, strings.Replace(natted, "<sip:alice@192.168.1.10:5060>", "<sip:alice@192.168.1.10:5060;ob>;+sip.instance=\"x\"", 1))
	k.Run([]moduletest.Case{{"nat_traversal.fix_contact", nil, "1"}})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@203.0.113.7:40000;ob>;+sip.instance=\"x\"\r\n") {
		t.Errorf("fixed:\n%s", out)
	}
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"nat_traversal.fix_contact", nil, "1"}})
	if out := k.Out(); !strings.Contains(out, "Contact: <sip:alice@192.0.2.10:5062>\r\n") {
		t.Errorf("left alone:\n%s", out)
	}
	k.Request(moduletest.Options) // no Contact
	k.Run([]moduletest.Case{{"nat_traversal.fix_contact", nil, "-1"}})
}

// TestKeepalive: nat_keepalive marks a REGISTER over UDP; its 200 sent
// here starts the binding's keepalives ($keepalive.socket, the
// statistics); over TCP, for an OPTIONS, and for an INVITE without the
// dialog module it is -1 with Kamailio's reason.
func TestKeepalive(t *testing.T) {
	k := kit(t, "loadmodule \"kex.so\"\n")
	k.Receive(sip.TransportUDP, natSrc, natted)
	k.Run([]moduletest.Case{
		{"nat_traversal.nat_keepalive", nil, "1"},
		{"sl.send_reply", []any{200, "OK"}, "1"},
	})
	if ka := k.Reply().Header("Contact"); ka != "" {
		t.Errorf("sl's 200 has a Contact: %s", ka)
	}
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{{"pv.get", []any{"$stat(keepalive_endpoints)"}, "0"}}) // the 200 gave no Contact expires
	k.Receive(sip.TransportUDP, natSrc, natted)
	k.Run([]moduletest.Case{
		{"nat_traversal.nat_keepalive", nil, "1"},
		{"hdr.append_to_reply", []any{"Contact: <sip:alice@192.168.1.10:5060>;expires=60\r\n"}, "1"},
		{"sl.send_reply", []any{200, "OK"}, "1"},
	})
	k.Reply()
	k.Request(moduletest.Options)
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$stat(keepalive_endpoints)"}, "1"},
		{"pv.get", []any{"$stat(registered_endpoints)"}, "1"},
		{"pv.get", []any{"$keepalive.socket(sip:203.0.113.7:40000)"}, "udp:127.0.0.1:5060"},
	})
	k.Receive(sip.TransportTCP, natSrc, natted)
	k.Run([]moduletest.Case{{"nat_traversal.nat_keepalive", nil, "-1"}})
	k.Receive(sip.TransportUDP, natSrc, moduletest.Options)
	k.Run([]moduletest.Case{{"nat_traversal.nat_keepalive", nil, "-1"}})
	k.Receive(sip.TransportUDP, natSrc, moduletest.Invite)
	k.Run([]moduletest.Case{{"nat_traversal.nat_keepalive", nil, "-1"}})
	for _, want := range []string{"unsupported method for keepalive", "cannot keep alive dialog without the dialog module being loaded"} {
		if !strings.Contains(k.Logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}

// TestInviteWithDialog: with the dialog module nat_keepalive on an INVITE
// is 1 and sets the dialog's flag.
func TestInviteWithDialog(t *testing.T) {
	k := kit(t, "loadmodule \"rr.so\"\nloadmodule \"dialog.so\"\nmodparam(\"dialog\", \"dlg_flag\", 4)\n")
	k.Receive(sip.TransportUDP, natSrc, moduletest.Invite)
	k.Run([]moduletest.Case{
		{"isflagset", []any{4}, "-1"},
		{"nat_traversal.nat_keepalive", nil, "1"},
		{"isflagset", []any{4}, "1"},
	})
}
