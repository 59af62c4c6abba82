package db_sqlite_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestLocationWriteThrough: with db_sqlite loaded and its parameters set,
// usrloc's db_mode 1 writes a REGISTER's binding to the database at once.
func TestLocationWriteThrough(t *testing.T) {
	moduletest.WriteThrough(t, "db_sqlite", "modparam(\"db_sqlite\", \"db_set_journal_mode\", \"location;WAL\")", moduletest.SQLite(t))
}

func TestUnknownParameter(t *testing.T) {
	_, err := moduletest.NewErr(t, "loadmodule \"db_sqlite.so\"\nmodparam(\"db_sqlite\", \"nope\", 1)")
	if err == nil || !strings.Contains(err.Error(), "no such parameter") {
		t.Errorf("got %v", err)
	}
}
