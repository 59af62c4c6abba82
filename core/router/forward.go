package router

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/kemi-sip/kemi/core/sip"
)

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
	tr := c.W.env.Transport
	if tr == nil {
		return errors.New("forward: no sockets")
	}
	target := uri
	if len(target) == 0 {
		target = c.dst
		if !c.dstSet {
			target = c.RURIText()
		}
	}
	var u sip.URI
	if err := sip.ParseURI(target, &u); err != nil {
		return errors.New("forward: " + strconv.Quote(string(target)) + ": " + err.Error())
	}
	if u.Scheme != sip.SchemeSIP && u.Scheme != sip.SchemeSIPS {
		return errors.New("forward: cannot route to " + strconv.Quote(string(target)))
	}
	proto := sip.TransportUDP
	if t := u.TransportParam(); len(t) > 0 && sip.ParseTransport(t) == sip.TransportTCP {
		proto = sip.TransportTCP
	}
	host := u.Host
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(string(host))
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", string(host))
		cancel()
		if lerr != nil || len(ips) == 0 {
			return errors.New("forward: cannot resolve " + strconv.Quote(string(host)))
		}
		ip = ips[0].Unmap()
	}
	dst := netip.AddrPortFrom(ip, uint16(port))
	l := tr.Listener(proto, ip.Is4())
	if l == nil {
		return errors.New("forward: no " + proto.String() + " socket for " + dst.String())
	}
	if c.ruriSet {
		if err := m.SetRURI(c.ruri); err != nil {
			return err
		}
	}
	if len(c.path) > 0 {
		c.W.hdrBuf = append(append(c.W.hdrBuf[:0], "Route: "...), c.path...)
		if err := m.InsertHeader(c.W.hdrBuf); err != nil {
			return err
		}
	}
	via := c.W.Scratch[:0]
	via = append(via, "SIP/2.0/"...)
	via = append(via, proto.String()...)
	via = append(via, ' ')
	if l.Advertise != "" {
		via = append(via, l.Advertise...)
	} else {
		via = l.Addr.AppendTo(via)
	}
	via = append(via, ";branch=z9hG4bK"...)
	h := uint64(fnvOffset)
	if v := m.TopVia(); v != nil {
		h = fnv1a(fnv1a(h, v.Branch), v.Host)
	}
	h = fnv1a(fnv1a(h, m.CallID()), target)
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h)
	via = hex.AppendEncode(via, sum[:])
	c.W.Scratch = via
	if err := m.PushVia(via); err != nil {
		return err
	}
	c.W.out = m.AppendTo(c.W.out[:0])
	m.ResetEdits()
	return tr.Send(l, proto, dst, c.W.out)
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

// fnv1a is FNV-1a over b, continuing from h; hash/fnv would allocate per
// forwarded request.
func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
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
	ip, err := netip.ParseAddr(string(host))
	if err != nil {
		w.env.Log.Info("reply: next Via is not an address", "via", string(next.Raw))
		return true
	}
	port := next.Port
	if p, err := strconv.Atoi(string(next.RPort)); err == nil && p > 0 {
		port = p
	}
	if port == 0 {
		port = 5060
	}
	if err := m.RemoveTopVia(); err != nil {
		return true
	}
	w.out = m.AppendTo(w.out[:0])
	m.ResetEdits()
	proto := next.Transport
	if proto != sip.TransportTCP {
		proto = sip.TransportUDP
	}
	if err := w.env.Transport.Send(nil, proto, netip.AddrPortFrom(ip.Unmap(), uint16(port)), w.out); err != nil {
		w.env.Log.Info("reply: forward failed", "err", err.Error())
	}
	return true
}
