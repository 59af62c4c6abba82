package siputils_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

func TestChecks(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	k.Request(strings.Replace(moduletest.Invite, "sip:bob@example.com SIP/2.0", "sip:bob@example.com;transport=udp SIP/2.0", 1))
	k.Run([]moduletest.Case{
		{"siputils.has_totag", nil, "-1"}, {"siputils.is_request", nil, "1"}, {"siputils.is_reply", nil, "-1"},
		{"siputils.is_first_hop", nil, "1"},
		{"siputils.is_numeric", []any{"0123"}, "1"}, {"siputils.is_numeric", []any{"12a"}, "-1"},
		{"siputils.is_alphanum", []any{"ab12"}, "1"}, {"siputils.is_alphanumex", []any{"ab-12", "-"}, "1"},
		{"siputils.is_uri", []any{"sip:a@b"}, "1"}, {"siputils.is_uri", []any{"nope"}, "-1"},
		{"siputils.cmp_uri", []any{"sip:a@B;lr", "sip:a@b;lr"}, "1"},
		{"siputils.cmp_aor", []any{"sip:a@b", "sip:a@b:5060"}, "1"}, {"siputils.is_tel_number", []any{"+4930123"}, "1"},
		{"siputils.is_tel_number", []any{"0123"}, "-1"}, {"siputils.is_user", []any{"alice"}, "1"},
		{"siputils.uri_param", []any{"transport"}, "1"}, {"siputils.uri_param_value", []any{"transport", "udp"}, "1"},
		{"siputils.add_uri_param", []any{"x=1"}, "1"}, {"pv.get", []any{"$ru"}, "sip:bob@example.com;transport=udp;x=1"},
		{"siputils.cmp_hdr_name", []any{"v", "Via"}, "1"},
	})
}

func TestOptionsReply(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"\nmodparam(\"siputils\", \"options_support\", \"100rel\")")
	k.Request(moduletest.Options)
	if rc := k.CallInt("siputils.options_reply"); rc != 1 {
		t.Fatalf("options_reply: %d", rc)
	}
	r := k.Reply()
	if r.StatusCode() != 200 || r.Header("Accept") != "*/*" || r.Header("Accept-Language") != "en" || r.Header("Support") != "100rel" {
		t.Errorf("reply:\n%s", r.Sent.Msg)
	}
	k.Request(moduletest.Invite) // not an OPTIONS to the proxy
	if rc := k.CallInt("siputils.options_reply"); rc != -1 {
		t.Errorf("options_reply on an INVITE: %d", rc)
	}
	k.NothingSent()
}

func TestNeedsSL(t *testing.T) {
	if _, err := moduletest.NewErr(t, `loadmodule "siputils.so"`); err == nil || !strings.Contains(err.Error(), `loadmodule "sl.so"`) {
		t.Errorf("without sl: %v", err)
	}
}

func TestURIParamsGRUUAndDate(t *testing.T) {
	k := moduletest.New(t, "loadmodule \"sl.so\"\nloadmodule \"siputils.so\"")
	msg := strings.Replace(moduletest.Invite, "INVITE sip:bob@example.com SIP/2.0", "INVITE sip:bob@example.com;gr=urn:uuid:1;transport=udp;x SIP/2.0", 1)
	msg = strings.Replace(msg, "Content-Length: 0", "Date: "+time.Now().UTC().Add(-30*time.Second).Format(http.TimeFormat)+"\nContent-Length: 0", 1)
	k.Request(msg)
	k.Run([]moduletest.Case{
		{"siputils.uri_param_any", []any{"x"}, "1"},
		{"siputils.uri_param_any", []any{"nope"}, "-1"},
		{"siputils.is_gruu", nil, "1"},
		{"siputils.hdr_date_check", []any{60}, "1"},
		{"siputils.hdr_date_check", []any{10}, "-1"},
		{"siputils.uri_param_rm", []any{"transport"}, "1"},
		{"pv.get", []any{"$ru"}, "sip:bob@example.com;gr=urn:uuid:1;x"},
		{"siputils.uri_param_rm", []any{"transport"}, "-1"},
	})
	if got := k.Native("is_gruu", "sip:a@b;gr").String(); got != "2" {
		t.Errorf("is_gruu of a public GRUU: %s", got)
	}
}
