package tm

import (
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// The per-transaction settings a script makes (t_set_fr, t_reset_fr,
// t_set_auto_inv_100) and the functions about its state and replies
// (t_grep_status, t_retransmit_reply), and relaying with a transport
// (t_relay_to_proto) or flags (t_relay_to_flags).

func (tm *Module) settingsExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "t_set_fr", Ret: dispatch.Int, Fn: dispatch.FII(func(c *router.Ctx, inv, noninv int) int {
			if inv < 0 || noninv < 0 {
				return -1
			}
			return setFR(c, time.Duration(inv)*time.Millisecond, time.Duration(noninv)*time.Millisecond)
		})},
		// The native form with one value: fr_inv_timer alone.
		{Name: "t_set_fr", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, inv int) int {
			if inv < 0 {
				return -1
			}
			return setFR(c, time.Duration(inv)*time.Millisecond, 0)
		})},
		{Name: "t_reset_fr", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return setFR(c, 0, 0) })},
		{Name: "t_set_retr", Ret: dispatch.Int, Fn: dispatch.FII(func(c *router.Ctx, t1, t2 int) int {
			if t1 < 0 || t2 < 0 {
				return -1
			}
			return setRetr(c, time.Duration(t1)*time.Millisecond, time.Duration(t2)*time.Millisecond)
		})},
		{Name: "t_reset_retr", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return setRetr(c, 0, 0) })},
		{Name: "t_set_auto_inv_100", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, on int) int {
			state(c).auto100 = 1
			if on == 0 {
				state(c).auto100 = -1
			}
			return 1
		})},
		// kemi relays to one address per branch, without DNS failover:
		// disabling it changes nothing.
		{Name: "t_set_disable_failover", Ret: dispatch.Int, Fn: dispatch.FI(func(*router.Ctx, int) int { return 1 })},
		{Name: "t_grep_status", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, code int) int {
			return withTrans(c, func(t *Trans) bool {
				for _, b := range t.branches {
					if !b.local && b.status == code {
						return true
					}
				}
				return false
			})
		})},
		{Name: "t_retransmit_reply", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int {
			return withTrans(c, func(t *Trans) bool {
				if len(t.last) == 0 {
					return false
				}
				t.upstream(c.Env(), t.last)
				return true
			})
		})},
		{Name: "t_relay_to_proto", Ret: dispatch.Int, Fn: dispatch.FS(tm.relayToProto)},
		// The native t_relay_to_udp/tcp/tls(), and with a host and port.
		{Name: "t_relay_to_udp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return tm.relayToProto(c, "udp") })},
		{Name: "t_relay_to_tcp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return tm.relayToProto(c, "tcp") })},
		{Name: "t_relay_to_tls", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return tm.relayToProto(c, "tls") })},
		{Name: "t_relay_to_udp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int {
			return tm.relayToProtoAddr(c, "udp", host, port)
		})},
		{Name: "t_relay_to_tcp", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int {
			return tm.relayToProtoAddr(c, "tcp", host, port)
		})},
		{Name: "t_relay_to_tls", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, host string, port int) int {
			return tm.relayToProtoAddr(c, "tls", host, port)
		})},
		{Name: "t_relay_to_flags", Ret: dispatch.Int, Fn: dispatch.FI(func(c *router.Ctx, flags int) int {
			relayFlags(c, flags)
			return tm.relay(c)
		})},
		{Name: "t_relay_to_proxy_flags", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, proxy string, flags int) int {
			relayFlags(c, flags)
			return tm.relayToProxy(c, proxy)
		})},
		// Native t_relay_to: no parameter, flags ("0x02", 3) or a proxy
		// ("udp:10.0.0.1:5060"), or both
		{Name: "t_relay_to", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.F0(tm.relay)},
		{Name: "t_relay_to", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, p string) int {
			if flags, ok := router.StrValue(p).IntParam(); ok {
				relayFlags(c, int(flags))
				return tm.relay(c)
			}
			return tm.relayToProxy(c, p)
		})},
		{Name: "t_relay_to", NativeOnly: true, Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, proxy string, flags int) int {
			relayFlags(c, flags)
			return tm.relayToProxy(c, proxy)
		})},
	}
}

// setFR sets the request's fr_inv_timer and fr_timer (0: the module's), on
// its transaction too when it has one, as Kamailio's t_set_fr: branches
// sent after it use them.
func setFR(c *router.Ctx, inv, noninv time.Duration) int {
	st := state(c)
	st.frInv, st.fr = inv, noninv
	if t := current(c); t != nil {
		t.frInv, t.fr = inv, noninv
	}
	return 1
}

// setRetr sets the request's T1 and T2 (0: the module's retr_timer1,
// retr_timer2), on its transaction too when it has one (t_set_retr).
func setRetr(c *router.Ctx, t1, t2 time.Duration) int {
	st := state(c)
	st.t1, st.t2 = t1, t2
	if t := current(c); t != nil {
		t.rt1, t.rt2 = t1, t2
	}
	return 1
}

// t1 and t2 are the transaction's retransmission timers.
func (t *Trans) t1() time.Duration {
	if t.rt1 > 0 {
		return t.rt1
	}
	return t.tm.conf.t1
}

func (t *Trans) t2() time.Duration {
	if t.rt2 > 0 {
		return t.rt2
	}
	return t.tm.conf.t2
}

// frTimer and frInvTimer are the transaction's timers: what the script set,
// else the module's.
func (t *Trans) frTimer() time.Duration {
	if t.fr > 0 {
		return t.fr
	}
	return t.tm.frTimer()
}

func (t *Trans) frInvTimer() time.Duration {
	if t.frInv > 0 {
		return t.frInv
	}
	return t.tm.frInvTimer()
}

// auto100 says whether t_relay sends a 100 for the request's INVITE:
// auto_inv_100 unless t_set_auto_inv_100 (or t_relay_to_flags 1) said.
func (tm *Module) auto100(c *router.Ctx) bool {
	switch state(c).auto100 {
	case 1:
		return true
	case -1:
		return false
	}
	return tm.conf.auto100
}

// relayFlags applies t_relay_to_flags's flags: 1 no automatic 100; 2 no
// internal error reply (kemi's t_relay sends none: the script answers);
// 4 no DNS failover (kemi has none).
func relayFlags(c *router.Ctx, flags int) {
	if flags&1 != 0 {
		state(c).auto100 = -1
	}
}

// relayToProto relays to where t_relay would, over proto (udp, tcp, tls).
func (tm *Module) relayToProto(c *router.Ctx, proto string) int {
	p := sip.ParseTransport([]byte(proto))
	if p != sip.TransportUDP && p != sip.TransportTCP && p != sip.TransportTLS {
		c.Log().Error("tm: t_relay_to_proto: "+strconv.Quote(proto)+": want udp, tcp or tls", "route", c.Route)
		return -1
	}
	var u sip.URI
	if err := sip.ParseURI(c.Target(nil), &u); err != nil {
		return -1
	}
	uri := "sip:" + string(u.HostPort()) + ";transport=" + strings.ToLower(proto)
	if err := c.SetDstURI([]byte(uri)); err != nil {
		return -1
	}
	return tm.relay(c)
}
