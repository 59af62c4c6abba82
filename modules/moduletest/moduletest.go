// Package moduletest is the modules' test kit: a proxy's modules built
// from a config snippet and started on a recording transport, a SIP
// message made the worker's current one, the module's functions called
// as a script calls them, and what the proxy sent read back. No socket is
// opened; modules that talk to a database or a daemon still do. Every
// built-in module is linked in, so a module's tests are an external test
// package (package sl_test) that imports this one.
//
//	k := moduletest.New(t, `loadmodule "sl.so"`)
//	k.Request(moduletest.Options)
//	k.Call("sl.send_reply", 404, "Not Here")
//	if r := k.Reply(); r.StatusCode() != 404 { ... }
package moduletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kemi-sip/kemi/core/cfg"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
	_ "github.com/kemi-sip/kemi/modules/all" // any snippet may load any module
	"github.com/kemi-sip/kemi/modules/auth"
)

// Proxy is the address the kit's proxy listens on (nothing is bound).
var Proxy = netip.MustParseAddrPort("127.0.0.1:5060")

// Client is where the kit's requests come from by default.
var Client = netip.MustParseAddrPort("192.0.2.10:5062")

// Kit is one proxy's modules, started, and a worker to run calls on.
type Kit struct {
	T         testing.TB
	Table     *dispatch.Table
	Env       *router.Env
	Worker    *router.Worker
	Transport *transport.Server // a recorder
	Logs      *Logs
	ctx       *router.Ctx
	msg       sip.Msg
	pkt       transport.Packet
}

// Logs collects what the proxy logs.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// New builds the modules a config snippet loads (loadmodule, modparam and
// other global lines; the core modules always), starts them, and makes a
// worker. Everything stops when the test ends. A config error fails the
// test; NewErr returns it.
func New(t testing.TB, config string) *Kit {
	t.Helper()
	k, err := NewErr(t, config)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewErr is New that returns the error of a config or a module's Init
// or Start, for tests of bad parameters.
func NewErr(t testing.TB, config string) (*Kit, error) {
	t.Helper()
	c, err := cfg.Parse("test.cfg", []byte(config), nil)
	if err != nil {
		return nil, err
	}
	tab, err := dispatch.FromConfig(c)
	if err != nil {
		return nil, err
	}
	logs := &Logs{}
	tr := transport.NewRecorder(Proxy)
	env := &router.Env{Transport: tr, Myself: transport.NewMyself(tr.Listeners, nil), Defines: c.Defines,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := tab.Start(env); err != nil {
		return nil, err
	}
	t.Cleanup(tab.Stop)
	w, err := env.NewWorker(1)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { w.Ctx().Finish() }) // before the modules stop
	return &Kit{T: t, Table: tab, Env: env, Worker: w, Transport: tr, Logs: logs}, nil
}

// Module is the kit's value of a loaded module, for tests that look at its
// state: k.Module("usrloc").(*usrloc.Module).
func (k *Kit) Module(name string) dispatch.Module {
	m := k.Table.Module(name)
	if m == nil {
		k.T.Fatalf("module %s is not loaded", name)
	}
	return m
}

// Request makes msg the worker's current message, received over UDP from
// Client, and returns its context; the header lines may end in "\n"
// alone (then the first empty line ends them, and the body is as given).
func (k *Kit) Request(msg string) *router.Ctx {
	k.T.Helper()
	return k.Receive(sip.TransportUDP, Client, msg)
}

// Receive is Request over another transport or from another address.
func (k *Kit) Receive(proto sip.Transport, src netip.AddrPort, msg string) *router.Ctx {
	k.T.Helper()
	if !strings.Contains(msg, "\r\n") {
		head, body, _ := strings.Cut(msg, "\n\n") // the body keeps its own line ends
		msg = strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	}
	k.pkt = transport.Packet{Src: src, Proto: proto, Local: k.Transport.Listener(proto, src.Addr().Is4())}
	k.pkt.Buf = []byte(msg)
	if err := k.msg.Parse(k.pkt.Buf); err != nil {
		k.T.Fatalf("the test's message does not parse: %v", err)
	}
	k.ctx = k.Worker.Begin(&k.pkt, &k.msg)
	return k.ctx
}

// Ctx is the current message's context.
func (k *Kit) Ctx() *router.Ctx {
	if k.ctx == nil {
		k.T.Fatal("no message: call Request first")
	}
	return k.ctx
}

// Call calls KSR.<module>.<function> (or a core function by its name) on
// the current message as a script does, through Export.Invoke, with int
// and string arguments; the test fails for an unknown function or
// arguments that do not fit.
func (k *Kit) Call(name string, args ...any) router.Value {
	k.T.Helper()
	mod, fn := "", name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		mod, fn = name[:i], name[i+1:]
	}
	i, ok := k.Table.Lookup(mod, fn)
	if !ok {
		k.T.Fatalf("no function KSR.%s in the table", name)
	}
	return k.invoke(k.Table.At(i), args, false)
}

