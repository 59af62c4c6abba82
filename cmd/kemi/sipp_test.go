package main

import (
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// TestSippOptions drives the proxy with sipp's OPTIONS pings (our own
// scenario in scripts/sipp) over UDP and TCP and wants every one answered
// 200. sipp is installed by .ci/run; outside CI the test is skipped when
// it is missing.
func TestSippOptions(t *testing.T) {
	sipp := sipptest.Need(t)
	scenario := repoFile("scripts", "sipp", "options.xml")
	s, _ := startTest(t, testCfg, testLua)
	for _, tc := range []struct {
		name  string
		proto sip.Transport
		flag  string
	}{{"udp", sip.TransportUDP, "u1"}, {"tcp", sip.TransportTCP, "t1"}} {
		t.Run(tc.name, func(t *testing.T) {
			sipptest.Run(t, sipp, scenario, tc.flag, s.Addr(tc.proto).String(), 200, 100)
		})
	}
}
