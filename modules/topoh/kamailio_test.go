package topoh_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	_ "github.com/kemi-sip/kemi/modules/all"
)

// diffCfg is a record-routing stateful proxy with topoh; the script adds
// what it saw of each request (X-Seen), which must be the real message.
const diffCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "topoh.so"
modparam("topoh", "mask_key", "kemi topoh test key")
modparam("topoh", "mask_callid", %d)

request_route {
	append_hf("X-Seen: $rm $ru $ci $hdr(Route)\r\n");
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

// call runs one call between caller and callee through the proxy and
// returns what each got at each step, the proxy's address written PROXY,
// the UAs' CALLER and CALLEE, the proxy's own branch BRANCH.
func call(t *testing.T, proxy netip.AddrPort, caller, callee *kamailiotest.UA, id string) []string {
	t.Helper()
	var seen []string
	norm := func(step, m string) string {
		m = strings.ReplaceAll(m, proxy.String(), "PROXY")
		m = strings.ReplaceAll(m, caller.Addr(), "CALLER")
		m = strings.ReplaceAll(m, callee.Addr(), "CALLEE")
		first, _, _ := strings.Cut(m, "\r\n")
		m = first + "\r\n" + kamailiotest.Hdrs(m, "Via", "Record-Route", "Route", "Contact", "Call-ID", "X-Seen", "TH")
		// the proxy's own Via (on top of what it sends on) differs by its branch
		m = proxyBranch.ReplaceAllString(m, "${1}BRANCH")
		seen = append(seen, step+":\n  "+strings.ReplaceAll(strings.TrimSpace(m), "\r\n", "\n  "))
		return m
	}
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
	cid := "topoh-" + id + "@192.0.2.7"
	caller.Send(proxy, "INVITE sip:bob@"+callee.Addr()+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-i"+id+"\n"+
		"Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-up"+id+"\nMax-Forwards: 70\nRecord-Route: <sip:"+caller.Addr()+";lr>\n"+
		"From: <sip:alice@example.com>;tag=a"+id+"\nTo: <sip:bob@example.com>\nCall-ID: "+cid+"\nCSeq: 1 INVITE\n"+
		"Contact: <sip:alice@"+caller.Addr()+";transport=udp>\nContent-Length: 0\n\n")
	inv, _ := callee.Recv("INVITE ")
	norm("callee gets the INVITE", inv)
	leak("the callee", inv, caller.Addr(), "192.0.2.7:5060")
	trying, _ := caller.Recv("SIP/2.0 100")
	norm("caller gets 100", trying)

	// the callee answers with a Record-Route of its own on top, as a
	// proxy beside it would
	ok := strings.Replace(kamailiotest.Reply(inv, "200 OK", "b"+id, "Contact: <sip:bob@"+callee.Addr()+">\r\n"),
		"\r\nRecord-Route:", "\r\nRecord-Route: <sip:"+callee.Addr()+";lr>\r\nRecord-Route:", 1)
	callee.Send(kamailiotest.ViaAddr(t, inv), ok)
	ok200, _ := caller.Recv("SIP/2.0 200")
	norm("caller gets 200", ok200)
	leak("the caller", ok200, callee.Addr())

	// the caller's route set: the Record-Routes reversed, less its own
	rrs := rrList(ok200)
	route := rrs[len(rrs)-2] + ", " + rrs[0]
	toHdr := kamailiotest.Hdr(ok200, "To")
	target := kamailiotest.URIOf(kamailiotest.Hdr(ok200, "Contact"))
	caller.Send(proxy, "ACK "+target+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-a"+id+"\nMax-Forwards: 70\n"+
		"Route: "+route+"\nFrom: <sip:alice@example.com>;tag=a"+id+"\nTo: "+toHdr+"\nCall-ID: "+cid+"\nCSeq: 1 ACK\nContent-Length: 0\n\n")
	ack, _ := callee.Recv("ACK ")
	norm("callee gets the ACK", ack)
	leak("the callee", ack, caller.Addr())

	// upstream: the callee's INFO by the INVITE's Record-Routes
	irr := rrList(inv)
	mcid := kamailiotest.Hdr(inv, "Call-ID")
	callee.Send(proxy, "INFO "+kamailiotest.URIOf(kamailiotest.Hdr(inv, "Contact"))+" SIP/2.0\nVia: SIP/2.0/UDP "+callee.Addr()+";branch=z9hG4bK-n"+id+"\n"+
		"Max-Forwards: 70\nRoute: "+strings.Join(irr, ", ")+"\nFrom: <sip:bob@example.com>;tag=b"+id+"\nTo: "+kamailiotest.Hdr(inv, "From")+"\n"+
		"Call-ID: "+mcid+"\nCSeq: 1 INFO\nContact: <sip:bob@"+callee.Addr()+">\nContent-Length: 0\n\n")
	info, _ := caller.Recv("INFO ")
	norm("caller gets the INFO", info)
	leak("the caller", info, callee.Addr())
	caller.Send(kamailiotest.ViaAddr(t, info), kamailiotest.Reply(info, "200 OK", "", ""))
	infoOK, _ := callee.Recv("SIP/2.0 200")
	norm("callee gets the INFO's 200", infoOK)

	caller.Send(proxy, "BYE "+target+" SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-b"+id+"\nMax-Forwards: 70\n"+
		"Route: "+route+"\nFrom: <sip:alice@example.com>;tag=a"+id+"\nTo: "+toHdr+"\nCall-ID: "+cid+"\nCSeq: 2 BYE\nContent-Length: 0\n\n")
	bye, _ := callee.Recv("BYE ")
	norm("callee gets the BYE", bye)
	callee.Send(kamailiotest.ViaAddr(t, bye), kamailiotest.Reply(bye, "200 OK", "", ""))
	byeOK, _ := caller.Recv("SIP/2.0 200")
	norm("caller gets the BYE's 200", byeOK)

	// a reply of the proxy's own to a request it does not relay
	caller.Send(proxy, "MESSAGE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP "+caller.Addr()+";branch=z9hG4bK-m"+id+"\nMax-Forwards: 70\n"+
		"From: <sip:alice@example.com>;tag=m"+id+"\nTo: <sip:bob@example.com>\nCall-ID: m-"+cid+"\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n")
	stateless, _ := caller.Recv("SIP/2.0 403")
	norm("caller gets a 403 of the proxy's own", stateless)
	return seen
}

var proxyBranch = regexp.MustCompile(`(Via: SIP/2\.0/UDP PROXY;branch=)[^;\r\n]+`)

// rrList is the Record-Route entries of a message, in order.
func rrList(m string) []string {
	var out []string
	for _, l := range strings.Split(kamailiotest.Hdrs(m, "Record-Route"), "\r\n") {
		if _, v, ok := strings.Cut(l, ":"); ok {
			for _, e := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(e))
			}
		}
	}
	return out
}