// Native calls a function by its name in the native config language,
// the export of that name taking len(args) parameters; a string for an
// int parameter is read as the native language reads it ("0x02").
func (k *Kit) Native(name string, args ...any) router.Value {
	k.T.Helper()
	i, ok := k.Table.NativeArgs(name, len(args))
	if !ok {
		k.T.Fatalf("no native function %s in the table", name)
	}
	return k.invoke(k.Table.At(i), args, true)
}

func (k *Kit) invoke(e *dispatch.Export, args []any, native bool) router.Value {
	k.T.Helper()
	if len(args) != len(e.Params) {
		k.T.Fatal(e.ArityError(len(args)))
	}
	var a dispatch.Args
	for i, v := range args {
		switch x := v.(type) {
		case int:
			if e.Params[i] != dispatch.Int {
				k.T.Fatal(e.TypeError(i, "an int"))
			}
			a.I[i] = x
		case string:
			if e.Params[i] == dispatch.Int && native {
				n, ok := router.StrValue(x).IntParam()
				if !ok {
					k.T.Fatalf("%s: parameter %d must be an integer, got %q", e.NativeName(), i+1, x)
				}
				a.I[i] = int(n)
				continue
			}
			if e.Params[i] != dispatch.Str {
				k.T.Fatal(e.TypeError(i, fmt.Sprintf("%q", x)))
			}
			a.S[i] = x
		default:
			k.T.Fatalf("KSR.%s: argument %d: %T is neither int nor string", e.FullName(), i+1, v)
		}
	}
	v, err := e.Invoke(k.Ctx(), &a)
	if err != nil {
		k.T.Fatal(err)
	}
	return v
}

// CallInt is Call for a function with an int result.
func (k *Kit) CallInt(name string, args ...any) int {
	k.T.Helper()
	return int(k.Call(name, args...).I)
}

// Sent is one message the proxy sent, parsed.
type Sent struct {
	transport.Sent
	*sip.Msg
}

// Sent returns what the proxy sent since the last look, in order.
func (k *Kit) Sent() []Sent {
	k.T.Helper()
	var out []Sent
	for _, s := range k.Transport.TakeSent() {
		m := new(sip.Msg)
		if err := m.Parse(s.Msg); err != nil {
			k.T.Fatalf("the proxy sent a message that does not parse (%v):\n%s", err, s.Msg)
		}
		out = append(out, Sent{s, m})
	}
	return out
}

// Reply is the one message sent since the last look, a reply; the test
// fails when there is not exactly one.
func (k *Kit) Reply() Sent {
	k.T.Helper()
	sent := k.Sent()
	if len(sent) != 1 || sent[0].IsRequest() {
		k.T.Fatalf("want one reply sent, got %d messages:\n%s", len(sent), dump(sent))
	}
	return sent[0]
}

// NothingSent fails the test when anything was sent since the last look.
func (k *Kit) NothingSent() {
	k.T.Helper()
	if sent := k.Sent(); len(sent) > 0 {
		k.T.Fatalf("want nothing sent, got:\n%s", dump(sent))
	}
}

func dump(sent []Sent) string {
	var b strings.Builder
	for _, s := range sent {
		fmt.Fprintf(&b, "-- to %s over %s\n%s\n", s.Dst, s.Proto, s.Sent.Msg)
	}
	return b.String()
}

