package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	sipp := needSipp(t)
	scenario := repoFile("scripts", "sipp", "options.xml")
	s, _ := startTest(t, testCfg, testLua)
	for _, tc := range []struct {
		name  string
		proto sip.Transport
		flag  string
	}{{"udp", sip.TransportUDP, "u1"}, {"tcp", sip.TransportTCP, "t1"}} {
		t.Run(tc.name, func(t *testing.T) {
			runSipp(t, sipp, scenario, tc.flag, s.Addr(tc.proto).String(), 200, 100)
		})
	}
}

// runSipp runs a scenario, calls of it at rate per second over transport
// flag (u1, t1), and wants every call to succeed; extra are more sipp
// options (-inf FILE).
func runSipp(t *testing.T, sipp, scenario, flag, target string, calls, rate int, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"-sf", scenario, "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", "200",
		"-t", flag, "-i", "127.0.0.1", "-p", "0", "-timeout", "120s", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv")}, extra...)
	cmd := exec.Command(sipp, append(args, target)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	stats, _ := os.ReadFile(filepath.Join(dir, "stat.csv"))
	if err != nil {
		t.Fatalf("sipp: %v\n%s\n%s%s", err, tail(out), stats, sippLogs(dir))
	}
	ok, failed := sippCounts(t, stats)
	t.Logf("sipp %s, %d calls at %d/s over %s: %d ok, %d failed", filepath.Base(scenario), calls, rate, flag, ok, failed)
	if ok != calls || failed != 0 {
		t.Fatalf("sipp: %d successful calls, %d failed; want %d and 0\n%s%s", ok, failed, calls, tail(out), sippLogs(dir))
	}
}

// sippLogs is the end of the error and message logs sipp wrote in dir
// (-trace_err, -trace_msg), for a failure's report.
func sippLogs(dir string) string {
	var b strings.Builder
	for _, pat := range []string{"*_errors.log", "*_messages.log"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			b.WriteString("\n--- " + filepath.Base(f) + "\n" + tail(data))
		}
	}
	return b.String()
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