// TestKamailioDifferential: through Kamailio 5.6 and through kemi with
// the same config and key, a call (INVITE with two Vias and a
// Record-Route behind the proxy, 100, 200 with a Record-Route beyond it,
// ACK and BYE downstream, INFO upstream and its 200) and a reply of the
// proxy's own reach each side with the same masked Vias, Record-Routes,
// Contacts and Call-IDs, byte for byte, and unmasked the same way; the
// script sees the real values in both; neither side sees the other's
// addresses.
func TestKamailioDifferential(t *testing.T) {
	for _, callid := range []int{1, 0} {
		pair := kamailiotest.StartPair(t, func(listen string) string { return fmt.Sprintf(diffCfg, listen, callid) })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("Kamailio's log:\n%s", pair.KamailioLog())
			}
		})
		// the same UAs for both: their addresses are in what is masked
		caller, callee := kamailiotest.NewUA(t), kamailiotest.NewUA(t)
		id := fmt.Sprint(callid)
		k := call(t, pair.Kamailio, caller, callee, id)
		e := call(t, pair.Kemi, caller, callee, id)
		for i := range max(len(k), len(e)) {
			var ks, es string
			if i < len(k) {
				ks = k[i]
			}
			if i < len(e) {
				es = e[i]
			}
			if ks != es {
				t.Errorf("mask_callid %d, Kamailio:\n%s\nkemi:\n%s", callid, ks, es)
			} else {
				t.Logf("mask_callid %d, both:\n%s", callid, es)
			}
		}
	}
}

