package acc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/acc"
	"github.com/kemi-sip/kemi/modules/moduletest"
)

// eventually waits up to 2 s for the writer.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within 2 s", what)
}

// TestAccountRequest: acc_log_request logs the request, acc_db_request
// writes a row, acc_request both.
func TestAccountRequest(t *testing.T) {
	url := moduletest.SQLite(t)
	k := moduletest.New(t, "loadmodule \"tm.so\"\nloadmodule \"acc.so\"\nmodparam(\"acc\", \"db_url\", \""+url+"\")\nmodparam(\"acc\", \"log_extra\", \"ua=$ua;src=$si\")")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"acc.acc_log_request", []any{"200 Logged"}, "1"},
		{"acc.acc_db_request", []any{"404 Written", "acc"}, "1"},
		{"acc.acc_request", []any{"Both", "missed_calls"}, "1"},
		{"acc.acc_db_request", []any{"x", "bad table;"}, "-1"},
	})
	m := k.Module("acc").(*acc.Module)
	eventually(t, "records written", func() bool { return m.Stats.Logged.Load() == 2 && m.Stats.Written.Load() == 2 })
	if l := k.Logs.String(); !strings.Contains(l, "ACC: request accounted: ") || !strings.Contains(l, ";code=200;reason=Logged") || !strings.Contains(l, ";src=192.0.2.10") {
		t.Errorf("no acc log line with its extras:\n%s", l)
	}
	if n := moduletest.Rows(t, url, "SELECT COUNT(*) FROM acc WHERE sip_code = '404' AND sip_reason = 'Written' AND callid = 'invite-1@192.0.2.10'"); n != 1 {
		t.Errorf("acc rows %d, want 1", n)
	}
}

func TestNeedsTM(t *testing.T) {
	if _, err := moduletest.NewErr(t, `loadmodule "acc.so"`); err == nil || !strings.Contains(err.Error(), `loadmodule "tm.so"`) {
		t.Errorf("without tm: %v", err)
	}
	if _, err := moduletest.NewErr(t, "loadmodule \"tm.so\"\nloadmodule \"acc.so\"\nmodparam(\"acc\", \"db_flag\", 2)"); err == nil || !strings.Contains(err.Error(), "db_url") {
		t.Errorf("db_flag without db_url: %v", err)
	}
}
