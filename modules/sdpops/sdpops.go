// Package sdpops is Kamailio's sdpops module: tests of a request's SDP
// (media, transports, codecs, ICE, direction) and edits of it (codecs
// removed or kept by payload type or name with their rtpmap, fmtp and
// rtcp-fb lines, streams removed by media or transport, lines removed by
// prefix), the SDP or one of its lines into an AVP, and $sdp(body),
// $sdp(sess_version).
//
// As in Kamailio, every function reads the SDP as it was received and
// its edits add up: the body sent is the received one less every range
// an edit removed (Kamailio's lumps).
package sdpops

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the sdpops module; it keeps no state of its own.
type Module struct{}

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "sdpops", New: func() dispatch.Module { return &Module{} }})
	router.RegisterPV("sdp", router.PVClass{Arg: true, Parse: parseSDPPV, Get: getSDPPV, Set: setSDPPV})
}

// edits are what the message's sdpops edits did to the received body:
// ranges taken out, and the session version $sdp(sess_version) set.
type edits struct {
	cuts []cut
}

// cut replaces [s, e) of the received body with repl.
type cut struct {
	span
	repl string
}

func (e *edits) Reset() { e.cuts = e.cuts[:0] }

var editSlot = router.NewSlot[edits]()

// body is the SDP of c's message as received: rc 1 parsed, 0 no body,
// -1 one that does not parse or is not application/sdp (Kamailio's
// parser wants the Content-Type).
func body(c *router.Ctx) (*sdp, int) {
	b := c.Msg.Body()
	if len(b) == 0 {
		return nil, 0
	}
	ct, _, _ := strings.Cut(strings.ToLower(string(c.Msg.ContentType())), ";")
	if strings.TrimSpace(ct) != "application/sdp" {
		return nil, -1
	}
	s, err := parse(b)
	if err != nil {
		c.Log().Debug("sdpops: "+err.Error(), "route", c.Route)
		return nil, -1
	}
	return s, 1
}

// remove takes [s, e) of the received body out of the body sent.
func remove(c *router.Ctx, s, e int) { replace(c, s, e, "") }

// replace puts repl for [s, e) of the received body in the body sent,
// after the edits made before; a range within one already taken out
// adds nothing.
func replace(c *router.Ctx, s, e int, repl string) {
	ed := editSlot.Of(c)
	ed.cuts = append(ed.cuts, cut{span{s, e}, repl})
	cuts := append([]cut(nil), ed.cuts...)
	sort.SliceStable(cuts, func(i, j int) bool { return cuts[i].s < cuts[j].s })
	b := c.Msg.Body()
	var out []byte
	at := 0
	for _, d := range cuts {
		if d.s >= at {
			out = append(append(out, b[at:d.s]...), d.repl...)
		}
		at = max(at, d.e)
	}
	out = append(out, b[min(at, len(b)):]...)
	if err := c.Msg.SetBody(out); err != nil {
		c.Log().Error("sdpops: "+err.Error(), "route", c.Route)
	}
}

