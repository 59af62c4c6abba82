package path

import (
	"testing"

	"github.com/kemi-sip/kemi/core/sip"
)

// TestCarried: the Path entries go with a request's transaction as
// bytes and come back whole (tm's failure_route branches write them
// again); nothing carried clears them.
func TestCarried(t *testing.T) {
	s := &reqState{r2: true, entries: []entry{{[]byte("edge"), []byte(";lr;received=sip:192.0.2.1:5060>")}, {nil, []byte(";lr>")}}}
	b := s.AppendCarried(nil)
	var back reqState
	back.RestoreCarried(b)
	if !back.r2 || len(back.entries) != 2 || string(back.entries[0].user) != "edge" || string(back.entries[1].suffix) != ";lr>" || len(back.entries[1].user) != 0 {
		t.Errorf("carried %+v, got back %+v", s, back)
	}
	back.RestoreCarried(nil)
	if len(back.entries) != 0 {
		t.Error("restoring nothing left entries")
	}
	if (&reqState{}).AppendCarried(nil) != nil {
		t.Error("an empty state carried bytes")
	}
}

func TestKamailioProto(t *testing.T) {
	for p, want := range map[sip.Transport]int{sip.TransportUDP: 1, sip.TransportTCP: 2, sip.TransportTLS: 3} {
		if got := kamailioProto(p); got != want {
			t.Errorf("%v: %d, want %d", p, got, want)
		}
	}
}
