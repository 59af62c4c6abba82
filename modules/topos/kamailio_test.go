package topos_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg is a record-routing stateful proxy with topos on a database;
// the script adds what it saw of each request (X-Seen): the whole
// message, rebuilt.
const diffCfg = `#!KAMAILIO
%s
# one worker: Kamailio's db_sqlite has no busy timeout, so its processes
# writing topos' records at once fail with "database is locked"
children=1
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "topos.so"
%s
%s

request_route {
	if (is_method("OPTIONS") && $hdr(X-Case) == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	append_hf("X-Seen: $rm $ru $hdr(Route) $hdr(P-SR-XUID)\r\n");
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK") && t_check_trans()) {
			t_relay();
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("MESSAGE")) {
		sl_send_reply("403", "Stateless");
		exit;
	}
	record_route();
	t_relay();
}
`

var (
	proxyBranch = regexp.MustCompile(`(Via: SIP/2\.0/UDP PROXY;branch=)[^;,\r\n]+`)
	uids        = regexp.MustCompile(`([ab])tpsh-[0-9a-f-]+`)
	xuid        = regexp.MustCompile(`:xtpsh-[0-9a-f-]+`)
)

// recorder returns what writes down in seen what a side got at a step:
// its first line and the headers topos touches (and extra), the proxy's
// and the UAs' addresses by name, the proxy's own branch BRANCH, topos'
// keys atpsh-UID and btpsh-UID.
func recorder(seen *[]string, proxy netip.AddrPort, a *kamailiotest.UA, aName string, b *kamailiotest.UA, bName, extra string) func(step, m string) {
	return func(step, m string) {
		m = strings.ReplaceAll(m, proxy.String(), "PROXY")
		m = strings.ReplaceAll(m, a.Addr(), aName)
		m = strings.ReplaceAll(m, b.Addr(), bName)
		first, _, _ := strings.Cut(m, "\r\n")
		m = first + "\r\n" + kamailiotest.Hdrs(m, "Via", "Record-Route", "Route", "Contact", extra, "X-Seen", "P-SR-XUID", "P-SR-XBranch")
		m = proxyBranch.ReplaceAllString(m, "${1}BRANCH")
		m = uids.ReplaceAllString(m, "${1}tpsh-UID")
		*seen = append(*seen, step+":\n  "+strings.ReplaceAll(strings.TrimSpace(m), "\r\n", "\n  "))
	}
}

