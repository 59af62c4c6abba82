// Package rtpengine is Kamailio's rtpengine module: media relay control
// over rtpengine's ng protocol (bencoded dictionaries over UDP). Offer,
// answer and delete rewrite the SDP of the message with what rtpengine
// returns; rtpengine_manage picks the command from the message, as
// Kamailio does.
//
// Nodes come from rtpengine_sock ("udp:127.0.0.1:2223", several in one
// value separated by spaces, "udp:host:port=weight", "N == ..." for set
// N). A call goes to one node of the set by a hash of its Call-ID; a node
// that does not answer in rtpengine_tout_ms after rtpengine_retr tries is
// left alone for rtpengine_disable_tout seconds and the next one is asked.
package rtpengine

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ctl"
)

// Module is the rtpengine module of one proxy: its nodes and counters.
type Module struct {
	ctl.Relay // the nodes: Init, Start, Stop
	// Stats are the module's counters.
	Stats struct {
		Requests, Errors, Timeouts atomic.Uint64
	}
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "rtpengine",
		Params: []dispatch.Param{
			{Name: "rtpengine_sock", Kind: dispatch.Str, Multi: true},
			{Name: "rtpengine_tout_ms", Kind: dispatch.Int},
			{Name: "rtpengine_retr", Kind: dispatch.Int},
			{Name: "rtpengine_disable_tout", Kind: dispatch.Int},
			{Name: "default_set", Kind: dispatch.Int},
			// Accepted for Kamailio configs.
			{Name: "queried_nodes_limit", Kind: dispatch.Int},
			{Name: "setid_avp", Kind: dispatch.Str},
			{Name: "extra_id_pv", Kind: dispatch.Str},
			{Name: "read_sdp_pv", Kind: dispatch.Str},
			{Name: "write_sdp_pv", Kind: dispatch.Str},
			{Name: "hash_table_size", Kind: dispatch.Int},
			{Name: "hash_table_tout", Kind: dispatch.Int},
			{Name: "rtpengine_allow_op", Kind: dispatch.Int},
			{Name: "mos_min_pv", Kind: dispatch.Str},
			{Name: "ping_mode", Kind: dispatch.Int},
		},
		New: func() dispatch.Module {
			return &Module{Relay: ctl.Relay{Module: "rtpengine", Timeout: "rtpengine_tout_ms", TimeoutUnit: time.Millisecond}}
		},
	})
}

// Exports are KSR.rtpengine.
func (m *Module) Exports() []dispatch.Export {
	cmd := func(command string) dispatch.Func {
		return dispatch.FS(func(c *router.Ctx, flags string) int { return m.run(c, command, flags) })
	}
	cmd0 := func(command string) dispatch.Func {
		return dispatch.F0(func(c *router.Ctx) int { return m.run(c, command, "") })
	}
	defs := []dispatch.Export{
		{Name: "rtpengine_query_v", Ret: dispatch.Int, Fn: dispatch.FSS(m.queryV)},
		{Name: "set_rtpengine_set", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, n int) int { return m.choose(c, n, n) })},
		{Name: "set_rtpengine_set2", Ret: dispatch.Int, Fn: dispatch.FII(m.choose), Native: "set_rtpengine_set"},
		{Name: "start_recording", Ret: dispatch.Int, Fn: cmd0("start recording")},
		{Name: "stop_recording", Ret: dispatch.Int, Fn: cmd0("stop recording")},
	}
	for _, f := range []struct{ name, command string }{
		{"rtpengine_manage", "manage"}, {"rtpengine_offer", "offer"}, {"rtpengine_answer", "answer"},
		{"rtpengine_delete", "delete"}, {"rtpengine_query", "query"}, {"block_dtmf", "block DTMF"},
		{"unblock_dtmf", "unblock DTMF"}, {"block_media", "block media"}, {"unblock_media", "unblock media"},
		{"silence_media", "silence media"}, {"unsilence_media", "unsilence media"}, {"stop_media", "stop media"},
	} {
		// The KEMI form with flags and the one without ("0"); natively one
		// name with an optional parameter.
		defs = append(defs, dispatch.Export{Name: f.name, Ret: dispatch.Int, Fn: cmd(f.command), Native: f.name},
			dispatch.Export{Name: f.name + "0", Ret: dispatch.Int, Fn: cmd0(f.command), Native: f.name})
	}
	defs = append(defs, dispatch.Export{Name: "play_media", Ret: dispatch.Int, Fn: cmd("play media")})
	return defs
}

