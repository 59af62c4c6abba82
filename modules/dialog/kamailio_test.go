package dialog_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/redis"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg: INVITEs get a dialog (dlg_manage), the profile "calls" and
// "caller" by From user, a variable; X-Timeout sets a short timeout with
// BYEs both ways; OPTIONS with X-Case "q" answers the profile sizes, and
// for the dialog of X-Call (dlg_get) its $dlg values and variable; the
// dialog events are logged into a profile-free counter header of the
// next query ($shv is not used: the htable module keeps them).
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "dialog.so"
modparam("rr", "append_fromtag", 1)
modparam("dialog", "profiles_no_value", "calls")
modparam("dialog", "profiles_with_value", "caller")
modparam("dialog", "dlg_extra_hdrs", "X-Dlg: bye\r\n")
modparam("htable", "htable", "ev=>size=4;")

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if ($hdr(X-Case) == "q") {
		get_profile_size("calls", "$var(n)");
		get_profile_size("caller", "alice", "$var(a)");
		$var(r) = "calls=" + $var(n) + " alice=" + $var(a);
		if (dlg_get("$hdr(X-Call)", "$hdr(X-FT)", "$hdr(X-TT)")) {
			$var(r) = $var(r) + " state=" + $dlg(state) + " callid=" + $dlg(callid) + " from=" + $dlg(from_uri) + " ftag=" + $dlg(from_tag) + " to=" + $dlg(to_uri) + " ttag=" + $dlg(to_tag) + " fcseq=" + $dlg(from_cseq) + " tcseq=" + $dlg(to_cseq) + " lifetime=" + $dlg(lifetime) + " var=" + $dlg_var(who) + " sflags=" + $dlg(sflags);
			if (is_in_profile("calls")) { $var(r) = $var(r) + " in"; }
			if (dlg_isflagset("3")) { $var(r) = $var(r) + " f3"; }
		} else {
			$var(r) = $var(r) + " nodlg";
		}
		$var(r) = $var(r) + " events=" + $sht(ev=>$hdr(X-Call));
		append_to_reply("X-R: $var(r)\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			t_relay();
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	record_route();
	if (is_method("INVITE")) {
		if ($hdr(X-Timeout) != $null) {
			$dlg_ctx(timeout_bye) = 1;
		}
		dlg_manage();
		if ($hdr(X-Timeout) != $null) {
			$var(to) = $(hdr(X-Timeout){s.int});
			dlg_set_timeout("$var(to)");
		}
		set_dlg_profile("calls");
		set_dlg_profile("caller", "$fU");
		$dlg_var(who) = $fU;
		dlg_setflag("3");
	}
	$du = $hdr(X-Dst);
	t_relay();
}

event_route[dialog:start] {
	$sht(ev=>$dlg(callid)) = $sht(ev=>$dlg(callid)) + " start";
}

event_route[dialog:end] {
	$sht(ev=>$dlg(callid)) = $sht(ev=>$dlg(callid)) + " end";
}

event_route[dialog:failed] {
	$sht(ev=>$dlg(callid)) = $sht(ev=>$dlg(callid)) + " failed";
}
`

// call is one call through the proxy: the INVITE, a 180 and the final
// status given; with 200 the ACK goes through the proxy.
type call struct {
	t              *testing.T
	proxy          netip.AddrPort
	caller, callee *kamailiotest.UA
	callID, rr     string
	inv            string
}

func newCall(t *testing.T, proxy netip.AddrPort, timeout string, status string) *call {
	c := &call{t: t, proxy: proxy, caller: kamailiotest.NewUA(t), callee: kamailiotest.NewUA(t), callID: fmt.Sprintf("dlg-%d", time.Now().UnixNano())}
	extra := ""
	if timeout != "" {
		extra = "X-Timeout: " + timeout + "\n"
	}
	c.caller.Send(proxy, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-i1\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: "+c.callID+"\nCSeq: 10 INVITE\n"+
		"Contact: <sip:alice@"+c.caller.Addr()+">\n"+extra+"X-Dst: sip:"+c.callee.Addr()+"\nContent-Length: 0\n\n")
	c.inv, _ = c.callee.Recv("INVITE ")
	c.rr = kamailiotest.Hdr(c.inv, "Record-Route")
	c.callee.Send(kamailiotest.ViaAddr(t, c.inv), kamailiotest.Reply(c.inv, "180 Ringing", "b1", "Contact: <sip:bob@"+c.callee.Addr()+">\r\n"))
	c.caller.Recv("SIP/2.0 180")
	c.callee.Send(kamailiotest.ViaAddr(t, c.inv), kamailiotest.Reply(c.inv, status, "b1", "Contact: <sip:bob@"+c.callee.Addr()+">\r\n"))
	if strings.HasPrefix(status, "200") {
		c.caller.Recv("SIP/2.0 200")
		c.caller.Send(proxy, "ACK sip:bob@"+c.callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-a1\nMax-Forwards: 70\n"+
			"Route: "+c.rr+"\nFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: "+c.callID+"\nCSeq: 10 ACK\nContent-Length: 0\n\n")
		c.callee.Recv("ACK ")
	} else {
		c.caller.Recv("SIP/2.0 " + status[:3])
	}
	return c
}

// bye: the caller hangs up through the proxy.
func (c *call) bye() {
	c.caller.Send(c.proxy, "BYE sip:bob@"+c.callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+c.caller.Addr()+";branch=z9hG4bK-b1\nMax-Forwards: 70\n"+
		"Route: "+c.rr+"\nFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: "+c.callID+"\nCSeq: 11 BYE\nContent-Length: 0\n\n")
	b, _ := c.callee.Recv("BYE ")
	c.callee.Send(kamailiotest.ViaAddr(c.t, b), kamailiotest.Reply(b, "200 OK", "b1", ""))
	c.caller.Recv("SIP/2.0 200")
}

// query asks the proxy about the call's dialog.
func (c *call) query() string {
	q := kamailiotest.NewUA(c.t)
	q.Send(c.proxy, "OPTIONS sip:proxy SIP/2.0\nVia: SIP/2.0/UDP "+q.Addr()+";branch=z9hG4bK-q\nMax-Forwards: 70\nFrom: <sip:q@x>;tag=q\nTo: <sip:proxy>\n"+
		"Call-ID: q-"+fmt.Sprint(time.Now().UnixNano())+"\nCSeq: 1 OPTIONS\nX-Case: q\nX-Call: "+c.callID+"\nX-FT: a1\nX-TT: b1\nContent-Length: 0\n\n")
	r, _ := q.Recv("SIP/2.0 200")
	return strings.ReplaceAll(kamailiotest.Hdr(r, "X-R"), c.callID, "CALLID")
}

// timeoutByes waits for the BYEs the timeout sends both ways, answers
// them a moment later (Kamailio runs dialog:end after sending them unless
// a reply has already ended the dialog) and writes them with the
// addresses as names.
func (c *call) timeoutByes() []string {
	var out []string
	var answer []func()
	defer func() {
		time.Sleep(200 * time.Millisecond)
		for _, f := range answer {
			f()
		}
	}()
	for _, u := range []struct {
		name string
		ua   *kamailiotest.UA
	}{{"caller", c.caller}, {"callee", c.callee}} {
		b, ok := u.ua.TryRecv("BYE ", 6*time.Second)
		if !ok {
			out = append(out, u.name+": no BYE")
			continue
		}
		ua := u.ua
		answer = append(answer, func() { ua.Send(kamailiotest.ViaAddr(c.t, b), kamailiotest.Reply(b, "200 OK", "x", "")) })
		line, _, _ := strings.Cut(b, "\r\n")
		s := line + " | " + strings.Join([]string{kamailiotest.Hdr(b, "From"), kamailiotest.Hdr(b, "To"), kamailiotest.Hdr(b, "CSeq"),
			kamailiotest.Hdr(b, "Max-Forwards"), kamailiotest.Hdr(b, "X-Dlg"), kamailiotest.Hdr(b, "Route")}, " | ")
		s = strings.ReplaceAll(strings.ReplaceAll(s, c.caller.Addr(), "CALLER"), c.callee.Addr(), "CALLEE")
		out = append(out, u.name+": "+s)
	}
	return out
}

// TestKamailioDifferential: Kamailio 5.6 and kemi keep the same dialogs:
// states through 180, 200, ACK and BYE, profiles with and without value,
// the variable and flag set on the INVITE, the $dlg values, the events;
// a failed call; and a dialog whose timeout ends it with a BYE each way
// (the same BYEs).
func TestKamailioDifferential(t *testing.T) {
	pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			t.Logf("kemi's log:\n%s", pair.Logs.String())
		}
	})
	compare := func(name string, k, e []string) {
		t.Helper()
		if strings.Join(k, "\n") != strings.Join(e, "\n") {
			t.Errorf("%s:\nKamailio:\n  %s\nkemi:\n  %s", name, strings.Join(k, "\n  "), strings.Join(e, "\n  "))
		} else {
			t.Logf("%s:\n  %s", name, strings.Join(e, "\n  "))
		}
	}
	flow := func(proxy netip.AddrPort) []string {
		c := newCall(t, proxy, "", "200 OK")
		out := []string{fmt.Sprintf("RR has did: %v", strings.Contains(c.rr, ";did=")), "confirmed: " + c.query()}
		c.bye()
		time.Sleep(100 * time.Millisecond)
		out = append(out, "ended: "+c.query())
		f := newCall(t, proxy, "", "486 Busy Here")
		time.Sleep(100 * time.Millisecond)
		out = append(out, "failed: "+f.query())
		return out
	}
	compare("call", flow(pair.Kamailio), flow(pair.Kemi))
	kc, ec := newCall(t, pair.Kamailio, "2", "200 OK"), newCall(t, pair.Kemi, "2", "200 OK")
	compare("timeout", kc.timeoutByes(), ec.timeoutByes())
	time.Sleep(200 * time.Millisecond)
	compare("after the timeout", []string{kc.query()}, []string{ec.query()})
}

// redisDump is every key of Redis database n with its hash's fields or
// set's members, as lines, with what differs by server or by run (the
// dialog's hash entry and id, the addresses and ports, times, profile
// uids) replaced by names.
func redisDump(t *testing.T, c *redis.Conn, n int, call *call, pairAddr netip.AddrPort) []string {
	t.Helper()
	keys := kamailiotest.RedisDump(t, c, n)
	var he, hi string
	for k := range keys {
		if strings.HasPrefix(k, "dialog:entry::") {
			he, hi, _ = strings.Cut(strings.TrimPrefix(k, "dialog:entry::"), ":")
		}
	}
	norm := strings.NewReplacer(call.callID, "CALLID", call.caller.Addr(), "CALLER", call.callee.Addr(), "CALLEE", pairAddr.String(), "PROXY",
		"::"+he+":"+hi, "::HE:HI", "="+he+" ", "=HE ", "="+hi+" ", "=HI ")
	puid := regexp.MustCompile(`"puid":"[^"]*"`)
	times := regexp.MustCompile(`(start_time|timeout)=[0-9]+`)
	var out []string
	for k, e := range keys {
		line := norm.Replace(k + " " + e.Type + ": " + strings.Join(e.Items, " ") + " ")
		line = times.ReplaceAllString(puid.ReplaceAllString(line, `"puid":"PUID"`), "$1=T")
		out = append(out, strings.TrimSpace(line))
	}
	sort.Strings(out)
	return out
}