// Header is the value of the first header named name of a sent message,
// "" when it has none.
func (s Sent) Header(name string) string {
	for _, line := range strings.Split(string(s.Sent.Msg), "\r\n")[1:] {
		if line == "" {
			break
		}
		n, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Messages every module test may start from.
const (
	// Options is an OPTIONS to the proxy itself.
	Options = "OPTIONS sip:127.0.0.1 SIP/2.0\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-opt-1;rport\n" +
		"Max-Forwards: 70\n" +
		"From: <sip:alice@example.com>;tag=f1\n" +
		"To: <sip:127.0.0.1>\n" +
		"Call-ID: options-1@192.0.2.10\n" +
		"CSeq: 1 OPTIONS\n" +
		"Content-Length: 0\n\n"
	// Invite is an INVITE for bob through the proxy.
	Invite = "INVITE sip:bob@example.com SIP/2.0\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-inv-1;rport\n" +
		"Max-Forwards: 70\n" +
		"From: <sip:alice@example.com>;tag=f2\n" +
		"To: <sip:bob@example.com>\n" +
		"Call-ID: invite-1@192.0.2.10\n" +
		"CSeq: 1 INVITE\n" +
		"Contact: <sip:alice@192.0.2.10:5062>\n" +
		"Content-Length: 0\n\n"
	// Register registers alice's contact for an hour.
	Register = "REGISTER sip:example.com SIP/2.0\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-reg-1;rport\n" +
		"Max-Forwards: 70\n" +
		"From: <sip:alice@example.com>;tag=f3\n" +
		"To: <sip:alice@example.com>\n" +
		"Call-ID: register-1@192.0.2.10\n" +
		"CSeq: 1 REGISTER\n" +
		"Contact: <sip:alice@192.0.2.10:5062>\n" +
		"Expires: 3600\n" +
		"Content-Length: 0\n\n"
)

// Case is one call and its result as text ("" for null): the function
// ("sl.send_reply", or a core function: "is_INVITE"), its arguments, the
// result. An alias of an unnamed struct, so that tables are written
// {"pv.get", []any{"$ru"}, "sip:..."}.
type Case = struct {
	Fn   string
	Args []any
	Want string
}

// Run makes each call in order on the current message and reports every
// result that differs: "case 3 (pv.get[$ru]): got ..., want ...".
func (k *Kit) Run(cases []Case) {
	k.T.Helper()
	for i, c := range cases {
		if got := k.Call(c.Fn, c.Args...).String(); got != c.Want {
			k.T.Errorf("case %d (%s%v): got %q, want %q", i, c.Fn, c.Args, got, c.Want)
		}
	}
}

// Out is the current message as it would be forwarded, the script's
// edits applied.
func (k *Kit) Out() string { return string(k.Ctx().Msg.AppendTo(nil)) }

// JSON is v as JSON, for comparing an RPC's result.
func JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

var nonceRe = regexp.MustCompile(`nonce="([^"]+)"`)

// Credentials is msg (a REGISTER) with an Authorization header of user's
// that answers the challenge the proxy makes to msg (auth_challenge with
// realm), for the tests of what reads the authenticated user; the header
// goes after the "Expires: 3600" line.
func (k *Kit) Credentials(msg, user, realm, password string) string {
	k.T.Helper()
	k.Request(msg)
	k.Call("auth.auth_challenge", realm, 0)
	m := nonceRe.FindStringSubmatch(k.Reply().Header("WWW-Authenticate"))
	if m == nil {
		k.T.Fatal("no challenge")
	}
	var h, r [64]byte
	ha1 := auth.MD5.HA1(h[:], []byte(user), []byte(realm), []byte(password))
	resp := auth.MD5.Response(r[:], ha1, []byte(m[1]), nil, nil, nil, []byte("REGISTER"), []byte("sip:"+realm), nil)
	cred := `Authorization: Digest username="` + user + `", realm="` + realm + `", nonce="` + m[1] + `", uri="sip:` + realm + `", response="` + string(resp) + "\"\n"
	return strings.Replace(msg, "Expires: 3600\n", "Expires: 3600\n"+cred, 1)
}

// NetIn passes b, received over UDP from Client, through what modules
// do to every message before it is parsed (router.Env.NetIn: topoh,
// topos) and returns what the worker would parse; b itself without one.
func (k *Kit) NetIn(b []byte) []byte {
	if k.Env.NetIn == nil {
		return b
	}
	p := transport.Packet{Src: Client, Proto: sip.TransportUDP, Local: k.Transport.Listener(sip.TransportUDP, true), Buf: b}
	if out := k.Env.NetIn(&p, nil); out != nil {
		return out
	}
	return b
}
