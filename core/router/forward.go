package router

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Hop is where a request goes next: the address, the transport, and the
// socket it leaves from.
type Hop struct {
	Addr  netip.AddrPort
	Proto sip.Transport
	Local *transport.Listener
}

// Target is the URI a request is sent to: uri when given, else $du when
// set, else the request URI.
func (c *Ctx) Target(uri []byte) []byte {
	if len(uri) > 0 {
		return uri
	}
	if c.dstSet {
		return c.dst
	}
	return c.RURIText()
}

// Kamailio's error classes (core/error.h) that sl_reply_error answers
// with their own codes (Ctx.SerError).
const (
	EBadAddress = -478 // Unresolvable destination
	EBadURI     = -479 // the URI cannot be routed
	ESend       = -477 // sending to the next hop failed
)

// errUnresolvable wraps a name that does not resolve: EBadAddress.
var errUnresolvable = errors.New("no address")

// SerErrorReply is the reply sl_reply_error sends for Kamailio's error
// class e, code and reason as Kamailio's err2reason_phrase writes them
// ("Unresolvable destination (478/SL)"); 500 for anything else.
func SerErrorReply(e int) (int, string) {
	switch e {
	case EBadAddress:
		return 478, "Unresolvable destination (478/SL)"
	case EBadURI:
		return 479, "Regretfully, we were not able to process the URI (479/SL)"
	case ESend:
		return 477, "Unfortunately error on sending to next hop occurred (477/SL)"
	}
	return 500, "Server Internal Error"
}

// Resolve finds the next hop of a SIP URI (RFC 3263 without NAPTR): an IP
// address as it is; a name with a port by A/AAAA; a name without one by
// SRV (_sip._udp / _sip._tcp), else A/AAAA on 5060. Answers are cached for
// DNSCacheTTL.
func (e *Env) Resolve(target []byte) (Hop, error) {
	var u sip.URI
	if err := sip.ParseURI(target, &u); err != nil {
		return Hop{}, errors.New(strconv.Quote(string(target)) + ": " + err.Error())
	}
	if u.Scheme != sip.SchemeSIP && u.Scheme != sip.SchemeSIPS {
		return Hop{}, errors.New("cannot route to " + strconv.Quote(string(target)))
	}
	proto := sip.TransportUDP
	if t := u.TransportParam(); len(t) > 0 {
		switch tp := sip.ParseTransport(t); tp {
		case sip.TransportTCP, sip.TransportTLS, sip.TransportWS, sip.TransportWSS:
			proto = tp
		}
	}
	if u.Scheme == sip.SchemeSIPS {
		if proto == sip.TransportWS || proto == sip.TransportWSS {
			proto = sip.TransportWSS
		} else {
			proto = sip.TransportTLS // RFC 3261 §26.2.2: sips goes over TLS
		}
	}
	host := u.Host
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	var dst netip.AddrPort
	if ip, err := ParseAddr(host); err == nil {
		port := u.Port
		if port == 0 {
			port = defaultPort(proto)
		}
		dst = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	} else {
		dst, err = e.dns.lookup(host, u.Port, proto)
		if err != nil {
			return Hop{}, err
		}
	}
	if e.Transport == nil {
		return Hop{}, errors.New("no sockets")
	}
	l := e.Transport.Listener(proto, dst.Addr().Is4())
	if l == nil {
		return Hop{}, errors.New("no " + proto.String() + " socket for " + dst.String())
	}
	return Hop{Addr: dst, Proto: proto, Local: l}, nil
}

// defaultPort is 5061 for TLS, else 5060 (RFC 3261 §19.1.2).
func defaultPort(proto sip.Transport) int {
	if proto == sip.TransportTLS {
		return 5061
	}
	return 5060
}