// call runs one call between caller and callee through the proxy and
// returns what each got at each step, the proxy's address written PROXY,
// the UAs' CALLER and CALLEE, the proxy's own branch BRANCH, topos' keys
// atpsh-UID and btpsh-UID.
func call(t *testing.T, proxy netip.AddrPort, caller, callee *kamailiotest.UA, id string) []string {
	t.Helper()
	var seen []string
	norm := recorder(&seen, proxy, caller, "CALLER", callee, "CALLEE", "Call-ID")
	leak := func(who, m string, not ...string) {
		for _, l := range strings.Split(m, "\r\n") {
			if strings.HasPrefix(l, "X-Seen:") {
				continue // the script's view, on purpose
			}
			for _, n := range not {
				if strings.Contains(l, n) {
					t.Errorf("%s sees %q: %s", who, n, l)
				}
			}
		}
	}
	cid := "topos-" + id + "@192.0.2.7"
	caller.Send(proxy, "INVITE sip:bob@"+callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-i"+id+"\n"+
		"Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-up"+id+"\nMax-Forwards: 70\nRecord-Route: <sip:"+caller.Addr()+";lr>\n"+
		"From: <sip:alice@example.com>;tag=a"+id+"\nTo: <sip:bob@example.com>\nCall-ID: "+cid+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+";transport=udp>\nContent-Length: 0\n\n")
	inv, _ := callee.Recv("INVITE ")
	norm("callee gets the INVITE", inv)
	leak("the callee", inv, caller.Addr(), "192.0.2.7:5060")
	trying, _ := caller.Recv("SIP/2.0 100")
	norm("caller gets 100", trying)

	// the callee answers with a Record-Route of a proxy beside it
	ok := strings.Replace(kamailiotest.Reply(inv, "200 OK", "b"+id, "Contact: <sip:bob@"+callee.Addr()+">\r\nRecord-Route: <sip:"+callee.Addr()+";lr>\r\n"),
		"", "", 1)
	callee.Send(kamailiotest.ViaAddr(t, inv), ok)
	ok200, _ := caller.Recv("SIP/2.0 200")
	norm("caller gets 200", ok200)
	leak("the caller", ok200, callee.Addr())

	// the caller's next hop is the proxy's Contact (its own Record-Route,
	// the only one left, it takes off)
	toHdr := kamailiotest.Hdr(ok200, "To")
	target := kamailiotest.URIOf(kamailiotest.Hdr(ok200, "Contact"))
	caller.Send(proxy, "ACK "+target+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-a"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a"+id+"\nTo: "+toHdr+"\nCall-ID: "+cid+"\nCSeq: 1 ACK\nContent-Length: 0\n\n")
	ack, _ := callee.Recv("ACK ")
	norm("callee gets the ACK", ack)
	leak("the callee", ack, caller.Addr())

	// upstream: the callee's INFO to the INVITE's Contact
	callee.Send(proxy, "INFO "+kamailiotest.URIOf(kamailiotest.Hdr(inv, "Contact"))+" SIP/2.0\nVia: SIP/2.0/UDP "+callee.Addr()+";branch=z9hG4bK-n"+id+"\n"+
		"Max-Forwards: 70\nFrom: <sip:bob@example.com>;tag=b"+id+"\nTo: "+kamailiotest.Hdr(inv, "From")+"\n"+
		"Call-ID: "+cid+"\nCSeq: 1 INFO\nContact: <sip:bob@"+callee.Addr()+">\nContent-Length: 0\n\n")
	info, _ := caller.Recv("INFO ")
	norm("caller gets the INFO", info)
	leak("the caller", info, callee.Addr())
	caller.Send(kamailiotest.ViaAddr(t, info), kamailiotest.Reply(info, "200 OK", "", ""))
	infoOK, _ := callee.Recv("SIP/2.0 200")
	norm("callee gets the INFO's 200", infoOK)

	caller.Send(proxy, "BYE "+target+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-b"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a"+id+"\nTo: "+toHdr+"\nCall-ID: "+cid+"\nCSeq: 2 BYE\nContent-Length: 0\n\n")
	bye, _ := callee.Recv("BYE ")
	norm("callee gets the BYE", bye)
	callee.Send(kamailiotest.ViaAddr(t, bye), kamailiotest.Reply(bye, "200 OK", "", ""))
	byeOK, _ := caller.Recv("SIP/2.0 200")
	norm("caller gets the BYE's 200", byeOK)

	caller.Send(proxy, "MESSAGE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-m"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=m"+id+"\nTo: <sip:bob@example.com>\nCall-ID: m-"+cid+"\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n")
	stateless, _ := caller.Recv("SIP/2.0 403")
	norm("caller gets a 403 of the proxy's own", stateless)
	return seen
}

// early is a call answered with 180 (the callee's Contact and a
// Record-Route beyond it), an INFO from the caller in the early dialog
// (topos finds it by the INVITE's transaction), then cancelled.
func early(t *testing.T, proxy netip.AddrPort, caller, callee *kamailiotest.UA, id string) []string {
	t.Helper()
	var seen []string
	norm := recorder(&seen, proxy, caller, "CALLER", callee, "CALLEE", "Call-ID")
	cid := "early-" + id + "@192.0.2.7"
	invite := "INVITE sip:bob@" + callee.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + caller.Addr() + ";branch=z9hG4bK-e" + id + "\nMax-Forwards: 70\n" +
		"From: <sip:alice@example.com>;tag=a" + id + "\nTo: <sip:bob@example.com>\nCall-ID: " + cid + "\nCSeq: 1 INVITE\n" +
		"Contact: <sip:alice@" + caller.Addr() + ">\nContent-Length: 0\n\n"
	caller.Send(proxy, invite)
	inv, _ := callee.Recv("INVITE ")
	norm("callee gets the INVITE", inv)
	callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "180 Ringing", "b"+id,
		"Contact: <sip:bob@"+callee.Addr()+">\r\nRecord-Route: <sip:"+callee.Addr()+";lr>\r\n"))
	ring, _ := caller.Recv("SIP/2.0 180")
	norm("caller gets 180", ring)
	caller.Send(proxy, "INFO "+kamailiotest.URIOf(kamailiotest.Hdr(ring, "Contact"))+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-f"+id+"\n"+
		"Max-Forwards: 70\nFrom: <sip:alice@example.com>;tag=a"+id+"\nTo: "+kamailiotest.Hdr(ring, "To")+"\nCall-ID: "+cid+"\nCSeq: 2 INFO\n"+
		"Content-Length: 0\n\n")
	info, _ := callee.Recv("INFO ")
	norm("callee gets the early INFO", info)
	callee.Send(kamailiotest.ViaAddr(t, info), kamailiotest.Reply(info, "200 OK", "", ""))
	infoOK, _ := caller.Recv("SIP/2.0 200")
	norm("caller gets the INFO's 200", infoOK)
	caller.Send(proxy, "CANCEL sip:bob@"+callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-e"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=a"+id+"\nTo: <sip:bob@example.com>\nCall-ID: "+cid+"\nCSeq: 1 CANCEL\nContent-Length: 0\n\n")
	cancel, _ := callee.Recv("CANCEL ")
	norm("callee gets the CANCEL", cancel)
	callee.Send(kamailiotest.ViaAddr(t, cancel), kamailiotest.Reply(cancel, "200 OK", "", ""))
	callee.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "487 Request Terminated", "b"+id, ""))
	term, _ := caller.Recv("SIP/2.0 487")
	norm("caller gets 487", term)
	ack, _ := callee.Recv("ACK ")
	norm("callee gets tm's ACK", ack)
	return seen
}

