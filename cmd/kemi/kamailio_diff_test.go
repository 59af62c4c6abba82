package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
	"github.com/kemi-sip/kemi/engines/enginetest/sipptest"
)

// diffTarget is a config of the kamailio package run by both servers.
type diffTarget struct {
	name    string
	file    string   // the package's config
	listen  string   // the line of it that becomes the listen address
	defines []string // -A
}

// diffScenario is a sipp scenario (scripts/sipp) both servers get.
type diffScenario struct {
	name, file string
	inf        bool   // with the users file (-inf)
	callee     string // the callee's scenario, registered first as
	calleeUser string // this user (one per scenario: a contact left by another would fork the call)
}

// domain is the proxy's domain in the tests (an alias= the copies add);
// alice, bob and carol are its users, password secret.
const domain = "kemi.test"

// TestKamailioDifferential runs real Kamailio and kemi on the same
// configs of the kamailio package — the basic KEMI example in each of
// kemi's engines and the default config with authentication, NAT and the
// location in the database — each on its own SQLite database made by
// Kamailio's own schema scripts, drives both with the same sipp
// scenarios, and compares what each sends back: status and reason, and
// the header fields a proxy writes. The only edits to the configs are the
// database (db_sqlite and its URL, for MySQL) and the listen address.
func TestKamailioDifferential(t *testing.T) {
	kam := kamailiotest.Need(t)
	sipp := sipptest.Need(t)
	kemiDir := filepath.Join(kamailiotest.Examples, "kemi")
	basic := filepath.Join(kemiDir, "kamailio-basic-kemi.cfg")
	targets := []diffTarget{
		{"basic KEMI, native", basic, "#listen=udp:10.0.0.10:5060", nil},
		{"basic KEMI, Lua", basic, "#listen=udp:10.0.0.10:5060", []string{"WITH_CFGLUA"}},
		{"basic KEMI, JavaScript", basic, "#listen=udp:10.0.0.10:5060", []string{"WITH_CFGJSDT"}},
		{"basic KEMI, Python", basic, "#listen=udp:10.0.0.10:5060", []string{"WITH_CFGPYTHON3"}},
		{"default config", kamailiotest.DefaultConfig, "# listen=udp:10.0.0.10:5060",
			[]string{"WITH_MYSQL", "WITH_AUTH", "WITH_NAT", "WITH_USRLOCDB"}},
	}
	scenarios := []diffScenario{
		{"OPTIONS keepalive", "options.xml", false, "", ""},
		{"REGISTER with digest authentication", "register-auth.xml", true, "", ""},
		{"Max-Forwards 0", "maxfwd0.xml", true, "", ""},
		{"call to an unknown user", "invite-unknown.xml", true, "", ""},
		{"call between two users, BYE", "call-auth-uac.xml", true, "call-uas.xml", "bob"},
		{"CANCEL of a ringing call", "cancel-auth-uac.xml", true, "ringing-uas.xml", "carol"},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			dir := t.TempDir()

			port := kamailiotest.FreePort(t)
			edits := []string{`loadmodule "db_mysql.so"`, `loadmodule "db_sqlite.so"`,
				tg.listen, fmt.Sprintf("listen=udp:127.0.0.1:%[1]d\nlisten=tcp:127.0.0.1:%[1]d\nalias=\"%s\"", port, domain)}
			if tg.file == basic { // its scripts, where the package put them
				edits = append(edits, "/usr/local/etc/kamailio/", kemiDir+"/")
			}
			cfg := kamailiotest.Copy(t, tg.file, dir, edits...)
			// One database each, made as an operator would: Kamailio's
			// scripts, the columns the config's header asks for, the users.
			kdb, edb := diffDatabase(t, dir, "kamailio.db", tg.file), diffDatabase(t, dir, "kemi.db", tg.file)
			kdefs := append([]string{`DBURL="sqlite:///` + kdb + `"`}, tg.defines...)
			kp := kamailiotest.Start(t, kam, cfg, dir, fmt.Sprintf("127.0.0.1:%d", port), kdefs...)
			edefs := map[string]string{"DBURL": `"sqlite:///` + edb + `"`}
			for _, d := range tg.defines {
				edefs[d] = ""
			}
			s, logs := startListening(t, cfg, edefs, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					var extra []string
					if sc.inf {
						users := filepath.Join(t.TempDir(), "users.csv")
						os.WriteFile(users, []byte("SEQUENTIAL\nalice;"+domain+";secret;"+sc.calleeUser+"\n"), 0o644)
						extra = []string{"-inf", users}
					}
					run := func(server string) (caller, callee []string, failed string) {
						var party *sipptest.Party
						if sc.callee != "" {
							party = sipptest.StartParty(t, sipp, repoFile("scripts", "sipp", sc.callee), "u1", kamailiotest.FreePort(t))
							callee := filepath.Join(t.TempDir(), "callee.csv")
							os.WriteFile(callee, []byte(fmt.Sprintf("SEQUENTIAL\n%s;%s;secret;127.0.0.1:%d\n", sc.calleeUser, domain, party.Port)), 0o644)
							if _, ok, out := sipptest.Exchange(t, sipp, repoFile("scripts", "sipp", "register-contact.xml"), "u1", server, "-inf", callee); !ok {
								return nil, nil, sc.calleeUser + "'s REGISTER: " + out
							}
						}
						caller, ok, out := sipptest.Exchange(t, sipp, repoFile("scripts", "sipp", sc.file), "u1", server, extra...)
						if !ok {
							failed = "the caller: " + out
						}
						if party != nil {
							var pok bool
							var pout string
							callee, pok, pout = party.Wait()
							if !pok {
								failed += "\nthe callee: " + pout
							}
						}
						return caller, callee, failed
					}
					kr, kc, kfail := run(fmt.Sprintf("127.0.0.1:%d", port))
					if kfail != "" {
						t.Fatalf("the scenario fails against Kamailio itself:\n%s\n--- kamailio\n%s", kfail, sipptest.Tail([]byte(kp.Log())))
					}
					er, ec, efail := run(s.Addr(sip.TransportUDP).String())
					if efail != "" {
						t.Errorf("the scenario fails against kemi:\n%s\n--- kemi\n%s", efail, sipptest.Tail([]byte(logs.String())))
					}
					// The caller listens on the same port in both runs: a
					// reply Kamailio retransmits late (its 487 while the
					// caller's ACK was on its way) reaches kemi's run. A
					// message of a call the run did not make is not its own.
					er = withoutCalls(er, callIDs(kr))
					// Retransmissions depend on timing (a loaded machine
					// sends one more): each message is compared once.
					kr, er, kc, ec = unique(kr), unique(er), unique(kc), unique(ec)
					compareReplies(t, "caller", kr, er)
					// The callee's ACK is optional in its scenario (on a
					// loaded machine the BYE can come first, and sipp then
					// takes the call as ended): compared when both got one.
					if acks(kc) != acks(ec) {
						t.Logf("the callee got the ACK from one of the two only (Kamailio %d, kemi %d): ACKs left out of the comparison", acks(kc), acks(ec))
						kc, ec = withoutACK(kc), withoutACK(ec)
					}
					compareReplies(t, "callee", kc, ec)
				})
			}
		})
	}
}

