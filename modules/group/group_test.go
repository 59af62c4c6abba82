package group_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// groups makes a SQLite database with Kamailio's tables, the subscriber
// alice (password secret), alice in group "voip" of example.com and
// "intl" of other.org, and two re_grp expressions.
func groups(t *testing.T) string {
	t.Helper()
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.AddUser(ctx, "alice", "example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO grp (username, domain, grp) VALUES ('alice', 'example.com', 'voip')`,
		`INSERT INTO grp (username, domain, grp) VALUES ('alice', 'other.org', 'intl')`,
		`INSERT INTO re_grp (reg_exp, group_id) VALUES ('^sip:ALICE@', 7)`,
		`INSERT INTO re_grp (reg_exp, group_id) VALUES ('@example\.com$', 9)`,
	} {
		if _, err := d.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// TestGroup: is_user_in by URI (KEMI) and by the native names (From,
// To, Request-URI, an AVP, the authorized credentials), with and without
// use_domain; get_user_group over re_grp, every match or the first.
func TestGroup(t *testing.T) {
	url := groups(t)
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\"\nloadmodule \"group.so\"\n"+
		"modparam(\"auth_db\", \"db_url\", \""+url+"\")\nmodparam(\"group\", \"db_url\", \""+url+"\")\nmodparam(\"group\", \"re_table\", \"re_grp\")\n")
	k.Request(moduletest.Invite) // from alice@example.com to bob@example.com
	k.Run([]moduletest.Case{
		{"group.is_user_in", []any{"sip:alice@example.com", "voip"}, "1"},
		{"group.is_user_in", []any{"sip:alice@anywhere.net", "intl"}, "1"}, // use_domain 0
		{"group.is_user_in", []any{"sip:alice@example.com", "none"}, "-6"},
		{"group.is_user_in", []any{"sip:bob@example.com", "voip"}, "-6"},
		{"group.is_user_in", []any{"not a uri", "voip"}, "-1"},
	})
	if got := k.Native("is_user_in", "From", "voip").I; got != 1 {
		t.Errorf("is_user_in(From, voip) = %d", got)
	}
	if got := k.Native("is_user_in", "To", "voip").I; got != -6 {
		t.Errorf("is_user_in(To, voip) = %d", got)
	}
	if got := k.Native("is_user_in", "Credentials", "voip").I; got != -1 {
		t.Errorf("is_user_in(Credentials) with none authorized = %d", got)
	}
	k.Call("pv.sets", "$avp(u)", "sip:alice@x")
	if got := k.Native("is_user_in", "$avp(u)", "intl").I; got != 1 {
		t.Errorf("is_user_in($avp(u), intl) = %d", got)
	}
	if got := k.Native("get_user_group", "From", "$avp(g)").I; got != 2 {
		t.Errorf("get_user_group(From) = %d, want 2", got)
	}
	var gids []string
	k.Ctx().EachAVP(func(name string, v router.Value) {
		if name == "g" {
			gids = append(gids, v.String())
		}
	})
	if strings.Join(gids, ",") != "9,7" {
		t.Errorf("$avp(g) added %v, want 9 then 7 (re_grp's rows, the last read first)", gids)
	}
	// The authorized credentials: a REGISTER of alice that passes.
	k.Request(k.Credentials(moduletest.Register, "alice", "example.com", "secret"))
	if rc := k.CallInt("auth_db.auth_check", "example.com", "subscriber", 1); rc != 1 {
		t.Fatalf("auth_check = %d", rc)
	}
	if got := k.Native("is_user_in", "Credentials", "voip").I; got != 1 {
		t.Errorf("is_user_in(Credentials, voip) = %d", got)
	}

	k2 := moduletest.New(t, "loadmodule \"group.so\"\nmodparam(\"group\", \"db_url\", \""+url+"\")\nmodparam(\"group\", \"use_domain\", 1)\n"+
		"modparam(\"group\", \"re_table\", \"re_grp\")\nmodparam(\"group\", \"multiple_gid\", 0)\n")
	k2.Request(moduletest.Invite)
	k2.Run([]moduletest.Case{
		{"group.is_user_in", []any{"sip:alice@example.com", "voip"}, "1"},
		{"group.is_user_in", []any{"sip:alice@anywhere.net", "intl"}, "-6"},
		{"group.is_user_in", []any{"sip:alice@other.org", "intl"}, "1"},
	})
	if got := k2.Native("get_user_group", "From", "$avp(g)").I; got != 1 {
		t.Errorf("multiple_gid 0: get_user_group = %d, want 1", got)
	}
}

func TestBadTable(t *testing.T) {
	url := groups(t)
	d, _ := db.Open(url)
	d.Exec(context.Background(), `UPDATE version SET table_version = 1 WHERE table_name = 'grp'`)
	d.Close()
	if _, err := moduletest.NewErr(t, "loadmodule \"group.so\"\nmodparam(\"group\", \"db_url\", \""+url+"\")\n"); err == nil || !strings.Contains(err.Error(), "version 1, want 2") {
		t.Errorf("a grp table of version 1: %v", err)
	}
}
