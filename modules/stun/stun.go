// Package stun answers STUN Binding requests (RFC 5389, and RFC 3489's
// older form) on the SIP UDP sockets, as Kamailio's stun module: a client
// behind NAT learns the address the proxy sees it from, and its STUN
// keep-alives (RFC 5626) keep its UDP flow open.
package stun

import (
	"encoding/binary"
	"net/netip"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "stun", New: func() dispatch.Module { return Module{} }})
}

// Module answers STUN on the proxy's UDP sockets once started; it has no
// parameters and no functions, as Kamailio's.
type Module struct{}

var _ dispatch.Starter = Module{}

// Exports: none.
func (Module) Exports() []dispatch.Export { return nil }

// Start hooks the answer into the UDP sockets.
func (Module) Start(env *router.Env) error {
	if env.Transport != nil {
		env.Transport.STUN = func(src netip.AddrPort, req, dst []byte) []byte { return Answer(dst, src, req, router.ServerHeader) }
	}
	return nil
}

const (
	bindingRequest  = 0x0001
	bindingResponse = 0x0101
	bindingError    = 0x0111
	magicCookie     = 0x2112A442

	attrMapped     = 0x0001
	attrUsername   = 0x0006
	attrIntegrity  = 0x0008
	attrErrorCode  = 0x0009
	attrUnknown    = 0x000A
	attrXorMapped  = 0x0020
	attrSoftware   = 0x8022
	attrFinger     = 0x8028
	mandatoryLimit = 0x7fff
)

// Answer writes after dst the answer to the STUN message req from src, as
// Kamailio 5.6's stun module builds it, software its SOFTWARE text; nil
// when req is too short to answer (no transaction ID). A Binding request
// gets a Binding response with the address (XOR-MAPPED-ADDRESS, or
// MAPPED-ADDRESS to an RFC 3489 client); another type a 600 Global
// Failure, a body that is not as long as the header says a 400, a
// mandatory attribute not known a 420 with the attribute listed.
func Answer(dst []byte, src netip.AddrPort, req []byte, software string) []byte {
	if len(req) < 20 {
		return nil // a 4-byte ping of zeros, or a header cut short
	}
	typ, bodyLen := binary.BigEndian.Uint16(req), int(binary.BigEndian.Uint16(req[2:]))
	modern := binary.BigEndian.Uint32(req[4:]) == magicCookie
	code := 200
	var unknown [][2]byte
	if typ != bindingRequest {
		code = 600
	} else {
		unknown, code = parseBody(req[20:], bodyLen)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, req[4:20]...) // the magic cookie and transaction ID
	if code == 200 {
		binary.BigEndian.PutUint16(dst[start:], bindingResponse)
		dst = appendAddress(dst, src, req[4:20], modern)
	} else {
		binary.BigEndian.PutUint16(dst[start:], bindingError)
		dst = appendError(dst, code)
		if len(unknown) > 0 {
			dst = appendUnknown(dst, unknown)
		}
	}
	if modern {
		dst = appendText(dst, attrSoftware, software)
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start-20))
	return dst
}

// parseBody reads the attributes as Kamailio's stun_parse_body: the
// unknown mandatory ones (their type as received), and the code to answer.
func parseBody(body []byte, declared int) ([][2]byte, int) {
	if len(body) != declared {
		return nil, 400
	}
	var unknown [][2]byte
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, 400
		}
		typ, n := binary.BigEndian.Uint16(body), int(binary.BigEndian.Uint16(body[2:]))
		body = body[4:]
		if len(body) < n {
			return nil, 400
		}
		padded := n
		switch typ {
		case attrUsername, attrErrorCode, attrUnknown, attrSoftware:
			padded = (n + 3) &^ 3
		case attrIntegrity:
			padded = (n + 63) &^ 63
		case attrFinger:
			padded = 20 // Kamailio reads a SHA-1's length, and wants it last
			if len(body) > 20 {
				return nil, 400
			}
		case 0x0014, 0x0015, attrMapped, attrXorMapped, 0x8023, 0x0002, 0x0004, 0x000b, 0x0003, 0x0005:
		default:
			if typ <= mandatoryLimit {
				unknown = append(unknown, [2]byte{byte(typ >> 8), byte(typ)})
			}
		}
		if len(body) < padded {
			break
		}
		body = body[padded:]
	}
	if len(unknown) > 0 {
		return unknown, 420
	}
	return nil, 200
}

// appendAddress writes the client's address: XOR-MAPPED-ADDRESS (the
// port and an IPv4 address with the magic cookie, an IPv6 one with the
// cookie and transaction ID), or MAPPED-ADDRESS as it is.
func appendAddress(dst []byte, src netip.AddrPort, id []byte, xor bool) []byte {
	typ, port := uint16(attrMapped), src.Port()
	if xor {
		typ, port = attrXorMapped, port^uint16(magicCookie>>16)
	}
	ip, family := src.Addr().Unmap().AsSlice(), uint16(1)
	if len(ip) == 16 {
		family = 2
	}
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+len(ip)))
	dst = binary.BigEndian.AppendUint16(dst, family)
	dst = binary.BigEndian.AppendUint16(dst, port)
	for i, b := range ip {
		if xor {
			b ^= id[i] // id starts with the magic cookie
		}
		dst = append(dst, b)
	}
	return dst
}

// errorText are the reasons of Kamailio's STUN errors.
var errorText = map[int]string{400: "Bad Request", 420: "Unknown Attribute", 600: "Global Failure"}

// appendError writes ERROR-CODE: two zero bytes, the class, the number,
// the reason padded to four bytes (the length without the padding).
func appendError(dst []byte, code int) []byte {
	text := errorText[code]
	dst = binary.BigEndian.AppendUint16(dst, attrErrorCode)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+len(text)))
	dst = append(dst, 0, 0, byte(code/100), byte(code%100))
	return pad4(append(dst, text...), len(text))
}

// appendUnknown writes UNKNOWN-ATTRIBUTES; with two or more, the first is
// written once more after them, as Kamailio pads them.
func appendUnknown(dst []byte, unknown [][2]byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, attrUnknown)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+2*len(unknown)))
	for _, u := range unknown {
		dst = append(dst, u[0], u[1])
	}
	if len(unknown)/2 != 0 {
		dst = append(dst, unknown[0][0], unknown[0][1])
	}
	return dst
}

// appendText writes a text attribute, padded to four bytes.
func appendText(dst []byte, typ uint16, text string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(text)))
	return pad4(append(dst, text...), len(text))
}

func pad4(dst []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		dst = append(dst, 0)
	}
	return dst
}
