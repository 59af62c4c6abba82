package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/engines/proxy"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// PEM, into dir.
func writeCert(t *testing.T, dir string) (cert, key string) {
	return moduletest.Cert(t, dir, testDomain)
}

// tlsProxy starts the reference proxy with WITH_TLS (and defines) on a
// UDP and a TLS socket, its certificate from a tls.cfg.
func tlsProxy(t *testing.T, dir, cert, key string, defines map[string]string) (p *proxy.Proxy, udp, tls string) {
	t.Helper()
	tlsCfg := filepath.Join(dir, "tls.cfg")
	writeFile(t, tlsCfg, "# kemi test\n[server:default]\nmethod = TLSv1.2+\ncertificate = "+cert+"\nprivate_key = "+key+
		"\n\n[client:default]\nmethod = TLSv1.2+\nverify_certificate = 0\n")
	defines["WITH_TLS"] = ""
	defines["TLS_CONFIG"] = strconv.Quote(tlsCfg)
	s, _ := startListening(t, repoFile("scripts", "proxy", "kamailio.cfg"), defines, "udp:127.0.0.1:0", "tls:127.0.0.1:0")
	return s, s.Addr(sip.TransportUDP).String(), s.Addr(sip.TransportTLS).String()
}

// stunnel runs stunnel (OpenSSL) between a plain TCP port and a TLS one:
// as a client it takes TCP on accept and opens TLS to connect, checking
// the certificate against ca for 127.0.0.1; as a server it takes TLS on
// accept with cert and key and opens TCP to connect.
func stunnel(t *testing.T, dir, name string, client bool, accept, connect int, cert, key string) {
	t.Helper()
	bin, err := exec.LookPath("stunnel4")
	if err != nil {
		if bin, err = exec.LookPath("stunnel"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("stunnel is not installed (CI installs stunnel4)")
			}
			t.Skip("stunnel is not installed (apt-get install stunnel4)")
		}
	}
	conf := fmt.Sprintf("foreground = yes\npid =\ndebug = 5\noutput = %s\n[%s]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\nsslVersionMin = TLSv1.2\n",
		filepath.Join(dir, name+".log"), name, accept, connect)
	if client {
		conf += "client = yes\nverifyPeer = yes\nCAfile = " + cert + "\ncheckIP = 127.0.0.1\n"
	} else {
		conf += "cert = " + cert + "\nkey = " + key + "\n"
	}
	path := filepath.Join(dir, name+".conf")
	writeFile(t, path, conf)
	cmd := exec.Command(bin, path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Logf("stunnel %s:\n%s", name, sipptest.Tail(b))
		}
	})
	// Ready when it says so: a connection to find out would be one more
	// to count.
	if !eventually(5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
		return strings.Contains(string(b), "Configuration successful")
	}) {
		t.Fatalf("stunnel %s did not start", name)
	}
}

// TestSippOverTLS: sipp's traffic over TLS to and from the reference
// proxy with WITH_TLS: 500 REGISTERs with digest authentication, then 100
// calls to a callee kemi reaches over TLS itself; none may fail. Debian's
// sipp is built without OpenSSL (-t l1 answers "compile SIPp with
// OpenSSL"), so sipp speaks TCP to stunnel, which speaks TLS to kemi and
// checks kemi's certificate; kemi opens TLS to a second stunnel in front
// of the sipp callee.
func TestSippOverTLS(t *testing.T) {
	sipp := sipptest.Need(t)
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	// sipp over TCP into stunnel, stunnel over TLS into kemi.
	viaStunnel := func(t *testing.T, name, kemiTLS string) string {
		_, p, _ := net.SplitHostPort(kemiTLS)
		port, _ := strconv.Atoi(p)
		in := freeTCPPort(t)
		stunnel(t, dir, name, true, in, port, cert, key)
		return fmt.Sprintf("127.0.0.1:%d", in)
	}
	t.Run("register-auth", func(t *testing.T) {
		url := "sqlite://" + filepath.Join(dir, "kemi.db")
		csv := prepareDB(t, url, 500)
		_, _, tlsAddr := tlsProxy(t, dir, cert, key, map[string]string{"WITH_AUTH": "", "DBURL": strconv.Quote(url), "SIP_DOMAIN": testDomain})
		sipptest.Run(t, sipp, repoFile("scripts", "sipp", "register-auth.xml"), "t1", viaStunnel(t, "reg", tlsAddr), 500, 100, "-inf", csv)
		if n := countRows(t, url, "SELECT COUNT(*) FROM subscriber"); n != 501 {
			t.Fatalf("subscriber rows %d", n)
		}
	})
	t.Run("calls", func(t *testing.T) {
		p, udp, tlsAddr := tlsProxy(t, dir, cert, key, map[string]string{})
		callee, front := freeTCPPort(t), freeTCPPort(t)
		// The callee's Contact names its TLS front, where kemi sends the
		// BYE (sipp would write its own TCP address).
		uas, err := os.ReadFile(repoFile("scripts", "sipp", "call-uas.xml"))
		if err != nil {
			t.Fatal(err)
		}
		contact := "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"
		if !strings.Contains(string(uas), contact) {
			t.Fatalf("call-uas.xml has no %q", contact)
		}
		scenario := filepath.Join(dir, "call-uas-tls.xml")
		writeFile(t, scenario, strings.Replace(string(uas), contact, fmt.Sprintf("Contact: <sip:127.0.0.1:%d;transport=tls>", front), -1))
		startCallee(t, sipp, scenario, callee, "-t", "t1")
		stunnel(t, dir, "callee", false, front, callee, cert, key)
		registerContact(t, udp, "bob", "127.0.0.1:"+strconv.Itoa(front)+";transport=tls")
		sipptest.Run(t, sipp, repoFile("scripts", "sipp", "call-uac.xml"), "t1", viaStunnel(t, "caller", tlsAddr), 100, 20, "-s", "bob")
		// Connection reuse: the caller's one stream in, one stream out to
		// the callee for every INVITE, ACK and BYE.
		if n := p.Transport.Stats.TCPOpened.Load(); n != 2 {
			t.Errorf("%d TLS connections opened for 100 calls, want 2 (one from the caller, one to the callee)", n)
		}
	})
}
