package pv_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

const invite = "INVITE sip:bob@127.0.0.1:5060;transport=udp SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\n" +
	"Max-Forwards: 70\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=f1\n" +
	"To: <sip:bob@127.0.0.1>\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"Contact: <sip:alice@192.0.2.10:5062>\n" +
	"User-Agent: friendly-scanner\n" +
	"X-Dup: one\n" +
	"X-Dup: two\n" +
	"Content-Type: application/sdp\n" +
	"Content-Length: 4\n\nv=0\n"

func TestPseudoVariables(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$ru"}, "sip:bob@127.0.0.1:5060;transport=udp"}, {"pv.get", []any{"$rU"}, "bob"},
		{"pv.get", []any{"$rd"}, "127.0.0.1"}, {"pv.get", []any{"$rp"}, "5060"},
		{"pv.get", []any{"$fu"}, "sip:alice@example.com"}, {"pv.get", []any{"$fU"}, "alice"}, {"pv.get", []any{"$fd"}, "example.com"},
		{"pv.get", []any{"$fn"}, "Alice"}, {"pv.get", []any{"$ft"}, "f1"}, {"pv.get", []any{"$tt"}, ""},
		{"pv.get", []any{"$tu"}, "sip:bob@127.0.0.1"}, {"pv.get", []any{"$ci"}, "call-1@192.0.2.10"}, {"pv.get", []any{"$cs"}, "7"},
		{"pv.get", []any{"$rm"}, "INVITE"}, {"pv.get", []any{"$rs"}, ""}, {"pv.get", []any{"$si"}, "192.0.2.10"},
		{"pv.get", []any{"$sp"}, "5062"}, {"pv.get", []any{"$ua"}, "friendly-scanner"}, {"pv.get", []any{"$ct"}, "<sip:alice@192.0.2.10:5062>"},
		{"pv.get", []any{"$hdr(x-dup)"}, "one"}, {"pv.get", []any{"$hdrc(X-Dup)"}, "2"}, {"pv.get", []any{"$hdr(Nope)"}, ""},
		{"pv.get", []any{"$rb"}, "v=0\n"}, {"pv.get", []any{"$cl"}, "4"}, {"pv.get", []any{"$pr"}, "udp"},
		{"pv.get", []any{"$(fu{uri.user}{s.toupper})"}, "ALICE"},
		{"pv.gete", []any{"$hdr(Nope)"}, ""}, {"pv.getw", []any{"$hdr(Nope)"}, "<<null>>"},
		{"pv.sets", []any{"$var(a)", "x"}, "1"}, {"pv.get", []any{"$var(a)"}, "x"}, {"pv.seti", []any{"$var(n)", 9}, "1"},
		{"pv.geti", []any{"$var(n)"}, "9"}, {"pv.getvs", []any{"$var(zz)", "d"}, "0"}, {"pv.getvn", []any{"$var(zz)", 3}, "0"}, // a $var is 0 until set, in Kamailio too
		{"pv.getvs", []any{"$avp(zz)", "d"}, "d"}, {"pv.getvn", []any{"$avp(zz)", 3}, "3"},
		{"pv.is_null", []any{"$avp(q)"}, "1"},
		{"pv.sets", []any{"$avp(q)", "1"}, "1"}, {"pv.is_null", []any{"$avp(q)"}, "-1"}, {"pv.unset", []any{"$avp(q)"}, "1"},
		{"pv.is_null", []any{"$avp(q)"}, "1"}, {"pv.sets", []any{"$si", "x"}, "-1"}, {"pv.get", []any{"$nosuch"}, ""},
		{"pv.sets", []any{"$rU", "carol"}, "1"}, {"pv.get", []any{"$ru"}, "sip:carol@127.0.0.1:5060;transport=udp"},
		{"pv.sets", []any{"$du", "sip:10.0.0.1"}, "1"}, {"pv.get", []any{"$du"}, "sip:10.0.0.1"},
	})
}