// presence is a subscription: SUBSCRIBE and its 200, the notifier's
// NOTIFY upstream and its 200, then the subscriber's un-SUBSCRIBE
// (Expires 0) in the dialog and its 200.
func presence(t *testing.T, proxy netip.AddrPort, sub, notifier *kamailiotest.UA, id string) []string {
	t.Helper()
	var seen []string
	norm := recorder(&seen, proxy, sub, "SUBSCRIBER", notifier, "NOTIFIER", "Expires")
	cid := "pres-" + id + "@192.0.2.7"
	sub.Send(proxy, "SUBSCRIBE sip:bob@"+notifier.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+sub.Addr()+";branch=z9hG4bK-s"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=s"+id+"\nTo: <sip:bob@example.com>\nCall-ID: "+cid+"\nCSeq: 1 SUBSCRIBE\nEvent: presence\nExpires: 60\n"+
		"Contact: <sip:alice@"+sub.Addr()+">\nContent-Length: 0\n\n")
	req, _ := notifier.Recv("SUBSCRIBE ")
	norm("notifier gets the SUBSCRIBE", req)
	notifier.Send(kamailiotest.ViaAddr(t, req), kamailiotest.Reply(req, "200 OK", "n"+id, "Contact: <sip:bob@"+notifier.Addr()+">\r\nExpires: 60\r\n"))
	ok, _ := sub.Recv("SIP/2.0 200")
	norm("subscriber gets 200", ok)
	notifier.Send(proxy, "NOTIFY "+kamailiotest.URIOf(kamailiotest.Hdr(req, "Contact"))+" SIP/2.0\nVia: SIP/2.0/UDP "+notifier.Addr()+";branch=z9hG4bK-t"+id+"\n"+
		"Max-Forwards: 70\nFrom: <sip:bob@example.com>;tag=n"+id+"\nTo: "+kamailiotest.Hdr(req, "From")+"\nCall-ID: "+cid+"\nCSeq: 1 NOTIFY\n"+
		"Event: presence\nSubscription-State: active;expires=60\nContact: <sip:bob@"+notifier.Addr()+">\nContent-Length: 0\n\n")
	notify, _ := sub.Recv("NOTIFY ")
	norm("subscriber gets the NOTIFY", notify)
	sub.Send(kamailiotest.ViaAddr(t, notify), kamailiotest.Reply(notify, "200 OK", "", ""))
	nok, _ := notifier.Recv("SIP/2.0 200")
	norm("notifier gets the NOTIFY's 200", nok)
	sub.Send(proxy, "SUBSCRIBE "+kamailiotest.URIOf(kamailiotest.Hdr(ok, "Contact"))+" SIP/2.0\nVia: SIP/2.0/UDP "+sub.Addr()+";branch=z9hG4bK-u"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=s"+id+"\nTo: "+kamailiotest.Hdr(ok, "To")+"\nCall-ID: "+cid+"\nCSeq: 2 SUBSCRIBE\nEvent: presence\nExpires: 0\n"+
		"Contact: <sip:alice@"+sub.Addr()+">\nContent-Length: 0\n\n")
	unsub, _ := notifier.Recv("SUBSCRIBE ")
	norm("notifier gets the un-SUBSCRIBE", unsub)
	notifier.Send(kamailiotest.ViaAddr(t, unsub), kamailiotest.Reply(unsub, "200 OK", "", "Contact: <sip:bob@"+notifier.Addr()+">\r\nExpires: 0\r\n"))
	uok, _ := sub.Recv("SIP/2.0 200")
	norm("subscriber gets the un-SUBSCRIBE's 200", uok)
	return seen
}

