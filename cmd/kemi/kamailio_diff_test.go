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
	inf        bool // with the users file (-inf)
}

// domain is the proxy's domain in the tests (an alias= the copies add);
// alice and bob are its users, password secret.
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
		{"OPTIONS keepalive", "options.xml", false},
		{"REGISTER with digest authentication", "register-auth.xml", true},
		{"Max-Forwards 0", "maxfwd0.xml", true},
		{"call to an unknown user", "invite-unknown.xml", true},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			dir := t.TempDir()
			users := filepath.Join(dir, "users.csv")
			os.WriteFile(users, []byte("SEQUENTIAL\nalice;"+domain+";secret\n"), 0o644)
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
						extra = []string{"-inf", users}
					}
					file := repoFile("scripts", "sipp", sc.file)
					kr, kok, kout := sipptest.Exchange(t, sipp, file, "u1", fmt.Sprintf("127.0.0.1:%d", port), extra...)
					er, eok, eout := sipptest.Exchange(t, sipp, file, "u1", s.Addr(sip.TransportUDP).String(), extra...)
					if !kok {
						t.Fatalf("the scenario fails against Kamailio itself:\n%s\n--- kamailio\n%s", kout, sipptest.Tail([]byte(kp.Log())))
					}
					if !eok {
						t.Errorf("the scenario fails against kemi:\n%s\n--- kemi\n%s", eout, sipptest.Tail([]byte(logs.String())))
					}
					compareReplies(t, kr, er)
				})
			}
		})
	}
}

// diffDatabase makes a SQLite database with Kamailio's own schema
// scripts, the acc columns the config's header lists (ACCDB_COMMENT) and
// the users alice and bob, and returns its path.
func diffDatabase(t *testing.T, dir, name, cfgFile string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	d, err := db.Open("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var stmts []string
	for _, f := range []string{"standard", "auth_db", "usrloc", "permissions", "acc"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/kamailio/db_sqlite", f+"-create.sql"))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, strings.Split(string(b), ";")...)
	}
	cfg, _ := os.ReadFile(cfgFile)
	if _, rest, ok := strings.Cut(string(cfg), "#!ifdef ACCDB_COMMENT"); ok {
		comment, _, _ := strings.Cut(rest, "#!endif")
		stmts = append(stmts, strings.Split(comment, ";")...)
	}
	for _, s := range stmts {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := d.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
	for _, u := range []string{"alice", "bob"} {
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
func compareReplies(t *testing.T, kam, kemi []string) {
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
				t.Logf("message %d, %s: Kamailio %q, kemi %q (documented: %s)", i+1, key, k[key], e[key], why)
				continue
			}
			t.Errorf("message %d, %s: Kamailio %q, kemi %q", i+1, key, k[key], e[key])
		}
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
	if v := m.TopVia(); v != nil {
		f["Via received"] = string(v.Received)
		f["Via rport"] = portRE.ReplaceAllString(":"+string(v.RPort), ":PORT")
	}
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
