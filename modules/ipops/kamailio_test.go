package ipops_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg answers an OPTIONS with the results of every ipops test on its
// X-A and X-B headers, in X-R.
const diffCfg = `#!KAMAILIO
%s
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "ipops.so"

request_route {
	$var(a) = $hdr(X-A);
	$var(b) = $hdr(X-B);
	if ($fU == "ping") {
		# the sipp run (and Kamailio's start-up ping): answer 200 only to a loopback source
		if (is_in_subnet("$si", "127.0.0.0/8, ::1/128") && detailed_ip_type("$si", "$var(t)") && $var(t) == "LOOPBACK") {
			sl_send_reply("200", "OK");
		} else {
			sl_send_reply("403", "Not loopback");
		}
		exit;
	}
	$var(r) = "";
	is_ip("$var(a)"); $var(r) = $var(r) + " ip=" + $rc;
	is_pure_ip("$var(a)"); $var(r) = $var(r) + " pure=" + $rc;
	is_ipv4("$var(a)"); $var(r) = $var(r) + " v4=" + $rc;
	is_ipv6("$var(a)"); $var(r) = $var(r) + " v6=" + $rc;
	is_ipv6_reference("$var(a)"); $var(r) = $var(r) + " ref=" + $rc;
	ip_type("$var(a)"); $var(r) = $var(r) + " type=" + $rc;
	$var(d) = "-";
	detailed_ip_type("$var(a)", "$var(d)"); $var(r) = $var(r) + " dt=" + $rc + "/" + $var(d);
	$var(d) = "-";
	detailed_ipv4_type("$var(a)", "$var(d)"); $var(r) = $var(r) + " dt4=" + $rc + "/" + $var(d);
	$var(d) = "-";
	detailed_ipv6_type("$var(a)", "$var(d)"); $var(r) = $var(r) + " dt6=" + $rc + "/" + $var(d);
	compare_ips("$var(a)", "$var(b)"); $var(r) = $var(r) + " cmp=" + $rc;
	compare_pure_ips("$var(a)", "$var(b)"); $var(r) = $var(r) + " cmpp=" + $rc;
	is_ip_rfc1918("$var(a)"); $var(r) = $var(r) + " 1918=" + $rc;
	is_in_subnet("$var(a)", "$var(b)"); $var(r) = $var(r) + " sub=" + $rc;
	dns_sys_match_ip("localhost", "$var(a)"); $var(r) = $var(r) + " sys=" + $rc;
	dns_int_match_ip("localhost", "$var(a)"); $var(r) = $var(r) + " int=" + $rc;
	append_to_reply("X-R:$var(r)\r\n");
	append_to_reply("X-HN: $HN(n) $HN(f) $HN(d) $HN(i)\r\n");
	dns_query("localhost", "q");
	append_to_reply("X-DNS: $dns(q=>count) $dns(q=>addr[0]) $dns(q=>type[0]) $dns(q=>ipv4) $dns(q=>addr[-1])\r\n");
	sl_send_reply("200", "OK");
}
`

// cases are address pairs (X-A, X-B): the parser's edge cases (leading
// zeros, zones, references, embedded IPv4), the IANA tables' ranges, and
// subnet lists (masks out of range, not numbers, spaces, mixed families).
var cases = [][2]string{
	{"192.0.2.1", "192.0.2.1"}, {"192.0.2.1", "192.0.2.0/24"}, {"192.0.2.1", "10.0.0.0/8, 192.0.2.0/25"},
	{"01.2.3.4", "1.2.3.4"}, {"1.2.3", ""}, {"256.1.1.1", ""}, {"127.0.0.256", ""}, {"1..2.3", ""},
	{"10.1.2.3", "10.0.0.0/abc"}, {"10.1.2.3", "11.0.0.0/-1, 10.1.2.3"}, {"10.1.2.3", "10.1.2.0/33"},
	{"172.16.5.4", "172.16.0.0/12"}, {"172.32.0.1", ""}, {"192.168.1.1", "192.168.1.1/32"},
	{"100.64.0.1", ""}, {"169.254.1.1", ""}, {"127.0.0.1", "::1"}, {"0.1.2.3", ""}, {"255.255.255.255", ""},
	{"192.0.0.5", ""}, {"192.88.99.1", ""}, {"198.18.0.1", ""}, {"224.0.0.1", ""}, {"240.0.0.1", ""}, {"8.8.8.8", ""},
	{"::1", "[::1]"}, {"[::1]", "::1"}, {"[::1]", "0:0:0:0:0:0:0:1"}, {"::", ""}, {"fe80::1%eth0", ""},
	{"2001:db8::1", "2001:db8::/32"}, {"2001:db8::1", "2001:db9::/16"}, {"2001:db8::1", "2001:db8::1/200"},
	{"::ffff:192.0.2.1", "192.0.2.1"}, {"::ffff:192.0.2.1", "::ffff:0:0/96"}, {"fc00::1", ""}, {"fe80::1", ""},
	{"ff02::1", ""}, {"2002::1", ""}, {"2001::1", ""}, {"2001:10::1", ""}, {"2001:2::1", ""}, {"100::1", ""},
	{"fec0::1", ""}, {"3fff::1", ""}, {"4000::1", ""}, {"1:2:3:4:5:6:7:8:9", ""}, {"[2001:db8::1]", "2001:db8::/64"},
	{"abc", ""}, {"", ""}, {"[]", ""}, {"[1.2.3.4]", ""}, {"::1", "::1/128,10.0.0.0/8"}, {"127.0.0.1", "127.0.0.1"},
}

// TestKamailioDifferential runs real Kamailio 5.6 and kemi on the same
// config and asks both about the same addresses: every result of every
// ipops function, $HN and $dns must be the same. Then sipp pings kemi
// through the same config (a loopback source gets 200).
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	ask := func(srv netip.AddrPort, a, b string) *sip.Msg {
		// a name server that loses a query costs seconds, in both
		return kamailiotest.Ask(t, srv, 15*time.Second, kamailiotest.Options("X-A: "+a+"\r\nX-B: "+b+"\r\n"))
	}
	for i, c := range cases {
		km, em := ask(pair.Kamailio, c[0], c[1]), ask(pair.Kemi, c[0], c[1])
		for _, h := range []string{"X-R", "X-HN", "X-DNS"} {
			if i > 0 && h != "X-R" {
				continue
			}
			if kv, ev := kamailiotest.Header(km, h), kamailiotest.Header(em, h); kv != ev {
				t.Errorf("X-A %q X-B %q: %s\nKamailio %s\nkemi     %s", c[0], c[1], h, kv, ev)
			} else if i == 0 || testing.Verbose() {
				t.Logf("%q %q: %s %s", c[0], c[1], h, ev)
			}
		}
	}
	if t.Failed() {
		t.Logf("Kamailio's log:\n%s\nkemi's log:\n%s", pair.KamailioLog(), pair.Logs.String())
	}
	sipp := sipptest.Need(t)
	sipptest.Run(t, sipp, sipptest.Scenario("options.xml"), "u1", pair.Kemi.String(), 100, 50)
}
