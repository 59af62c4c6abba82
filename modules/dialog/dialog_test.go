package dialog_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
	"github.com/kemi-sip/kemi/engines/proxy"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// start runs a proxy on a config at a fixed address, for the tests that
// stop it and start it again.
func start(t *testing.T, cfg string, port int) *proxy.Proxy {
	t.Helper()
	p, err := proxy.Load(proxy.Options{File: cfg, Listen: []string{fmt.Sprintf("udp:127.0.0.1:%d", port)}, Children: 2,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPersistence: with db_mode 1 a confirmed dialog is in the dialog
// and dialog_vars tables (its profiles in xdata, as Kamailio writes them);
// kemi restarted finds it again (state, tags, variable, profiles), and its
// BYE ends it and removes the rows. On SQLite and on Redis (db_redis).
func TestPersistence(t *testing.T) {
	redisPort := kamailiotest.RedisServer(t)
	for _, tc := range []struct{ name, url, extra string }{
		{"sqlite", moduletest.SQLite(t), ""},
		{"redis", fmt.Sprintf("redis://127.0.0.1:%d/4", redisPort), `loadmodule "db_redis.so"
modparam("db_redis", "keys", "dialog=entry:hash_entry,hash_id&cid:callid")
modparam("db_redis", "keys", "dialog_vars=entry:hash_entry,hash_id,dialog_key&dialog:hash_entry,hash_id")`},
	} {
		t.Run(tc.name, func(t *testing.T) { testPersistence(t, tc.url, tc.extra) })
	}
}

func testPersistence(t *testing.T, url, extra string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kemi.cfg")
	conf := strings.Replace(fmt.Sprintf(diffCfg, extra), `modparam("dialog", "profiles_no_value", "calls")`,
		`modparam("dialog", "profiles_no_value", "calls")`+"\n"+`modparam("dialog", "db_url", "`+url+`")`+"\n"+`modparam("dialog", "db_mode", 1)`, 1)
	os.WriteFile(cfg, []byte(conf), 0o644)
	port := kamailiotest.FreePort(t)
	addr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	p := start(t, cfg, port)
	c := newCall(t, addr, "", "200 OK")
	before := c.query()
	p.Stop()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	count := func(table string) int {
		var n int
		d.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n)
		return n
	}
	if n, v := count("dialog"), count("dialog_vars"); n != 1 || v != 1 { // the variable; the two profiles are in xdata
		t.Errorf("rows after the call: dialog %d, dialog_vars %d", n, v)
	}
	var xdata string
	d.QueryRow(context.Background(), "SELECT xdata FROM dialog").Scan(&xdata)
	if !regexp.MustCompile(`^\{"profiles":\[\{"name":"caller","value":"alice","puid":"dlgp-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"\},\{"name":"calls","puid":"dlgp-[^"]+"\}\]\}$`).MatchString(xdata) {
		t.Errorf("xdata %q", xdata)
	}
	p = start(t, cfg, port)
	defer p.Stop()
	after := c.query()
	if strings.ReplaceAll(after, " start", "") != strings.ReplaceAll(before, " start", "") {
		t.Errorf("after a restart:\n%s\nbefore:\n%s", after, before)
	}
	c.bye()
	time.Sleep(100 * time.Millisecond)
	if got := c.query(); !strings.Contains(got, "calls=0 alice=0 state=5") {
		t.Errorf("after the BYE: %s", got)
	}
	if n := count("dialog"); n != 0 {
		t.Errorf("%d dialog rows after the BYE", n)
	}
}

// luaScript manages dialogs from Lua: variables through KSR.dialog.var_*,
// is_known_dlg on the ACK and BYE.
const luaScript = `
function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			if KSR.dialog.is_known_dlg() > 0 then
				KSR.xlog.xinfo("known " .. KSR.pv.get("$rm") .. " var=" .. KSR.dialog.var_get("who") .. " null=" .. KSR.dialog.var_is_null("nothing") .. "\n")
			end
			KSR.tm.t_relay()
		end
		return
	end
	KSR.rr.record_route()
	KSR.dialog.dlg_manage()
	KSR.dialog.set_dlg_profile_static("calls")
	KSR.dialog.var_sets("who", KSR.pv.get("$fU"))
	KSR.pv.sets("$du", KSR.pv.get("$hdr(X-Dst)"))
	KSR.tm.t_relay()
end
`

// TestLuaAndRPC: a Lua script's dialogs, listed and ended by RPC
// (dlg.list, dlg.profile_get_size, dlg.end_dlg, which sends a BYE each
// way).
func TestLuaAndRPC(t *testing.T) {
	dir := t.TempDir()
	lua := filepath.Join(dir, "route.lua")
	os.WriteFile(lua, []byte(luaScript), 0o644)
	cfg := filepath.Join(dir, "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "dialog.so"
loadmodule "app_lua.so"
modparam("dialog", "profiles_no_value", "calls")
modparam("app_lua", "load", "`+lua+`")
cfgengine "lua"
`), 0o644)
	p := proxytest.Start(t, cfg, nil)
	c := newCall(t, p.Addr, "", "200 OK")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(p.Logs.String(), "known ACK var=alice null=1") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.Logs.String(), "known ACK var=alice null=1") {
		t.Errorf("the ACK was not seen in its dialog:\n%s", p.Logs.String())
	}
	size, err := p.Table.CallRPC("dlg.profile_get_size", "calls")
	if err != nil || !strings.Contains(moduletest.JSON(size), `"count":1`) {
		t.Errorf("dlg.profile_get_size: %v %v", moduletest.JSON(size), err)
	}
	l, _ := p.Table.CallRPC("dlg.list")
	j := moduletest.JSON(l)
	if !strings.Contains(j, `"call-id":"`+c.callID+`"`) || !strings.Contains(j, `"state":4`) || !strings.Contains(j, `"who":"alice"`) {
		t.Fatalf("dlg.list: %s", j)
	}
	var he, hi int
	fmt.Sscanf(j[strings.Index(j, `"h_entry":`):], `"h_entry":%d`, &he)
	fmt.Sscanf(j[strings.Index(j, `"h_id":`):], `"h_id":%d`, &hi)
	if _, err := p.Table.CallRPC("dlg.end_dlg", int64(he), int64(hi)); err != nil {
		t.Fatalf("dlg.end_dlg %d %d: %v", he, hi, err)
	}
	for _, ua := range []*kamailiotest.UA{c.caller, c.callee} {
		b, ok := ua.TryRecv("BYE ", 3*time.Second)
		if !ok {
			t.Fatalf("no BYE to %s", ua.Addr())
		}
		ua.Send(kamailiotest.ViaAddr(t, b), kamailiotest.Reply(b, "200 OK", "x", ""))
	}
	if size, _ := p.Table.CallRPC("dlg.profile_get_size", "calls"); !strings.Contains(moduletest.JSON(size), `"count":0`) {
		t.Errorf("after dlg.end_dlg: %s", moduletest.JSON(size))
	}
	if _, err := p.Table.CallRPC("dlg.end_dlg", int64(he), int64(hi+1000)); err == nil {
		t.Error("dlg.end_dlg of no dialog succeeded")
	}
}

// TestBridge: dlg_bridge calls from (an INVITE from the bridge
// controller with a hold SDP), ACKs its 200, REFERs it to to, and hangs
// up.
func TestBridge(t *testing.T) {
	from := kamailiotest.NewUA(t)
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "dialog.so"
request_route {
	dlg_bridge("$hdr(X-From)", "sip:bob@example.com", "");
	sl_send_reply("202", "Bridging");
}
`), 0o644)
	p := proxytest.Start(t, cfg, nil)
	trigger := kamailiotest.NewUA(t)
	trigger.Send(p.Addr, "MESSAGE sip:p SIP/2.0\nVia: SIP/2.0/UDP "+trigger.Addr()+";branch=z9hG4bK-t\nMax-Forwards: 70\nFrom: <sip:t@x>;tag=t\nTo: <sip:p>\n"+
		"Call-ID: bridge-1\nCSeq: 1 MESSAGE\nX-From: sip:alice@"+from.Addr()+"\nContent-Length: 0\n\n")
	trigger.Recv("SIP/2.0 202")
	inv, _ := from.Recv("INVITE ")
	if !strings.Contains(kamailiotest.Hdr(inv, "From"), "sip:controller@kamailio.org") || !strings.Contains(inv, "o=kamailio-bridge 0 0") {
		t.Errorf("the bridge's INVITE:\n%s", inv)
	}
	from.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "200 OK", "f1", "Contact: <sip:alice@"+from.Addr()+">\r\n"))
	ack, _ := from.Recv("ACK ")
	if kamailiotest.Hdr(ack, "Call-ID") != kamailiotest.Hdr(inv, "Call-ID") || !strings.Contains(kamailiotest.Hdr(ack, "To"), "tag=f1") {
		t.Errorf("the ACK:\n%s", ack)
	}
	ref, _ := from.Recv("REFER ")
	if kamailiotest.Hdr(ref, "Refer-To") != "sip:bob@example.com" || kamailiotest.Hdr(ref, "Referred-By") != "sip:controller@kamailio.org" {
		t.Errorf("the REFER:\n%s", ref)
	}
	from.Send(kamailiotest.ViaAddr(t, ref), kamailiotest.Reply(ref, "202 Accepted", "f1", ""))
	bye, _ := from.Recv("BYE ")
	var m sip.Msg
	if err := m.Parse([]byte(bye)); err != nil || m.CSeq() <= 2 {
		t.Errorf("the BYE:\n%s", bye)
	}
	from.Send(kamailiotest.ViaAddr(t, bye), kamailiotest.Reply(bye, "200 OK", "f1", ""))
}

