package registrar_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// obCfg is a registrar with outbound_mode %[2]d (and flow_timer 30 when
// it is not 0): every REGISTER is saved.
const obCfg = `#!KAMAILIO
%[1]s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("registrar", "outbound_mode", %[2]d)
modparam("registrar", "use_path", 1)
%[3]s

request_route {
	save("location");
	exit;
}
`

// TestKamailioOutbound: Kamailio 5.6's registrar and kemi's answer the
// same REGISTERs of RFC 5626 the same way, under each outbound_mode: the
// 200's Require, Supported and Flow-Timer; a new flow of the same
// +sip.instance and reg-id replacing the old binding (its Contact URI
// changed); the errors — 420 for a client requiring outbound of a
// registrar without it, 421 for one not supporting it when it is
// required, 439 for an outbound client behind an edge whose Path lacks
// ;ob — with their P-Registrar-Error and headers.
func TestKamailioOutbound(t *testing.T) {
	type step struct{ name, vias, hdrs, contact string }
	const inst = `;+sip.instance="<urn:uuid:00000000-0000-1000-8000-00000000000a>"`
	steps := []step{
		{"outbound client", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5071;transport=tcp;ob>;reg-id=1" + inst},
		{"its next flow", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5072;transport=tcp;ob>;reg-id=1" + inst},
		{"another reg-id", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5073;transport=tcp;ob>;reg-id=2" + inst},
		{"requires outbound", "", "Require: outbound\r\nSupported: outbound\r\n", "<sip:rq@10.0.0.9:5074;ob>;reg-id=1" + inst},
		{"no outbound", "", "Supported: path\r\n", "<sip:no@10.0.0.9:5075>"},
		{"edge without ;ob", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-edge\r\n", "Supported: outbound, path\r\nPath: <sip:10.0.0.1;lr>\r\n",
			"<sip:eg@10.0.0.9:5076;ob>;reg-id=1" + inst},
		{"edge with ;ob", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-edge2\r\n", "Supported: outbound, path\r\nPath: <sip:tok@10.0.0.1;lr;ob>\r\n",
			"<sip:eo@10.0.0.9:5077;ob>;reg-id=1" + inst},
	}
	for _, mode := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("outbound_mode %d", mode), func(t *testing.T) {
			extra := ""
			if mode > 0 {
				extra = `modparam("registrar", "flow_timer", 30)`
			}
			pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(obCfg, listen, mode, extra) })
			run := func(to netip.AddrPort, ua *kamailiotest.UA) []string {
				var out []string
				for i, s := range steps {
					user := strings.TrimPrefix(strings.Split(s.contact, "@")[0], "<sip:")
					ua.Send(to, "REGISTER sip:kemi.test SIP/2.0\r\nVia: SIP/2.0/UDP "+ua.Addr()+fmt.Sprintf(";branch=z9hG4bK-ob%d-%d;rport\r\n", mode, i)+s.vias+
						"Max-Forwards: 70\r\nFrom: <sip:"+user+"@kemi.test>;tag=t\r\nTo: <sip:"+user+"@kemi.test>\r\n"+
						fmt.Sprintf("Call-ID: ob-%d-%d@test\r\nCSeq: %d REGISTER\r\n", mode, i, 10+i)+s.hdrs+"Contact: "+s.contact+";expires=600\r\nContent-Length: 0\r\n\r\n")
					r, _ := ua.Recv("SIP/2.0 ")
					line := strings.SplitN(r, "\r\n", 2)[0]
					var m sip.Msg
					if err := m.Parse([]byte(r)); err != nil {
						t.Fatal(err)
					}
					var cts []string
					it := m.Contacts()
					var ct sip.Contact
					for it.Next(&ct) {
						params := regexp.MustCompile(`;expires=\d+`).ReplaceAllString(string(ct.Params), ";expires=N")
						cts = append(cts, string(ct.URI.Raw)+params)
					}
					hdrs := strings.ReplaceAll(kamailiotest.Hdrs(r, "Require", "Supported", "Flow-Timer", "Unsupported", "P-Registrar-Error"), "\r\n", "; ")
					out = append(out, s.name+": "+line+" | "+hdrs+"| "+strings.Join(cts, " , "))
				}
				return out
			}
			k := run(pair.Kamailio, kamailiotest.NewUA(t))
			e := run(pair.Kemi, kamailiotest.NewUA(t))
			if strings.Join(k, "\n") != strings.Join(e, "\n") {
				t.Errorf("Kamailio:\n  %s\nkemi:\n  %s", strings.Join(k, "\n  "), strings.Join(e, "\n  "))
			} else {
				t.Logf("both:\n  %s", strings.Join(e, "\n  "))
			}
		})
	}
}
