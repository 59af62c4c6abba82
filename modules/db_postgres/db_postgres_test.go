package db_postgres_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestLocationWriteThrough: with db_postgres loaded and its parameters set,
// usrloc's db_mode 1 writes a REGISTER's binding to the database at once.
func TestLocationWriteThrough(t *testing.T) {
	moduletest.WriteThrough(t, "db_postgres", "modparam(\"db_postgres\", \"retries\", 2)", moduletest.Postgres(t))
}

func TestUnknownParameter(t *testing.T) {
	_, err := moduletest.NewErr(t, "loadmodule \"db_postgres.so\"\nmodparam(\"db_postgres\", \"nope\", 1)")
	if err == nil || !strings.Contains(err.Error(), "no such parameter") {
		t.Errorf("got %v", err)
	}
}
