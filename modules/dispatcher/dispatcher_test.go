package dispatcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/modules/dispatcher"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// kit loads dispatcher on a list file of the test's with the extra
// module parameters given.
func kit(t *testing.T, listText string, params ...string) (*moduletest.Kit, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(listText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "loadmodule \"dispatcher.so\"\nmodparam(\"dispatcher\", \"list_file\", \"" + path + "\")\n"
	for i := 0; i+1 < len(params); i += 2 {
		cfg += "modparam(\"dispatcher\", \"" + params[i] + "\", " + params[i+1] + ")\n"
	}
	return moduletest.New(t, cfg), path
}

const threeGW = `# set uri flags priority attrs
1 sip:10.0.0.1:5060 0 0 duid=gw1;maxload=2
1 sip:10.0.0.2:5060 0 5 duid=gw2;maxload=2
1 sip:10.0.0.3:5060 0 0 duid=gw3;maxload=2
2 sip:192.0.2.10:5062 0 0 tag=client
3 10.0.3.1;transport=tcp
`

// dsts are the uri fields of the _dsdst_ XAVP items, the first first.
func dsts(c *router.Ctx) []string {
	var out []string
	for i := 0; ; i++ {
		v := c.XAVP("_dsdst_", i, "uri", 0)
		if v.IsNull() {
			return out
		}
		out = append(out, v.String())
	}
}

// TestSerialFailover: the order Kamailio indexes a set in (the highest
// priority first, within one the last listed first), $du set to the
// first, the others in _dsdst_ for ds_next_dst, the count in _dsctx_;
// ds_next_dst walks them and fails past the last.
func TestSerialFailover(t *testing.T) {
	k, _ := kit(t, threeGW, "flags", "2")
	c := k.Request(moduletest.Invite)
	if rc := k.CallInt("dispatcher.ds_select_dst", 1, 8); rc != 1 {
		t.Fatalf("ds_select_dst(1, 8) = %d", rc)
	}
	want := []string{"sip:10.0.0.2:5060", "sip:10.0.0.3:5060", "sip:10.0.0.1:5060"}
	if got := dsts(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("_dsdst_ uris %v, want %v", got, want)
	}
	if du := string(c.DstURI()); du != want[0] {
		t.Errorf("$du %q, want %q", du, want[0])
	}
	if cnt := c.XAVP("_dsctx_", 0, "cnt", 0); cnt.I != 3 {
		t.Errorf("$xavp(_dsctx_=>cnt) = %s, want 3", cnt)
	}
	if g := c.XAVP("_dsdst_", 0, "grp", 0); g.I != 1 {
		t.Errorf("$xavp(_dsdst_=>grp) = %s", g)
	}
	if a := c.XAVP("_dsdst_", 0, "attrs", 0).String(); a != "duid=gw2;maxload=2" {
		t.Errorf("$xavp(_dsdst_=>attrs) = %q", a)
	}
	for _, next := range want[1:] {
		if rc := k.CallInt("dispatcher.ds_next_dst"); rc != 1 || string(c.DstURI()) != next {
			t.Fatalf("ds_next_dst: %d, $du %q, want 1, %q", rc, c.DstURI(), next)
		}
	}
	if rc := k.CallInt("dispatcher.ds_next_dst"); rc != -1 {
		t.Errorf("ds_next_dst past the last: %d, want -1", rc)
	}
	// A limit keeps that many; the native face takes it as a third parameter.
	c = k.Request(moduletest.Invite)
	if rc := k.Native("ds_select_dst", "1", "8", "2").I; rc != 1 || len(dsts(c)) != 2 {
		t.Errorf("ds_select_dst(1, 8, 2): %d, %v", rc, dsts(c))
	}
	// Without the failover flag nothing is kept and ds_next_dst fails.
	k2, _ := kit(t, threeGW)
	c = k2.Request(moduletest.Invite)
	k2.CallInt("dispatcher.ds_select_dst", 1, 8)
	if len(dsts(c)) != 0 || k2.CallInt("dispatcher.ds_next_dst") != -1 {
		t.Errorf("flags 0: _dsdst_ %v", dsts(c))
	}
}

// TestAlgorithms: the hash over the Call-ID picks index hash % n (the
// same one as Kamailio's, TestHash), round robin goes around, a
// destination out of use is skipped, weights give their share of each
// hundred calls exactly, call load goes to the least loaded until
// maxload.
func TestAlgorithms(t *testing.T) {
	k, _ := kit(t, threeGW+`4 sip:10.0.4.1 0 0 weight=50
4 sip:10.0.4.2 0 0 weight=30
4 sip:10.0.4.3 0 0 weight=20
`, "flags", "2", "ds_hash_size", "4")
	order := []string{"sip:10.0.0.2:5060", "sip:10.0.0.3:5060", "sip:10.0.0.1:5060"}
	// Call-ID "invite-1@192.0.2.10": Kamailio's hash is 1866227958, % 3 = 0... computed here
	// by the same function TestHash checks.
	c := k.Request(moduletest.Invite)
	k.CallInt("dispatcher.ds_select_dst", 1, 0)
	first := string(c.DstURI())
	for i := 0; i < 3; i++ { // the same Call-ID, the same destination
		c = k.Request(moduletest.Invite)
		k.CallInt("dispatcher.ds_select_dst", 1, 0)
		if string(c.DstURI()) != first {
			t.Fatalf("hash over the Call-ID: %q then %q", first, c.DstURI())
		}
	}
	var got []string
	for i := 0; i < 4; i++ {
		c = k.Request(moduletest.Invite)
		k.CallInt("dispatcher.ds_select_dst", 1, 4)
		got = append(got, string(c.DstURI()))
	}
	if want := append(order, order[0]); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("round robin: %v, want %v", got, want)
	}
	// Mark the next one (10.0.0.3) inactive: round robin skips it.
	c = k.Request(moduletest.Invite)
	k.CallInt("dispatcher.ds_select_dst", 1, 4)
	if string(c.DstURI()) != "sip:10.0.0.3:5060" {
		t.Fatalf("round robin goes on to %q", c.DstURI())
	}
	if k.CallInt("dispatcher.ds_mark_dst_state", "ip") != 1 {
		t.Fatal("ds_mark_dst(ip)")
	}
	if k.CallInt("dispatcher.ds_is_active_uri", 1, "sip:10.0.0.3:5060") != -1 || k.CallInt("dispatcher.ds_is_active", 1) != 1 {
		t.Error("ds_is_active after ds_mark_dst")
	}
	got = got[:0]
	for i := 0; i < 3; i++ {
		c = k.Request(moduletest.Invite)
		k.CallInt("dispatcher.ds_select_dst", 1, 4)
		got = append(got, string(c.DstURI()))
	}
	if strings.Contains(strings.Join(got, " "), "10.0.0.3") {
		t.Errorf("an inactive destination selected: %v", got)
	}
	if r, _ := k.Table.CallRPC("dispatcher.list"); !strings.Contains(moduletest.JSON(r), `"FLAGS":"IP","PRIORITY":0,"RUNTIME":{"DLGLOAD":0},"URI":"sip:10.0.0.3:5060"`) {
		t.Errorf("dispatcher.list: %s", moduletest.JSON(r))
	}
	if _, err := k.Table.CallRPC("dispatcher.set_state", "a", 1, "sip:10.0.0.3:5060"); err != nil {
		t.Fatal(err)
	}
	if k.CallInt("dispatcher.ds_is_active_uri", 1, "sip:10.0.0.3:5060") != 1 {
		t.Error("dispatcher.set_state a: still inactive")
	}
	// Weights: 50, 30, 20 of each hundred.
	n := map[string]int{}
	for i := 0; i < 100; i++ {
		c = k.Request(moduletest.Invite)
		k.CallInt("dispatcher.ds_select_dst", 4, 9)
		n[string(c.DstURI())]++
	}
	if n["sip:10.0.4.1"] != 50 || n["sip:10.0.4.2"] != 30 || n["sip:10.0.4.3"] != 20 {
		t.Errorf("weights: %v", n)
	}
	// Call load: each call to the least loaded, at most maxload (2) each;
	// a BYE takes its call off.
	n = map[string]int{}
	for i := 0; i < 6; i++ {
		c = k.Request(strings.Replace(moduletest.Invite, "invite-1@", fmt.Sprintf("load-%d@", i), 1))
		if rc := k.CallInt("dispatcher.ds_select_dst", 1, 10); rc != 1 {
			t.Fatalf("call %d: ds_select_dst(1, 10) = %d", i, rc)
		}
		if id := c.XAVP("_dsdst_", 0, "dstid", 0).String(); id == "" {
			t.Fatalf("call %d: no dstid", i)
		}
		n[string(c.DstURI())]++
	}
	if len(n) != 3 || n[order[0]] != 2 || n[order[1]] != 2 || n[order[2]] != 2 {
		t.Errorf("call load: %v", n)
	}
	k.Request(strings.Replace(moduletest.Invite, "invite-1@", "load-6@", 1))
	if rc := k.CallInt("dispatcher.ds_select_dst", 1, 10); rc != -1 {
		t.Errorf("every destination at maxload: ds_select_dst = %d, want -1", rc)
	}
	bye := strings.Replace(strings.Replace(moduletest.Invite, "invite-1@", "load-0@", 1), "INVITE", "BYE", 2)
	k.Request(bye)
	if rc := k.CallInt("dispatcher.ds_load_update"); rc != 0 { // Kamailio's KEMI: 0, which ends no script
		t.Errorf("KSR.dispatcher.ds_load_update() = %d, want 0", rc)
	}
	if rc := k.Native("ds_load_update").I; rc != 1 {
		t.Errorf("ds_load_update() = %d, want 1", rc)
	}
	c = k.Request(strings.Replace(moduletest.Invite, "invite-1@", "load-7@", 1))
	if rc := k.CallInt("dispatcher.ds_select_dst", 1, 10); rc != 1 || string(c.DstURI()) != order[0] && string(c.DstURI()) != order[1] && string(c.DstURI()) != order[2] {
		t.Errorf("after a BYE: ds_select_dst = %d, $du %q, want 1", rc, c.DstURI())
	}
}

