// Package exec is Kamailio's exec module: exec_msg runs a shell command
// with the message on its input, exec_dset one whose output lines become
// the request URI and branches, exec_avp one whose output lines become
// AVPs, exec_cmd one whose output is ignored. The command is run by
// /bin/sh -c, as popen does; with setvars (the default) it gets the
// request in SIP_* environment variables.
package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the exec module of one proxy.
type Module struct {
	setVars bool
	kill    time.Duration // time_to_kill; 0 waits for ever, as Kamailio
}

var _ dispatch.Initializer = (*Module)(nil)

func init() {
	dispatch.Register(dispatch.ModuleInfo{
		Name: "exec",
		New:  func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "setvars", Kind: dispatch.Int, Default: "1", Doc: "pass the request in SIP_* environment variables (exec_msg, exec_dset, exec_avp)"},
			{Name: "time_to_kill", Kind: dispatch.Int, Default: "0", Doc: "seconds a command may run before it is killed (0: no limit)"},
		},
	})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	m.setVars = p.Int("setvars", 1) != 0
	k := p.Int("time_to_kill", 0)
	if k < 0 {
		return errors.New("time_to_kill: want 0 (no limit) or seconds")
	}
	m.kill = time.Duration(k) * time.Second
	return nil
}

// Exports are KSR.exec.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "exec_msg", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, cmd string) int {
			_, ok := m.run(c, cmd, c.Msg.Bytes(), m.setVars)
			return dispatch.Result(ok)
		})},
		{Name: "exec_dset", Ret: dispatch.Int, Fn: dispatch.FS(m.dset)},
		{Name: "exec_avp", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, cmd string) int { return m.avp(c, cmd, "") })},
		{Name: "exec_avp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSS(m.avp)},
		{Name: "exec_cmd", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, cmd string) int {
			_, ok := m.run(c, cmd, nil, false)
			return dispatch.Result(ok)
		})},
	}
}

// run runs cmd through the shell and returns its output; ok is false
// when it could not start, failed, or exited with a status other than 0.
func (m *Module) run(c *router.Ctx, cmd string, stdin []byte, vars bool) ([]byte, bool) {
	ctx := context.Background()
	if m.kill > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.kill)
		defer cancel()
	}
	x := osexec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	x.Stdin = bytes.NewReader(stdin)
	// Killed, the shell takes its children with it (its process group),
	// and the output of one that held on is not waited for.
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	x.Cancel = func() error { return syscall.Kill(-x.Process.Pid, syscall.SIGKILL) }
	x.WaitDelay = time.Second
	if vars {
		x.Env = append(os.Environ(), environment(c)...)
	}
	out, err := x.Output()
	if err != nil {
		var ee *osexec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			c.Log().Error("exec: "+cmd+": "+err.Error(), "route", c.Route)
		}
		return out, false
	}
	return out, true
}

// environment is the request in SIP_* variables: SIP_HF_<NAME> for each
// header field (repeated ones joined by commas, the compact forms under
// their full name), SIP_TID, SIP_DID, SIP_SRCIP, SIP_RURI, SIP_ORURI,
// SIP_USER, SIP_OUSER.
func environment(c *router.Ctx) []string {
	m := c.Msg
	var env []string
	seen := map[string]int{}
	for i := 0; i < m.NumHeaders(); i++ {
		h := m.Header(i)
		name := string(h.Name)
		if h.Type != sip.HdrOther {
			name = h.Type.String()
		}
		key := "SIP_HF_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if j, ok := seen[key]; ok {
			env[j] += "," + string(h.Value)
			continue
		}
		seen[key] = len(env)
		env = append(env, key+"="+string(h.Value))
	}
	env = append(env, "SIP_SRCIP="+string(c.SrcIP()))
	if m.IsRequest() {
		env = append(env, "SIP_ORURI="+string(m.RURIText()), "SIP_RURI="+string(c.RURIText()))
		if u, err := m.RURI(); err == nil {
			env = append(env, "SIP_OUSER="+string(u.User))
		}
		if u, err := c.RURI(); err == nil {
			env = append(env, "SIP_USER="+string(u.User))
		}
	}
	tid := string(m.CallID()) + ":" + strconv.FormatUint(uint64(m.CSeq()), 10)
	if v := m.TopVia(); v != nil && len(v.Branch) > 0 {
		tid = string(v.Branch)
	}
	env = append(env, "SIP_TID="+tid, "SIP_DID="+string(m.To().Tag))
	return env
}

// lines are the lines of out, right-trimmed, the empty ones left out.
func lines(out []byte) []string {
	var ls []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), " \t\r"); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// dset runs cmd with the request URI as its last argument: the first line
// of its output is the new request URI, the others new branches.
func (m *Module) dset(c *router.Ctx, cmd string) int {
	if !c.Msg.IsRequest() {
		return -1
	}
	out, ok := m.run(c, cmd+" "+string(c.RURIText()), nil, m.setVars)
	uris := lines(out)
	if len(uris) == 0 {
		c.Log().Error("exec_dset: no URI from "+cmd, "route", c.Route)
		return -1
	}
	if err := c.SetRURI([]byte(uris[0])); err != nil {
		c.Log().Error("exec_dset: "+strconv.Quote(uris[0])+": "+err.Error(), "route", c.Route)
		return -1
	}
	for _, u := range uris[1:] {
		if err := c.AppendBranchURI(u, -1); err != nil {
			c.Log().Error("exec_dset: "+err.Error(), "route", c.Route)
			return -1
		}
	}
	return dispatch.Result(ok)
}

// avp runs cmd and adds each line of its output to an AVP: those named in
// list ("$avp(a),$avp(b)"), the others (and all, without a list) $avp(N)
// for line N.
func (m *Module) avp(c *router.Ctx, cmd, list string) int {
	out, ok := m.run(c, cmd, nil, m.setVars)
	var names []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		n = strings.TrimSuffix(strings.TrimPrefix(n, "$avp("), ")")
		key, valid := router.AVPKey(n)
		if !valid {
			c.Log().Error("exec_avp: bad AVP "+n, "route", c.Route)
			return -1
		}
		names = append(names, key)
	}
	for i, l := range lines(out) {
		name := strconv.Itoa(i + 1)
		if i < len(names) {
			name = names[i]
		}
		c.AddAVP(name, router.StrValue(l))
	}
	return dispatch.Result(ok)
}
