package sip

import (
	"encoding/binary"
	"strings"
)

// Method is a SIP request method as an integer, so that hot code compares
// integers, not strings. Methods are case-sensitive (RFC 3261 §7.1): "invite"
// is MethodOther.
type Method uint8

const (
	MethodOther Method = iota
	MethodINVITE
	MethodACK
	MethodBYE
	MethodCANCEL
	MethodREGISTER
	MethodOPTIONS
	MethodSUBSCRIBE
	MethodNOTIFY
	MethodPUBLISH
	MethodMESSAGE
	MethodINFO
	MethodPRACK
	MethodUPDATE
	MethodREFER
)

var methodNames = [...]string{
	MethodOther:     "",
	MethodINVITE:    "INVITE",
	MethodACK:       "ACK",
	MethodBYE:       "BYE",
	MethodCANCEL:    "CANCEL",
	MethodREGISTER:  "REGISTER",
	MethodOPTIONS:   "OPTIONS",
	MethodSUBSCRIBE: "SUBSCRIBE",
	MethodNOTIFY:    "NOTIFY",
	MethodPUBLISH:   "PUBLISH",
	MethodMESSAGE:   "MESSAGE",
	MethodINFO:      "INFO",
	MethodPRACK:     "PRACK",
	MethodUPDATE:    "UPDATE",
	MethodREFER:     "REFER",
}

// String returns the method's name; MethodOther has none (read the message's
// own spelling with Msg.MethodName).
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return ""
}

// ParseMethod maps a method token to its Method, case-sensitively.
func ParseMethod(b []byte) Method {
	switch len(b) {
	case 3:
		switch string(b) {
		case "ACK":
			return MethodACK
		case "BYE":
			return MethodBYE
		}
	case 4:
		if string(b) == "INFO" {
			return MethodINFO
		}
	case 5:
		switch string(b) {
		case "PRACK":
			return MethodPRACK
		case "REFER":
			return MethodREFER
		}
	case 6:
		switch string(b) {
		case "INVITE":
			return MethodINVITE
		case "CANCEL":
			return MethodCANCEL
		case "NOTIFY":
			return MethodNOTIFY
		case "UPDATE":
			return MethodUPDATE
		}
	case 7:
		switch string(b) {
		case "OPTIONS":
			return MethodOPTIONS
		case "PUBLISH":
			return MethodPUBLISH
		case "MESSAGE":
			return MethodMESSAGE
		}
	case 8:
		if string(b) == "REGISTER" {
			return MethodREGISTER
		}
	case 9:
		if string(b) == "SUBSCRIBE" {
			return MethodSUBSCRIBE
		}
	}
	return MethodOther
}

// HdrType identifies a header field by name, compact forms included, so that
// hot code compares integers. There are fewer than 64 so that a uint64 can
// record which ones a message carries.
type HdrType uint8

const (
	HdrOther HdrType = iota
	HdrVia
	HdrFrom
	HdrTo
	HdrCallID
	HdrCSeq
	HdrContact
	HdrMaxForwards
	HdrExpires
	HdrMinExpires
	HdrContentLength
	HdrContentType
	HdrContentEncoding
	HdrContentDisposition
	HdrContentLanguage
	HdrRoute
	HdrRecordRoute
	HdrPath
	HdrServiceRoute
	HdrAuthorization
	HdrProxyAuthorization
	HdrWWWAuthenticate
	HdrProxyAuthenticate
	HdrAuthenticationInfo
	HdrUserAgent
	HdrServer
	HdrAllow
	HdrAllowEvents
	HdrSupported
	HdrUnsupported
	HdrRequire
	HdrProxyRequire
	HdrEvent
	HdrSubscriptionState
	HdrSubject
	HdrReferTo
	HdrReferredBy
	HdrSessionExpires
	HdrMinSE
	HdrIdentity
	HdrAccept
	HdrAcceptEncoding
	HdrAcceptLanguage
	HdrDate
	HdrTimestamp
	HdrOrganization
	HdrPriority
	HdrPAssertedIdentity
	HdrPPreferredIdentity
	HdrPrivacy
	HdrDiversion
	HdrRSeq
	HdrRAck
	HdrReason
	HdrWarning
	HdrRetryAfter
	HdrCallInfo
	HdrMIMEVersion
	hdrTypeCount
)