// TestVarsLastAcrossMessages: $var belongs to the worker and is kept from
// one message to the next, $avp to the message.
func TestVarsLastAcrossMessages(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(invite)
	k.Call("pv.sets", "$var(kept)", "yes")
	k.Call("pv.sets", "$avp(gone)", "yes")
	k.Request(invite)
	k.Run([]moduletest.Case{{"pv.get", []any{"$var(kept)"}, "yes"}, {"pv.get", []any{"$avp(gone)"}, ""}})
}

// TestSelCfgGet: a config's own cfg vars (group.name = value desc "...")
// are read by $sel(cfg_get.group.name) and changed by cfg.set, as the
// default Kamailio config's pstn.gw_ip and voicemail.srv_port are.
func TestSelCfgGet(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"cfg_rpc.so\"\n"+
		"pstn.gw_ip = \"\" desc \"PSTN GW Address\"\nvoicemail.srv_port = \"5060\" desc \"VoiceMail Port\"\nmy.n = 3 desc \"a number\"\n")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$sel(cfg_get.pstn.gw_ip)"}, ""},
		{"pv.get", []any{"$sel(cfg_get.voicemail.srv_port)"}, "5060"},
		{"pv.geti", []any{"$sel(cfg_get.my.n)"}, "3"},
		{"pv.is_null", []any{"$sel(cfg_get.no.such)"}, "1"},
	})
	if _, err := k.Table.CallRPC("cfg.set", "pstn", "gw_ip", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if res, err := k.Table.CallRPC("cfg.get", "pstn", "gw_ip"); err != nil || moduletest.JSON(res) != `"192.0.2.1"` {
		t.Errorf("cfg.get pstn gw_ip: %s %v", moduletest.JSON(res), err)
	}
	k.Run([]moduletest.Case{{"pv.get", []any{"$sel(cfg_get.pstn.gw_ip)"}, "192.0.2.1"}})
	if _, err := k.Table.CallRPC("cfg.set", "my", "n", "x"); err == nil {
		t.Error("cfg.set of an int var to a string: no error")
	}
	if res := k.Call("pv.get", "$sel(ruri.nope)"); !res.IsNull() {
		t.Errorf("an unsupported select: %s", res)
	}
	if !strings.Contains(k.Logs.String(), "select @ruri.nope is not supported") {
		t.Errorf("an unsupported select is not named in the log:\n%s", k.Logs.String())
	}
}