// unique is msgs without repeats (retransmissions): a message whose
// compared facts, CSeq, To tag and top Via branch are those of one before
// it is the same message sent again. Not bytes: CI once saw kemi's 487 to
// a cancelled call twice, the copies differing in bytes the facts do not
// cover (the raw messages are logged on a failure, to find out what); a
// different final reply has a To tag of its own, a new branch a branch.
func unique(msgs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range msgs {
		key := messageKey(m)
		if !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}
	return out
}

// messageKey is what unique compares: the CSeq, the To tag, the top
// Via's branch (a new branch is a new request) and the facts.
func messageKey(msg string) string {
	var m sip.Msg
	if err := m.Parse([]byte(msg)); err != nil {
		return msg
	}
	f := replyFacts(msg)
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	branch := ""
	if v := m.TopVia(); v != nil {
		branch = string(v.Branch)
	}
	b.WriteString(strconv.Itoa(int(m.CSeq())) + " " + string(m.CSeqMethodName()) + "|" + string(m.To().Tag) + "|" + branch)
	for _, k := range keys {
		b.WriteString("|" + k + "=" + f[k])
	}
	return b.String()
}

// callIDs is the set of the Call-IDs of msgs.
func callIDs(msgs []string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range msgs {
		var p sip.Msg
		if p.Parse([]byte(m)) == nil {
			ids[string(p.CallID())] = true
		}
	}
	return ids
}

// withoutCalls is msgs without the messages of the calls in ids.
func withoutCalls(msgs []string, ids map[string]bool) []string {
	var out []string
	for _, m := range msgs {
		var p sip.Msg
		if p.Parse([]byte(m)) == nil && ids[string(p.CallID())] {
			continue
		}
		out = append(out, m)
	}
	return out
}

func acks(msgs []string) int {
	return len(msgs) - len(withoutACK(msgs))
}

func withoutACK(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if !strings.HasPrefix(m, "ACK ") {
			out = append(out, m)
		}
	}
	return out
}