// TestLimitWithSipp: sipp calls through kemi, at most 5 at once by
// profile (get_profile_size; the sixth is refused 486); every call is a
// dialog, counted, and none is left.
func TestLimitWithSipp(t *testing.T) {
	sipp := sipptest.Need(t)
	callee := sipptest.StartParty(t, sipp, sipptest.Scenario("call-uas.xml"), "u1", kamailiotest.FreePort(t), "-m", "200")
	cfg := filepath.Join(t.TempDir(), "kemi.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`#!KAMAILIO
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "kex.so"
loadmodule "siputils.so"
loadmodule "dialog.so"
modparam("dialog", "profiles_no_value", "calls")

request_route {
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("INVITE")) {
		get_profile_size("calls", "$var(n)");
		if ($var(n) >= 5) {
			sl_send_reply("486", "Too many calls");
			exit;
		}
		dlg_manage();
		set_dlg_profile("calls");
	}
	record_route();
	$du = "sip:127.0.0.1:%d";
	t_relay();
}
`, callee.Port)), 0o644)
	p := proxytest.Start(t, cfg, nil)
	sipptest.Run(t, sipp, sipptest.Scenario("call-uac.xml"), "u1", p.Addr.String(), 100, 50, "-s", "bob")
	st, _ := p.Table.CallRPC("stats.get_statistics", "dialog:")
	s := fmt.Sprint(st)
	if !strings.Contains(s, "dialog:processed_dialogs = 100") || !strings.Contains(s, "dialog:active_dialogs = 0") {
		t.Errorf("statistics: %s", s)
	}
	if size, _ := p.Table.CallRPC("dlg.profile_get_size", "calls"); !strings.Contains(moduletest.JSON(size), `"count":0`) {
		t.Errorf("profile after the run: %s", moduletest.JSON(size))
	}
}

// TestByeFromEvent: an event route that ends its own dialog (dlg_bye in
// dialog:start) sends the BYEs and gets dialog:end after it, without
// waiting for itself; the proxy goes on answering.
func TestByeFromEvent(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kemi.cfg")
	conf := strings.Replace(fmt.Sprintf(diffCfg, ""), "event_route[dialog:start] {", "event_route[dialog:start] {\n\tdlg_bye(\"all\");", 1)
	os.WriteFile(cfg, []byte(conf), 0o644)
	port := kamailiotest.FreePort(t)
	addr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	p := start(t, cfg, port)
	defer p.Stop()
	c := &call{t: t, proxy: addr, caller: kamailiotest.NewUA(t), callee: kamailiotest.NewUA(t), callID: fmt.Sprintf("dlg-%d", time.Now().UnixNano())}
	c.caller.Send(addr, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-i1\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: "+c.callID+"\nCSeq: 10 INVITE\n"+
		"Contact: <sip:alice@"+c.caller.Addr()+">\nX-Dst: sip:"+c.callee.Addr()+"\nContent-Length: 0\n\n")
	inv, _ := c.callee.Recv("INVITE ")
	c.callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "200 OK", "b1", "Contact: <sip:bob@"+c.callee.Addr()+">\r\n"))
	for _, ua := range []*kamailiotest.UA{c.callee, c.caller} {
		if _, ok := ua.TryRecv("BYE ", 3*time.Second); !ok {
			t.Errorf("%s got no BYE", ua.Addr())
		}
	}
	if got := c.query(); !strings.Contains(got, "events= start end") {
		t.Errorf("after dlg_bye in dialog:start: %s", got)
	}
}