// rows are the records each server left, the keys, times and ids aside.
func rows(t *testing.T, url string, proxy netip.AddrPort) []string {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []string
	for _, q := range [...][2]string{
		{"topos_d", "SELECT a_callid, a_uuid, b_uuid, a_contact, b_contact, as_contact, bs_contact, a_tag, b_tag, a_rr, b_rr, s_rr, iflags, s_method, s_cseq, x_context FROM topos_d"},
		{"topos_t", "SELECT a_callid, a_uuid, b_uuid, direction, x_via, x_rr, y_rr, s_rr, x_tag, s_method, s_cseq, a_contact, b_contact, as_contact, bs_contact, a_tag, b_tag FROM topos_t"},
	} {
		r, err := d.Query(context.Background(), q[1])
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		var recs []string
		for r.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				fmt.Fprintf(&b, " %s=%s", cols[i], v.String)
			}
			recs = append(recs, uids.ReplaceAllString(strings.ReplaceAll(b.String(), proxy.String(), "PROXY"), "${1}tpsh-UID"))
		}
		r.Close()
		sort.Strings(recs)
		out = append(out, q[0]+" rows:\n  "+strings.Join(recs, "\n  "))
	}
	return out
}

// TestKamailioDifferential: through Kamailio 5.6 and through kemi with
// the same config, each on a database of its own (SQLite, MariaDB), a
// call (INVITE with two Vias and a Record-Route behind the proxy, 100,
// 200 with a Record-Route beyond it, ACK and BYE downstream, INFO
// upstream and its 200) and a reply of the proxy's own reach each side
// with the same Vias, Record-Routes, Routes and Contacts (topos' keys
// aside), the script seeing the same rebuilt messages; neither side sees
// the other's addresses.
func TestKamailioDifferential(t *testing.T) {
	type backend struct {
		name string
		// start makes the storage of each server: the lines before the
		// modules and after topos, and what reads the records back
		start func(t *testing.T) (k, e [2]string, rowsK, rowsE func(proxy netip.AddrPort) []string)
	}
	var backends []backend
	for _, d := range kamailiotest.Databases() {
		backends = append(backends, backend{d.Name, func(t *testing.T) (k, e [2]string, rowsK, rowsE func(netip.AddrPort) []string) {
			kurl, eurl := d.URLs(t)
			k = [2]string{`loadmodule "` + d.Module + `"`, `modparam("topos", "db_url", "` + kurl + `")`}
			e = [2]string{`loadmodule "` + d.Module + `"`, `modparam("topos", "db_url", "` + eurl + `")`}
			return k, e, func(p netip.AddrPort) []string { return rows(t, kamailiotest.KemiURL(kurl), p) }, func(p netip.AddrPort) []string { return rows(t, eurl, p) }
		}})
	}
	backends = append(backends, backend{"Redis", func(t *testing.T) (k, e [2]string, rowsK, rowsE func(netip.AddrPort) []string) {
		port := kamailiotest.RedisServer(t)
		lines := func(db int) [2]string {
			return [2]string{`loadmodule "ndb_redis.so"` + "\n" + fmt.Sprintf(`modparam("ndb_redis", "server", "name=srv;addr=127.0.0.1;port=%d;db=%d")`, port, db),
				`modparam("topos", "storage", "redis")` + "\n" + `loadmodule "topos_redis.so"` + "\n" + `modparam("topos_redis", "serverid", "srv")`}
		}
		return lines(1), lines(2), func(p netip.AddrPort) []string { return redisRows(t, port, 1, p) }, func(p netip.AddrPort) []string { return redisRows(t, port, 2, p) }
	}})
	for _, b := range backends {
		for mode, extra := range []string{"", `modparam("topos", "contact_mode", 1)`, `modparam("topos", "rr_update", 1)`} {
			t.Run(fmt.Sprintf("%s/%d", b.name, mode), func(t *testing.T) {
				kl, el, rowsK, rowsE := b.start(t)
				pair := kamailiotest.StartPair(t, func(listen string) string {
					if listen == "" {
						return fmt.Sprintf(diffCfg, listen, el[0], el[1], extra)
					}
					return fmt.Sprintf(diffCfg, listen, kl[0], kl[1], extra)
				})
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
					}
				})
				caller, callee := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
				k := append(call(t, pair.Kamailio, caller, callee, "1"), early(t, pair.Kamailio, caller, callee, "2")...)
				e := append(call(t, pair.Kemi, caller, callee, "1"), early(t, pair.Kemi, caller, callee, "2")...)
				k = append(k, presence(t, pair.Kamailio, caller, callee, "3")...)
				e = append(e, presence(t, pair.Kemi, caller, callee, "3")...)
				k = append(k, rowsK(pair.Kamailio)...)
				e = append(e, rowsE(pair.Kemi)...)
				for i := range max(len(k), len(e)) {
					var ks, es string
					if i < len(k) {
						ks = k[i]
					}
					if i < len(e) {
						es = e[i]
					}
					if ks != es {
						t.Errorf("Kamailio:\n%s\nkemi:\n%s", ks, es)
					} else {
						t.Logf("both:\n%s", es)
					}
				}
			})
		}
	}
}