// canonical names, as written by the builder and returned by HdrType.String.
var hdrNames = [hdrTypeCount]string{
	HdrOther:              "",
	HdrVia:                "Via",
	HdrFrom:               "From",
	HdrTo:                 "To",
	HdrCallID:             "Call-ID",
	HdrCSeq:               "CSeq",
	HdrContact:            "Contact",
	HdrMaxForwards:        "Max-Forwards",
	HdrExpires:            "Expires",
	HdrMinExpires:         "Min-Expires",
	HdrContentLength:      "Content-Length",
	HdrContentType:        "Content-Type",
	HdrContentEncoding:    "Content-Encoding",
	HdrContentDisposition: "Content-Disposition",
	HdrContentLanguage:    "Content-Language",
	HdrRoute:              "Route",
	HdrRecordRoute:        "Record-Route",
	HdrPath:               "Path",
	HdrServiceRoute:       "Service-Route",
	HdrAuthorization:      "Authorization",
	HdrProxyAuthorization: "Proxy-Authorization",
	HdrWWWAuthenticate:    "WWW-Authenticate",
	HdrProxyAuthenticate:  "Proxy-Authenticate",
	HdrAuthenticationInfo: "Authentication-Info",
	HdrUserAgent:          "User-Agent",
	HdrServer:             "Server",
	HdrAllow:              "Allow",
	HdrAllowEvents:        "Allow-Events",
	HdrSupported:          "Supported",
	HdrUnsupported:        "Unsupported",
	HdrRequire:            "Require",
	HdrProxyRequire:       "Proxy-Require",
	HdrEvent:              "Event",
	HdrSubscriptionState:  "Subscription-State",
	HdrSubject:            "Subject",
	HdrReferTo:            "Refer-To",
	HdrReferredBy:         "Referred-By",
	HdrSessionExpires:     "Session-Expires",
	HdrMinSE:              "Min-SE",
	HdrIdentity:           "Identity",
	HdrAccept:             "Accept",
	HdrAcceptEncoding:     "Accept-Encoding",
	HdrAcceptLanguage:     "Accept-Language",
	HdrDate:               "Date",
	HdrTimestamp:          "Timestamp",
	HdrOrganization:       "Organization",
	HdrPriority:           "Priority",
	HdrPAssertedIdentity:  "P-Asserted-Identity",
	HdrPPreferredIdentity: "P-Preferred-Identity",
	HdrPrivacy:            "Privacy",
	HdrDiversion:          "Diversion",
	HdrRSeq:               "RSeq",
	HdrRAck:               "RAck",
	HdrReason:             "Reason",
	HdrWarning:            "Warning",
	HdrRetryAfter:         "Retry-After",
	HdrCallInfo:           "Call-Info",
	HdrMIMEVersion:        "MIME-Version",
}

// String returns the canonical header name ("" for HdrOther).
func (t HdrType) String() string {
	if t < hdrTypeCount {
		return hdrNames[t]
	}
	return ""
}

// compact maps the RFC 3261 §7.3.3 (and later RFCs') one-letter forms.
var compact = [26]HdrType{
	'b' - 'a': HdrReferredBy,
	'c' - 'a': HdrContentType,
	'e' - 'a': HdrContentEncoding,
	'f' - 'a': HdrFrom,
	'i' - 'a': HdrCallID,
	'k' - 'a': HdrSupported,
	'l' - 'a': HdrContentLength,
	'm' - 'a': HdrContact,
	'o' - 'a': HdrEvent,
	'r' - 'a': HdrReferTo,
	's' - 'a': HdrSubject,
	't' - 'a': HdrTo,
	'u' - 'a': HdrAllowEvents,
	'v' - 'a': HdrVia,
	'x' - 'a': HdrSessionExpires,
	'y' - 'a': HdrIdentity,
}

// hdrHash finds the one canonical name a header name can be: a hash of its
// length and three of its letters, folded, indexes this table, and one
// case-folding comparison confirms. init checks that no two names collide.
var hdrHash [256]HdrType

