package moduletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
)

// SQLite makes a database file with Kamailio's tables (kemi db init's)
// for the test and returns its db_url.
func SQLite(t testing.TB) string {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "kamailio.db")
	initDB(t, url)
	return url
}

// Postgres makes a database of the test's own, with Kamailio's tables, on
// the PostgreSQL server KEMI_TEST_PG names (postgres://user:pass@host/db)
// and returns its db_url; it is dropped when the test ends. Without
// KEMI_TEST_PG the test is skipped, except in CI (CI=true), where .ci/run
// starts PostgreSQL and sets it.
func Postgres(t testing.TB) string {
	t.Helper()
	url := ServerDB(t, AdminURL(t, "KEMI_TEST_PG", "postgres://user:pass@127.0.0.1/postgres"), " WITH (FORCE)")
	initDB(t, url)
	return url
}

// MySQL is Postgres on the MySQL or MariaDB server KEMI_TEST_MYSQL names
// (mysql://user:pass@127.0.0.1/mysql).
func MySQL(t testing.TB) string {
	t.Helper()
	url := ServerDB(t, AdminURL(t, "KEMI_TEST_MYSQL", "mysql://user:pass@127.0.0.1/mysql"), "")
	initDB(t, url)
	return url
}

// AdminURL is the database server the environment variable env names (an
// administrator's db_url, such as example). Without the variable the test
// is skipped, except in CI, where .ci/run starts the server and sets it.
func AdminURL(t testing.TB, env, example string) string {
	t.Helper()
	admin := os.Getenv(env)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(env + " is not set in CI: .ci/run starts the server and sets it")
		}
		t.Skip(env + " not set (" + example + "); skipped outside CI")
	}
	return admin
}

// ServerDB makes an empty database of the test's own on the server admin
// names and returns its db_url; the database is dropped when the test
// ends (DROP DATABASE ... dropSuffix).
func ServerDB(t testing.TB, admin, dropSuffix string) string {
	t.Helper()
	d, err := db.Open(admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("kemi_mt_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	ctx := context.Background()
	if _, err := d.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		d.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Exec(ctx, "DROP DATABASE IF EXISTS "+name+dropSuffix)
		d.Close()
	})
	return admin[:strings.LastIndexByte(admin, '/')+1] + name
}

func initDB(t testing.TB, url string) {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Rows counts the rows a query finds: "SELECT COUNT(*) FROM location".
func Rows(t testing.TB, url, query string) int {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// WriteThrough checks a database driver module (db_sqlite, db_postgres, db_mysql):
// loaded with its parameters (modparam lines), usrloc's db_mode 1 on url
// writes a REGISTER's binding to the database at once.
func WriteThrough(t *testing.T, module, params, url string) {
	t.Helper()
	k := New(t, "loadmodule \""+module+".so\"\nloadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"+
		params+"\nmodparam(\"usrloc\", \"db_url\", \""+url+"\")\nmodparam(\"usrloc\", \"db_mode\", 1)")
	k.Request(Register)
	k.Run([]Case{{"registrar.save", []any{"location", 0}, "1"}})
	if n := Rows(t, url, "SELECT COUNT(*) FROM location WHERE username = 'alice'"); n != 1 {
		t.Errorf("%d location rows, want 1", n)
	}
}
