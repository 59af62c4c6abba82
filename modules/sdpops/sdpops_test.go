package sdpops_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kemi-sip/kemi/modules/moduletest"
)

// invite is an INVITE carrying body as application/sdp.
func invite(body string) string {
	return strings.Replace(moduletest.Invite, "Content-Length: 0\n\n",
		"Content-Type: application/sdp\nContent-Length: "+strconv.Itoa(len(body))+"\n\n"+body, 1)
}

// TestKEMI: the KEMI faces return Kamailio's KEMI values (0 for an edit
// done, counts) and a 0 does not stop a script; the edits read the body
// as received and add up; the AVP readers; an INVITE without SDP.
func TestKEMI(t *testing.T) {
	k := moduletest.New(t, `loadmodule "sdpops.so"`)
	k.Request(invite(richSDP))
	for _, name := range []string{"remove_codecs_by_id", "sdp_with_media"} {
		e, ok := k.Table.Lookup("sdpops", name)
		if !ok || !k.Table.At(e).Value {
			t.Errorf("KSR.sdpops.%s: a 0 from it must not stop the script", name)
		}
	}
	k.Run([]moduletest.Case{
		{"sdpops.remove_codecs_by_name", []any{"PCMU", ""}, "0"},
		{"sdpops.sdp_with_codecs_by_id", []any{"0"}, "2"}, // the received body still has it (in audio; not in video: 2)
		{"sdpops.remove_media", []any{"video"}, "1"},
		{"sdpops.remove_line_by_prefix", []any{"a=candidate", ""}, "2"}, // both, as received
		{"sdpops.sdp_with_media", []any{"text"}, "0"},
		{"sdpops.sdp_transport", []any{"$avp(t)"}, "-2"},
		{"sdpops.sdp_get_line_startswith", []any{"$avp(l)", "a=fmtp:18"}, "1"},
		{"pv.get", []any{"$avp(l)"}, "a=fmtp:18 annexb=no"},
		{"pv.get", []any{"$sdp(sess_version)"}, ""}, // past a C int
		{"sdpops.sdp_get", []any{"$var(x)"}, "-1"},
	})
	out := string(k.Ctx().Msg.EditedBody())
	for _, gone := range []string{"PCMU", "m=video", "a=candidate", "a=rtcp-fb"} {
		if strings.Contains(out, gone) {
			t.Errorf("%s still in the body sent:\n%s", gone, out)
		}
	}
	if !strings.Contains(out, "m=audio 49170 RTP/AVP 8 18 101\r\n") {
		t.Errorf("the audio line:\n%s", out)
	}
	k.Request(moduletest.Invite)
	k.Run([]moduletest.Case{
		{"sdpops.sdp_content", nil, "-1"},
		{"sdpops.sdp_get", []any{"$avp(s)"}, "-2"},
		{"sdpops.remove_codecs_by_id", []any{"0", ""}, "-1"},
		{"sdpops.sdp_with_media", []any{"audio"}, "0"},
	})
}