func hashName(b []byte) uint8 {
	n := len(b)
	return uint8(n*4 + int(b[0]|0x20)*6 + int(b[n-1]|0x20)*7 + int(b[n/2]|0x20)*6)
}

func init() {
	for t := HdrType(1); t < hdrTypeCount; t++ {
		h := hashName([]byte(hdrNames[t]))
		if hdrHash[h] != HdrOther {
			panic("sip: header names " + hdrNames[t] + " and " + hdrNames[hdrHash[h]] + " collide in hdrHash")
		}
		hdrHash[h] = t
	}
}

// ClassifyHeader returns the type of a header by its name, ASCII
// case-insensitively, compact forms included; HdrOther for any other name.
func ClassifyHeader(name []byte) HdrType {
	if !isToken(name) {
		return HdrOther
	}
	return classifyToken(name)
}

// classifyToken is ClassifyHeader for a name known to be a token, which
// lets the comparison fold case a word at a time.
func classifyToken(name []byte) HdrType {
	switch len(name) {
	case 0:
		return HdrOther
	case 1:
		c := name[0] | 0x20
		if c >= 'a' && c <= 'z' {
			return compact[c-'a']
		}
		return HdrOther
	}
	t := hdrHash[hashName(name)]
	if t != HdrOther && len(name) == len(hdrNames[t]) && foldedEqual(name, &hdrFolded[t]) {
		return t
	}
	return HdrOther
}

// hdrFolded holds each canonical name in lower case as little-endian
// words, zero-padded.
var hdrFolded [hdrTypeCount][4]uint64

func init() {
	for t := HdrType(1); t < hdrTypeCount; t++ {
		var buf [32]byte
		copy(buf[:], strings.ToLower(hdrNames[t]))
		for w := 0; w < 4; w++ {
			hdrFolded[t][w] = binary.LittleEndian.Uint64(buf[w*8:])
		}
	}
}

// foldedEqual compares a token with a folded name of the same length.
// Setting bit 5 lower-cases letters; among token characters only letters
// change, and no other token character folds onto a letter or '-', so the
// comparison is exact for tokens.
func foldedEqual(b []byte, w *[4]uint64) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])|0x2020202020202020 != w[i/8] {
			return false
		}
	}
	if i == len(b) {
		return true
	}
	var tail uint64
	for k := len(b) - 1; k >= i; k-- {
		tail = tail<<8 | uint64(b[k]|0x20)
	}
	return tail == w[i/8]
}

// equalFold reports whether b equals s under ASCII case folding. s may hold
// any bytes; only letters fold.
func equalFold[T string | []byte](b []byte, s T) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if c == d {
			continue
		}
		if c|0x20 != d|0x20 || d|0x20 < 'a' || d|0x20 > 'z' {
			return false
		}
	}
	return true
}

// EqualFold reports whether a and b are equal under ASCII case folding.
func EqualFold(a, b []byte) bool { return equalFold(a, b) }

// Transport is the transport named in a Via header or a URI parameter.
type Transport uint8

const (
	TransportOther Transport = iota
	TransportUDP
	TransportTCP
	TransportTLS
	TransportSCTP
	TransportWS
	TransportWSS
)

func parseTransport(b []byte) Transport {
	switch len(b) {
	case 2:
		if equalFold(b, "ws") {
			return TransportWS
		}
	case 3:
		switch {
		case equalFold(b, "udp"):
			return TransportUDP
		case equalFold(b, "tcp"):
			return TransportTCP
		case equalFold(b, "tls"):
			return TransportTLS
		case equalFold(b, "wss"):
			return TransportWSS
		}
	case 4:
		if equalFold(b, "sctp") {
			return TransportSCTP
		}
	}
	return TransportOther
}

var transportNames = [...]string{"", "UDP", "TCP", "TLS", "SCTP", "WS", "WSS"}

func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return ""
}

// ParseTransport reads a transport name ("udp", "TCP", ...), case-insensitively.
func ParseTransport(b []byte) Transport { return parseTransport(b) }