// redisRows are the hashes a server left in Redis database db: each key
// with its fields (rectime aside) and whether it expires, the keys and
// the proxy's address written as in rows.
func redisRows(t *testing.T, port, db int, proxy netip.AddrPort) []string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	do := func(args ...string) []string {
		fmt.Fprintf(c, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
		}
		return readRESP(t, r)
	}
	do("SELECT", fmt.Sprint(db))
	var recs []string
	for _, key := range do("KEYS", "*") {
		vals := do("HGETALL", key)
		var fields []string
		branch := "\x00"
		for i := 0; i+1 < len(vals); i += 2 {
			if vals[i] == "x_vbranch" {
				branch = vals[i+1]
			}
			if vals[i] != "rectime" {
				fields = append(fields, vals[i]+"="+vals[i+1])
			}
		}
		sort.Strings(fields)
		ttl := do("TTL", key)[0]
		// the proxy's branches differ: they are written BRANCH
		rec := strings.ReplaceAll(key+" expires="+fmt.Sprint(ttl != "-1")+" "+strings.Join(fields, " "), branch, "BRANCH")
		rec = xuid.ReplaceAllString(rec, ":xtpsh-UID")
		recs = append(recs, uids.ReplaceAllString(strings.ReplaceAll(rec, proxy.String(), "PROXY"), "${1}tpsh-UID"))
	}
	sort.Strings(recs)
	return []string{"redis keys:\n  " + strings.Join(recs, "\n  ")}
}

// readRESP reads one reply: an array's strings, or the one value.
func readRESP(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '*':
		n, _ := strconv.Atoi(line[1:])
		var out []string
		for range n {
			out = append(out, readRESP(t, r)...)
		}
		return out
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return []string{""}
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return []string{string(b[:n])}
	case '-':
		t.Fatalf("redis: %s", line)
	}
	return []string{line[1:]}
}
