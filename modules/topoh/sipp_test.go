package topoh_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

const sippCfg = `#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "topoh.so"
modparam("topoh", "mask_key", "sipp")
modparam("topoh", "mask_callid", 1)
modparam("topoh", "uri_prefix_checks", 1)

request_route {
` + sipptest.InDialog + `	record_route();
	$du = "sip:127.0.0.1:%d;transport=%s";
	t_relay();
}
`

// TestCallsWithSipp: 20 sipp calls (INVITE, 180, 200, ACK, BYE, 200)
// through kemi with topoh, over UDP and over TCP: every call completes,
// and every request the callee gets has the caller's Via, Contact and
// Call-ID masked.
func TestCallsWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	for _, tr := range []struct{ flag, name, listen string }{{"u1", "udp", "udp:127.0.0.1:0"}, {"t1", "tcp", "tcp:127.0.0.1:0"}} {
		t.Run(tr.name, func(t *testing.T) {
			port := kamailiotest.FreePort(t)
			cfg := filepath.Join(t.TempDir(), "kemi.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(sippCfg, port, tr.name)), 0o644)
			p := proxytest.StartListen(t, cfg, nil, tr.listen)
			target := p.Addr
			if tr.name == "tcp" {
				target = p.TCPAddr
			}
			party := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), tr.flag, port, "-m", "20")
			sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), tr.flag, target.String(), 20, 20, "-s", "bob")
			got, ok, out := party.Wait()
			if !ok {
				t.Fatalf("the callee's sipp: %s", out)
			}
			n := 0
			for _, m := range got {
				if strings.HasPrefix(m, "SIP/2.0") {
					continue
				}
				n++
				first, _, _ := strings.Cut(m, "\r\n")
				vias := strings.Split(kamailiotest.Hdrs(m, "Via"), "\r\n")
				if len(vias) < 3 || !strings.HasPrefix(vias[1], "Via: SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKsr-") {
					t.Errorf("%s: the caller's Via is not masked: %q", first, vias)
				}
				if cid := kamailiotest.Hdr(m, "Call-ID"); !strings.HasPrefix(cid, "!!:") {
					t.Errorf("%s: Call-ID %q not masked", first, cid)
				}
				if ct := kamailiotest.Hdr(m, "Contact"); !strings.HasPrefix(m, "ACK") && !strings.HasPrefix(ct, "<sip:127.0.0.8;line=sr-") {
					t.Errorf("%s: Contact %q not masked", first, ct)
				}
				for _, l := range strings.Split(m, "\r\n") {
					if strings.HasPrefix(l, "From:") || strings.HasPrefix(l, "To:") {
						continue // not masked: they name users, not hops
					}
					if strings.Contains(l, "caller@") || strings.HasPrefix(l, "TH:") {
						t.Errorf("%s: the caller's contact or topoh's cookie leaked: %s", first, l)
					}
				}
			}
			if n != 60 {
				t.Errorf("the callee got %d requests, want 60 (20 INVITEs, ACKs and BYEs)", n)
			}
		})
	}
}
