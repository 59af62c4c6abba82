package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestClusterSharedLocation: three kemi processes run the reference
// proxy with one location table (WITH_USRLOCDB, db_mode 3) on PostgreSQL
// and on MariaDB. Thirty users register, each on node i%3; each is
// called through another node, which finds its contact in the table and
// relays the INVITE to it. Node 1 is killed (-9): the others still find
// the users it registered; started again, it finds every user.
func TestClusterSharedLocation(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{{"PostgreSQL", moduletest.Postgres}, {"MariaDB", moduletest.MySQL}} {
		t.Run(db.name, func(t *testing.T) {
			url := db.url(t)
			defines := map[string]string{"WITH_USRLOCDB": "", "USRLOC_DBMODE": "3", "DBURL": strconv.Quote(url), "SIP_DOMAIN": testDomain}
			cfg := repoFile("scripts", "proxy", "kamailio.cfg")
			ports := []int{freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)}
			nodes := make([]*child, 3)
			for i, p := range ports {
				nodes[i] = startChild(t, cfg, defines, p)
			}
			// The phone every user registers: it answers each INVITE it
			// gets with a 200 and reports the user it was for.
			phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			const users = 30
			for i := range users {
				ua := newUA(t, nodes[i%3].addr)
				ua.send(registerMsg(fmt.Sprintf("c%d", i), ua.addr(), phone.LocalAddr().String(), 1, ""), nil)
				if r, _ := ua.recv(3 * time.Second); r == nil || r.StatusCode() != 200 {
					t.Fatalf("REGISTER of c%d on node %d: %v", i, i%3+1, r)
				}
			}
			if n := moduletest.Rows(t, url, "SELECT COUNT(*) FROM location"); n != users {
				t.Fatalf("%d rows in the location table, want %d", n, users)
			}
			// call makes an INVITE to user through node and reports whether
			// the phone got it.
			call := func(user string, node *child) bool {
				t.Helper()
				ua := newUA(t, node.addr)
				ua.send(fmt.Sprintf("INVITE sip:%[1]s@%[2]s SIP/2.0\r\nVia: SIP/2.0/UDP %[3]s;branch=z9hG4bK-cl-%[1]s-%[4]d;rport\r\n"+
					"Max-Forwards: 70\r\nFrom: <sip:caller@%[2]s>;tag=cl\r\nTo: <sip:%[1]s@%[2]s>\r\nCall-ID: cl-%[1]s-%[4]d\r\n"+
					"CSeq: 1 INVITE\r\nContact: <sip:caller@%[3]s>\r\nContent-Length: 0\r\n\r\n", user, testDomain, ua.addr(), time.Now().UnixNano()), nil)
				buf := make([]byte, 65536)
				phone.SetReadDeadline(time.Now().Add(3 * time.Second))
				for {
					n, from, err := phone.ReadFromUDP(buf)
					if err != nil {
						return false
					}
					var m sip.Msg
					if m.Parse(buf[:n]) != nil || !m.IsRequest() || m.Method() != sip.MethodINVITE {
						continue
					}
					if !strings.HasPrefix(string(m.RURIText()), "sip:"+user+"@") {
						continue // a retransmission of an earlier call
					}
					phone.WriteToUDP(sip.AppendReply(nil, &m, &sip.Reply{Code: 200, Reason: "OK", ToTag: []byte("cl"),
						Headers: []byte("Contact: <sip:" + user + "@" + phone.LocalAddr().String() + ">\r\n")}), from)
					r, _ := ua.recv(3 * time.Second)
					for r != nil && r.StatusCode() < 200 {
						r, _ = ua.recv(3 * time.Second)
					}
					return r != nil && r.StatusCode() == 200
				}
			}
			for i := range users {
				if !call(fmt.Sprintf("c%d", i), nodes[(i+1)%3]) {
					t.Fatalf("c%d, registered on node %d, not reached through node %d", i, i%3+1, (i+1)%3+1)
				}
			}
			nodes[0].kill9(t)
			for i := 0; i < users; i += 3 { // node 1's own users, through the others
				if !call(fmt.Sprintf("c%d", i), nodes[1+i%2]) {
					t.Fatalf("node 1 killed: c%d (registered there) not reached through node %d", i, 2+i%2)
				}
			}
			nodes[0] = startChild(t, cfg, defines, ports[0])
			for i := range users {
				if !call(fmt.Sprintf("c%d", i), nodes[0]) {
					t.Fatalf("node 1 started again: c%d not reached through it", i)
				}
			}
			t.Logf("%s: %d users registered over 3 nodes, each reached through another; after node 1's kill -9, its users through the others; after its restart, all through it", db.name, users)
		})
	}
}
