// Package rtpproxy is Kamailio's rtpproxy module: media relay control
// over rtpproxy's text protocol on UDP ("COOKIE U callid ip port
// fromtag;1" and the like). Each m= line of the SDP is one command; the
// answer's port (and address) replace the SDP's.
//
// Flags as Kamailio's: a (asymmetric, modifier A), i/e (directions,
// modifiers I/E), w (modifier W), l (offer only updates an existing
// session: command L), r (trust the SDP's address; else the message's
// source address is sent), o (rewrite the o= line's address too).
// kemi does not probe the relay's version at start; the first command
// shows whether it answers.
package rtpproxy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/stats"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/internal/ctl"
)

// Module is the rtpproxy module of one proxy: its nodes and counters.
type Module struct {
	ctl.Relay // the nodes: Init, Start, Stop
	// Stats are the module's counters.
	Stats struct {
		Requests, Errors atomic.Uint64
	}
}

var (
	_ dispatch.Initializer   = (*Module)(nil)
	_ dispatch.Starter       = (*Module)(nil)
	_ dispatch.Stopper       = (*Module)(nil)
	_ dispatch.StatsProvider = (*Module)(nil)
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "rtpproxy",
		Params: []dispatch.Param{
			{Name: "rtpproxy_sock", Kind: dispatch.Str, Multi: true},
			{Name: "rtpproxy_tout", Kind: dispatch.Int},
			{Name: "rtpproxy_retr", Kind: dispatch.Int},
			{Name: "rtpproxy_disable_tout", Kind: dispatch.Int},
			{Name: "default_set", Kind: dispatch.Int},
			{Name: "nortpproxy_str", Kind: dispatch.Str},
			{Name: "timeout_socket", Kind: dispatch.Str},
			{Name: "ice_candidate_priority_avp", Kind: dispatch.Str},
			{Name: "extra_id_pv", Kind: dispatch.Str},
			{Name: "db_url", Kind: dispatch.Str},
			{Name: "table_name", Kind: dispatch.Str},
		},
		New: func() dispatch.Module {
			return &Module{Relay: ctl.Relay{Module: "rtpproxy", Timeout: "rtpproxy_tout", TimeoutUnit: time.Millisecond}}
		},
	})
}

// Exports are KSR.rtpproxy.
func (m *Module) Exports() []dispatch.Export {
	withFlags := func(op string) dispatch.Func {
		return dispatch.FS(func(c *router.Ctx, flags string) int { return m.run(c, op, flags, "") })
	}
	noFlags := func(op string) dispatch.Func {
		return dispatch.F0(func(c *router.Ctx) int { return m.run(c, op, "", "") })
	}
	withIP := func(op string) dispatch.Func {
		return dispatch.FSS(func(c *router.Ctx, flags, ip string) int { return m.run(c, op, flags, ip) })
	}
	var defs []dispatch.Export
	for _, op := range []string{"offer", "answer", "manage"} {
		name := "rtpproxy_" + op
		defs = append(defs,
			dispatch.Export{Name: name, Ret: dispatch.Int, Fn: withFlags(op), Native: name},
			dispatch.Export{Name: name + "0", Ret: dispatch.Int, Fn: noFlags(op), Native: name},
			dispatch.Export{Name: name + "_ip", Ret: dispatch.Int, Fn: withIP(op), Native: name})
	}
	defs = append(defs,
		dispatch.Export{Name: "rtpproxy_destroy", Ret: dispatch.Int, Fn: withFlags("delete")},
		dispatch.Export{Name: "rtpproxy_destroy0", Ret: dispatch.Int, Fn: noFlags("delete"), Native: "rtpproxy_destroy"},
		dispatch.Export{Name: "rtpproxy_stream2uac", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, f string, n int) int { return m.stream(c, f, n, true) })},
		dispatch.Export{Name: "rtpproxy_stream2uas", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, f string, n int) int { return m.stream(c, f, n, false) })},
		dispatch.Export{Name: "rtpproxy_stop_stream2uac", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.simple(c, "S", true) })},
		dispatch.Export{Name: "rtpproxy_stop_stream2uas", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.simple(c, "S", false) })},
		dispatch.Export{Name: "start_recording", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return m.simple(c, "R", false) })},
		dispatch.Export{Name: "set_rtpproxy_set", Ret: dispatch.Int, Fn: dispatch.FI(m.chooseSet)},
	)
	return defs
}