// RegisterStats registers the counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	r.Uint("rtpengine", "requests", "ng commands sent", &m.Stats.Requests)
	r.Uint("rtpengine", "errors", "ng commands rtpengine refused", &m.Stats.Errors)
	r.Uint("rtpengine", "timeouts", "ng commands no node answered", &m.Stats.Timeouts)
}

// Command sends one ng command to a node of the set, by the hash of
// callID, and returns rtpengine's answer.
func (m *Module) Command(setID int, callID string, req map[string]any) (map[string]any, error) {
	body, err := encode(nil, req)
	if err != nil {
		return nil, err
	}
	m.Stats.Requests.Add(1)
	out, n, err := m.Ask(setID, callID, body)
	if err != nil {
		m.Stats.Timeouts.Add(1)
		return nil, err
	}
	v, _, err := decode(out, 0)
	d, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, fmt.Errorf("rtpengine %s: malformed answer", n.Addr)
	}
	return d, nil
}

// request builds the dictionary of an ng command from the message and
// the script's flags.
func request(c *router.Ctx, command, flags string) (map[string]any, string) {
	m := c.Msg
	d := map[string]any{"command": command, "call-id": string(m.CallID()), "from-tag": string(m.From().Tag)}
	if tt := m.To().Tag; len(tt) > 0 {
		d["to-tag"] = string(tt)
	}
	if src := c.SrcIP(); len(src) > 0 {
		fam := "IP4"
		if strings.Contains(string(src), ":") {
			fam = "IP6"
		}
		d["received-from"] = []any{fam, string(src)}
	}
	var list, replace, direction, rtcpMux, sdes []any
	codec := map[string]any{}
	for _, f := range strings.Fields(flags) {
		k, v, hasV := strings.Cut(f, "=")
		switch {
		case k == "call-id" && hasV:
			d["call-id"] = v
		case (k == "from-tag" || k == "to-tag") && hasV:
			d[k] = v
		case k == "via-branch" || (k == "to-tag" || k == "from-tag") && !hasV:
			// Kamailio's own selectors; the tags are always sent.
		case k == "direction" && hasV:
			direction = append(direction, v)
		case k == "ICE" && hasV:
			d["ICE"] = v
		case k == "address-family" && hasV:
			d["address family"] = v
		case k == "media-address" && hasV:
			d["media address"] = v
		case strings.HasPrefix(k, "replace-") && !hasV:
			replace = append(replace, k[len("replace-"):])
		case strings.HasPrefix(k, "rtcp-mux-") && !hasV:
			rtcpMux = append(rtcpMux, k[len("rtcp-mux-"):])
		case strings.HasPrefix(k, "SDES-") && !hasV:
			sdes = append(sdes, k[len("SDES-"):])
		case strings.HasPrefix(k, "codec-") && !hasV:
			op, name, _ := strings.Cut(k[len("codec-"):], "-")
			l, _ := codec[op].([]any)
			codec[op] = append(l, name)
		case strings.HasPrefix(f, "RTP/") || strings.HasPrefix(f, "UDP/TLS/"):
			d["transport-protocol"] = f
		case k == "record-call" && !hasV:
			d["record call"] = "yes"
		case hasV:
			d[k] = v
		default:
			list = append(list, f)
		}
	}
	for k, v := range map[string][]any{"flags": list, "replace": replace, "direction": direction, "rtcp-mux": rtcpMux, "SDES": sdes} {
		if len(v) > 0 {
			d[k] = v
		}
	}
	if len(codec) > 0 {
		d["codec"] = codec
	}
	return d, d["call-id"].(string)
}

