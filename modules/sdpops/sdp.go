package sdpops

import (
	"bytes"
	"errors"
	"strings"
)

// span is a piece of the body: [s, e).
type span struct{ s, e int }

func (p span) of(b []byte) string { return string(b[p.s:p.e]) }

// sdp is an SDP body as Kamailio's parser reads it: one session (from its
// v= line), its o= line's session version, and its media streams, each
// from its m= line to the next one (or the end), with the m= line's
// fields, its first direction attribute and its rtpmap attributes.
type sdp struct {
	body        []byte
	sessVersion span
	streams     []stream
}

type stream struct {
	raw                              span // the m= line to the next one
	media, port, transport, payloads span
	mode                             string // sendrecv, sendonly, recvonly, inactive: the first a= of them; "" none
	rtpmaps                          []rtpmap
}

type rtpmap struct{ pt, enc string }

// findLine is Kamailio's find_sdp_line: the first "x=" at the start of a
// line (after \n or \r, or at the body's start) within [from, limit); -1
// when none.
func findLine(b []byte, from, limit int, x byte) int {
	head := []byte{x, '='}
	for p := from; p < limit; {
		i := bytes.Index(b[p:limit], head)
		if i < 0 {
			return -1
		}
		at := p + i
		if at == 0 || b[at-1] == '\n' || b[at-1] == '\r' {
			return at
		}
		p = at + 2
	}
	return -1
}

// lineEnd is where the line at p ends, its \r\n or \n included.
func lineEnd(b []byte, p int) int {
	if i := bytes.IndexByte(b[p:], '\n'); i >= 0 {
		return p + i + 1
	}
	return len(b)
}

// lineText is the line at p without its end of line.
func lineText(b []byte, p int) (int, int) {
	e := lineEnd(b, p)
	t := e
	for t > p && (b[t-1] == '\n' || b[t-1] == '\r') {
		t--
	}
	return p, t
}

// tokens splits [s, e) at spaces and tabs into spans.
func tokens(b []byte, s, e int) []span {
	var out []span
	for i := s; i < e; {
		for i < e && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		j := i
		for j < e && b[j] != ' ' && b[j] != '\t' {
			j++
		}
		if j > i {
			out = append(out, span{i, j})
		}
		i = j
	}
	return out
}

// parse reads an SDP body; an error for one Kamailio's parser refuses: no
// v=, o= or m= line, an m= line without port or transport, a stream
// without a connection address (c= in it or before the first m=).
func parse(b []byte) (*sdp, error) {
	limit := len(b)
	v := findLine(b, 0, limit, 'v')
	if v < 0 {
		return nil, errors.New("no sessions in SDP")
	}
	o := findLine(b, v, limit, 'o')
	if o < 0 {
		return nil, errors.New("no o= in session")
	}
	m1 := findLine(b, o, limit, 'm')
	if m1 < 0 {
		return nil, errors.New("no m= in session")
	}
	s := &sdp{body: b}
	// The session version: the o= line's third field.
	ls, le := lineText(b, o)
	if f := tokens(b, ls+2, le); len(f) >= 3 {
		s.sessVersion = f[2]
	} else {
		return nil, errors.New("can't extract origin sess-version")
	}
	sessC := findLine(b, o, m1, 'c') >= 0
	for m := m1; m >= 0 && m < limit; {
		next := -1
		if limit-m >= 3 {
			next = findLine(b, m+2, limit, 'm')
		}
		end := limit
		if next >= 0 {
			end = next
		}
		if findLine(b, m, end, 'c') < 0 && !sessC {
			return nil, errors.New("can't find media IP in the message")
		}
		st := stream{raw: span{m, end}}
		ls, le := lineText(b, m)
		f := tokens(b, ls+2, le)
		if len(f) < 3 {
			return nil, errors.New("no port or protocol type in m=")
		}
		st.media, st.port, st.transport = f[0], f[1], f[2]
		st.payloads = span{f[2].e, f[2].e}
		if len(f) > 3 {
			st.payloads = span{f[3].s, f[len(f)-1].e}
		}
		for a := findLine(b, m, end, 'a'); a >= 0; a = findLine(b, lineEnd(b, a), end, 'a') {
			as, ae := lineText(b, a)
			line := string(b[as+2 : ae])
			switch {
			case line == "sendrecv" || line == "sendonly" || line == "recvonly" || line == "inactive":
				if st.mode == "" {
					st.mode = line
				}
			case strings.HasPrefix(strings.ToLower(line), "rtpmap:"):
				pt, enc, ok := strings.Cut(strings.TrimSpace(line[7:]), " ")
				if !ok {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimSpace(enc), "/")
				st.rtpmaps = append(st.rtpmaps, rtpmap{pt: pt, enc: name})
			}
		}
		s.streams = append(s.streams, st)
		m = next
	}
	return s, nil
}

// hasCodec is Kamailio's sdp_codec_in_str: codec is one of the items of
// all separated by delim.
func hasCodec(all, codec string, delim byte) bool {
	if all == "" || codec == "" {
		return false
	}
	for _, c := range strings.Split(all, string(delim)) {
		if c == codec {
			return true
		}
	}
	return false
}

// codecTokens are the items of a comma-separated list, each trimmed of
// spaces, empty ones ending it (as Kamailio's str_find_token loop does).
func codecTokens(list string) []string {
	var out []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			break
		}
		out = append(out, t)
	}
	return out
}

// staticIDs are the payload types of RFC 3551's names, which a name
// in a codec list stands for before any rtpmap (Kamailio's table).
var staticIDs = map[string]string{
	"PCMU": "0", "GSM": "3", "G723": "4", "DVI4": "5,6,16,17", "LPC": "7", "PCMA": "8", "G722": "9",
	"L16": "10,11", "QCELP": "12", "CN": "13", "MPA": "14", "G728": "15", "G729": "18",
}

// idsOf turns a list of codec names into the list of their payload
// types: the static ones, else every rtpmap of that name in the SDP (at
// most 16); names that are neither are left out.
func (s *sdp) idsOf(names string) string {
	var ids []string
	for _, n := range codecTokens(names) {
		if v, ok := staticIDs[strings.ToUpper(n)]; ok {
			ids = append(ids, v)
			continue
		}
		var found []string
		for _, st := range s.streams {
			for _, r := range st.rtpmaps {
				if strings.EqualFold(r.enc, n) && len(found) < 16 {
					found = append(found, r.pt)
				}
			}
		}
		ids = append(ids, found...)
	}
	return strings.Join(ids, ",")
}
