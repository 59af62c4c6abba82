package registrar_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/engines/enginetest/proxytest"
	"github.com/kemi-sip/kemi/engines/enginetest/siptest"
	"github.com/kemi-sip/kemi/modules/auth"
	"github.com/kemi-sip/kemi/modules/moduletest"
	"github.com/kemi-sip/kemi/modules/registrar"
)

const snippet = "loadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"

func TestSaveAndLookup(t *testing.T) {
	k := moduletest.New(t, snippet+"modparam(\"registrar\", \"max_expires\", 600)")
	k.Request(moduletest.Register)
	if rc := k.CallInt("registrar.save", "location", 0); rc != 1 {
		t.Fatalf("save: %d, want 1 (inserted)", rc)
	}
	r := k.Reply()
	if r.StatusCode() != 200 || !strings.Contains(r.Header("Contact"), "<sip:alice@192.0.2.10:5062>;expires=600") {
		t.Errorf("save's reply %d, Contact %q (max_expires 600)", r.StatusCode(), r.Header("Contact"))
	}
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:alice@example.com SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"registrar.registered", []any{"location"}, "1"},
		{"registrar.lookup", []any{"location"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:alice@192.0.2.10:5062"},
		{"registrar.lookup_uri", []any{"location", "sip:nobody@example.com"}, "-1"},
		{"registrar.registered_uri", []any{"location", "sip:nobody@example.com"}, "-1"},
		{"registrar.unregister", []any{"location", "sip:alice@example.com"}, "1"},
		{"registrar.registered_uri", []any{"location", "sip:alice@example.com"}, "-1"},
	})
	if n := k.Module("registrar").(*registrar.Module).Stats.Accepted.Load(); n != 1 {
		t.Errorf("accepted_regs %d, want 1", n)
	}
	// save natively with one parameter, and with the no-reply flag.
	k.Request(moduletest.Register)
	k.Native("save", "location", "0x02")
	k.NothingSent()
	k.Request(moduletest.Register)
	k.Native("save", "location")
	if r := k.Reply(); r.StatusCode() != 200 {
		t.Errorf("native save: %d", r.StatusCode())
	}
}

func TestSaveRefuses(t *testing.T) {
	k := moduletest.New(t, snippet)
	k.Request(strings.Replace(moduletest.Register, "Contact: <sip:alice@192.0.2.10:5062>", "Contact: <not a uri", 1))
	if rc := k.CallInt("registrar.save", "location", 0); rc != -1 {
		t.Errorf("a bad Contact: save %d, want -1", rc)
	}
	if r := k.Reply(); r.StatusCode() != 400 || r.Header("P-Registrar-Error") == "" {
		t.Errorf("a bad Contact: %d %q", r.StatusCode(), r.Header("P-Registrar-Error"))
	}
	k.Request(moduletest.Invite)
	if rc := k.CallInt("registrar.save", "location", 0); rc != -1 {
		t.Errorf("save of an INVITE: %d", rc)
	}
}

func TestNeedsUsrlocAndSL(t *testing.T) {
	if _, err := moduletest.NewErr(t, "loadmodule \"sl.so\"\nloadmodule \"registrar.so\""); err == nil || !strings.Contains(err.Error(), `loadmodule "usrloc.so"`) {
		t.Errorf("without usrloc: %v", err)
	}
}

// TestTwoRegistrarsOneProcess: two proxies in one process, each with its
// own subscriber table and max_expires, both serving real UDP: a user of
// one is unknown to the other, and each keeps its own bindings.
func TestTwoRegistrarsOneProcess(t *testing.T) {
	dir := t.TempDir()
	var proxies []*proxytest.Proxy
	for i, c := range []struct {
		user       string
		maxExpires int
	}{{"alice", 300}, {"bob", 900}} {
		url := moduletest.SQLite(t)
		d, err := db.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.AddUser(context.Background(), c.user, "example.com", "secret"); err != nil {
			t.Fatal(err)
		}
		d.Close()
		cfg := fmt.Sprintf(`loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", %q)
modparam("registrar", "max_expires", %d)
request_route {
	if (!auth_check("example.com", "subscriber", "1")) {
		auth_challenge("example.com", "0");
		exit;
	}
	save("location");
}
`, url, c.maxExpires)
		path := filepath.Join(dir, fmt.Sprintf("k%d.cfg", i))
		os.WriteFile(path, []byte(cfg), 0o644)
		proxies = append(proxies, proxytest.Start(t, path, nil))
	}
	ua := siptest.New(t, "phone")
	registers := func(p *proxytest.Proxy, user string) *sip.Msg {
		t.Helper()
		req := strings.NewReplacer("alice", user, "192.0.2.10:5062", ua.Addr().String()).Replace(moduletest.Register)
		ua.Send(p.Addr, req)
		nonce := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(siptestHeader(ua.Expect("SIP/2.0 401"), "WWW-Authenticate"))[1]
		var h, r [64]byte
		ha1 := auth.MD5.HA1(h[:], []byte(user), []byte("example.com"), []byte("secret"))
		resp := auth.MD5.Response(r[:], ha1, []byte(nonce), nil, nil, nil, []byte("REGISTER"), []byte("sip:example.com"), nil)
		cred := fmt.Sprintf("Authorization: Digest username=%q, realm=\"example.com\", nonce=%q, uri=\"sip:example.com\", response=%q\n", user, nonce, resp)
		ua.Send(p.Addr, strings.Replace(strings.Replace(req, "CSeq: 1 ", "CSeq: 2 ", 1), "Expires: 3600\n", "Expires: 3600\n"+cred, 1))
		return ua.Recv(3 * time.Second)
	}
	for i, c := range []struct {
		proxy   int
		user    string
		code    int
		expires string
	}{{0, "alice", 200, "expires=300"}, {1, "bob", 200, "expires=900"}, {1, "alice", 401, ""}, {0, "bob", 401, ""}} {
		m := registers(proxies[c.proxy], c.user)
		if m == nil || m.StatusCode() != c.code {
			t.Errorf("case %d (%s at proxy %d): got %v, want %d", i, c.user, c.proxy, m, c.code)
			continue
		}
		if c.expires != "" && !strings.Contains(siptestHeader(m, "Contact"), c.expires) {
			t.Errorf("case %d: Contact %q, want %s", i, siptestHeader(m, "Contact"), c.expires)
		}
	}
	for i, p := range proxies {
		if n := p.Table.Module("registrar").(*registrar.Module).Stats.Accepted.Load(); n != 1 {
			t.Errorf("proxy %d: %d registrations, want 1", i, n)
		}
	}
}

