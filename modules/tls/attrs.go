package tls

import (
	"crypto/tls"
	"encoding/pem"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// connExports are KSR.tls.is_peer_verified and KSR.tls.cget: the peer's
// certificate on the connection a request came on.
func connExports() []dispatch.Export {
	return []dispatch.Export{
		// set_connect_server_id picks, in Kamailio, the client profile
		// whose server_id is srvid for the connections the process opens
		// next, and [client:default] when no profile has that id. kemi has
		// one client profile (tls.cfg's other profiles are refused at
		// start), so every id resolves to it, as it would in Kamailio.
		{Name: "set_connect_server_id", Native: "tls_set_connect_server_id", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, srvid string) int { return 1 })},
		{Name: "is_peer_verified", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			if c.Pkt == nil {
				return -1
			}
			return dispatch.Result(PeerVerified(c.Pkt.TLS()))
		})},
		{Name: "cget", Ret: dispatch.XVal, Fn: dispatch.VS(func(c *router.Ctx, name string) router.Value {
			var st *tls.ConnectionState
			if c.Pkt != nil {
				st = c.Pkt.TLS()
			}
			v, known := Attr(st, name)
			if !known {
				c.Log().Warn("tls: cget: unknown attribute "+name, "route", c.Route)
			}
			return v
		})},
	}
}

// PeerVerified reports whether the peer presented a certificate and it
// was verified (verify_certificate), as Kamailio's is_peer_verified.
func PeerVerified(st *tls.ConnectionState) bool {
	return st != nil && len(st.PeerCertificates) > 0 && len(st.VerifiedChains) > 0
}

// Attr is one of Kamailio's $tls_* attributes of a connection, by the name
// cget takes ("tls_version", "tls_peer_subject_cn", ...); null when the
// connection is not TLS or the peer sent no certificate. known is false
// for a name kemi does not have.
func Attr(st *tls.ConnectionState, name string) (v router.Value, known bool) {
	name = strings.TrimPrefix(name, "$")
	peerOnly := map[string]bool{"tls_peer_subject": true, "tls_peer_issuer": true, "tls_peer_subject_cn": true,
		"tls_peer_issuer_cn": true, "tls_peer_serial": true, "tls_peer_notBefore": true, "tls_peer_notAfter": true,
		"tls_peer_raw_cert": true, "tls_peer_selfsigned": true, "tls_peer_expired": true}
	switch name {
	case "tls_version", "tls_description", "tls_cipher_info", "tls_peer_server_name", "tls_peer_verified":
	default:
		if !peerOnly[name] {
			return router.Value{}, false
		}
	}
	if st == nil {
		return router.Value{}, true
	}
	switch name {
	case "tls_version", "tls_description":
		return router.StrValue(tls.VersionName(st.Version)), true
	case "tls_cipher_info":
		return router.StrValue(tls.CipherSuiteName(st.CipherSuite)), true
	case "tls_peer_server_name":
		return router.StrValue(st.ServerName), true
	case "tls_peer_verified":
		if PeerVerified(st) {
			return router.IntValue(1), true
		}
		return router.IntValue(0), true
	}
	if len(st.PeerCertificates) == 0 {
		return router.Value{}, true
	}
	crt := st.PeerCertificates[0]
	switch name {
	case "tls_peer_subject":
		return router.StrValue(crt.Subject.String()), true
	case "tls_peer_issuer":
		return router.StrValue(crt.Issuer.String()), true
	case "tls_peer_subject_cn":
		return router.StrValue(crt.Subject.CommonName), true
	case "tls_peer_issuer_cn":
		return router.StrValue(crt.Issuer.CommonName), true
	case "tls_peer_serial":
		return router.StrValue(crt.SerialNumber.String()), true
	case "tls_peer_notBefore":
		return router.StrValue(crt.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT")), true
	case "tls_peer_notAfter":
		return router.StrValue(crt.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT")), true
	case "tls_peer_raw_cert":
		return router.StrValue(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw}))), true
	case "tls_peer_selfsigned":
		return boolInt(crt.Subject.String() == crt.Issuer.String()), true
	case "tls_peer_expired":
		return boolInt(time.Now().After(crt.NotAfter)), true
	}
	return router.Value{}, false
}

func boolInt(b bool) router.Value {
	if b {
		return router.IntValue(1)
	}
	return router.IntValue(0)
}
