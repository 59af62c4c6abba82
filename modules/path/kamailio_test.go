package path_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: a REGISTER gets Path entries as X-Case says and goes to the
// registrar at X-Dst; a request routed back by the Path is loose-routed,
// and with use_received goes to the address the REGISTER came from.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "path.so"
modparam("path", "use_received", 1)
%s

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(Route) != $null) {
		# the registrar's request back: loose_route says -3 (preloaded:
		# the Route set was this proxy alone) and path set $du.
		loose_route();
		$var(lr) = $rc;
		append_hf("X-LR: $var(lr)\r\n");
		t_relay();
		exit;
	}
	if ($hdr(X-Case) == "plain") {
		add_path();
	} else if ($hdr(X-Case) == "user") {
		add_path("edge1");
	} else if ($hdr(X-Case) == "params") {
		add_path("edge1", "ob;x=1");
	} else if ($hdr(X-Case) == "received") {
		add_path_received();
	} else if ($hdr(X-Case) == "received-user") {
		add_path_received("edge2", "y=2");
	}
	$du = $hdr(X-Dst);
	t_relay();
}
`

// flow registers through the proxy (with a Path of the UA's own when
// prior is set) and returns the Path headers the registrar got, the
// proxy's address written PROXY; then sends an INVITE back by that Path
// and says where it arrived.
func flow(t *testing.T, proxy netip.AddrPort, cse, prior string) []string {
	ua, registrar := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	extra := ""
	if prior != "" {
		extra = "Path: " + prior + "\n"
	}
	ua.Send(proxy, "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP "+ua.Addr()+";branch=z9hG4bK-p1\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:alice@example.com>\nCall-ID: path-"+cse+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 REGISTER\n"+
		"Contact: <sip:alice@"+ua.Addr()+">\nExpires: 60\nSupported: path\n"+extra+"X-Case: "+cse+"\nX-Dst: sip:"+registrar.Addr()+"\nContent-Length: 0\n\n")
	reg, _ := registrar.Recv("REGISTER ")
	var seen []string
	var first string
	for _, l := range strings.Split(reg, "\r\n") {
		if strings.HasPrefix(l, "Path:") {
			if first == "" {
				first = strings.TrimSpace(strings.TrimPrefix(l, "Path:"))
			}
			l = strings.ReplaceAll(l, proxy.String(), "PROXY")
			l = strings.ReplaceAll(l, ua.Addr(), "UA")
			l = strings.ReplaceAll(l, strings.Replace(ua.Addr(), ":", "~", 1), "UA")
			seen = append(seen, l)
		}
	}
	registrar.Send(kamailiotest.ViaAddr(t, reg), kamailiotest.Reply(reg, "200 OK", "r1", ""))
	ua.Recv("SIP/2.0 200")
	if first == "" {
		return append(seen, "no Path")
	}
	// The registrar's INVITE to the contact, by the Path: with a received
	// parameter to an address nobody answers at (the contact behind a
	// NAT), which the received address replaces.
	target := ua.Addr()
	if strings.Contains(first, "received=") {
		target = "192.0.2.50:5060"
	}
	registrar.Send(proxy, "INVITE sip:alice@"+target+" SIP/2.0\nVia: SIP/2.0/UDP "+registrar.Addr()+";branch=z9hG4bK-p2\nMax-Forwards: 70\n"+
		"Route: "+first+"\nFrom: <sip:bob@example.com>;tag=b1\nTo: <sip:alice@example.com>\nCall-ID: back-"+cse+"\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
	inv, _ := ua.Recv("INVITE ")
	line, _, _ := strings.Cut(inv, "\r\n")
	return append(seen, "back: "+strings.ReplaceAll(line, ua.Addr(), "UA")+" Route: "+kamailiotest.Hdr(inv, "Route")+" loose_route: "+kamailiotest.Hdr(inv, "X-LR"))
}

// TestKamailioDifferential: Kamailio 5.6 and kemi add the same Path
// headers (user, parameters, received, before a Path already there; with
// enable_r2 and received_format 1 too), and route a request sent back by
// the Path to the received address.
func TestKamailioDifferential(t *testing.T) {
	for _, mode := range []string{"", `modparam("path", "received_format", 1)` + "\n" + `modparam("path", "enable_r2", 1)`} {
		pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen, mode) })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			}
		})
		for _, c := range [][2]string{{"plain", ""}, {"user", ""}, {"params", "<sip:outer@192.0.2.9;lr>"}, {"received", ""}, {"received-user", ""}} {
			k, e := flow(t, pair.Kamailio, c[0], c[1]), flow(t, pair.Kemi, c[0], c[1])
			if strings.Join(k, "\n") != strings.Join(e, "\n") {
				t.Errorf("%s %s:\nKamailio:\n  %s\nkemi:\n  %s", mode, c[0], strings.Join(k, "\n  "), strings.Join(e, "\n  "))
			} else {
				t.Logf("%s %s:\n  %s", mode, c[0], strings.Join(e, "\n  "))
			}
		}
	}
}
