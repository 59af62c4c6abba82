// Package sipptest runs real sipp (apt-get install sip-tester) in tests:
// the interoperability checks of cmd/kemi and cmd/kemibench.
package sipptest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Need returns sipp's path. Outside CI a missing sipp skips the test; in
// CI (.ci/run installs it) it fails.
func Need(t *testing.T) string {
	t.Helper()
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sipp not found in CI: .ci/run installs it (apt-get install sip-tester)")
		}
		t.Skip("sipp not installed (apt-get install sip-tester); skipped outside CI")
	}
	return sipp
}

// Run runs a scenario, calls of it at rate per second over transport
// flag (u1, t1), and wants every call to succeed; extra are more sipp
// options (-inf FILE).
func Run(t *testing.T, sipp, scenario, flag, target string, calls, rate int, extra ...string) {
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
		t.Fatalf("sipp: %v\n%s\n%s%s", err, Tail(out), stats, logs(dir))
	}
	ok, failed := counts(t, stats)
	t.Logf("sipp %s, %d calls at %d/s over %s: %d ok, %d failed", filepath.Base(scenario), calls, rate, flag, ok, failed)
	if ok != calls || failed != 0 {
		t.Fatalf("sipp: %d successful calls, %d failed; want %d and 0\n%s%s", ok, failed, calls, Tail(out), logs(dir))
	}
}

// logs is the end of the error and message logs sipp wrote in dir
// (-trace_err, -trace_msg), for a failure's report.
func logs(dir string) string {
	var b strings.Builder
	for _, pat := range []string{"*_errors.log", "*_messages.log"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			b.WriteString("\n--- " + filepath.Base(f) + "\n" + Tail(data))
		}
	}
	return b.String()
}

// Tail is the last 3000 bytes of b, for a failure message.
func Tail(b []byte) string {
	s := string(b)
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

// counts reads the cumulative SuccessfulCall and FailedCall of the
// last line of sipp's statistics file.
func counts(t *testing.T, csv []byte) (ok, failed int) {
	n, err := Counts(csv, "SuccessfulCall(C)", "FailedCall(C)")
	if err != nil {
		t.Fatalf("sipp statistics: %v\n%s", err, csv)
	}
	return n[0], n[1]
}

// Counts reads the named columns of the last line of sipp's statistics
// file (-trace_stat -stf): cumulative counters such as SuccessfulCall(C),
// FailedCall(C), Retransmissions(C).
func Counts(csv []byte, columns ...string) ([]int, error) {
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) < 2 {
		return nil, errors.New("no data")
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	out := make([]int, len(columns))
	for j, name := range columns {
		i := slices.Index(head, name)
		if i < 0 || i >= len(last) {
			return nil, errors.New("no column " + name)
		}
		out[j], _ = strconv.Atoi(digits.FindString(last[i]))
	}
	return out, nil
}

var digits = regexp.MustCompile(`\d+`)

// Rate reads a rate column of sipp's statistics (CallRate(C)) as a
// number with its fraction.
func Rate(csv []byte, column string) (float64, error) {
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) < 2 {
		return 0, errors.New("no data")
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	i := slices.Index(head, column)
	if i < 0 || i >= len(last) {
		return 0, errors.New("no column " + column)
	}
	return strconv.ParseFloat(strings.TrimSpace(last[i]), 64)
}

// Results reads sipp's statistics file at path (-trace_stat -stf) as it
// stands: the successful and failed calls and the retransmissions so
// far, zeros when there is no data yet.
func Results(path string) (ok, failed, retrans int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0
	}
	n, err := Counts(b, "SuccessfulCall(C)", "FailedCall(C)", "Retransmissions(C)")
	if err != nil {
		return 0, 0, 0
	}
	return n[0], n[1], n[2]
}

// Exchange runs one call of a scenario over transport flag against
// target and returns the messages sipp received, in order, and whether
// the call succeeded (a scenario whose replies differ from what it
// expects fails, and its messages up to there are still returned); out
// is the end of sipp's output, for a failure's report.
func Exchange(t *testing.T, sipp, scenario, flag, target string, extra ...string) (received []string, ok bool, out string) {
	t.Helper()
	dir := t.TempDir()
	msgs := filepath.Join(dir, "messages.log")
	args := append([]string{"-sf", scenario, "-m", "1", "-t", flag, "-i", "127.0.0.1", "-p", "0", "-timeout", "20s",
		"-timeout_error", "-nostdin", "-trace_msg", "-message_file", msgs}, extra...)
	cmd := exec.Command(sipp, append(args, target)...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(msgs)
	return ReceivedMessages(log), err == nil, Tail(b) + "\n--- messages\n" + Tail(log)
}

// ReceivedMessages reads sipp's message log (-trace_msg): the messages it
// received, each as the text of the message.
func ReceivedMessages(log []byte) []string {
	var out []string
	for _, block := range strings.Split(string(log), "\n-----------------------------------------------") {
		head, msg, found := strings.Cut(block, "\n\n")
		if !found || !strings.Contains(head, "message received") {
			continue
		}
		// sipp ends a block with a line end of its own, or (received
		// messages) with the message's last one: the split took it.
		switch {
		case strings.HasSuffix(msg, "\r\n\r\n\n"):
			msg = strings.TrimSuffix(msg, "\n")
		case strings.HasSuffix(msg, "\r\n\r"):
			msg += "\n"
		}
		out = append(out, msg)
	}
	return out
}

// Party is a sipp running one call of a scenario in the background, the
// callee of a call: it answers on 127.0.0.1:Port.
type Party struct {
	Port int
	cmd  *exec.Cmd
	out  bytes.Buffer
	msgs string
	done chan error
}

// StartParty starts sipp on scenario at 127.0.0.1:port over transport
// flag, for one call; Wait collects what it received.
func StartParty(t *testing.T, sipp, scenario, flag string, port int, extra ...string) *Party {
	t.Helper()
	dir := t.TempDir()
	p := &Party{Port: port, msgs: filepath.Join(dir, "messages.log"), done: make(chan error, 1)}
	args := append([]string{"-sf", scenario, "-m", "1", "-t", flag, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-timeout", "20s", "-timeout_error", "-nostdin", "-trace_msg", "-message_file", p.msgs}, extra...)
	p.cmd = exec.Command(sipp, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// Wait waits for the call to end (at most 25 s) and returns what the
// party received, whether its scenario succeeded, and its output.
func (p *Party) Wait() (received []string, ok bool, out string) {
	var err error
	select {
	case err = <-p.done:
	case <-time.After(25 * time.Second):
		p.cmd.Process.Kill()
		err = <-p.done
	}
	log, _ := os.ReadFile(p.msgs)
	return ReceivedMessages(log), err == nil, Tail(p.out.Bytes()) + "\n--- messages\n" + Tail(log)
}

// Scenario is the path of one of the repository's sipp scenarios
// (scripts/sipp/NAME), wherever the test runs from.
func Scenario(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "sipp", name)
}

// InDialog opens the request_route of the proxy configs of the sipp call
// tests: an in-dialog request follows its Route, an ACK its transaction,
// anything else gets 404.
const InDialog = `	if (has_totag()) {
		if (loose_route()) {
			t_relay();
		} else if (is_method("ACK") && t_check_trans()) {
			t_relay();
		} else {
			sl_send_reply("404", "Not here");
		}
		exit;
	}
`
