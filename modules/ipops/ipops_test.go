package ipops_test

import (
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestKEMI: the KEMI faces (is_ip4, ip_is_in_subnet, detailed_ip_type
// naming its variable), $dns after dns_query, indexes from the end, an SRV
// query that finds nothing, and the PVs' parse errors.
func TestKEMI(t *testing.T) {
	k := moduletest.New(t, `loadmodule "ipops.so"`)
	c := k.Request(moduletest.Options)
	k.Run([]moduletest.Case{
		{"ipops.is_ip4", []any{"192.0.2.1"}, "1"},
		{"ipops.is_ip6", []any{"192.0.2.1"}, "-1"},
		{"ipops.is_ip6_reference", []any{"[2001:db8::1]"}, "1"},
		{"ipops.ip_type", []any{"[2001:db8::1]"}, "3"},
		{"ipops.ip_is_in_subnet", []any{"192.0.2.1", "198.51.100.0/24,192.0.2.0/24"}, "1"},
		{"ipops.is_in_subnet", []any{"2001:db8::1", "2001:db8::/33"}, "1"},
		{"ipops.compare_ips", []any{"[2001:db8::1]", "2001:DB8:0::1"}, "1"},
		{"ipops.detailed_ip_type", []any{"10.1.1.1", "$var(t)"}, "1"},
		{"pv.get", []any{"$var(t)"}, "PRIVATE"},
		{"ipops.detailed_ipv6_type", []any{"fe80::1", "$var(t)"}, "1"},
		{"pv.get", []any{"$var(t)"}, "LINK-LOCAL-UNICAST"},
		{"ipops.dns_query", []any{"192.0.2.7", "q"}, "1"},
		{"pv.get", []any{"$dns(q=>count)"}, "1"},
		{"pv.get", []any{"$dns(q=>addr[-1])"}, "192.0.2.7"},
		{"pv.get", []any{"$dns(q=>addr[1])"}, ""},
		{"pv.get", []any{"$dns(q=>ipv6)"}, "0"},
		{"ipops.dns_sys_match_ip", []any{"192.0.2.7", "192.0.2.7"}, "1"},
		{"ipops.dns_int_match_ip", []any{"192.0.2.7", "nonsense"}, "-3"},
		{"ipops.srv_query", []any{"_sip._udp.invalid", "s"}, "1"},
		{"pv.get", []any{"$srvquery(s=>count)"}, "0"},
		{"pv.get", []any{"$srvquery(s=>target[0])"}, ""},
		{"pv.get", []any{"$naptrquery(n=>count)"}, "0"},
		{"ipops.dns_set_local_ttl", []any{60}, "1"},
	})
	for _, bad := range []string{"$dns(q=>nope)", "$dns(q)", "$srvquery(s=>port[x])", "$HN(x)"} {
		if _, err := c.W.PV(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