// Exports are KSR.sdpops and the native functions, whose results differ
// where Kamailio's do (its KEMI functions return 0 on success for the
// edits, its native ones 1).
func (m *Module) Exports() []dispatch.Export {
	I := dispatch.Int
	kemi := func(name string, f dispatch.Func) dispatch.Export {
		return dispatch.Export{Name: name, Ret: I, Value: true, Native: dispatch.NoNative, Fn: f}
	}
	native := func(name string, f dispatch.Func) dispatch.Export {
		return dispatch.Export{Name: name, Ret: I, NativeOnly: true, Fn: f}
	}
	ok := func(rc int) int { // the native wrappers: -1 on error, else 1
		if rc < 0 {
			return -1
		}
		return 1
	}
	pos := func(rc int) int { // found (> 0): 1, else -1
		if rc <= 0 {
			return -1
		}
		return 1
	}
	return []dispatch.Export{
		kemi("remove_codecs_by_id", dispatch.FSS(removeByID)),
		kemi("remove_codecs_by_name", dispatch.FSS(removeByName)),
		kemi("keep_codecs_by_id", dispatch.FSS(keepByID)),
		kemi("keep_codecs_by_name", dispatch.FSS(keepByName)),
		kemi("remove_line_by_prefix", dispatch.FSS(removeLines)),
		kemi("remove_media", dispatch.FS(removeMedia)),
		kemi("sdp_with_media", dispatch.FS(func(c *router.Ctx, m string) int { return withMedia(c, m, false) })),
		kemi("sdp_with_active_media", dispatch.FS(func(c *router.Ctx, m string) int { return withMedia(c, m, true) })),
		kemi("sdp_with_codecs_by_id", dispatch.FS(withCodecsByID)),
		kemi("sdp_with_codecs_by_name", dispatch.FS(withCodecsByName)),
		kemi("sdp_with_transport", dispatch.FS(func(c *router.Ctx, t string) int { return pos(withTransport(c, t, false)) })),
		kemi("sdp_with_transport_like", dispatch.FS(func(c *router.Ctx, t string) int { return pos(withTransport(c, t, true)) })),
		kemi("sdp_with_ice", dispatch.F0(withICE)),
		kemi("sdp_content", dispatch.F0(func(c *router.Ctx) int { return content(c, 0) })),
		kemi("sdp_content_flags", dispatch.FI(content)),
		kemi("sdp_get", dispatch.FS(getSDP)),
		kemi("sdp_transport", dispatch.FS(transport)),
		kemi("sdp_get_line_startswith", dispatch.FSS(lineStartsWith)),
		kemi("sdp_print", dispatch.FI(printSDP)),

		native("sdp_remove_codecs_by_id", dispatch.FS(func(c *router.Ctx, s string) int { return ok(removeByID(c, s, "")) })),
		native("sdp_remove_codecs_by_id", dispatch.FSS(func(c *router.Ctx, s, m string) int { return ok(removeByID(c, s, m)) })),
		native("sdp_remove_codecs_by_name", dispatch.FS(func(c *router.Ctx, s string) int { return ok(removeByName(c, s, "")) })),
		native("sdp_remove_codecs_by_name", dispatch.FSS(func(c *router.Ctx, s, m string) int { return ok(removeByName(c, s, m)) })),
		native("sdp_keep_codecs_by_id", dispatch.FS(func(c *router.Ctx, s string) int { return ok(keepByID(c, s, "")) })),
		native("sdp_keep_codecs_by_id", dispatch.FSS(func(c *router.Ctx, s, m string) int { return ok(keepByID(c, s, m)) })),
		native("sdp_keep_codecs_by_name", dispatch.FS(func(c *router.Ctx, s string) int { return ok(keepByName(c, s, "")) })),
		native("sdp_keep_codecs_by_name", dispatch.FSS(func(c *router.Ctx, s, m string) int { return ok(keepByName(c, s, m)) })),
		native("sdp_remove_line_by_prefix", dispatch.FS(func(c *router.Ctx, p string) int { return ok(removeLines(c, p, "")) })),
		native("sdp_remove_line_by_prefix", dispatch.FSS(func(c *router.Ctx, p, m string) int { return ok(removeLines(c, p, m)) })),
		native("sdp_remove_media", dispatch.FS(func(c *router.Ctx, m string) int { return pos(removeMedia(c, m)) })),
		native("sdp_remove_transport", dispatch.FS(func(c *router.Ctx, t string) int { return pos(removeTransport(c, t)) })),
		native("sdp_with_media", dispatch.FS(func(c *router.Ctx, m string) int { return pos(withMedia(c, m, false)) })),
		native("sdp_with_active_media", dispatch.FS(func(c *router.Ctx, m string) int { return pos(withMedia(c, m, true)) })),
		native("sdp_with_codecs_by_id", dispatch.FS(func(c *router.Ctx, s string) int {
			if rc := withCodecsByID(c, s); rc <= 0 {
				return rc - 1
			} else {
				return rc
			}
		})),
		native("sdp_with_codecs_by_name", dispatch.FS(withCodecsByName)),
		native("sdp_with_transport", dispatch.FS(func(c *router.Ctx, t string) int { return pos(withTransport(c, t, false)) })),
		native("sdp_with_transport_like", dispatch.FS(func(c *router.Ctx, t string) int { return pos(withTransport(c, t, true)) })),
		native("sdp_with_ice", dispatch.F0(withICE)),
		native("sdp_content", dispatch.F0(func(c *router.Ctx) int { return content(c, 0) })),
		native("sdp_content", dispatch.FS(func(c *router.Ctx, _ string) int { return content(c, 1) })),
		{Name: "sdp_get", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(getSDP)},
		{Name: "sdp_transport", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FS(transport)},
		{Name: "sdp_get_line_startswith", NativeOnly: true, Raw: true, Ret: I, Fn: dispatch.FSS(func(c *router.Ctx, avp, line string) int {
			f, err := c.W.Format(line)
			if err != nil {
				return -1
			}
			return lineStartsWith(c, avp, string(f.Append(nil, c)))
		})},
		native("sdp_print", dispatch.FI(printSDP)),
	}
}

