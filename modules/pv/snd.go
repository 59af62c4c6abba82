package pv

import (
	"fmt"
	"syscall"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// $snd(name), $sndto(name) and $sndfrom(name): where the message being
// sent goes and the socket it leaves by, in onsend_route and topoh's event
// routes; null elsewhere. Kamailio 5.6's $snd is $sndto. af is the address
// family's number (AF_INET, AF_INET6), proto Kamailio's protocol number,
// buf the message as it goes (the script's changes in).
var sndNames = map[string]int{"ip": 0, "af": 1, "port": 2, "proto": 3, "buf": 4, "len": 5, "sproto": 6}

func sndClass(to bool) router.PVClass {
	return router.PVClass{Arg: true,
		Parse: func(pv *router.PV) error {
			n, ok := sndNames[pv.Arg]
			if !ok {
				return fmt.Errorf("unknown $%s name %q", pv.Class, pv.Arg)
			}
			pv.Data = n
			return nil
		},
		Get: func(c *router.Ctx, pv *router.PV) router.Value {
			hop, ok := c.SendHop()
			if !ok || hop.Local == nil {
				return router.Value{}
			}
			switch pv.Data.(int) {
			case 1:
				if hop.Local.Addr.Addr().Is4() {
					return router.IntValue(syscall.AF_INET)
				}
				return router.IntValue(syscall.AF_INET6)
			case 2:
				if to {
					return router.IntValue(int64(hop.Addr.Port()))
				}
				return router.IntValue(int64(hop.Local.Addr.Port()))
			case 3:
				return router.IntValue(int64(hop.Proto))
			case 4:
				return router.StrValue(string(c.Msg.AppendTo(nil)))
			case 5:
				return router.IntValue(int64(len(c.Msg.AppendTo(nil))))
			case 6:
				return router.StrValue(protoName(hop))
			}
			if to {
				return router.StrValue(hop.Addr.Addr().Unmap().String())
			}
			return router.StrValue(hop.Local.IP)
		},
	}
}

func protoName(hop router.Hop) string {
	switch hop.Proto {
	case sip.TransportUDP:
		return "udp"
	case sip.TransportTCP:
		return "tcp"
	case sip.TransportTLS:
		return "tls"
	case sip.TransportSCTP:
		return "sctp"
	case sip.TransportWS:
		return "ws"
	case sip.TransportWSS:
		return "wss"
	}
	return "none"
}