// ParseAddr parses an IP address in host without copying it (netip keeps
// only a zone, which is then copied).
func ParseAddr(host []byte) (netip.Addr, error) {
	if len(host) == 0 {
		return netip.Addr{}, errors.New("empty host")
	}
	if bytes.IndexByte(host, '%') >= 0 {
		return netip.ParseAddr(string(host))
	}
	return netip.ParseAddr(unsafe.String(&host[0], len(host)))
}

// DNSCacheTTL is how long a DNS answer is kept: Go's resolver does not
// give the records' TTL.
const DNSCacheTTL = 60 * time.Second

type dnsCache struct {
	mu  sync.RWMutex
	ans map[dnsKey]dnsAnswer
}

type dnsKey struct {
	host  string
	port  int
	proto sip.Transport
}

type dnsAnswer struct {
	addr    netip.AddrPort
	err     error
	expires time.Time
}

func (d *dnsCache) lookup(host []byte, port int, proto sip.Transport) (netip.AddrPort, error) {
	now := time.Now()
	d.mu.RLock()
	a, ok := d.ans[dnsKey{string(host), port, proto}]
	d.mu.RUnlock()
	if ok && now.Before(a.expires) {
		return a.addr, a.err
	}
	k := dnsKey{string(host), port, proto}
	a = dnsAnswer{expires: now.Add(DNSCacheTTL)}
	a.addr, a.err = resolveName(k)
	if a.err != nil {
		a.expires = now.Add(5 * time.Second) // retry a failure sooner
	}
	d.mu.Lock()
	if d.ans == nil || len(d.ans) > 10000 {
		d.ans = map[dnsKey]dnsAnswer{}
	}
	d.ans[k] = a
	d.mu.Unlock()
	return a.addr, a.err
}

func resolveName(k dnsKey) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := net.DefaultResolver
	host, port := k.host, k.port
	if port == 0 {
		port = defaultPort(k.proto)
		service, proto := "sip", "udp"
		switch k.proto {
		case sip.TransportTCP:
			proto = "tcp"
		case sip.TransportTLS:
			service, proto = "sips", "tcp"
		}
		if _, srvs, err := r.LookupSRV(ctx, service, proto, k.host); err == nil && len(srvs) > 0 {
			host, port = srvs[0].Target, int(srvs[0].Port) // sorted by priority, weight-randomised
		}
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %q: %w", k.host, errUnresolvable)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// Forward sends the request statelessly (Kamailio's forward()): to uri,
// or $du when set, or the request URI. A Via of this proxy goes on top,
// with a branch derived from the request's own so that a retransmission
// gets the same one, and the Path route set lookup found becomes Route
// headers. Replies find their way back through the Via (Worker.forwardReply).
func (c *Ctx) Forward(uri []byte) error {
	m := c.Msg
	if !m.IsRequest() {
		return errors.New("forward: not a request")
	}
	target := c.Target(uri)
	hop, err := c.Resolve(target)
	if err != nil {
		return errors.New("forward: " + err.Error())
	}
	if err := c.PrepareRequest(hop); err != nil {
		return err
	}
	h := uint64(FNVOffset)
	if v := m.TopVia(); v != nil {
		h = FNV1a(FNV1a(h, v.Branch), v.Host)
	}
	h = FNV1a(FNV1a(h, m.CallID()), target)
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h)
	c.W.Scratch = hex.AppendEncode(append(c.W.Scratch[:0], "z9hG4bK"...), sum[:])
	if hop, err = c.PushViaMTU(hop, c.W.Scratch); err != nil {
		return err
	}
	if !c.OnSend(hop) {
		m.ResetEdits()
		return nil
	}
	c.W.out = m.AppendTo(c.W.out[:0])
	m.ResetEdits()
	if err := c.W.env.Transport.Send(hop.Local, hop.Proto, hop.Addr, c.W.out); err != nil {
		c.SerError = ESend
		return err
	}
	return nil
}

