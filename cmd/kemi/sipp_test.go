package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
)

// TestSippOptions drives the proxy with sipp's OPTIONS pings (our own
// scenario in scripts/sipp) over UDP and TCP and wants every one answered
// 200. sipp is installed by .ci/run; outside CI the test is skipped when
// it is missing.
func TestSippOptions(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sipp not found in CI: .ci/run installs it (apt-get install sip-tester)")
		}
		t.Skip("sipp not installed (apt-get install sip-tester); skipped outside CI")
	}
	_, file, _, _ := runtime.Caller(0)
	scenario := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "sipp", "options.xml")
	s, _ := startTest(t, testCfg, testLua)
	for _, tc := range []struct {
		name  string
		proto sip.Transport
		flag  string
	}{{"udp", sip.TransportUDP, "u1"}, {"tcp", sip.TransportTCP, "t1"}} {
		t.Run(tc.name, func(t *testing.T) {
			const calls = 200
			dir := t.TempDir()
			cmd := exec.Command(sipp, "-sf", scenario, "-m", strconv.Itoa(calls), "-r", "100", "-l", "50",
				"-t", tc.flag, "-i", "127.0.0.1", "-p", "0", "-timeout", "30s", "-nostdin",
				"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), s.addr(tc.proto))
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			stats, _ := os.ReadFile(filepath.Join(dir, "stat.csv"))
			if err != nil {
				t.Fatalf("sipp: %v\n%s\n%s", err, tail(out), stats)
			}
			ok, failed := sippCounts(t, stats)
			t.Logf("sipp %s: %d ok, %d failed", tc.name, ok, failed)
			if ok != calls || failed != 0 {
				t.Errorf("sipp: %d successful calls, %d failed; want %d and 0\n%s", ok, failed, calls, tail(out))
			}
		})
	}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

// sippCounts reads the cumulative SuccessfulCall and FailedCall of the
// last line of sipp's statistics file.
func sippCounts(t *testing.T, csv []byte) (ok, failed int) {
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) < 2 {
		t.Fatalf("sipp statistics file has no data:\n%s", csv)
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	col := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, _ := strconv.Atoi(regexp.MustCompile(`\d+`).FindString(last[i]))
				return n
			}
		}
		t.Fatalf("sipp statistics: no column %s", name)
		return 0
	}
	return col("SuccessfulCall(C)"), col("FailedCall(C)")
}
