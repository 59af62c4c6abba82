// Package topoh is Kamailio's topoh module: topology hiding without
// state. Every message leaving the proxy has the addresses of the hops
// behind it masked — the Vias below the proxy's own, the Record-Routes
// other than its own, the Contact, and with mask_callid the Call-ID —
// into values of a keyed base64 at a fake address (mask_ip); what comes
// back with them (replies, in-dialog requests: their Via, Route, request
// URI, Refer-To, Call-ID) is unmasked before the script sees it. The
// script works on the real message; proxies with the same mask_key read
// each other's masks. It hooks the transport (Kamailio's
// SREV_NET_DATA_IN/OUT events): router.Env.NetIn and
// transport.Server.Out.
package topoh

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
	"github.com/kemi-sip/kemi/dispatch"
)

// Module is the topoh module of one proxy.
type Module struct {
	key, ip                      string
	uparamName, uparamPrefix     string
	vparamName, vparamPrefix     string
	callidPrefix                 string
	viaPrefix, uriPrefix         string
	callIDMasked, uriPrefixCheck bool
	eventCallback                string
	eventMode                    int

	coder    *coder
	maskIsMe bool // mask_ip is one of the proxy's addresses
	env      *router.Env
	work     sync.Pool // *work

	events *router.NetEvents
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
)

// Kamailio's default key in its code (the docs say "_static_value_").
const defaultKey = "aL9.n8~Hm]Z"

func init() {
	i, s := dispatch.Int, dispatch.Str
	p := dispatch.P
	dispatch.Register(dispatch.ModuleInfo{Name: "topoh",
		Params: []dispatch.Param{
			p("mask_key", s, defaultKey, "the key the masks are made with: every proxy that must read them has the same"),
			p("mask_ip", s, "127.0.0.8", "the address of the masked URIs and Vias; never routed to, and not one a client uses"),
			p("mask_callid", i, "0", "1: the Call-ID is masked too (callid_prefix)"),
			p("uparam_name", s, "line", "the URI parameter that holds a masked URI"),
			p("uparam_prefix", s, "sr-", "what a masked URI parameter's value starts with"),
			p("vparam_name", s, "branch", "the Via parameter that holds a masked Via"),
			p("vparam_prefix", s, "z9hG4bKsr-", "what a masked Via parameter's value starts with"),
			p("callid_prefix", s, "!!:", "what a masked Call-ID starts with"),
			p("sanity_checks", i, "0", "1 (Kamailio runs sanity's default checks first) is not supported: refused; call sanity_check() in the script"),
			p("uri_prefix_checks", i, "0", "1: unmask only URIs and Vias that start with the mask address and prefix"),
			p("event_callback", s, "", "a KEMI function run (with the event's name) instead of the event routes"),
			p("event_mode", i, "3", "bits: 1 runs event_route[topoh:msg-outgoing], 2 event_route[topoh:msg-sending]"),
		},
		New: func() dispatch.Module { return &Module{} },
	})
}

// Exports: none; topoh works on every message by itself.
func (m *Module) Exports() []dispatch.Export { return nil }

// Init reads the parameters and makes the mask's alphabet.
func (m *Module) Init(p *dispatch.Params) error {
	m.key = p.Str("mask_key", defaultKey)
	m.ip = p.Str("mask_ip", "127.0.0.8")
	m.callIDMasked = p.Int("mask_callid", 0) != 0
	m.uparamName = p.Str("uparam_name", "line")
	m.uparamPrefix = p.Str("uparam_prefix", "sr-")
	m.vparamName = p.Str("vparam_name", "branch")
	m.vparamPrefix = p.Str("vparam_prefix", "z9hG4bKsr-")
	m.callidPrefix = p.Str("callid_prefix", "!!:")
	m.uriPrefixCheck = p.Int("uri_prefix_checks", 0) != 0
	m.eventCallback = p.Str("event_callback", "")
	m.eventMode = p.Int("event_mode", 3)
	if p.Int("sanity_checks", 0) != 0 {
		return fmt.Errorf("topoh: sanity_checks 1 is not supported: call sanity_check() in request_route instead")
	}
	if m.ip == "" {
		return fmt.Errorf("topoh: mask_ip is empty")
	}
	var u sip.URI
	if err := sip.ParseURI([]byte("sip:"+m.ip), &u); err != nil || u.Port != 0 || len(u.Params) > 0 {
		return fmt.Errorf("topoh: mask_ip %q is not an address", m.ip)
	}
	if m.key == "" {
		return fmt.Errorf("topoh: mask_key is empty")
	}
	for name, v := range map[string]string{"uparam_name": m.uparamName, "vparam_name": m.vparamName} {
		if v == "" || strings.ContainsAny(v, ";=,<> \t\r\n") {
			return fmt.Errorf("topoh: %s %q is not a parameter name", name, v)
		}
	}
	m.viaPrefix = "SIP/2.0/UDP " + m.ip + ";" + m.vparamName + "=" + m.vparamPrefix
	m.uriPrefix = "sip:" + m.ip + ";" + m.uparamName + "=" + m.uparamPrefix
	m.coder = newCoder(m.key)
	return nil
}

// Start hooks the transport: what comes in is unmasked before it is
// parsed, what goes out is masked.
func (m *Module) Start(env *router.Env) error {
	m.env = env
	if env.Myself != nil {
		m.maskIsMe = env.Myself.IsHost([]byte(m.ip))
	}
	m.work.New = func() any { return &work{} }
	m.events = router.NewNetEvents(env, m.eventCallback, m.eventMode,
		map[int]string{evOutgoing: "topoh:msg-outgoing", evSending: "topoh:msg-sending"})
	if err := env.HookWire("topoh", m.netIn, m.netOut); err != nil {
		return err
	}
	return nil
}

// netIn is Kamailio's th_msg_received.
func (m *Module) netIn(p *transport.Packet, scratch []byte) []byte {
	w := m.work.Get().(*work)
	defer m.work.Put(w)
	if !w.Prepare(p.Buf) || !m.received(w) {
		return nil
	}
	return w.Apply(scratch)
}

// netOut is Kamailio's th_msg_sent.
func (m *Module) netOut(local *transport.Listener, proto sip.Transport, dst netip.AddrPort, b []byte) []byte {
	hop := router.Hop{Addr: dst, Proto: proto, Local: local}
	if m.events.Run(evOutgoing, nil, nil, &hop) {
		return b
	}
	w := m.work.Get().(*work)
	defer m.work.Put(w)
	if !w.Prepare(b) {
		return b
	}
	if !m.sent(w, hop) {
		return b
	}
	return w.Apply(nil)
}

const (
	evOutgoing = 1
	evSending  = 2
)