// TestSelects: the selects of Kamailio's select framework kemi has.
func TestSelects(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(invite, "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\n",
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport;node=n1\nVia: SIP/2.0/TCP 198.51.100.1;branch=z9hG4bK-2\n", 1))
	k.Run([]moduletest.Case{
		{"pv.get", []any{`$sel(via.params["node"])`}, "n1"},
		{"pv.get", []any{"$sel(via[1].host)"}, "192.0.2.10"},
		{"pv.get", []any{"$sel(via[2].transport)"}, "TCP"},
		{"pv.get", []any{"$sel(via[2].branch)"}, "z9hG4bK-2"},
		{"pv.get", []any{"$sel(via[3].host)"}, ""},
		{"pv.get", []any{"$sel(ruri.user)"}, "bob"},
		{"pv.get", []any{"$sel(ruri.params[\"transport\"])"}, "udp"},
		{"pv.get", []any{"$sel(from.uri.host)"}, "example.com"},
		{"pv.get", []any{"$sel(from.tag)"}, "f1"},
		{"pv.get", []any{"$sel(from.name)"}, "Alice"},
		{"pv.get", []any{"$sel(to.uri)"}, "sip:bob@127.0.0.1"},
		{"pv.get", []any{"$mbu"}, k.Call("pv.get", "$mb").String()},
	})
	if res := k.Call("pv.get", "$sel(msg.nope)"); !res.IsNull() {
		t.Errorf("an unsupported select: %s", res)
	}
}

// TestXAVP: $xavp(name=>key) = v starts a new item, name[0] adds to the
// most recent; reads take the most recent item and value; $null removes
// one value of a key, or one item (the most recent without an index), as
// in Kamailio (TestKamailioXAVP compares).
func TestXAVP(t *testing.T) {
	k := moduletest.New(t, "")
	c := k.Request(invite)
	set := func(name string, v router.Value) {
		t.Helper()
		pv, err := router.ParsePV(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := pv.Set(c, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	set("$xavp(a=>x)", router.StrValue("1"))
	set("$xavp(a[0]=>y)", router.StrValue("2"))
	set("$xavp(a[0]=>y)", router.IntValue(3))
	set("$xavp(a=>x)", router.StrValue("new")) // a second item, now the first
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$xavp(a=>x)"}, "new"},
		{"pv.get", []any{"$xavp(a[1]=>x)"}, "1"},
		{"pv.get", []any{"$xavp(a[1]=>y)"}, "3"},
		{"pv.get", []any{"$xavp(a[1]=>y[1])"}, "2"},
		{"pv.get", []any{"$xavp(a[0]=>y)"}, ""},
		{"pv.get", []any{"$xavp(a[2]=>x)"}, ""},
		{"pv.get", []any{"$xavp(a[-1]=>x)"}, "1"}, {"pv.get", []any{"$xavp(a[-2]=>x)"}, "new"},
		{"pv.get", []any{"$xavp(a)"}, "<<xavp:a>>"},
	})
	set("$xavp(a[1]=>y)", router.Value{})
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavp(a[1]=>y)"}, "2"}, {"pv.get", []any{"$xavp(a[1]=>x)"}, "1"}})
	set("$xavp(a)", router.Value{})
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavp(a=>x)"}, "1"}, {"pv.get", []any{"$xavp(a[1]=>x)"}, ""}})
	set("$xavp(a)", router.Value{})
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavp(a=>x)"}, ""}})
	pv, _ := router.ParsePV("$xavp(b[0]=>x)")
	if err := pv.Set(c, router.StrValue("v")); err == nil {
		t.Error("adding to an item that does not exist: no error")
	}
	k.Request(invite) // a new message has none
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavp(a=>x)"}, ""}})
}

// TestMoreSelects: the message, address, header, hf_value and credentials
// selects.
func TestMoreSelects(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.Replace(invite, "X-Dup: one\n", "X-Dup: one\nRoute: <sip:a@h1;lr>, \"B, b\" <sip:b@h2;lr>;x=1\n"+
		"Authorization: Digest username=\"alice@example.com\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:bob@127.0.0.1\", response=\"r\", qop=auth, nc=00000001\n", 1))
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$sel(msg.first_line)"}, "INVITE sip:bob@127.0.0.1:5060;transport=udp SIP/2.0"},
		{"pv.get", []any{"$sel(msg.type)"}, "request"},
		{"pv.get", []any{"$sel(msg.request.method)"}, "INVITE"},
		{"pv.get", []any{"$sel(msg.request.uri)"}, "sip:bob@127.0.0.1:5060;transport=udp"},
		{"pv.get", []any{"$sel(msg.response.code)"}, ""},
		{"pv.get", []any{`$sel(msg.header["User-Agent"])`}, "friendly-scanner"},
		{"pv.get", []any{"$sel(msg.h.user_agent)"}, "friendly-scanner"},
		{"pv.get", []any{"$sel(msg.body)"}, "v=0\n"},
		{"pv.get", []any{"$sel(src.ip)"}, "192.0.2.10"},
		{"pv.get", []any{"$sel(src.ip_port)"}, "192.0.2.10:5062"},
		{"pv.get", []any{"$sel(dst.port)"}, "5060"},
		{"pv.get", []any{"$sel(received.proto_ip_port)"}, "udp:127.0.0.1:5060"},
		{"pv.get", []any{"$sel(call_id)"}, "call-1@192.0.2.10"},
		{"pv.get", []any{"$sel(cseq.num)"}, "7"},
		{"pv.get", []any{"$sel(cseq.method)"}, "INVITE"},
		{"pv.get", []any{"$sel(method)"}, "INVITE"},
		{"pv.get", []any{"$sel(user_agent)"}, "friendly-scanner"},
		{"pv.get", []any{"$sel(f.uri.user)"}, "alice"},
		{"pv.get", []any{"$sel(ruri.hostport)"}, "127.0.0.1:5060"},
		{"pv.get", []any{"$sel(ruri.transport)"}, "udp"},
		{"pv.get", []any{"$sel(hf_value.route[2])"}, `"B, b" <sip:b@h2;lr>;x=1`},
		{"pv.get", []any{"$sel(hf_value.route[2].name)"}, "B, b"},
		{"pv.get", []any{"$sel(hf_value.route[2].uri)"}, "sip:b@h2;lr"},
		{"pv.get", []any{`$sel(hf_value.route[2].params["x"])`}, "1"},
		{"pv.get", []any{"$sel(hf_value.route[3])"}, ""},
		{"pv.get", []any{"$sel(hf_value.x_dup[2])"}, "two"},
		{"pv.get", []any{"$sel(authorization.realm)"}, "example.com"},
		{"pv.get", []any{"$sel(authorization.username.user)"}, "alice"},
		{"pv.get", []any{"$sel(authorization.username.domain)"}, "example.com"},
		{"pv.get", []any{"$sel(authorization.qop)"}, "auth"},
		{"pv.get", []any{"$sel(proxy_authorization.realm)"}, ""},
	})
}

