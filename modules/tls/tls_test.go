package tls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/moduletest"
	kemitls "github.com/kemi-sip/kemi/modules/tls"
)

// certificate writes a self-signed certificate and its key as PEM files.
func certificate(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kemi.test"}, DNSNames: []string{"kemi.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestConfigurations(t *testing.T) {
	cert, key := certificate(t)
	cfgFile := filepath.Join(t.TempDir(), "tls.cfg")
	os.WriteFile(cfgFile, []byte("[server:default]\nmethod = TLSv1.3+\nverify_certificate = no\n\n[client:default]\nserver_name = peer.example\n"), 0o644)
	k := moduletest.New(t, "loadmodule \"tls.so\"\n"+
		"modparam(\"tls\", \"certificate\", \""+cert+"\")\nmodparam(\"tls\", \"private_key\", \""+key+"\")\n"+
		"modparam(\"tls\", \"config\", \""+cfgFile+"\")")
	server, client, err := k.Module("tls").(*kemitls.Module).TLS()
	if err != nil {
		t.Fatal(err)
	}
	if server == nil || len(server.Certificates) != 1 || server.MinVersion != tls.VersionTLS13 {
		t.Errorf("server configuration: %+v", server)
	}
	if client == nil || client.ServerName != "peer.example" || client.MinVersion != tls.VersionTLS12 {
		t.Errorf("client configuration: %+v", client)
	}
	if s, _, err := k.Table.TLS(); err != nil || s == nil || len(s.Certificates) != 1 || s.MinVersion != tls.VersionTLS13 {
		t.Errorf("the table does not hand the module's configuration to the sockets: %v", err)
	}
}

func TestBadParameters(t *testing.T) {
	cert, _ := certificate(t)
	for _, c := range []struct{ cfg, want string }{
		{`modparam("tls", "tls_method", "TLSv1")`, "only TLS 1.2 and later"},
		{`modparam("tls", "certificate", "` + cert + `")`, "certificate and private_key go together"},
	} {
		_, err := moduletest.NewErr(t, "loadmodule \"tls.so\"\n"+c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestFilesAtStart: the certificate, key and CA list are read when the
// proxy starts, not when the config is checked (kemi -c, like kamailio -c,
// accepts a config whose certificate is not there yet); at start a
// missing one is an error naming it.
func TestFilesAtStart(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`modparam("tls", "ca_list", "/nonexistent/ca.pem")`, "ca_list"},
		{`modparam("tls", "certificate", "/nonexistent/c.pem")` + "\n" + `modparam("tls", "private_key", "/nonexistent/k.pem")`, "/nonexistent/c.pem"},
	} {
		k := moduletest.New(t, "loadmodule \"tls.so\"\n"+c.cfg)
		if _, _, err := k.Table.TLS(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: at start %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}

// TestPeerAttrs: is_peer_verified and cget's attributes of a connection's
// state, and of none (not TLS).
func TestPeerAttrs(t *testing.T) {
	certFile, _ := certificate(t)
	b, _ := os.ReadFile(certFile)
	blk, _ := pem.Decode(b)
	crt, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	st := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "kemi.test",
		PeerCertificates: []*x509.Certificate{crt}}
	if kemitls.PeerVerified(st) {
		t.Error("a certificate not verified counts as verified")
	}
	for name, want := range map[string]string{"tls_version": "TLS 1.3", "tls_cipher_info": "TLS_AES_128_GCM_SHA256",
		"tls_peer_subject_cn": "kemi.test", "tls_peer_issuer_cn": "kemi.test", "tls_peer_serial": "1",
		"tls_peer_server_name": "kemi.test", "tls_peer_verified": "0", "tls_peer_selfsigned": "1", "tls_peer_expired": "0"} {
		if v, known := kemitls.Attr(st, name); !known || v.String() != want {
			t.Errorf("%s: %q (known %v), want %q", name, v.String(), known, want)
		}
	}
	st.VerifiedChains = [][]*x509.Certificate{{crt}}
	if !kemitls.PeerVerified(st) {
		t.Error("a verified certificate does not count")
	}
	if v, known := kemitls.Attr(nil, "tls_peer_subject_cn"); !known || !v.IsNull() {
		t.Errorf("no TLS: %v %v", v, known)
	}
	if _, known := kemitls.Attr(st, "tls_nope"); known {
		t.Error("an unknown attribute is known")
	}
	k := moduletest.New(t, `loadmodule "tls.so"`)
	k.Request(moduletest.Invite) // over UDP
	k.Run([]moduletest.Case{{"tls.is_peer_verified", nil, "-1"}, {"tls.cget", []any{"tls_version"}, ""}})
}