// TestDomainAndFromList: ds_select_domain puts the destination in the
// request URI (its user kept, the rest replaced); ds_is_from_list
// matches the source address and port, sets setid_pvname and
// attrs_pvname; ds_list_exists.
func TestDomainAndFromList(t *testing.T) {
	k, _ := kit(t, threeGW, "setid_pvname", `"$var(set)"`, "attrs_pvname", `"$var(attrs)"`)
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:bob@example.com:5070;transport=tcp SIP", 1))
	if rc := k.CallInt("dispatcher.ds_select_domain", 3, 8); rc != 1 {
		t.Fatalf("ds_select_domain = %d", rc)
	}
	if ru := string(k.Ctx().RURIText()); ru != "sip:bob@10.0.3.1;transport=tcp" {
		t.Errorf("$ru %q", ru)
	}
	c := k.Request(moduletest.Invite) // from 192.0.2.10:5062, set 2
	k.Run([]moduletest.Case{
		{"dispatcher.ds_is_from_list", []any{1}, "-1"},
		{"dispatcher.ds_is_from_lists", nil, "1"},
	})
	if v := c.W.Var("set"); v.I != 2 {
		t.Errorf("setid_pvname: %s", v)
	}
	if v := c.W.Var("attrs").String(); v != "tag=client" {
		t.Errorf("attrs_pvname: %q", v)
	}
	k.Run([]moduletest.Case{
		{"dispatcher.ds_is_from_list", []any{2}, "1"},
		{"dispatcher.ds_is_from_list_uri", []any{1, 0, "sip:10.0.0.1:5060"}, "1"},
		{"dispatcher.ds_is_from_list_uri", []any{1, 0, "sip:10.0.0.1:5070"}, "-1"},
		{"dispatcher.ds_is_from_list_uri", []any{1, 1, "sip:10.0.0.1:5070"}, "1"},
		{"dispatcher.ds_is_from_list_uri", []any{3, 0, "sip:10.0.3.1;transport=udp"}, "-1"},
		{"dispatcher.ds_is_from_list_uri", []any{3, 2, "sip:10.0.3.1;transport=udp"}, "1"},
		{"dispatcher.ds_list_exists", []any{3}, "1"},
		{"dispatcher.ds_list_exists", []any{9}, "-1"},
	})
}

