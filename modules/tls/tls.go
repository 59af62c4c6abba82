// Package tls is Kamailio's tls module for kemi: the certificate, key and
// checks of listen=tls: sockets and of TLS connections kemi opens, with
// crypto/tls, TLS 1.2 and later only.
//
// Parameters (Kamailio's names): certificate, private_key (PEM files),
// ca_list (PEM bundle the peers' certificates are checked against),
// verify_certificate (server: check a client certificate that is sent;
// client: check the server's), require_certificate (server: a client
// must send one), tls_method (TLSv1.2+ by default, TLSv1.3+, TLSv1.2,
// TLSv1.3; older methods are refused), server_name (SNI of connections
// kemi opens), and config: a tls.cfg file whose [server:default] and
// [client:default] profiles override the parameters (other profiles are
// refused: kemi has one per side).
package tls

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/dispatch"
)

// profile is one side's settings.
type profile struct {
	certificate, privateKey, caList, method, serverName string
	verify, require                                     bool
}

// Module is the tls module of one proxy: the configurations its
// parameters make.
type Module struct {
	srv, cli profile // read at Init; their files are loaded at start
	missing  string  // the config file named, not there at Init (an error at start)
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.TLSProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "tls",
		Params: []dispatch.Param{
			{Name: "certificate", Kind: dispatch.Str},
			{Name: "private_key", Kind: dispatch.Str},
			{Name: "ca_list", Kind: dispatch.Str},
			{Name: "verify_certificate", Kind: dispatch.Int},
			{Name: "require_certificate", Kind: dispatch.Int},
			{Name: "tls_method", Kind: dispatch.Str},
			{Name: "server_name", Kind: dispatch.Str},
			{Name: "config", Kind: dispatch.Str},
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Exports are KSR.tls: the peer's certificate on the connection of the
// request (is_peer_verified, cget); the module configures the sockets.
func (m *Module) Exports() []dispatch.Export { return connExports() }

// TLS is the server and the client configuration, with their
// certificates and CA lists loaded: asked for at start, so that a check
// of the config (kemi -c), as Kamailio's, does not need the files.
func (m *Module) TLS() (server, client *tls.Config, err error) {
	if m.missing != "" {
		return nil, nil, fmt.Errorf("tls: config: open %s: %w", m.missing, fs.ErrNotExist)
	}
	if server, err = m.srv.build(true); err != nil {
		return nil, nil, fmt.Errorf("tls: server: %w", err)
	}
	if client, err = m.cli.build(false); err != nil {
		return nil, nil, fmt.Errorf("tls: client: %w", err)
	}
	return server, client, nil
}

// Init reads the parameters and the tls.cfg profiles.
func (m *Module) Init(p *dispatch.Params) error {
	base := profile{
		certificate: p.Str("certificate", ""), privateKey: p.Str("private_key", ""), caList: p.Str("ca_list", ""),
		method: p.Str("tls_method", "TLSv1.2+"), serverName: p.Str("server_name", ""),
		verify: p.Int("verify_certificate", 0) != 0, require: p.Int("require_certificate", 0) != 0,
	}
	srv, cli := base, base
	if f := p.Str("config", ""); f != "" {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			// Kamailio reads tls.cfg when it starts, not in kamailio -c
			// (its webrtc example names one under /usr/local/etc): so
			// does kemi when the file is not there; one that is there is
			// checked now.
			m.missing = f
		} else if err := readConfig(f, &srv, &cli); err != nil {
			return err
		}
	}
	for _, pr := range []*profile{&srv, &cli} {
		if _, _, err := versions(pr.method); err != nil {
			return err
		}
		if (pr.certificate == "") != (pr.privateKey == "") {
			return errors.New("certificate and private_key go together")
		}
	}
	m.srv, m.cli = srv, cli
	return nil
}

// versions are the TLS versions a tls_method allows.
func versions(method string) (lo, hi uint16, err error) {
	switch strings.ToUpper(method) {
	case "", "TLSV1.2+", "SSLV23":
		// SSLv23 is Kamailio's "any version": here any that is allowed.
		return tls.VersionTLS12, 0, nil
	case "TLSV1.3+":
		return tls.VersionTLS13, 0, nil
	case "TLSV1.2":
		return tls.VersionTLS12, tls.VersionTLS12, nil
	case "TLSV1.3":
		return tls.VersionTLS13, tls.VersionTLS13, nil
	}
	return 0, 0, fmt.Errorf("tls_method %q: only TLS 1.2 and later (TLSv1.2+, TLSv1.3+, TLSv1.2, TLSv1.3)", method)
}

// build makes a crypto/tls configuration of a profile.
func (pr profile) build(isServer bool) (*tls.Config, error) {
	c := &tls.Config{ServerName: pr.serverName}
	var err error
	if c.MinVersion, c.MaxVersion, err = versions(pr.method); err != nil {
		return nil, err
	}
	if pr.certificate != "" || pr.privateKey != "" {
		if pr.certificate == "" || pr.privateKey == "" {
			return nil, errors.New("certificate and private_key go together")
		}
		cert, err := tls.LoadX509KeyPair(pr.certificate, pr.privateKey)
		if err != nil {
			return nil, fmt.Errorf("certificate %s, private_key %s: %w", pr.certificate, pr.privateKey, err)
		}
		c.Certificates = []tls.Certificate{cert}
	} else if isServer {
		// No certificate is an error only when a tls: socket needs one:
		// the transport says so at listen time.
		return nil, nil
	}
	var pool *x509.CertPool
	if pr.caList != "" {
		b, err := os.ReadFile(pr.caList)
		if err != nil {
			return nil, fmt.Errorf("ca_list: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca_list %s: no PEM certificate in it", pr.caList)
		}
	}
	if isServer {
		c.ClientCAs = pool
		switch {
		case pr.require && pr.verify:
			c.ClientAuth = tls.RequireAndVerifyClientCert
		case pr.require:
			c.ClientAuth = tls.RequireAnyClientCert
		case pr.verify:
			c.ClientAuth = tls.VerifyClientCertIfGiven
		}
		if pr.verify && pool == nil {
			return nil, errors.New("verify_certificate needs ca_list: the certificates to check clients against")
		}
		return c, nil
	}
	c.RootCAs = pool // nil: the system's
	c.InsecureSkipVerify = !pr.verify
	return c, nil
}

// readConfig reads a tls.cfg: the [server:default] and [client:default]
// profiles, key = value lines, # comments.
func readConfig(path string, srv, cli *profile) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var cur *profile
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		at := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, a...))
		}
		s := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" {
			continue
		}
		if strings.HasPrefix(s, "[") {
			switch strings.ToLower(strings.Trim(s, "[] ")) {
			case "server:default":
				cur = srv
			case "client:default":
				cur = cli
			default:
				return at("profile %s: kemi has one profile per side, [server:default] and [client:default]", s)
			}
			continue
		}
		if cur == nil {
			return at("%q outside a profile", s)
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return at("want key = value, got %q", s)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.Trim(strings.TrimSpace(v), `"`)
		flag := func() (bool, error) {
			// Kamailio's cfg_parser booleans (cfg_bool_values).
			switch strings.ToLower(v) {
			case "yes", "true", "enable", "enabled", "on":
				return true, nil
			case "no", "false", "disable", "disabled", "off":
				return false, nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return false, at("%s: want yes or no (or 1, 0), got %q", k, v)
			}
			return n != 0, nil
		}
		switch k {
		case "method", "tls_method":
			cur.method = v
		case "certificate":
			cur.certificate = v
		case "private_key":
			cur.privateKey = v
		case "ca_list":
			cur.caList = v
		case "server_name":
			cur.serverName = v
		case "verify_certificate":
			if cur.verify, err = flag(); err != nil {
				return err
			}
		case "require_certificate":
			if cur.require, err = flag(); err != nil {
				return err
			}
		case "verify_depth", "cipher_list", "crl", "server_id", "server_name_mode":
			// Go's TLS stack chooses ciphers and depth itself.
		default:
			return at("unknown key %q", k)
		}
	}
	return sc.Err()
}