// manage is rtpengine_manage's choice of command.
func manage(c *router.Ctx) string {
	m := c.Msg
	hasSDP := len(m.Body()) > 0
	if m.IsRequest() {
		switch m.Method() {
		case sip.MethodINVITE, sip.MethodUPDATE:
			if hasSDP {
				return "offer"
			}
		case sip.MethodACK, sip.MethodPRACK:
			if hasSDP {
				return "answer"
			}
		case sip.MethodBYE, sip.MethodCANCEL:
			return "delete"
		}
		return ""
	}
	if m.CSeqMethod() != sip.MethodINVITE && m.CSeqMethod() != sip.MethodUPDATE {
		return ""
	}
	if code := m.StatusCode(); code >= 300 {
		return "delete"
	}
	if hasSDP {
		return "answer"
	}
	return ""
}

func (m *Module) run(c *router.Ctx, command, flags string) int {
	if command == "manage" {
		if command = manage(c); command == "" {
			return 1 // nothing to do for this message
		}
	}
	sdpCmd := command == "offer" || command == "answer"
	d, callID := request(c, command, flags)
	if sdpCmd {
		body := c.Msg.Body()
		if len(body) == 0 {
			c.Log().Error("rtpengine_" + command + ": the message has no SDP")
			return -1
		}
		d["sdp"] = string(body)
	}
	setID := m.selected(c, command)
	res, err := m.Command(setID, callID, d)
	if err == nil && command == "answer" && !c.Msg.IsRequest() && isUnknownCall(res) {
		// A late offer: the INVITE had no SDP, the reply makes the offer.
		d["command"] = "offer"
		res, err = m.Command(setID, callID, d)
	}
	if err != nil {
		c.Log().Error("rtpengine "+command+": "+err.Error(), "callid", callID)
		return -1
	}
	if r, _ := res["result"].(string); r != "ok" && r != "pong" {
		m.Stats.Errors.Add(1)
		reason, _ := res["error-reason"].(string)
		c.Log().Error("rtpengine "+command+" refused", "result", r, "reason", reason, "callid", callID)
		return -1
	}
	if sdp, ok := res["sdp"].(string); ok && sdpCmd {
		if err := c.Msg.SetBody([]byte(sdp)); err != nil {
			c.Log().Error("rtpengine: cannot replace the SDP: " + err.Error())
			return -1
		}
	}
	return 1
}

func isUnknownCall(res map[string]any) bool {
	r, _ := res["result"].(string)
	reason, _ := res["error-reason"].(string)
	return r == "error" && strings.Contains(strings.ToLower(reason), "unknown call")
}

// choose is set_rtpengine_set: the sets of this call's offers (first)
// and answers (second).
func (m *Module) choose(c *router.Ctx, first, second int) int {
	if err := m.Choose(c, string(c.Msg.CallID()), first, second); err != nil {
		c.Log().Error("set_rtpengine_set: "+err.Error(), "set", first, "set2", second)
		return -1
	}
	return 1
}

// selected is the set of the message's command.
func (m *Module) selected(c *router.Ctx, command string) int {
	return m.Set(c, string(c.Msg.CallID()), command == "answer")
}

// queryV is rtpengine_query_v: the query's answer as JSON into a
// pseudo-variable ("j" format).
func (m *Module) queryV(c *router.Ctx, format, dst string) int {
	pv, err := c.W.PV(dst)
	if err != nil || !pv.Writable() {
		c.Log().Error("rtpengine_query_v: not a writable pseudo-variable", "pv", dst)
		return -1
	}
	if format != "j" && format != "JSON" {
		c.Log().Error("rtpengine_query_v: format must be j", "format", format)
		return -1
	}
	d, callID := request(c, "query", "")
	res, err := m.Command(m.selected(c, "query"), callID, d)
	if err != nil {
		c.Log().Error("rtpengine query: " + err.Error())
		return -1
	}
	b, _ := json.Marshal(res)
	if err := pv.Set(c, router.StrValue(string(b))); err != nil {
		return -1
	}
	return 1
}
