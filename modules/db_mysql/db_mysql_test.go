package db_mysql_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestLocationWriteThrough: with db_mysql loaded and its parameters set,
// usrloc's db_mode 1 writes a REGISTER's binding to a real MariaDB or
// MySQL server at once.
func TestLocationWriteThrough(t *testing.T) {
	moduletest.WriteThrough(t, "db_mysql", "modparam(\"db_mysql\", \"ping_interval\", 60)", moduletest.MySQL(t))
}

func TestUnknownParameter(t *testing.T) {
	_, err := moduletest.NewErr(t, "loadmodule \"db_mysql.so\"\nmodparam(\"db_mysql\", \"nope\", 1)")
	if err == nil || !strings.Contains(err.Error(), "no such parameter") {
		t.Errorf("got %v", err)
	}
}

// TestKamailioSchema: a database made by Kamailio's own MySQL scripts
// (kamdbctl's, from the kamailio-mysql-modules package) works unchanged:
// kemi db init finds nothing to create, auth and usrloc read and write it.
func TestKamailioSchema(t *testing.T) {
	dir := "/usr/share/kamailio/mysql"
	if _, err := os.Stat(filepath.Join(dir, "standard-create.sql")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Kamailio's MySQL schema scripts are missing in CI: .ci/run installs kamailio-mysql-modules")
		}
		t.Skip("Kamailio's MySQL schema scripts not installed (apt-get install kamailio-mysql-modules); skipped outside CI")
	}
	url := moduletest.ServerDB(t, moduletest.AdminURL(t, "KEMI_TEST_MYSQL", "mysql://user:pass@127.0.0.1/mysql"), "")
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.ExecFiles(ctx, dir, db.KamailioScripts...); err != nil {
		t.Fatal(err)
	}
	if created, err := d.Init(ctx); err != nil || len(created) != 0 {
		t.Errorf("kemi db init on Kamailio's database: created %v, %v; want nothing", created, err)
	}
	if err := d.AddUser(ctx, "alice", "example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	moduletest.WriteThrough(t, "db_mysql", "", url)
	k := moduletest.New(t, "loadmodule \"db_mysql.so\"\nloadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\"\n"+
		"modparam(\"auth_db\", \"db_url\", \""+url+"\")\nmodparam(\"auth_db\", \"load_credentials\", \"\")")
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"auth_db.is_subscriber", []any{"sip:alice@example.com", "subscriber", 1}, "1"}, {"auth_db.is_subscriber", []any{"sip:bob@example.com", "subscriber", 1}, "-1"}})
}
