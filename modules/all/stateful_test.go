package all

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/permissions"
	"github.com/kemi-sip/kemi/modules/pike"
)

// A client behind NAT: its Via and Contact say 10.0.0.5:5060, the request
// came from 192.0.2.10:5062.
const natInvite = "INVITE sip:bob@127.0.0.1;alias=192.0.2.77~5070~1;transport=udp SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-nat;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@example.com>;tag=n1\r\n" +
	"To: <sip:bob@127.0.0.1>\r\n" +
	"Call-ID: nat-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@10.0.0.5:5060;ob>;expires=60\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 18\r\n\r\nc=IN IP4 10.0.0.5\n"

// setupWith builds a table of modules with settings and a worker whose
// context holds msg, received from src.
func setupWith(t *testing.T, mods []string, settings []dispatch.Setting, msg, src string) *env {
	var loads []dispatch.Load
	for _, m := range mods {
		loads = append(loads, dispatch.Load{Name: m})
	}
	tab, err := dispatch.Build(loads, settings)
	if err != nil {
		t.Fatal(err)
	}
	e := &router.Env{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Myself: transport.NewMyself(nil, []string{"127.0.0.1:5060"})}
	if err := tab.Start(e); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Stop)
	w, err := e.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	m := new(sip.Msg)
	if err := m.Parse([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	w.RunRequest(&transport.Packet{Src: netip.MustParseAddrPort(src), Proto: sip.TransportUDP}, m)
	return &env{t: t, tab: tab, w: w, c: w.Ctx(), msg: m}
}

func (e *env) want(fn string, want string, args ...any) {
	e.t.Helper()
	if got := e.call(fn, args...).String(); got != want {
		e.t.Errorf("%s%v: got %q, want %q", fn, args, got, want)
	}
}

func TestNathelper(t *testing.T) {
	e := setupWith(t, []string{"nathelper"}, []dispatch.Setting{{Module: "nathelper", Name: "received_avp", Value: router.StrValue("$avp(RECEIVED)")}},
		natInvite, "192.0.2.10:5062")
	for _, c := range []struct {
		flags int
		want  string
	}{{1, "1"}, {2, "1"}, {4, "1"}, {8, "1"}, {16, "1"}, {32, "-1"}, {64, "-1"}, {128, "1"}, {19, "1"}} {
		e.want("nathelper.nat_uac_test", c.want, c.flags)
	}
	e.want("nathelper.is_rfc1918", "1", "100.64.1.1")
	e.want("nathelper.is_rfc1918", "-1", "192.0.2.1")
	e.want("nathelper.fix_nated_register", "1")
	e.want("pv.get", "sip:192.0.2.10:5062", "$avp(RECEIVED)")
	e.want("nathelper.set_contact_alias", "1")
	out := string(e.msg.AppendTo(nil))
	if !strings.Contains(out, "Contact: <sip:alice@10.0.0.5:5060;ob;alias=192.0.2.10~5062~1>;expires=60\r\n") {
		t.Errorf("set_contact_alias: the Contact is now\n%s", out)
	}
	e.want("nathelper.handle_ruri_alias", "1")
	e.want("pv.get", "sip:192.0.2.77:5070", "$du")
	e.want("pv.get", "sip:bob@127.0.0.1;transport=udp", "$ru")
	e.want("nathelper.handle_ruri_alias", "2") // no alias any more
}

func TestNathelperFixContact(t *testing.T) {
	e := setupWith(t, []string{"nathelper"}, nil, natInvite, "192.0.2.10:5062")
	e.want("nathelper.fix_nated_contact", "1")
	if out := string(e.msg.AppendTo(nil)); !strings.Contains(out, "Contact: <sip:alice@192.0.2.10:5062;ob>;expires=60\r\n") {
		t.Errorf("fix_nated_contact: the Contact is now\n%s", out)
	}
}

func TestHtable(t *testing.T) {
	e := setupWith(t, []string{"htable"}, []dispatch.Setting{
		{Module: "htable", Name: "htable", Value: router.StrValue("ipban=>size=8;autoexpire=1;")},
		{Module: "htable", Name: "htable", Value: router.StrValue("cnt=>size=4;initval=10;")},
	}, invite, "192.0.2.10:5062")
	e.want("htable.sht_seti", "1", "ipban", "192.0.2.10", 1)
	e.want("htable.sht_match_name", "1", "ipban", "eq", "192.0.2.10")
	e.want("htable.sht_match_name", "-1", "ipban", "eq", "192.0.2.11")
	e.want("htable.sht_match_name", "1", "ipban", "re", "^192\\.0\\.2\\.")
	e.want("htable.sht_match_name", "1", "ipban", "sw", "192.")
	e.want("pv.get", "1", "$sht(ipban=>$si)")
	e.want("pv.sets", "1", "$sht(ipban=>x$si)", "text")
	e.want("htable.sht_get", "text", "ipban", "x192.0.2.10")
	e.want("htable.sht_get", "", "ipban", "nothing")
	e.want("htable.sht_gete", "", "ipban", "nothing")
	e.want("htable.sht_inc", "11", "cnt", "a") // initval 10
	e.want("htable.sht_dec", "10", "cnt", "a")
	e.want("htable.sht_get", "10", "cnt", "missing") // initval
	e.want("htable.sht_rm_name_re", "1", "ipban", "^x")
	e.want("htable.sht_is_null", "1", "ipban", "x192.0.2.10")
	e.want("htable.sht_rm", "1", "ipban", "192.0.2.10")
	e.want("htable.sht_match_name", "-1", "ipban", "eq", "192.0.2.10")
	e.want("htable.sht_get", "", "nosuchtable", "k")
	e.want("htable.sht_match_name", "-1", "ipban", "like", "x") // unknown operator
	// autoexpire=1: gone a second after it was set.
	e.want("htable.sht_sets", "1", "ipban", "k", "v")
	time.Sleep(1100 * time.Millisecond)
	e.want("htable.sht_get", "", "ipban", "k")
}

func TestHtableBadDefinition(t *testing.T) {
	for _, def := range []string{"noarrow", "t=>size=99;", "t=>autoexpire=x;", "t=>color=red;", "t=>dbtable=htable;"} {
		_, err := dispatch.Build([]dispatch.Load{{Name: "htable"}}, []dispatch.Setting{{Module: "htable", Name: "htable", Value: router.StrValue(def)}})
		if err == nil {
			t.Errorf("htable %q: no error", def)
		}
	}
}

func TestPike(t *testing.T) {
	tab, err := dispatch.Build([]dispatch.Load{{Name: "pike"}}, []dispatch.Setting{
		{Module: "pike", Name: "reqs_density_per_unit", Value: router.IntValue(3)},
		{Module: "pike", Name: "sampling_time_unit", Value: router.IntValue(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	pk := tab.Module("pike").(*pike.Module)
	ip := netip.MustParseAddr("198.51.100.7")
	other := netip.MustParseAddr("198.51.100.8")
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		ip   netip.Addr
		at   time.Duration
		want int
	}{
		{ip, 0, 1}, {ip, 100 * time.Millisecond, 1}, {ip, 200 * time.Millisecond, -2}, {ip, 300 * time.Millisecond, -1},
		{other, 300 * time.Millisecond, 1}, // another address is not affected
		{ip, 2100 * time.Millisecond, -1},  // the unit before was over the limit
		{ip, 6 * time.Second, 1},           // two quiet units later
	}
	for i, s := range steps {
		if got := pk.Check(s.ip, t0.Add(s.at)); got != s.want {
			t.Errorf("case %d (%s at %v): got %d, want %d", i, s.ip, s.at, got, s.want)
		}
	}
}

func TestPermissionsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "address.list")
	os.WriteFile(path, []byte("# group address port tag\n1 192.0.2.0/24 0 office\n2 198.51.100.7 5060\n"), 0o644)
	e := setupWith(t, []string{"permissions"}, []dispatch.Setting{{Module: "permissions", Name: "address_file", Value: router.StrValue(path)}},
		invite, "192.0.2.10:5062")
	if err := e.tab.Module("permissions").(*permissions.Module).Reload(); err != nil {
		t.Fatal(err)
	}
	e.want("permissions.allow_source_address", "1", 1)
	e.want("permissions.allow_source_address", "-1", 2)
	e.want("permissions.allow_address", "1", 2, "198.51.100.7", 5060)
	e.want("permissions.allow_address", "-1", 2, "198.51.100.7", 5061)
	e.want("permissions.allow_source_address_group", "1")

	os.WriteFile(path, []byte("1 not-an-address\n"), 0o644)
	if err := e.tab.Module("permissions").(*permissions.Module).Reload(); err == nil || !strings.Contains(err.Error(), "address.list:1") {
		t.Errorf("a bad line: got %v, want an error naming the file and line", err)
	}
	e.want("permissions.allow_source_address", "1", 1) // the old entries stay
}