// RegisterStats registers the counters.
func (m *Module) RegisterStats(r *stats.Registry) {
	r.Uint("rtpproxy", "requests", "commands sent", &m.Stats.Requests)
	r.Uint("rtpproxy", "errors", "commands refused or unanswered", &m.Stats.Errors)
}

func (m *Module) chooseSet(c *router.Ctx, n int) int {
	if err := m.Choose(c, string(c.Msg.CallID()), n, n); err != nil {
		c.Log().Error("set_rtpproxy_set: "+err.Error(), "set", n)
		return -1
	}
	return 1
}

// ask sends one command and returns the answer; errors are logged.
func (m *Module) ask(c *router.Ctx, callID, cmd string) (string, bool) {
	m.Stats.Requests.Add(1)
	out, _, err := m.Ask(m.Set(c, callID, false), callID, []byte(cmd))
	if err != nil {
		m.Stats.Errors.Add(1)
		c.Log().Error("rtpproxy: "+err.Error(), "command", cmd)
		return "", false
	}
	ans := strings.TrimSpace(string(out))
	if strings.HasPrefix(ans, "E") {
		m.Stats.Errors.Add(1)
		c.Log().Error("rtpproxy refused the command", "command", cmd, "answer", ans)
		return ans, false
	}
	return ans, true
}

// manage is rtpproxy_manage's choice, as Kamailio's.
func manage(c *router.Ctx) string {
	m := c.Msg
	sdp := len(m.Body()) > 0
	if m.IsRequest() {
		switch m.Method() {
		case sip.MethodINVITE:
			if sdp {
				return "offer"
			}
		case sip.MethodACK:
			if sdp {
				return "answer"
			}
		case sip.MethodBYE, sip.MethodCANCEL:
			return "delete"
		}
		return ""
	}
	if m.CSeqMethod() != sip.MethodINVITE {
		return ""
	}
	if m.StatusCode() >= 300 {
		return "delete"
	}
	if sdp {
		return "answer"
	}
	return ""
}

func tags(c *router.Ctx) (callID, from, to string) {
	m := c.Msg
	return string(m.CallID()), string(m.From().Tag), string(m.To().Tag)
}

func (m *Module) run(c *router.Ctx, op, flags, ip string) int {
	if op == "manage" {
		if op = manage(c); op == "" {
			return 1
		}
	}
	callID, from, to := tags(c)
	if op == "delete" {
		cmd := "D " + callID + " " + from
		if to != "" {
			cmd += " " + to
		}
		if _, ok := m.ask(c, callID, cmd); !ok {
			return -1
		}
		return 1
	}
	body := c.Msg.Body()
	if len(body) == 0 {
		c.Log().Error("rtpproxy_" + op + ": the message has no SDP")
		return -1
	}
	command, mods, trust, origin := "U", "", false, false
	if op == "answer" {
		command = "L"
	}
	for _, f := range flags {
		switch f {
		case 'a', 'A':
			mods += "A"
		case 'i', 'I':
			mods += "I"
		case 'e', 'E':
			mods += "E"
		case 'w', 'W':
			mods += "W"
		case 'l', 'L':
			command = "L"
		case 'r', 'R':
			trust = true
		case 'o', 'O':
			origin = true
		}
	}
	src := string(c.SrcIP())
	out, err := rewrite(body, func(medianum int, sdpIP, port string) (string, string, bool) {
		addr := src
		if trust || addr == "" {
			addr = sdpIP
		}
		var cmd string
		if op == "answer" {
			cmd = fmt.Sprintf("%s%s %s %s %s %s;%d %s;%d", command, mods, callID, addr, port, to, medianum, from, medianum)
		} else {
			cmd = fmt.Sprintf("%s%s %s %s %s %s;%d", command, mods, callID, addr, port, from, medianum)
			if to != "" {
				cmd += fmt.Sprintf(" %s;%d", to, medianum)
			}
		}
		ans, ok := m.ask(c, callID, cmd)
		if !ok {
			return "", "", false
		}
		f := strings.Fields(ans)
		if len(f) == 0 {
			return "", "", false
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			return "", "", false
		}
		newIP := ip
		if newIP == "" && len(f) > 1 {
			newIP = f[1]
		}
		if newIP == "" {
			newIP = sdpIP
		}
		return newIP, f[0], true
	}, origin)
	if err != nil {
		c.Log().Error("rtpproxy_"+op+": "+err.Error(), "callid", callID)
		return -1
	}
	if err := c.Msg.SetBody(out); err != nil {
		c.Log().Error("rtpproxy: cannot replace the SDP: " + err.Error())
		return -1
	}
	return 1
}