// TestKamailioRedis: dialog with db_mode 1 on Redis through db_redis, the
// keys of db_redis's documentation: while a call is up Kamailio 5.6 and
// kemi keep the same keys, fields and values in Redis (each in a database
// of its own; what differs by run is named), and after its BYE the same
// nothing.
func TestKamailioRedis(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	cfg := func(listen string) string {
		n := 1 // Kamailio's database; kemi's is 2
		if listen == "" {
			n = 2
		}
		c := strings.Replace(fmt.Sprintf(diffCfg, listen), `loadmodule "dialog.so"`, `loadmodule "db_redis.so"`+"\n"+`loadmodule "dialog.so"`, 1)
		return strings.Replace(c, `modparam("dialog", "profiles_no_value", "calls")`, fmt.Sprintf(`modparam("dialog", "profiles_no_value", "calls")
modparam("db_redis", "schema_path", "/usr/share/kamailio/db_redis/kamailio")
modparam("db_redis", "keys", "version=entry:table_name")
modparam("db_redis", "keys", "dialog=entry:hash_entry,hash_id&cid:callid")
modparam("db_redis", "keys", "dialog_vars=entry:hash_entry,hash_id,dialog_key&dialog:hash_entry,hash_id")
modparam("dialog", "db_url", "redis://127.0.0.1:%d/%d")
modparam("dialog", "db_mode", 1)`, port, n), 1)
	}
	pair := kamailiotest.StartPair(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			t.Logf("kemi's log:\n%s", pair.Logs.String())
		}
	})
	c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kc, ec := newCall(t, pair.Kamailio, "", "200 OK"), newCall(t, pair.Kemi, "", "200 OK")
	time.Sleep(200 * time.Millisecond)
	k, e := redisDump(t, c, 1, kc, pair.Kamailio), redisDump(t, c, 2, ec, pair.Kemi)
	if strings.Join(k, "\n") != strings.Join(e, "\n") || len(k) == 0 {
		t.Errorf("Redis while the call is up:\nKamailio:\n  %s\nkemi:\n  %s", strings.Join(k, "\n  "), strings.Join(e, "\n  "))
	} else {
		t.Logf("Redis while the call is up, both:\n  %s", strings.Join(e, "\n  "))
	}
	kc.bye()
	ec.bye()
	// Kamailio removes a dialog's rows when the last transaction lets
	// go of it (seconds after the BYE).
	for range 100 {
		if k, e = redisDump(t, c, 1, kc, pair.Kamailio), redisDump(t, c, 2, ec, pair.Kemi); len(k)+len(e) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(k)+len(e) != 0 {
		t.Errorf("Redis after the BYE:\nKamailio:\n  %s\nkemi:\n  %s", strings.Join(k, "\n  "), strings.Join(e, "\n  "))
	}
}