// diffDatabase makes a SQLite database with Kamailio's own schema
// scripts, the acc columns the config's header lists (ACCDB_COMMENT) and
// the users alice, bob and carol, and returns its path.
func diffDatabase(t *testing.T, dir, name, cfgFile string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	d, err := db.Open("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.ExecFiles(ctx, "/usr/share/kamailio/db_sqlite", "standard-create.sql", "auth_db-create.sql", "usrloc-create.sql", "permissions-create.sql", "acc-create.sql"); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(cfgFile)
	if _, rest, ok := strings.Cut(string(cfg), "#!ifdef ACCDB_COMMENT"); ok {
		comment, _, _ := strings.Cut(rest, "#!endif")
		if err := d.ExecScript(ctx, comment); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := d.AddUser(ctx, u, domain, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// The differences kemi has on purpose, by header field: the text of its
// Server header names kemi.
var documentedDifferences = map[string]string{
	"Server": "kemi's local replies say Server: kemi (version), Kamailio's Server: kamailio (version)",
}

// compareReplies compares what Kamailio and kemi sent back, message by
// message: the status line, and the fields a proxy writes or keeps.
func compareReplies(t *testing.T, who string, kam, kemi []string) {
	t.Helper()
	n := max(len(kam), len(kemi))
	for i := range n {
		var k, e map[string]string
		if i < len(kam) {
			k = replyFacts(kam[i])
		}
		if i < len(kemi) {
			e = replyFacts(kemi[i])
		}
		var keys []string
		for key := range k {
			keys = append(keys, key)
		}
		for key := range e {
			if _, ok := k[key]; !ok {
				keys = append(keys, key)
			}
		}
		sort.Strings(keys)
		for _, key := range keys {
			if k[key] == e[key] {
				continue
			}
			if why, ok := documentedDifferences[key]; ok && k[key] != "" && e[key] != "" {
				t.Logf("%s, message %d, %s: Kamailio %q, kemi %q (documented: %s)", who, i+1, key, k[key], e[key], why)
				continue
			}
			t.Errorf("%s, message %d, %s: Kamailio %q, kemi %q", who, i+1, key, k[key], e[key])
		}
	}
	if t.Failed() {
		t.Logf("%s: Kamailio's messages:\n%s\n%s: kemi's:\n%s", who, strings.Join(kam, "\n----\n"), who, strings.Join(kemi, "\n----\n"))
	}
}

var portRE = regexp.MustCompile(`:\d{2,5}\b`)

// replyFacts is what of a message is compared: its status line, the
// top Via's received and rport, the To tag's presence, the presence
// of Contact, Server, Record-Route and Route and the challenge's realm,
// algorithm and qop.
func replyFacts(msg string) map[string]string {
	var m sip.Msg
	if err := m.Parse([]byte(msg)); err != nil {
		return map[string]string{"parse": err.Error() + " " + strconv.Quote(msg)}
	}
	f := map[string]string{}
	if m.IsRequest() {
		f["request"] = string(m.MethodName())
	} else {
		f["status"] = strconv.Itoa(m.StatusCode()) + " " + string(m.Reason())
	}
	// Every Via: what the proxy wrote into the sender's (received, rport
	// with force_rport) as well as its own.
	var v sip.Via
	it := m.Vias()
	for n := 1; it.Next(&v); n++ {
		k := "Via " + strconv.Itoa(n)
		f[k+" received"] = string(v.Received)
		f[k+" rport"] = portRE.ReplaceAllString(":"+string(v.RPort), ":PORT")
		if v.HasRPort && len(v.RPort) == 0 {
			f[k+" rport"] = "(no value)"
		}
	}
	// The order of the fields a proxy adds: Record-Route above or below
	// its Via.
	var order []string
	for i := 0; i < m.NumHeaders(); i++ {
		switch h := m.Header(i); h.Type {
		case sip.HdrVia, sip.HdrRecordRoute, sip.HdrRoute:
			if name := h.Type.String(); len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
		}
	}
	f["order of Via, Record-Route, Route"] = strings.Join(order, " ")
	f["To tag"] = strconv.FormatBool(len(m.To().Tag) > 0)
	for _, h := range []string{"Contact", "Server", "Record-Route", "Route", "Allow", "Supported"} {
		n := 0
		for i := 0; i < m.NumHeaders(); i++ {
			if sip.EqualFold(m.Header(i).Name, []byte(h)) {
				n++
				if h == "Server" {
					f["Server"] = string(m.Header(i).Value)
				}
			}
		}
		if h != "Server" {
			f[h] = strconv.Itoa(n)
		}
	}
	for name, get := range map[string]func() (*sip.Digest, error){"WWW-Authenticate": m.WWWAuthenticate, "Proxy-Authenticate": m.ProxyAuthenticate} {
		if d, err := get(); err == nil && d != nil {
			f[name] = "realm=" + string(d.Realm) + " algorithm=" + string(d.Algorithm) + " qop=" + string(d.QOP)
		}
	}
	return f
}
