package exec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestExecMsg(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"exec.so\"")
	k.Request(moduletest.Invite)
	dir := t.TempDir()
	out := filepath.Join(dir, "msg")
	env := filepath.Join(dir, "env")
	k.Run([]moduletest.Case{
		{"exec.exec_msg", []any{"cat > " + out + "; env | grep ^SIP_ | sort > " + env}, "1"},
		{"exec.exec_msg", []any{"exit 3"}, "-1"},
		{"exec.exec_cmd", []any{"true"}, "1"},
		{"exec.exec_cmd", []any{"false"}, "-1"},
	})
	if b, _ := os.ReadFile(out); string(b) != string(k.Ctx().Msg.Bytes()) {
		t.Errorf("exec_msg's input:\n%q\nwant the message", b)
	}
	b, _ := os.ReadFile(env)
	for _, want := range []string{"SIP_HF_CALL_ID=invite-1@192.0.2.10", "SIP_HF_CSEQ=1 INVITE", "SIP_SRCIP=192.0.2.10",
		"SIP_RURI=sip:bob@example.com", "SIP_ORURI=sip:bob@example.com", "SIP_USER=bob", "SIP_OUSER=bob", "SIP_TID=z9hG4bK-inv-1", "SIP_DID="} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("environment has no %s:\n%s", want, b)
		}
	}
}

func TestExecDsetAndAVP(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"exec.so\"\nmodparam(\"exec\", \"setvars\", 0)")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		// The request URI is the last argument; the lines out are the new
		// request URI and branches.
		{"exec.exec_dset", []any{`f() { echo "sip:x-$1"; echo; echo "sip:carol@example.net  "; }; f`}, "1"},
		{"pv.get", []any{"$ru"}, "sip:x-sip:bob@example.com"},
		{"exec.exec_dset", []any{"true"}, "-1"}, // nothing out
		{"exec.exec_avp", []any{"printf 'a\\nb\\n'"}, "1"},
		{"pv.get", []any{"$avp(1)"}, "a"},
		{"pv.get", []any{"$avp(2)"}, "b"},
		{"exec.exec_cmd", []any{"test -z \"$SIP_RURI\""}, "1"}, // setvars 0
	})
	if br := k.Ctx().Branches(); len(br) != 1 || string(br[0].URI) != "sip:carol@example.net" {
		t.Errorf("branches %v", br)
	}
	if got := k.Native("exec_avp", "printf 'x\\ny\\nz\\n'", "$avp(one), $avp(s:two)"); got.String() != "1" {
		t.Fatal(got)
	}
	k.Run([]moduletest.Case{{"pv.get", []any{"$avp(one)"}, "x"}, {"pv.get", []any{"$avp(two)"}, "y"}, {"pv.get", []any{"$avp(3)"}, "z"}})
}

func TestTimeToKill(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"exec.so\"\nmodparam(\"exec\", \"time_to_kill\", 1)")
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{{"exec.exec_cmd", []any{"sleep 5"}, "-1"}})
	if !strings.Contains(k.Logs.String(), "sleep 5") {
		t.Errorf("the killed command is not logged:\n%s", k.Logs.String())
	}
}
