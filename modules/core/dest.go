package core

import (
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/dispatch"
)

// The to_* functions tell where the message is going: the transport and
// address family of $du, or of the request URI when $du is not set
// (transport= parameter; sips: is TLS; UDP otherwise), as the message
// would be sent from here. A reply goes back where the request came from.
func destination(c *router.Ctx) (proto string, ip6 bool) {
	if !c.Msg.IsRequest() {
		return strings.ToLower(c.ProtoName()), c.Src().Addr().Is6()
	}
	var u sip.URI
	var target *sip.URI
	if c.DstSet() {
		if sip.ParseURI(c.DstURI(), &u) == nil {
			target = &u
		}
	} else if r, err := c.RURI(); err == nil {
		target = r
	}
	if target == nil {
		return "", false
	}
	proto = strings.ToLower(string(target.TransportParam()))
	if proto == "" {
		proto = "udp"
		if target.Scheme == sip.SchemeSIPS {
			proto = "tls"
		}
	}
	return proto, strings.HasPrefix(string(target.Host), "[") || strings.Count(string(target.Host), ":") > 1
}

func destDefs() []dispatch.Export {
	proto := func(name string, want ...string) dispatch.Export {
		return dispatch.Export{Name: name, Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int {
			p, _ := destination(c)
			for _, w := range want {
				if p == w {
					return 1
				}
			}
			return -1
		})}
	}
	af := func(name string, six bool) dispatch.Export {
		return dispatch.Export{Name: name, Ret: dispatch.Bool, Fn: dispatch.F0(func(c *router.Ctx) int {
			p, is6 := destination(c)
			return dispatch.Result(p != "" && is6 == six)
		})}
	}
	return []dispatch.Export{
		proto("to_UDP", "udp"), proto("to_TCP", "tcp"), proto("to_TLS", "tls"), proto("to_SCTP", "sctp"),
		proto("to_WS", "ws"), proto("to_WSS", "wss"), proto("to_WSX", "ws", "wss"),
		af("to_IPv4", false), af("to_IPv6", true),
	}
}