// TestNameAddrSelects: the Contact's parameters, Record-Route and
// Refer-To, and @sys.
func TestNameAddrSelects(t *testing.T) {
	k := moduletest.New(t, "")
	k.Request(strings.NewReplacer("Contact: <sip:alice@192.0.2.10:5062>", `Contact: "Al" <sip:alice@192.0.2.10:5062>;q=0.5;expires=60;+sip.instance="<urn:uuid:1>"`,
		"X-Dup: one\n", "X-Dup: one\nRecord-Route: <sip:p1.example.com;lr;ftag=f1>, <sip:p2.example.com;lr>\nRefer-To: \"Carol\" <sip:carol@example.com>;x=y\n").Replace(invite))
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$sel(contact.q)"}, "0.5"},
		{"pv.get", []any{"$sel(contact.expires)"}, "60"},
		{"pv.get", []any{"$sel(contact.instance)"}, "<urn:uuid:1>"},
		{"pv.get", []any{"$sel(contact.name)"}, "Al"},
		{"pv.get", []any{"$sel(contact.methods)"}, ""},
		{"pv.get", []any{"$sel(contact.uri.host)"}, "192.0.2.10"},
		{"pv.get", []any{"$sel(rr.uri)"}, "sip:p1.example.com;lr;ftag=f1"},
		{"pv.get", []any{"$sel(rr.uri.host)"}, "p1.example.com"},
		{"pv.get", []any{"$sel(refer_to.name)"}, "Carol"},
		{"pv.get", []any{`$sel(refer_to.params["x"])`}, "y"},
		{"pv.get", []any{"$sel(rpid)"}, ""},
	})
	if n := k.Call("pv.geti", "$sel(sys.now)"); n.I < 1700000000 {
		t.Errorf("@sys.now %v", n)
	}
}