// PushViaMTU is PushVia, and with udp_mtu set, the hop a request too
// large for UDP goes to instead (MTUFallback), its Via written for that
// transport: the hop to send to.
func (c *Ctx) PushViaMTU(hop Hop, branch []byte) (Hop, error) {
	if c.W.env.UDPMTU <= 0 || hop.Proto != sip.TransportUDP {
		return hop, c.PushVia(hop, branch)
	}
	m := c.Msg
	mark := &c.W.viaMark
	m.MarkEdits(mark)
	if err := c.PushVia(hop, branch); err != nil {
		return hop, err
	}
	alt, ok := c.MTUFallback(hop, m.Len())
	if !ok {
		return hop, nil
	}
	m.RestoreEdits(mark)
	return alt, c.PushVia(alt, branch)
}

// PrepareRequest writes received/rport into the sender's Via, the
// script's request URI, what the modules' request state adds (rr's
// Record-Route: Forwarder) and the Path route set into the message,
// before it is forwarded to hop.
func (c *Ctx) PrepareRequest(hop Hop) error {
	m := c.Msg
	c.outHop = hop
	if c.Pkt != nil {
		// RFC 3261 §18.2.1, RFC 3581: the sender's Via says where it was
		// really received from, so that replies find their way back.
		if err := m.SetViaReceived(c.srcIP, int(c.Pkt.Src.Port()), c.ForceRPort); err != nil {
			return err
		}
	}
	if c.ruriSet {
		if err := m.SetRURI(c.ruri); err != nil {
			return err
		}
	}
	if err := c.prepareForward(); err != nil {
		return err
	}
	if len(c.path) > 0 {
		c.W.hdrBuf = append(append(c.W.hdrBuf[:0], "Route: "...), c.path...)
		if err := m.InsertHeader(c.W.hdrBuf); err != nil {
			return err
		}
	}
	return nil
}

// OutHop is where the request being prepared goes (its socket, for the
// Forwarders that write this proxy's address: path's Path).
func (c *Ctx) OutHop() Hop { return c.outHop }

// AddViaSrvID and AddViaXAVPParams have this proxy's Via of the message
// carry ;srvid=server_id, and the fields of the first item of the
// xavp_via_params XAVP as parameters (corex's via_add_srvid and
// via_add_xavp_params).
func (c *Ctx) AddViaSrvID(on bool)      { c.viaSrvID = on }
func (c *Ctx) AddViaXAVPParams(on bool) { c.viaXAVP = on }

// UseViaXAVPFields has this proxy's Via of the message take its address
// and port from the fields "address" and "port" of the xavp_via_fields
// XAVP, where it has them (corex's via_use_xavp_fields).
func (c *Ctx) UseViaXAVPFields(on bool) { c.viaFields = on }

// PushVia puts this proxy's Via, for a request leaving through hop, with
// the given branch on top of the message.
func (c *Ctx) PushVia(hop Hop, branch []byte) error {
	via := c.W.viaBuf[:0]
	via = append(via, "SIP/2.0/"...)
	via = append(via, hop.Proto.String()...)
	via = append(via, ' ')
	e := c.W.env
	if c.viaFields && e.XAVPViaFields != "" {
		via = c.appendViaFields(via, hop.Local)
	} else {
		via = c.AppendAdvertised(via, hop.Local)
	}
	via = append(via, ";branch="...)
	via = append(via, branch...)
	if c.viaSrvID && e.ServerID != 0 {
		via = strconv.AppendInt(append(via, ";srvid="...), int64(e.ServerID), 10)
	}
	if c.viaXAVP && e.XAVPViaParams != "" {
		c.XAVPFields(e.XAVPViaParams, 0, func(k string, v Value) {
			via = append(append(via, ';'), k...)
			if !v.IsNull() {
				via = v.AppendTo(append(via, '='))
			}
		})
	}
	c.W.viaBuf = via
	return c.Msg.PushVia(via)
}

