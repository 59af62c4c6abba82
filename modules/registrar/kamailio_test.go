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
	const inst = `;+sip.instance="<urn:uuid:00000000-0000-1000-8000-00000000000a>"`
	steps := []step{
		{"outbound client", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5071;transport=tcp;ob>;reg-id=1" + inst, ""},
		{"its next flow", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5072;transport=tcp;ob>;reg-id=1" + inst, ""},
		{"another reg-id", "", "Supported: outbound, path\r\n", "<sip:ob@10.0.0.9:5073;transport=tcp;ob>;reg-id=2" + inst, ""},
		{"requires outbound", "", "Require: outbound\r\nSupported: outbound\r\n", "<sip:rq@10.0.0.9:5074;ob>;reg-id=1" + inst, ""},
		{"no outbound", "", "Supported: path\r\n", "<sip:no@10.0.0.9:5075>", ""},
		{"edge without ;ob", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-edge\r\n", "Supported: outbound, path\r\nPath: <sip:10.0.0.1;lr>\r\n",
			"<sip:eg@10.0.0.9:5076;ob>;reg-id=1" + inst, ""},
		{"edge with ;ob", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-edge2\r\n", "Supported: outbound, path\r\nPath: <sip:tok@10.0.0.1;lr;ob>\r\n",
			"<sip:eo@10.0.0.9:5077;ob>;reg-id=1" + inst, ""},
	}
	for _, mode := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("outbound_mode %d", mode), func(t *testing.T) {
			extra := ""
			if mode > 0 {
				extra = `modparam("registrar", "flow_timer", 30)`
			}
			pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(obCfg, listen, mode, extra) })
			compareRegisters(t, pair, fmt.Sprintf("ob%d", mode), steps)
		})
	}
}

// step is a REGISTER: its test name, Vias after the client's, other
// header lines, and its Contact ("" asks for the bindings of user).
type step struct{ name, vias, hdrs, contact, user string }

// compareRegisters sends the steps to Kamailio and to kemi, each from a
// client of its own, and compares the answers: the status line, the
// headers RFC 3327 and 5626 define, the contacts (their expires as N).
func compareRegisters(t *testing.T, pair *kamailiotest.Pair, id string, steps []step) {
	t.Helper()
	run := func(to netip.AddrPort, ua *kamailiotest.UA) []string {
		var out []string
		for i, s := range steps {
			user, contact := s.user, ""
			if user == "" {
				user = strings.TrimPrefix(strings.Split(s.contact, "@")[0], "<sip:")
			}
			if s.contact != "" {
				contact = "Contact: " + s.contact + ";expires=600\r\n"
			}
			ua.Send(to, "REGISTER sip:kemi.test SIP/2.0\r\nVia: SIP/2.0/UDP "+ua.Addr()+fmt.Sprintf(";branch=z9hG4bK-%s-%d;rport\r\n", id, i)+s.vias+
				"Max-Forwards: 70\r\nFrom: <sip:"+user+"@kemi.test>;tag=t\r\nTo: <sip:"+user+"@kemi.test>\r\n"+
				fmt.Sprintf("Call-ID: %s-%d@test\r\nCSeq: %d REGISTER\r\n", id, i, 10+i)+s.hdrs+contact+"Content-Length: 0\r\n\r\n")
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
			hdrs := strings.ReplaceAll(kamailiotest.Hdrs(r, "Require", "Supported", "Flow-Timer", "Unsupported", "Path", "P-Registrar-Error"), "\r\n", "; ")
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
}

// TestKamailioPath: Kamailio 5.6's registrar and kemi's answer REGISTERs
// that came through an edge proxy (RFC 3327) the same way under each
// path_mode, and under none (Kamailio's default, 2): Path echoed in the
// 200 always (0: never), only to a client whose Supported has path (1),
// or else 420 with Unsupported: path (2) — the binding kept all the same,
// as a query after says.
func TestKamailioPath(t *testing.T) {
	const edge = "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-edge\r\n"
	const path = "Path: <sip:10.0.0.1;lr>\r\n"
	steps := []step{
		{"supported", edge, "Supported: path\r\n" + path, "<sip:ps@10.0.0.9:5071>", ""},
		{"no Supported", edge, path, "<sip:pn@10.0.0.9:5072>", ""},
		{"Supported without path", edge, "Supported: timer, 100rel\r\n" + path, "<sip:pt@10.0.0.9:5073>", ""},
		{"two edges", edge + "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-edge2\r\n", "Supported: path\r\nPath: <sip:10.0.0.2;lr>\r\n" + path,
			"<sip:p2@10.0.0.9:5074>", ""},
		{"no Path", "", "", "<sip:pp@10.0.0.9:5075>", ""},
		{"query after no Supported", "", "Supported: path\r\n", "", "pn"},
		{"query after Supported without path", "", "", "", "pt"},
	}
	for _, mode := range []string{"default", "0", "1", "2"} {
		t.Run("path_mode "+mode, func(t *testing.T) {
			extra := ""
			if mode != "default" {
				extra = `modparam("registrar", "path_mode", ` + mode + `)`
			}
			pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(obCfg, listen, 0, extra) })
			compareRegisters(t, pair, "path"+mode, steps)
		})
	}
}
