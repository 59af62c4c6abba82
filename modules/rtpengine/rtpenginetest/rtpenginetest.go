// Package rtpenginetest starts a real rtpengine daemon (Debian's
// rtpengine-daemon) on loopback in userspace mode for tests.
package rtpenginetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Daemon is a running rtpengine.
type Daemon struct {
	NG               string // host:port of its ng control socket
	PortMin, PortMax int    // its media ports
	Log              *bytes.Buffer
}

// Start runs rtpengine for the test and stops it at the end. Without the
// program the test is skipped, except in CI (CI=true), where .ci/run
// installs it.
func Start(t testing.TB) *Daemon {
	t.Helper()
	bin, err := exec.LookPath("rtpengine")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtpengine not found: .ci/run installs rtpengine-daemon")
		}
		t.Skip("rtpengine not installed (apt-get install rtpengine-daemon)")
	}
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ng := probe.LocalAddr().String()
	probe.Close()
	base := 20000 + 200*rand.IntN(150)
	d := &Daemon{NG: ng, PortMin: base, PortMax: base + 199, Log: &bytes.Buffer{}}
	cmd := exec.Command(bin, "--config-file=none", "--table=-1", "--foreground", "--log-stderr",
		"--interface=127.0.0.1", "--listen-ng="+ng, fmt.Sprintf("--port-min=%d", d.PortMin),
		fmt.Sprintf("--port-max=%d", d.PortMax), "--log-level=6",
		"--pidfile="+filepath.Join(t.TempDir(), "rtpengine.pid"))
	cmd.Stdout, cmd.Stderr = d.Log, d.Log
	if err := cmd.Start(); err != nil {
		t.Fatalf("rtpengine: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c, err := net.Dial("udp", ng)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := 0; i < 50; i++ {
		c.Write([]byte("ping1 d7:command4:pinge"))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && bytes.Contains(buf[:n], []byte("pong")) {
			return d
		}
		time.Sleep(100 * time.Millisecond) // a refusal comes back at once

	}
	t.Fatalf("rtpengine does not answer ping on %s:\n%s", ng, d.Log)
	return nil
}
