package uac_redirect

import (
	"regexp"
	"testing"
)

func TestParseMax(t *testing.T) {
	for _, c := range []struct {
		in     string
		t, b   int
		refuse bool
	}{{"*", 0, 0, false}, {"3", 3, 0, false}, {"3:1", 3, 1, false}, {"*:2", 0, 2, false}, {"256", 0, 0, true}, {"x", 0, 0, true}, {"2:-1", 0, 0, true}} {
		tt, b, err := parseMax(c.in)
		if (err != nil) != c.refuse || !c.refuse && (tt != c.t || b != c.b) {
			t.Errorf("%q: %d %d %v", c.in, tt, b, err)
		}
	}
}

// TestFilters: an accept filter wins over a deny filter; with default
// deny the deny filters are not looked at; reset_default drops the
// module's filter.
func TestFilters(t *testing.T) {
	m := &Module{deny: regexp.MustCompile("(?im)^sip:blocked@")}
	f := &filters{set: true}
	f.list[acceptF], f.list[denyF] = []*regexp.Regexp{nil}, []*regexp.Regexp{m.deny}
	if m.allowed(f, []byte("sip:blocked@x")) || !m.allowed(f, []byte("sip:ok@x")) || m.allowed(f, []byte("SIP:BLOCKED@x")) {
		t.Error("default filters")
	}
	f.list[acceptF] = append(f.list[acceptF], regexp.MustCompile("(?im)blocked"))
	if !m.allowed(f, []byte("sip:blocked@x")) {
		t.Error("an accept filter did not win")
	}
	f.start[denyF] = 1
	f.list[acceptF] = f.list[acceptF][:1]
	if !m.allowed(f, []byte("sip:blocked@x")) {
		t.Error("reset_default kept the module's deny filter")
	}
	m.denyDefault = true
	if m.allowed(f, []byte("sip:ok@x")) {
		t.Error("default deny took a contact no filter accepts")
	}
}