// TestReload: a reload reads the file again; a file that does not parse
// keeps the old list and names the line.
func TestReload(t *testing.T) {
	k, path := kit(t, threeGW, "reload_delta", "0")
	os.WriteFile(path, []byte("7 sip:10.0.7.1\n"), 0o644)
	if _, err := k.Table.CallRPC("dispatcher.reload"); err != nil {
		t.Fatal(err)
	}
	k.Request(moduletest.Invite)
	if k.CallInt("dispatcher.ds_list_exists", 7) != 1 || k.CallInt("dispatcher.ds_list_exists", 1) != -1 {
		t.Error("the reloaded list is not the new file")
	}
	os.WriteFile(path, []byte("8\n"), 0o644)
	m := k.Module("dispatcher").(*dispatcher.Module)
	if err := m.Reload(); err == nil || !strings.Contains(err.Error(), "dispatcher.list:1") {
		t.Errorf("a bad line: %v", err)
	}
	if k.CallInt("dispatcher.ds_list_exists", 7) != 1 {
		t.Error("the old list is gone after a failed reload")
	}
	if _, err := k.Table.CallRPC("dispatcher.add", 7, "sip:10.0.7.2", 0, 9); err != nil {
		t.Fatal(err)
	}
	r, _ := k.Table.CallRPC("dispatcher.list")
	if j := moduletest.JSON(r); !strings.Contains(j, `"URI":"sip:10.0.7.2"`) || strings.Index(j, "10.0.7.2") > strings.Index(j, "10.0.7.1") {
		t.Errorf("dispatcher.add (priority 9 first): %s", j)
	}
	if _, err := k.Table.CallRPC("dispatcher.remove", 7, "sip:10.0.7.1"); err != nil {
		t.Fatal(err)
	}
	if r, _ := k.Table.CallRPC("dispatcher.list"); strings.Contains(moduletest.JSON(r), "10.0.7.1") {
		t.Errorf("dispatcher.remove: %s", moduletest.JSON(r))
	}
	if r, _ := k.Table.CallRPC("dispatcher.hash", 3, "abc"); moduletest.JSON(r) != `{"hashid":7167810,"slot":0}` {
		t.Errorf("dispatcher.hash: %s", moduletest.JSON(r))
	}
}