// forStreams calls f with every stream whose media is media ("" any).
func forStreams(s *sdp, media string, f func(st *stream)) {
	for i := range s.streams {
		st := &s.streams[i]
		if media == "" || strings.EqualFold(st.media.of(s.body), media) {
			f(st)
		}
	}
}

// removeCodec takes the payload type id out of the stream's m= line (with
// the space before it) and its rtpmap, fmtp and rtcp-fb lines.
func removeCodec(c *router.Ctx, s *sdp, st *stream, id string) {
	b := s.body
	pl := st.payloads
	for _, t := range tokens(b, pl.s, pl.e) {
		if t.of(b) == id {
			remove(c, t.s-1, t.e)
			break
		}
	}
	for a := findLine(b, st.raw.s, st.raw.e, 'a'); a >= 0; a = findLine(b, lineEnd(b, a), st.raw.e, 'a') {
		end := lineEnd(b, a)
		line := b[a:end]
		for _, p := range []string{"a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"} {
			if len(line) > len(p)+len(id) && strings.EqualFold(string(line[:len(p)]), p) &&
				string(line[len(p):len(p)+len(id)]) == id && line[len(p)+len(id)] == ' ' {
				remove(c, a, end)
			}
		}
	}
}

func removeByID(c *router.Ctx, ids, media string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	forStreams(s, media, func(st *stream) {
		for _, id := range codecTokens(ids) {
			removeCodec(c, s, st, id)
		}
	})
	return 0
}

func removeByName(c *router.Ctx, names, media string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	return removeByID(c, s.idsOf(names), media)
}

func keepByID(c *router.Ctx, ids, media string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	forStreams(s, media, func(st *stream) {
		b := s.body
		for _, t := range tokens(b, st.payloads.s, st.payloads.e) {
			if !hasCodec(ids, t.of(b), ',') {
				removeCodec(c, s, st, t.of(b))
			}
		}
	})
	return 0
}

func keepByName(c *router.Ctx, names, media string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	return keepByID(c, s.idsOf(names), media)
}

// removeLines takes out every line that starts with prefix, of the whole
// SDP or of the streams of media: how many, -1 on error.
func removeLines(c *router.Ctx, prefix, media string) int {
	s, rc := body(c)
	if rc <= 0 || prefix == "" {
		return -1
	}
	b := s.body
	in := func(r span) int {
		n := 0
		for p := findLine(b, r.s, r.e, prefix[0]); p >= 0; p = findLine(b, lineEnd(b, p), r.e, prefix[0]) {
			if r.e < p+len(prefix) {
				break
			}
			if string(b[p:p+len(prefix)]) == prefix {
				remove(c, p, lineEnd(b, p))
				n++
			}
		}
		return n
	}
	if media == "" {
		return in(span{0, len(b)})
	}
	n := 0
	forStreams(s, media, func(st *stream) { n += in(st.raw) })
	return n
}

// removeStreams takes out the streams match says, each to the next
// stream or the end of the SDP: how many, -1 without an SDP.
func removeStreams(c *router.Ctx, match func(s *sdp, st *stream) bool) int {
	s, rc := body(c)
	switch {
	case rc < 0:
		return -1
	case s == nil:
		return 0
	}
	n := 0
	for i := range s.streams {
		if match(s, &s.streams[i]) {
			remove(c, s.streams[i].raw.s, s.streams[i].raw.e)
			n++
		}
	}
	return n
}

func removeMedia(c *router.Ctx, media string) int {
	return removeStreams(c, func(s *sdp, st *stream) bool { return strings.EqualFold(st.media.of(s.body), media) })
}