// TestSend: $snd, $sndto and $sndfrom say where the message being sent
// goes and leaves from while it is being sent (onsend_route, topoh's
// event routes), null otherwise — Kamailio's names and numbers.
func TestSend(t *testing.T) {
	k := moduletest.New(t, "")
	c := k.Request(invite)
	k.Run([]moduletest.Case{{"pv.get", []any{"$sndto(ip)"}, ""}, {"pv.get", []any{"$snd(port)"}, ""}})
	local := k.Transport.Listener(sip.TransportUDP, true)
	c.SetSendHop(router.Hop{Addr: netip.MustParseAddrPort("192.0.2.30:5070"), Proto: sip.TransportUDP, Local: local}, true)
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$sndto(ip)"}, "192.0.2.30"}, {"pv.get", []any{"$sndto(port)"}, "5070"}, {"pv.get", []any{"$snd(ip)"}, "192.0.2.30"},
		{"pv.get", []any{"$sndto(proto)"}, "1"}, {"pv.get", []any{"$sndto(sproto)"}, "udp"}, {"pv.get", []any{"$sndto(af)"}, "2"},
		{"pv.get", []any{"$sndfrom(ip)"}, local.IP}, {"pv.get", []any{"$sndfrom(port)"}, fmt.Sprint(local.Addr.Port())},
		{"pv.get", []any{"$sndto(len)"}, fmt.Sprint(len(c.Msg.Bytes()))},
	})
	c.SetSendHop(router.Hop{}, false)
	k.Run([]moduletest.Case{{"pv.get", []any{"$sndfrom(ip)"}, ""}})
	if _, err := router.ParsePV("$sndto(nope)"); err == nil {
		t.Error("$sndto(nope) parsed")
	}
}

// TestXAVPsCarried: the three lists go with a transaction (tm saves and
// loads them for its later routes), values and kinds intact.
func TestXAVPsCarried(t *testing.T) {
	k := moduletest.New(t, "")
	c := k.Request(invite)
	for name, v := range map[string]string{"$xavp(p=>k)": "1", "$xavu(u)": "2", "$xavi(I=>K)": "3", "$xavp(r)": "4"} {
		pv, _ := router.ParsePV(name)
		if err := pv.Set(c, router.StrValue(v)); err != nil {
			t.Fatal(err)
		}
	}
	var saved router.XAVPs
	c.SaveXAVPs(&saved)
	c = k.Request(invite)
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavu(u)"}, ""}})
	c.LoadXAVPs(&saved)
	k.Run([]moduletest.Case{{"pv.get", []any{"$xavp(p=>k)"}, "1"}, {"pv.get", []any{"$xavu(u)"}, "2"}, {"pv.get", []any{"$xavi(i=>k)"}, "3"},
		{"pv.get", []any{"$xavp(r)"}, "4"}, {"pv.get", []any{"$xavp(u)"}, ""}, {"pv.get", []any{"$xavu(p=>k)"}, ""}})
	if saved.Len() != 4 {
		t.Errorf("saved %d items, want 4", saved.Len())
	}
}