// TestTable: the dispatcher table of Kamailio's schema (version 4),
// with ds_db_extra_attrs.
func TestTable(t *testing.T) {
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range []string{
		`INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (5, 'sip:10.0.5.1:5060', 0, 1, 'duid=a', 'x')`,
		`INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (5, 'sip:10.0.5.2:5060', 0, 2, '', 'y')`,
	} {
		if _, err := d.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	k := moduletest.New(t, `loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "`+url+`")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_db_extra_attrs", "desc=description")`)
	c := k.Request(moduletest.Invite)
	k.CallInt("dispatcher.ds_select", 5, 8)
	if got := strings.Join(dsts(c), " "); got != "sip:10.0.5.2:5060 sip:10.0.5.1:5060" {
		t.Errorf("from the table: %s", got)
	}
	if len(c.DstURI()) != 0 {
		t.Errorf("ds_select sets no $du: %q", c.DstURI())
	}
	if a := c.XAVP("_dsdst_", 1, "attrs", 0).String(); a != "duid=a;desc=x" { // the trailing ; dropped, as Kamailio does
		t.Errorf("attrs with the extra column: %q", a)
	}
}

func TestBadParams(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`modparam("dispatcher", "list_file", "/nonexistent/dispatcher.list")`, "no such file"},
		{`modparam("dispatcher", "ds_ping_interval", 10)`, "tm"},
		{`modparam("dispatcher", "setid_pvname", "$ci")`, "writable"},
	} {
		if _, err := moduletest.NewErr(t, "loadmodule \"dispatcher.so\"\n"+c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}