// appendViaFields appends the Via's host:port from the xavp_via_fields
// XAVP's address and port, each the advertised one where it is missing.
func (c *Ctx) appendViaFields(dst []byte, l *transport.Listener) []byte {
	var addr, port Value
	c.XAVPFields(c.W.env.XAVPViaFields, 0, func(k string, v Value) {
		switch k {
		case "address":
			addr = v
		case "port":
			port = v
		}
	})
	if addr.IsNull() && port.IsNull() {
		return c.AppendAdvertised(dst, l)
	}
	h, p := l.Advertised()
	if c.advAddr != "" {
		h = c.advAddr
	}
	if !addr.IsNull() {
		h = addr.String()
	}
	return c.appendHostPort(dst, h, port, p)
}

// appendHostPort appends host:port, port the value when it has one, else
// set_advertised_port's, else p.
func (c *Ctx) appendHostPort(dst []byte, h string, port Value, p int) []byte {
	if strings.IndexByte(h, ':') >= 0 && h[0] != '[' {
		dst = append(append(append(dst, '['), h...), ']')
	} else {
		dst = append(dst, h...)
	}
	dst = append(dst, ':')
	if !port.IsNull() {
		return port.AppendTo(dst)
	}
	if c.advPort != "" {
		return append(dst, c.advPort...)
	}
	return strconv.AppendInt(dst, int64(p), 10)
}

// FNVOffset starts a 64-bit FNV-1a hash.
const FNVOffset, fnvPrime = 14695981039346656037, 1099511628211

// FNV1a continues a 64-bit FNV-1a hash from h over b: the hash of branch
// ids, transaction keys, to-tags and table shards. hash/fnv would
// allocate per request.
func FNV1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// FNV1aUint continues the hash over a number.
func FNV1aUint(h, v uint64) uint64 { return (h ^ v) * fnvPrime }

// AppendUpstream appends the reply c holds as it goes upstream: without
// this proxy's Via, with the edits the routes made (which are then
// dropped).
func (c *Ctx) AppendUpstream(dst []byte) ([]byte, error) {
	m := c.Msg
	if err := m.RemoveTopVia(); err != nil {
		return dst, err
	}
	dst = m.AppendTo(dst)
	m.ResetEdits()
	return dst, nil
}

// ForwardReply sends the reply c holds on upstream now, as the proxy does
// after reply_route (sl's sl_forward_reply); false when the top Via is not
// this proxy's.
func (c *Ctx) ForwardReply() bool {
	if c.W.env.Transport == nil || c.Msg.IsRequest() {
		return false
	}
	return c.W.forwardReply(c)
}

// forwardReply sends a reply to a request this proxy forwarded statelessly
// on to the next Via, and reports whether the reply was one.
func (w *Worker) forwardReply(c *Ctx) bool {
	m := c.Msg
	v := m.TopVia()
	if v == nil || !w.env.Myself.Is(v.Host, v.Port, false) {
		return false
	}
	var next sip.Via
	it := m.Vias()
	n := 0
	for it.Next(&next) {
		if n++; n == 2 {
			break
		}
	}
	if n < 2 {
		return true // ours, and nowhere further to go
	}
	host := next.Host
	if len(next.Received) > 0 {
		host = next.Received
	}
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	ip, err := ParseAddr(host)
	if err != nil {
		w.env.Log.Info("reply: next Via is not an address", "via", string(next.Raw))
		return true
	}
	port := next.Port
	if p, err := strconv.Atoi(string(next.RPort)); err == nil && p > 0 {
		port = p
	}
	if port == 0 {
		port = defaultPort(next.Transport)
	}
	out, err := c.AppendUpstream(w.out[:0])
	if err != nil {
		return true
	}
	w.out = out
	proto := next.Transport
	switch proto {
	case sip.TransportTCP, sip.TransportTLS, sip.TransportWS, sip.TransportWSS:
	default:
		proto = sip.TransportUDP
	}
	if err := w.env.Transport.Send(nil, proto, netip.AddrPortFrom(ip.Unmap(), uint16(port)), w.out); err != nil {
		w.env.Log.Info("reply: forward failed", "err", err.Error())
	}
	return true
}