func removeTransport(c *router.Ctx, t string) int {
	return removeStreams(c, func(s *sdp, st *stream) bool { return strings.EqualFold(st.transport.of(s.body), t) })
}

// withMedia is sdp_with_media (and with active, a stream of it with a
// port that is not 0 and no a=inactive): 1, 0 none, -1 no SDP.
func withMedia(c *router.Ctx, media string, active bool) int {
	s, rc := body(c)
	switch {
	case rc < 0:
		return -1
	case s == nil:
		return 0
	}
	for _, st := range s.streams {
		if !strings.EqualFold(st.media.of(s.body), media) {
			continue
		}
		if !active {
			return 1
		}
		if port := atoi(st.port.of(s.body)); port != 0 && !strings.EqualFold(st.mode, "inactive") {
			return 1
		}
	}
	return 0
}

// atoi is C's atoi.
func atoi(s string) int {
	n := 0
	for _, ch := range []byte(s) {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

// withCodecsByID: 1 when one of the ids is in a stream, 2 when also one
// is missing from a stream, 0 none, -1 no SDP.
func withCodecsByID(c *router.Ctx, ids string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	found, missing := 0, 0
	for _, st := range s.streams {
		all := st.payloads.of(s.body)
		for _, id := range codecTokens(ids) {
			if hasCodec(all, id, ' ') {
				found = 1
			} else {
				missing = 1
			}
		}
	}
	if found == 0 {
		return 0
	}
	return found + missing
}

func withCodecsByName(c *router.Ctx, names string) int {
	s, rc := body(c)
	if rc <= 0 {
		return -1
	}
	if rc := withCodecsByID(c, s.idsOf(names)); rc > 0 {
		return rc
	} else {
		return rc - 1
	}
}

// withTransport: a stream's transport is t (like: contains it).
func withTransport(c *router.Ctx, t string, like bool) int {
	s, rc := body(c)
	switch {
	case rc < 0:
		return -1
	case s == nil:
		return 0
	}
	for _, st := range s.streams {
		tr := st.transport.of(s.body)
		if like && strings.Contains(tr, t) || !like && strings.EqualFold(tr, t) {
			return 1
		}
	}
	return 0
}

// withICE: the body has an a=candidate.
func withICE(c *router.Ctx) int {
	if b := c.Msg.Body(); len(b) > 0 && bytes.Contains(b, []byte("a=candidate")) {
		return 1
	}
	return -1
}

// content is sdp_content: the body is an SDP that parses; with flags, only
// that the Content-Type says SDP (or a multipart/mixed with an SDP part).
func content(c *router.Ctx, flags int) int {
	if flags == 0 {
		if _, rc := body(c); rc == 1 {
			return 1
		}
		return -1
	}
	b := c.Msg.Body()
	if len(b) == 0 {
		return -1
	}
	ct := strings.ToLower(strings.TrimSpace(string(c.Msg.ContentType())))
	if ct == "" {
		return 1 // Kamailio: no Content-Type is application/sdp
	}
	t, _, _ := strings.Cut(ct, ";")
	switch strings.TrimSpace(t) {
	case "application/sdp":
		return 1
	case "multipart/mixed":
		if bytes.Contains(bytes.ToLower(b), []byte("application/sdp")) {
			return 1
		}
	}
	return -1
}

// avpOf is the AVP a function's parameter names ("$avp(x)"), nil when it
// names none.
func avpOf(c *router.Ctx, name string) *router.PV {
	if !strings.HasPrefix(name, "$avp(") {
		c.Log().Error("sdpops: "+strconv.Quote(name)+" is not an AVP", "route", c.Route)
		return nil
	}
	p, err := c.W.PV(name)
	if err != nil {
		c.Log().Error("sdpops: "+err.Error(), "route", c.Route)
		return nil
	}
	return p
}

// getSDP is sdp_get: the SDP into the AVP; -2 without a body.
func getSDP(c *router.Ctx, avp string) int {
	p := avpOf(c, avp)
	if p == nil {
		return -1
	}
	s, rc := body(c)
	switch {
	case rc < 0:
		return -1
	case s == nil:
		return -2
	}
	if p.Set(c, router.StrValue(string(s.body))) != nil {
		return -1
	}
	return 1
}

// transport is sdp_transport: the transport of every stream into the
// AVP, when they all have the same; -2 when they differ.
func transport(c *router.Ctx, avp string) int {
	p := avpOf(c, avp)
	if p == nil {
		return -1
	}
	s, rc := body(c)
	if rc < 0 {
		return -1
	}
	if s == nil {
		return 1
	}
	common := ""
	for i, st := range s.streams {
		tr := st.transport.of(s.body)
		if i > 0 && !strings.EqualFold(tr, common) {
			return -2
		}
		if i == 0 {
			common = tr
		}
	}
	if common != "" && p.Set(c, router.StrValue(common)) != nil {
		return -1
	}
	return 1
}

// lineStartsWith is sdp_get_line_startswith: the first line of the SDP
// starting with line into the AVP, without its end of line.
func lineStartsWith(c *router.Ctx, avp, line string) int {
	if line == "" {
		return -1
	}
	p := avpOf(c, avp)
	if p == nil {
		return -1
	}
	s, rc := body(c)
	switch {
	case rc < 0:
		return -1
	case s == nil:
		return -2
	}
	b := s.body
	for q := findLine(b, 0, len(b), line[0]); q >= 0; q = findLine(b, lineEnd(b, q), len(b), line[0]) {
		e := lineEnd(b, q)
		if strings.HasPrefix(string(b[q:e]), line) {
			v := b[q:e]
			if len(v) >= 2 && v[len(v)-2] == '\r' && v[len(v)-1] == '\n' {
				v = v[:len(v)-2]
			}
			if p.Set(c, router.StrValue(string(v))) != nil {
				return -1
			}
			return 1
		}
	}
	return -1
}

// printSDP logs the SDP's streams at a Kamailio log level (L_DBG 3 ...).
func printSDP(c *router.Ctx, level int) int {
	s, rc := body(c)
	if rc < 0 {
		return -1
	}
	if s == nil {
		return 1
	}
	lv := slog.LevelDebug
	switch {
	case level <= 0:
		lv = slog.LevelError
	case level == 1:
		lv = slog.LevelWarn
	case level == 2:
		lv = slog.LevelInfo
	}
	for i, st := range s.streams {
		c.Log().Log(context.Background(), lv, fmt.Sprintf("sdpops: stream %d: media %s port %s transport %s payloads [%s] mode %q",
			i, st.media.of(s.body), st.port.of(s.body), st.transport.of(s.body), st.payloads.of(s.body), st.mode), "route", c.Route)
	}
	return 1
}

func parseSDPPV(pv *router.PV) error {
	switch pv.Arg {
	case "body", "sess_version":
		return nil
	}
	return fmt.Errorf("sdpops: unknown $sdp key %q", pv.Arg)
}

func getSDPPV(c *router.Ctx, pv *router.PV) router.Value {
	s, rc := body(c)
	if rc <= 0 {
		return router.Value{}
	}
	if pv.Arg == "body" {
		return router.StrValue(string(s.body))
	}
	// A C int, as Kamailio reads it: a version past 2^31-1 is none.
	n, err := strconv.ParseInt(s.sessVersion.of(s.body), 10, 32)
	if err != nil {
		return router.Value{}
	}
	return router.IntValue(n)
}

// setSDPPV sets $sdp(sess_version): to the value, or with -1 to one more
// than the received one.
func setSDPPV(c *router.Ctx, pv *router.PV, v router.Value) error {
	if pv.Arg != "sess_version" || v.Kind != router.Int {
		return fmt.Errorf("sdpops: $sdp(%s) takes no such value", pv.Arg)
	}
	s, rc := body(c)
	if rc <= 0 {
		return fmt.Errorf("sdpops: no SDP")
	}
	// The received version must be a C int, as Kamailio reads it first.
	old, err := strconv.ParseInt(s.sessVersion.of(s.body), 10, 32)
	if err != nil {
		return fmt.Errorf("sdpops: session version %q", s.sessVersion.of(s.body))
	}
	n := v.I
	if n == -1 {
		if old == 1<<31-1 {
			return fmt.Errorf("sdpops: session version %d cannot grow", old)
		}
		n = old + 1
	}
	replace(c, s.sessVersion.s, s.sessVersion.e, strconv.FormatInt(n, 10))
	return nil
}
