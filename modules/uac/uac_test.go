package uac_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

const kitCfg = "loadmodule \"tm.so\"\nloadmodule \"rr.so\"\nloadmodule \"uac.so\"\nloadmodule \"pv.so\"\n" +
	"modparam(\"rr\", \"append_fromtag\", 1)\nmodparam(\"uac\", \"restore_passwd\", \"s3cret\")\nmodparam(\"uac\", \"restore_from_avp\", \"$avp(orig)\")\n"

func header(out, name string) string {
	for _, l := range strings.Split(out, "\r\n") {
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(n, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestReplace: the display name and URI of From and To as Kamailio's
// lumps make them, quoted or not, with a display or without.
func TestReplace(t *testing.T) {
	for _, c := range []struct {
		from     string // the request's From value
		fn       string
		args     []any
		wantFrom string
	}{
		{`"Alice" <sip:alice@example.com>;tag=f1`, "uac.uac_replace_from", []any{"Bob", "sip:bob@carrier.net"}, `Bob <sip:bob@carrier.net>;tag=f1`},
		{`<sip:alice@example.com>;tag=f1`, "uac.uac_replace_from", []any{`"Bob B"`, "sip:bob@carrier.net"}, `"Bob B" <sip:bob@carrier.net>;tag=f1`},
		{`sip:alice@example.com;tag=f1`, "uac.uac_replace_from", []any{"Bob", "sip:bob@carrier.net"}, `Bob <sip:bob@carrier.net>;tag=f1`},
		{`sip:alice@example.com;tag=f1`, "uac.uac_replace_from_uri", []any{"sip:bob@carrier.net"}, `sip:bob@carrier.net;tag=f1`},
		{`"Alice" <sip:alice@example.com>;tag=f1`, "uac.uac_replace_from", []any{"", ""}, `<sip:alice@example.com>;tag=f1`},
		{`"Alice" <sip:alice@example.com>;tag=f1`, "uac.uac_replace_from", []any{"Ann", ""}, `Ann <sip:alice@example.com>;tag=f1`},
	} {
		k := moduletest.New(t, kitCfg)
		k.Request(strings.Replace(moduletest.Invite, "From: <sip:alice@example.com>;tag=f2", "From: "+c.from, 1))
		if got := k.CallInt(c.fn, c.args...); got != 1 {
			t.Errorf("%s%v = %d", c.fn, c.args, got)
			continue
		}
		out := k.Out()
		if got := header(out, "From"); got != c.wantFrom {
			t.Errorf("%s from %q: From %q, want %q", c.fn, c.from, got, c.wantFrom)
		}
		// restore_from_avp gets the original up to the URI's end.
		if got := k.Call("pv.get", "$avp(orig)").String(); got != strings.TrimSuffix(c.from, ";tag=f1") {
			t.Errorf("%s from %q: $avp(orig) %q", c.fn, c.from, got)
		}
	}
	k := moduletest.New(t, kitCfg)
	k.Request(moduletest.Invite)
	if k.CallInt("uac.uac_replace_to", "", "sip:carol@carrier.net") != 1 {
		t.Fatal("uac_replace_to failed")
	}
	if got := header(k.Out(), "To"); got != "<sip:carol@carrier.net>" {
		t.Errorf("To %q", got)
	}
	if k.CallInt("uac.uac_replace_to", "", "sip:dave@carrier.net") != -1 {
		t.Error("a second uac_replace_to in request_route was allowed")
	}
	// Auto mode refuses a new URI in a request with a To tag.
	k.Request(strings.Replace(moduletest.Invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=t1", 1))
	if k.CallInt("uac.uac_replace_from", "", "sip:x@y") != -1 {
		t.Error("auto mode replaced From in a sequential request")
	}
}

// TestConfigErrors: what stops the start, with Kamailio's reasons.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{"loadmodule \"uac.so\"\n", "TM API"},
		{"loadmodule \"tm.so\"\nloadmodule \"uac.so\"\n", "RR API"},
		{"loadmodule \"tm.so\"\nloadmodule \"rr.so\"\nloadmodule \"uac.so\"\nmodparam(\"rr\", \"append_fromtag\", 0)\n", "append_fromtag"},
		{"loadmodule \"tm.so\"\nloadmodule \"uac.so\"\nmodparam(\"uac\", \"restore_mode\", \"sometimes\")\n", "restore_mode"},
		{"loadmodule \"tm.so\"\nloadmodule \"uac.so\"\nmodparam(\"uac\", \"restore_mode\", \"none\")\nmodparam(\"uac\", \"auth_username_avp\", \"$avp(u)\")\n", "partial definition"},
		{"loadmodule \"tm.so\"\nloadmodule \"uac.so\"\nmodparam(\"uac\", \"restore_mode\", \"none\")\nmodparam(\"uac\", \"credential\", \"nouser\")\n", "credential"},
		{"loadmodule \"tm.so\"\nloadmodule \"uac.so\"\nmodparam(\"uac\", \"restore_mode\", \"none\")\nmodparam(\"uac\", \"reg_db_url\", \"sqlite:///x.db\")\n", "reg_contact_addr"},
		{"loadmodule \"tm.so\"\nloadmodule \"rr.so\"\nloadmodule \"uac.so\"\nmodparam(\"uac\", \"restore_dlg\", 1)\n", "dialog"},
	} {
		_, err := moduletest.NewErr(t, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestUACReq: $uac_req's keys, types and reset.
func TestUACReq(t *testing.T) {
	k := moduletest.New(t, kitCfg)
	k.Request(moduletest.Invite)
	k.Call("pv.sets", "$uac_req(method)", "MESSAGE")
	k.Call("pv.sets", "$uac_req(auser)", "u")
	k.Call("pv.seti", "$uac_req(evroute)", 1)
	if k.Call("pv.get", "$uac_req(method)").String() != "MESSAGE" || k.Call("pv.get", "$uac_req(evroute)").String() != "1" {
		t.Error("$uac_req did not keep its values")
	}
	if k.CallInt("pv.sets", "$uac_req(evroute)", "x") >= 0 {
		t.Error("a string into $uac_req(evroute) accepted")
	}
	k.Call("pv.unset", "$uac_req(all)")
	if !k.Call("pv.get", "$uac_req(method)").IsNull() || k.Call("pv.get", "$uac_req(auser)").String() != "u" {
		t.Error("$uac_req(all) = $null: method stays or auser went (Kamailio keeps auser)")
	}
	if k.CallInt("uac.uac_req_send") != -1 {
		t.Error("uac_req_send with no method and URI sent")
	}
}