// rewrite asks f for the new address and port of each m= line (numbered
// from 1) and writes them into the SDP: the m= port, the c= lines of the
// stream and of the session, the o= line when origin is set.
func rewrite(sdp []byte, f func(medianum int, ip, port string) (string, string, bool), origin bool) ([]byte, error) {
	lines := bytes.SplitAfter(sdp, []byte("\n"))
	sessIP, sessC := "", -1
	media := 0
	var out [][]byte
	type stream struct{ m, c int }
	var streams []stream
	for i, l := range lines {
		s := strings.TrimRight(string(l), "\r\n")
		switch {
		case strings.HasPrefix(s, "c=IN "):
			if media == 0 {
				sessIP, sessC = lastField(s), i
			} else {
				streams[len(streams)-1].c = i
			}
		case strings.HasPrefix(s, "m="):
			media++
			streams = append(streams, stream{m: i, c: -1})
		}
		out = append(out, l)
	}
	if media == 0 {
		return nil, errors.New("no m= line in the SDP")
	}
	var lastIP string
	for k, st := range streams {
		ip := sessIP
		if st.c >= 0 {
			ip = lastField(strings.TrimRight(string(lines[st.c]), "\r\n"))
		}
		mf := strings.Fields(strings.TrimRight(string(lines[st.m]), "\r\n"))
		if len(mf) < 2 || ip == "" {
			return nil, errors.New("an m= line without a port or an address")
		}
		newIP, newPort, ok := f(k+1, ip, mf[1])
		if !ok {
			return nil, errors.New("the relay did not give an address")
		}
		mf[1] = newPort
		out[st.m] = []byte(strings.Join(mf, " ") + eol(lines[st.m]))
		if st.c >= 0 {
			out[st.c] = replaceLast(lines[st.c], newIP)
		}
		lastIP = newIP
	}
	if sessC >= 0 {
		out[sessC] = replaceLast(lines[sessC], lastIP)
	}
	if origin {
		for i, l := range lines {
			if bytes.HasPrefix(l, []byte("o=")) {
				out[i] = replaceLast(l, lastIP)
			}
		}
	}
	return bytes.Join(out, nil), nil
}

func lastField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

func eol(l []byte) string {
	if bytes.HasSuffix(l, []byte("\r\n")) {
		return "\r\n"
	}
	if bytes.HasSuffix(l, []byte("\n")) {
		return "\n"
	}
	return ""
}

func replaceLast(l []byte, ip string) []byte {
	s := strings.TrimRight(string(l), "\r\n")
	f := strings.Fields(s)
	f[len(f)-1] = ip
	if strings.Contains(ip, ":") && len(f) >= 3 {
		f[len(f)-2] = "IP6"
	} else if len(f) >= 3 && (f[len(f)-2] == "IP6" || f[len(f)-2] == "IP4") {
		f[len(f)-2] = "IP4"
	}
	return []byte(strings.Join(f, " ") + eol(l))
}

// stream is rtpproxy_stream2uac/uas: play a prompt file to one side.
func (m *Module) stream(c *router.Ctx, file string, count int, uac bool) int {
	callID, from, to := tags(c)
	a, b := from, to
	if uac {
		a, b = to, from
	}
	cmd := fmt.Sprintf("P%d %s %s session %s;1 %s;1", count, callID, file, a, b)
	if _, ok := m.ask(c, callID, cmd); !ok {
		return -1
	}
	return 1
}

// simple sends S (stop a stream) or R (record): "X callid tag tag".
func (m *Module) simple(c *router.Ctx, verb string, uac bool) int {
	callID, from, to := tags(c)
	a, b := from, to
	if uac {
		a, b = to, from
	}
	if _, ok := m.ask(c, callID, verb+" "+callID+" "+a+" "+b); !ok {
		return -1
	}
	return 1
}
