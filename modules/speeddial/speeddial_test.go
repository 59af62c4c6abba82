package speeddial_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestLookup(t *testing.T) {
	url := moduletest.SQLite(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"INSERT INTO speed_dial (username, domain, sd_username, sd_domain, new_uri) VALUES ('alice', 'example.com', '11', 'example.com', 'sip:carol@example.net')",
		"INSERT INTO speed_dial (username, domain, sd_username, sd_domain, new_uri) VALUES ('alice', 'other.org', '12', 'example.com', 'sip:dave@example.net')",
		"INSERT INTO speed_dial (username, domain, sd_username, sd_domain, new_uri) VALUES ('bob', 'example.com', '11', 'example.com', 'sip:erin@example.net')",
	} {
		if _, err := d.Exec(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	to := func(user string) string {
		return strings.Replace(moduletest.Invite, "sip:bob@example.com SIP", "sip:"+user+"@example.com SIP", 1)
	}
	k := moduletest.New(t, "loadmodule \"speeddial.so\"\nmodparam(\"speeddial\", \"db_url\", \""+url+"\")")
	k.Request(to("11")) // from alice@example.com
	k.Run([]moduletest.Case{
		{"speeddial.lookup", []any{"speed_dial"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:carol@example.net"},
	})
	k.Request(to("11"))
	k.Run([]moduletest.Case{
		{"speeddial.lookup_owner", []any{"speed_dial", "sip:bob@example.com"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:erin@example.net"},
	})
	k.Request(to("99"))
	k.Run([]moduletest.Case{{"speeddial.lookup", []any{"speed_dial"}, "-1"}, {"pv.get", []any{"$rU"}, "99"}})
	// use_domain: alice@example.com has no 12.
	kd := moduletest.New(t, "loadmodule \"speeddial.so\"\nmodparam(\"speeddial\", \"db_url\", \""+url+"\")\nmodparam(\"speeddial\", \"use_domain\", 1)")
	kd.Request(to("12"))
	if got := kd.Native("sd_lookup", "speed_dial"); got.String() != "-1" {
		t.Errorf("use_domain 1, another domain's number: %s", got)
	}
}