func siptestHeader(m *sip.Msg, name string) string {
	for _, l := range strings.Split(string(m.Bytes()), "\r\n")[1:] {
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(n, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestMoreFunctions: save_uri with set_q_override and a reply left for
// reg_send_reply; lookup_to_dset; registered_flags matching the xavp_cfg
// Call-ID and filling xavp_rcd; the $ulc profiles; add_sock_hdr.
func TestMoreFunctions(t *testing.T) {
	k := moduletest.New(t, snippet+"modparam(\"registrar\", \"xavp_cfg\", \"reg\")\nmodparam(\"registrar\", \"xavp_rcd\", \"ulrcd\")")
	k.Request(strings.Replace(moduletest.Register, "Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:alice@192.0.2.10:5062>, <sip:alice@192.0.2.11>", 1))
	k.Run([]moduletest.Case{
		{"registrar.reg_send_reply", nil, "-1"}, // nothing left yet
		{"registrar.set_q_override", []any{"0.3"}, "1"},
		{"registrar.save_uri", []any{"location", 2, "sip:carol@example.com"}, "1"},
	})
	k.NothingSent()
	k.Run([]moduletest.Case{{"registrar.reg_send_reply", nil, "1"}})
	if r := k.Reply(); r.StatusCode() != 200 || !strings.Contains(r.Header("Contact"), "q=0.3") {
		t.Errorf("reg_send_reply: %d, Contact %q", r.StatusCode(), r.Header("Contact"))
	}
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:carol@example.com SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"registrar.registered_uri", []any{"location", "sip:alice@example.com"}, "-1"}, // saved for carol
		{"registrar.lookup_to_dset", []any{"location", ""}, "1"},
		{"pv.get", []any{"$ru"}, "sip:carol@example.com"},
		{"pv.sets", []any{"$xavp(reg=>match_callid)", "another-call"}, "1"},
		{"registrar.registered_flags", []any{"location", "", 1}, "-1"},
		{"registrar.registered_flags", []any{"location", "", 0}, "1"},
		{"pv.get", []any{"$xavp(ulrcd=>contact)"}, "sip:alice@192.0.2.10:5062"},
		{"pv.sets", []any{"$xavp(reg[0]=>match_callid)", "register-1@192.0.2.10"}, "1"},
		{"registrar.registered_action", []any{"location", "", 1, 2}, "1"},
		{"registrar.reg_fetch_contacts", []any{"location", "sip:carol@example.com", "c"}, "1"},
		{"pv.get", []any{"$ulc(c=>count)"}, "2"},
		{"pv.get", []any{"$ulc(c=>aor)"}, "carol"},
		{"pv.get", []any{"$(ulc(c=>addr)[1])"}, "sip:alice@192.0.2.11"},
		{"pv.get", []any{"$ulc(c=>callid)"}, "register-1@192.0.2.10"},
		{"registrar.reg_free_contacts", []any{"c"}, "1"},
		{"pv.get", []any{"$ulc(c=>count)"}, ""},
		{"registrar.reg_fetch_contacts", []any{"location", "sip:nobody@example.com", "c"}, "-1"},
		{"registrar.add_sock_hdr", []any{"X-Sock"}, "1"},
	})
	if b := len(k.Ctx().Branches()); b != 2 {
		t.Errorf("lookup_to_dset: %d branches, want 2", b)
	}
	if out := k.Out(); !strings.Contains(out, "X-Sock: udp:127.0.0.1:5060\r\n") {
		t.Errorf("add_sock_hdr:\n%s", out)
	}
	// An error reply is left for reg_send_reply too.
	k.Request(strings.Replace(moduletest.Register, "Expires: 3600", "Expires: x", 1))
	k.Run([]moduletest.Case{{"registrar.save", []any{"location", 2}, "-1"}})
	k.NothingSent()
	k.Run([]moduletest.Case{{"registrar.reg_send_reply", nil, "1"}})
	if r := k.Reply(); r.StatusCode() != 400 {
		t.Errorf("reg_send_reply after a refused save: %d, want 400", r.StatusCode())
	}
}
