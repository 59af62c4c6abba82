package kamailiotest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// SQLite makes a SQLite database file with Kamailio's own tables — the
// schema scripts the kamailio package installs in
// /usr/share/kamailio/db_sqlite, which kemi's tables match — and returns
// its path. Without Kamailio the test is skipped as Need skips it.
func SQLite(t *testing.T) string {
	t.Helper()
	Need(t)
	p := filepath.Join(t.TempDir(), "kamailio.db")
	d, err := db.Open("sqlite://" + p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.ExecFiles(context.Background(), "/usr/share/kamailio/db_sqlite", db.KamailioScripts...); err != nil {
		t.Fatal(err)
	}
	return p
}

// Database is a kind of database a differential test runs on, each
// server on one of its own.
type Database struct {
	Name   string // "SQLite"
	Module string // what Kamailio loads for it: "db_sqlite.so"
	// URLs makes a database for Kamailio and one for kemi and returns
	// their db_url, each written as its server takes it (Kamailio's
	// db_sqlite wants sqlite:////abs/path; KemiURL reads it as kemi does).
	URLs func(t *testing.T) (kamailio, kemi string)
}

// Databases are SQLite, its tables made by Kamailio's schema scripts,
// and MariaDB (KEMI_TEST_MYSQL), its tables made by kemi.
func Databases() []Database {
	return []Database{
		{"SQLite", "db_sqlite.so", func(t *testing.T) (string, string) {
			return "sqlite:///" + SQLite(t), "sqlite://" + SQLite(t)
		}},
		{"MariaDB", "db_mysql.so", func(t *testing.T) (string, string) { return moduletest.MySQL(t), moduletest.MySQL(t) }},
	}
}

// KemiURL is a db_url written for Kamailio as kemi's db.Open takes it.
func KemiURL(url string) string { return strings.Replace(url, "sqlite:///", "sqlite://", 1) }
