package db_postgres_test

import (
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// TestLocationWriteThrough: with db_postgres loaded and its parameters set,
// usrloc's db_mode 1 writes a REGISTER's binding to the database at once.
func TestLocationWriteThrough(t *testing.T) {
	url := moduletest.Postgres(t)
	k := moduletest.New(t, "loadmodule \"db_postgres.so\"\nloadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"+
		"modparam(\"db_postgres\", \"retries\", 2)\n"+
		"modparam(\"usrloc\", \"db_url\", \""+url+"\")\nmodparam(\"usrloc\", \"db_mode\", 1)")
	k.Request(moduletest.Register)
	k.Run([]moduletest.Case{{"registrar.save", []any{"location", 0}, "1"}})
	if n := moduletest.Rows(t, url, "SELECT COUNT(*) FROM location WHERE username = 'alice'"); n != 1 {
		t.Errorf("%d location rows, want 1", n)
	}
}

func TestUnknownParameter(t *testing.T) {
	_, err := moduletest.NewErr(t, "loadmodule \"db_postgres.so\"\nmodparam(\"db_postgres\", \"nope\", 1)")
	if err == nil || !strings.Contains(err.Error(), "no such parameter") {
		t.Errorf("got %v", err)
	}
}