// TestPVXNatives: the native faces of KSR.pvx (the 4-parameter xavp_copy
// replaces, pv_evalx evaluates twice), $shv declared by shvset and by an
// assignment, $branch written and read by index, and bad shvset values
// stopping start-up with the parameter named.
func TestPVXNatives(t *testing.T) {
	k := moduletest.New(t, `modparam("pv", "shvset", "n=i:7")
modparam("pv", "shvset", "s=s:a b")
modparam("pv", "varset", "v=s:first")`)
	k.Request(invite)
	k.CallInt("pvx.xavp_child_seti", "x", "k", 1)
	k.CallInt("pvx.xavp_child_seti", "x", "k", 2) // replaces
	k.CallInt("pvx.xavp_sets", "y", "one")
	k.CallInt("pvx.xavp_sets", "y", "two")
	if rc := k.Native("xavp_copy", "x", 0, "y", 1).I; rc != 1 {
		t.Fatalf("xavp_copy(x, 0, y, 1) = %d", rc)
	}
	k.CallInt("pv.sets", "$var(fmt)", "$ci")
	k.Native("pv_evalx", "$var(out)", "[$var(fmt)]")
	k.Run([]moduletest.Case{
		{"pv.get", []any{"$xavp(y[1]=>k)"}, "2"}, {"pv.get", []any{"$xavp(y)"}, "two"}, {"pv.get", []any{"$xavp(y[2])"}, ""},
		{"pv.get", []any{"$var(out)"}, "[call-1@192.0.2.10]"}, {"pvx.var_get", []any{"v"}, "first"},
		{"pvx.shv_get", []any{"n"}, "7"}, {"pvx.shv_get", []any{"s"}, "a b"}, {"pvx.shv_sets", []any{"t", "x"}, "-1"},
		{"pv.sets", []any{"$shv(t)", "x"}, "1"}, {"pvx.shv_get", []any{"t"}, "x"},
		{"pvx.sbranch_append", nil, "-1"},
		{"pv.sets", []any{"$sbranch(uri)", "sip:a@example.com"}, "1"}, {"pvx.sbranch_append", nil, "1"},
		{"pv.sets", []any{"$sbranch(uri)", "sip:b@example.com"}, "1"}, {"pvx.sbranch_append", nil, "1"},
		{"pv.seti", []any{"$(branch(q)[1])", 300}, "1"}, {"pv.get", []any{"$(branch(q)[-1])"}, ""},
		{"pv.get", []any{"$(branch(uri)[1])"}, "sip:b@example.com"}, {"pv.get", []any{"$(branch(q)[1])"}, "300"},
		{"pv.get", []any{"$branch(count)"}, "2"}, {"pv.sets", []any{"$(branch(uri)[5])", "sip:c@example.com"}, "-1"},
	})
	for _, param := range []string{"shvset", "varset"} {
		for _, bad := range []string{"n", "n=x:1", "n=i:one", "=i:1"} {
			_, err := moduletest.NewErr(t, `modparam("pv", "`+param+`", "`+bad+`")`)
			if err == nil || !strings.Contains(err.Error(), param) {
				t.Errorf("%s %q: error %v, want one naming %s", param, bad, err, param)
			}
		}
	}
	if _, err := router.ParsePV("$branch(nope)"); err == nil || !strings.Contains(err.Error(), "dst_uri") {
		t.Errorf("$branch(nope): %v", err)
	}
}

// TestShvRPC: pv.shvGet and pv.shvSet answer as Kamailio's: one variable,
// all of them (Kamailio repeats the key "shv"), a set of a declared one,
// 404 for one not declared, the type checked.
func TestShvRPC(t *testing.T) {
	k := moduletest.New(t, `modparam("pv", "shvset", "n=i:7")
modparam("pv", "shvset", "s=s:x")`)
	rpcs := map[string]dispatch.RPC{}
	for _, r := range k.Module("pv").(dispatch.RPCProvider).RPCs(k.Env) {
		rpcs[r.Name] = r
	}
	call := func(name string, params ...any) string {
		v, err := rpcs[name].Fn(params)
		if err != nil {
			return "error: " + err.Error()
		}
		return moduletest.JSON(v)
	}
	for _, c := range []struct {
		name   string
		params []any
		want   string
	}{
		{"pv.shvGet", []any{"n"}, `{"name":"n","type":"int","value":7}`},
		{"pv.shvGet", nil, `{"items":{"shv":{"name":"n","type":"int","value":7},"shv":{"name":"s","type":"string","value":"x"}}}`},
		{"pv.shvSet", []any{"s", "str", "y z"}, `"Ok. Variable set to new value."`},
		{"pv.shvGet", []any{"s"}, `{"name":"s","type":"string","value":"y z"}`},
		{"pv.shvSet", []any{"n", "int", 9}, `"Ok. Variable set to new value."`},
		{"pv.shvGet", []any{"n"}, `{"name":"n","type":"int","value":9}`},
		{"pv.shvSet", []any{"nope", "int", 1}, "error: Variable not found"},
		{"pv.shvSet", []any{"n", "float", 1}, "error: Unknown parameter type (Types: int or str)"},
		{"pv.shvGet", []any{"nope"}, "error: Variable not found"},
	} {
		if got := call(c.name, c.params...); got != c.want {
			t.Errorf("%s %v: %s, want %s", c.name, c.params, got, c.want)
		}
	}
}