// eventCfg: topology hiding is skipped for what goes to one address
// (msg-outgoing, on $sndto) and for requests from carol (msg-sending, on
// the message itself).
const eventCfg = `#!KAMAILIO
%s
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "topoh.so"
modparam("topoh", "mask_callid", 1)

request_route {
	record_route();
	t_relay();
}

event_route[topoh:msg-outgoing] {
	if ($sndto(ip) == "127.0.0.1" && $sndto(port) == %d && $sndto(proto) == 1 && $sndto(sproto) == "udp") {
		drop;
	}
}

event_route[topoh:msg-sending] {
	if (is_request() && $fU == "carol") {
		drop;
	}
}
`

// TestKamailioEvents: an INVITE to the address msg-outgoing drops for,
// and one from carol, whom msg-sending drops, go out unmasked (the
// cookie header of topoh's own in them, as Kamailio leaves it); another
// is masked — the same in Kamailio and kemi.
func TestKamailioEvents(t *testing.T) {
	caller, callee, plain := kamailiotest.NewUA(t), kamailiotest.NewUA(t), kamailiotest.NewUA(t)
	pair := kamailiotest.StartPair(t, func(listen string) string {
		return fmt.Sprintf(eventCfg, listen, kamailiotest.ViaAddr(t, "X\r\nVia: SIP/2.0/UDP "+plain.Addr()+"\r\n").Port())
	})
	run := func(proxy netip.AddrPort) []string {
		var out []string
		for i, c := range []struct {
			from string
			to   *kamailiotest.UA
		}{{"alice", callee}, {"alice", plain}, {"carol", callee}} {
			caller.Send(proxy, fmt.Sprintf("INVITE sip:bob@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-e%d\nMax-Forwards: 70\n"+
				"From: <sip:%s@example.com>;tag=e%d\nTo: <sip:bob@example.com>\nCall-ID: ev-%d\nCSeq: 1 INVITE\n"+
				"Contact: <sip:%s@%s>\nContent-Length: 0\n\n", c.to.Addr(), caller.Addr(), i, c.from, i, i, c.from, caller.Addr()))
			inv, _ := c.to.Recv("INVITE ")
			c.to.Send(kamailiotest.ViaAddr(t, inv), kamailiotest.Reply(inv, "486 Busy Here", "x", ""))
			caller.Recv("SIP/2.0 486")
			caller.Send(proxy, fmt.Sprintf("ACK sip:bob@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-e%d\nMax-Forwards: 70\n"+
				"From: <sip:%s@example.com>;tag=e%d\nTo: <sip:bob@example.com>;tag=x\nCall-ID: ev-%d\nCSeq: 1 ACK\nContent-Length: 0\n\n",
				c.to.Addr(), caller.Addr(), i, c.from, i, i))
			m := strings.ReplaceAll(kamailiotest.Hdrs(inv, "Via", "Contact", "Call-ID", "TH"), proxy.String(), "PROXY")
			m = strings.ReplaceAll(m, caller.Addr(), "CALLER")
			m = proxyBranch.ReplaceAllString(m, "${1}BRANCH")
			out = append(out, fmt.Sprintf("%s to %d:\n%s", c.from, i, m))
		}
		return out
	}
	k, e := run(pair.Kamailio), run(pair.Kemi)
	for i := range k {
		if k[i] != e[i] {
			t.Errorf("Kamailio:\n%s\nkemi:\n%s", k[i], e[i])
		} else {
			t.Logf("both:\n%s", e[i])
		}
	}
	if !strings.Contains(e[0], "127.0.0.8") || strings.Contains(e[1], "127.0.0.8") || strings.Contains(e[2], "127.0.0.8") {
		t.Errorf("masked only the first:\n%s", strings.Join(e, "\n"))
	}
}
