package pv

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
)

// The rest of Kamailio's core selects: the message (@msg and its parts),
// the addresses it came from and to (@src, @dst, @received), the headers
// read whole (@call_id, @cseq, @user_agent, ...), @hf_value, and the
// credentials (@authorization, @proxy_authorization).

// wholeHeaders are the selects that read a header's body: Kamailio's
// names to the header's.
var wholeHeaders = map[string]string{
	"call_id": "Call-ID", "expires": "Expires", "max_forwards": "Max-Forwards", "content_type": "Content-Type",
	"content_length": "Content-Length", "subject": "Subject", "organization": "Organization", "priority": "Priority",
	"session_expires": "Session-Expires", "min_se": "Min-SE", "user_agent": "User-Agent", "event": "Event",
	"sip_if_match": "SIP-If-Match", "identity": "Identity", "identity_info": "Identity-Info", "date": "Date",
	"supported": "Supported", "allow": "Allow", "accept": "Accept", "server": "Server",
}

// headerValue is the body of the n-th (0 the first) header named name.
func headerValue(m *sip.Msg, name string, n int) ([]byte, bool) {
	t := sip.ClassifyHeader([]byte(name))
	i := -1
	for k := 0; k <= n; k++ {
		if t != sip.HdrOther {
			i = m.NextHeader(t, i)
		} else {
			i = m.NextHeaderNamed([]byte(name), i)
		}
		if i < 0 {
			return nil, false
		}
	}
	return bytes.TrimSpace(m.Header(i).Value), true
}

// moreSel is the reader of the selects parseSel does not know itself;
// nil for one kemi does not have.
func moreSel(base, arg string, rest []string) selGet {
	if h, ok := wholeHeaders[base]; ok && arg == "" && len(rest) == 0 {
		return func(c *router.Ctx) router.Value {
			if v, ok := headerValue(c.Msg, h, 0); ok {
				return router.BytesValue(v)
			}
			return router.Value{}
		}
	}
	one := ""
	if len(rest) == 1 {
		one = rest[0]
	}
	switch base {
	case "cseq":
		switch {
		case len(rest) == 0:
			return func(c *router.Ctx) router.Value { v, _ := headerValue(c.Msg, "CSeq", 0); return router.BytesValue(v) }
		case one == "num":
			return func(c *router.Ctx) router.Value { return router.IntValue(int64(c.Msg.CSeq())) }
		case one == "method":
			return func(c *router.Ctx) router.Value {
				v, _ := headerValue(c.Msg, "CSeq", 0)
				_, m, _ := bytes.Cut(v, []byte(" "))
				return router.BytesValue(bytes.TrimSpace(m))
			}
		}
	case "src", "dst", "received":
		return addrSel(base, one, len(rest))
	case "method":
		if len(rest) == 0 {
			return func(c *router.Ctx) router.Value { return requestPart(c, 0) }
		}
	case "status", "code", "reason", "version":
		if len(rest) == 0 {
			return replyPart(base)
		}
	case "dst_uri":
		if len(rest) == 0 {
			return func(c *router.Ctx) router.Value { return router.NonEmpty(c.DstURI()) }
		}
	case "next_hop":
		if len(rest) == 0 {
			return func(c *router.Ctx) router.Value { return router.BytesValue(c.Target(nil)) }
		}
	case "msg", "message":
		return msgSel(rest)
	case "contact":
		return contactParamSel(one, len(rest))
	case "rr", "record_route", "refer_to", "remote_party_id", "rpid":
		return nameAddrSel(base, rest)
	case "sys":
		switch {
		case one == "now":
			return func(c *router.Ctx) router.Value { return router.IntValue(time.Now().Unix()) }
		case one == "pid":
			return func(c *router.Ctx) router.Value { return router.IntValue(int64(os.Getpid())) }
		}
	case "hf_value":
		return hfValueSel(rest)
	case "authorization", "proxy_authorization":
		name := "Authorization"
		if base == "proxy_authorization" {
			name = "Proxy-Authorization"
		}
		return authSel(name, rest)
	}
	return nil
}

// addrSel reads @src, @dst and @received: ip, port, ip_port (and, for
// received, proto and proto_ip_port).
func addrSel(base, field string, n int) selGet {
	if n != 1 {
		return nil
	}
	addr := func(c *router.Ctx) (ip, port string, ok bool) {
		if c.Pkt == nil {
			return "", "", false
		}
		if base == "src" {
			return string(c.SrcIP()), strconv.Itoa(int(c.Pkt.Src.Port())), true
		}
		if c.Pkt.Local == nil {
			return "", "", false
		}
		return c.Pkt.Local.IP, strconv.Itoa(int(c.Pkt.Local.Addr.Port())), true
	}
	proto := func(c *router.Ctx) string { return strings.ToLower(c.ProtoName()) }
	read := map[string]func(c *router.Ctx, ip, port string) string{
		"ip":      func(c *router.Ctx, ip, port string) string { return ip },
		"port":    func(c *router.Ctx, ip, port string) string { return port },
		"ip_port": func(c *router.Ctx, ip, port string) string { return hostPort(ip, port) },
	}
	if base == "received" {
		read["proto"] = func(c *router.Ctx, ip, port string) string { return proto(c) }
		read["proto_ip_port"] = func(c *router.Ctx, ip, port string) string { return proto(c) + ":" + hostPort(ip, port) }
	}
	f, ok := read[field]
	if !ok {
		return nil
	}
	return func(c *router.Ctx) router.Value {
		ip, port, ok := addr(c)
		if !ok {
			return router.Value{}
		}
		return router.StrValue(f(c, ip, port))
	}
}

func hostPort(ip, port string) string {
	if strings.IndexByte(ip, ':') >= 0 {
		return "[" + ip + "]:" + port
	}
	return ip + ":" + port
}

// requestPart is a part of a request's first line: 0 the method, 1 the
// URI, 2 the version.
func requestPart(c *router.Ctx, n int) router.Value {
	if !c.Msg.IsRequest() {
		return router.Value{}
	}
	f := bytes.Fields(firstLine(c.Msg))
	if len(f) != 3 {
		return router.Value{}
	}
	return router.BytesValue(f[n])
}

// replyPart reads a reply's version, status (code) or reason.
func replyPart(part string) selGet {
	return func(c *router.Ctx) router.Value {
		m := c.Msg
		if m.IsRequest() {
			return router.Value{}
		}
		switch part {
		case "status", "code":
			return router.IntValue(int64(m.StatusCode()))
		case "reason":
			return router.BytesValue(m.Reason())
		}
		v, _, _ := bytes.Cut(firstLine(m), []byte(" "))
		return router.BytesValue(v)
	}
}

// firstLine is the message's first line, without its line end.
func firstLine(m *sip.Msg) []byte {
	b := m.Bytes()
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return bytes.TrimRight(b, "\r")
}

// msgSel reads @msg: the whole message, its first_line, len, type
// ("request" or "reply"), flags, id, body (body.content), a header
// (header["X"], h["X"], header.X), request.(method|uri|version) and
// response.(version|status|code|reason).
func msgSel(rest []string) selGet {
	if len(rest) == 0 {
		return func(c *router.Ctx) router.Value { return router.BytesValue(c.Msg.Bytes()) }
	}
	f, arg := index(rest[0])
	switch {
	case len(rest) == 1 && f == "first_line":
		return func(c *router.Ctx) router.Value { return router.BytesValue(firstLine(c.Msg)) }
	case len(rest) == 1 && f == "len":
		return func(c *router.Ctx) router.Value { return router.IntValue(int64(len(c.Msg.Bytes()))) }
	case len(rest) == 1 && f == "type":
		return func(c *router.Ctx) router.Value {
			if c.Msg.IsRequest() {
				return router.StrValue("request")
			}
			return router.StrValue("reply")
		}
	case len(rest) == 1 && f == "flags":
		return func(c *router.Ctx) router.Value { return router.IntValue(int64(c.Flags)) }
	case f == "body" && (len(rest) == 1 || len(rest) == 2 && rest[1] == "content"):
		return func(c *router.Ctx) router.Value { return router.BytesValue(c.Msg.Body()) }
	case (f == "header" || f == "h") && arg != "" && len(rest) == 1:
		return headerSel(arg)
	case (f == "header" || f == "h") && arg == "" && len(rest) == 2:
		return headerSel(rest[1])
	case (f == "request" || f == "req") && len(rest) == 2:
		n := map[string]int{"method": 0, "uri": 1, "version": 2}
		if i, ok := n[rest[1]]; ok {
			return func(c *router.Ctx) router.Value { return requestPart(c, i) }
		}
	case (f == "response" || f == "res") && len(rest) == 2:
		switch rest[1] {
		case "version", "status", "code", "reason":
			return replyPart(rest[1])
		}
	}
	return nil
}

// headerSel reads the first header named name ('_' for '-', as Kamailio
// reads @msg.header.user_agent).
func headerSel(name string) selGet {
	name = strings.ReplaceAll(name, "_", "-")
	return func(c *router.Ctx) router.Value {
		if v, ok := headerValue(c.Msg, name, 0); ok {
			return router.BytesValue(v)
		}
		return router.Value{}
	}
}

// hfValueSel reads @hf_value.NAME[n] (textopsx's): the n-th value (1 the
// first; the values of every header of the name, split at commas), and
// its .name, .uri or .params["x"] (.p["x"]) as a name-addr.
func hfValueSel(rest []string) selGet {
	if len(rest) == 0 || len(rest) > 2 {
		return nil
	}
	name, arg := index(rest[0])
	name = strings.ReplaceAll(name, "_", "-")
	n := 1
	if arg != "" {
		v, err := strconv.Atoi(arg)
		if err != nil || v < 1 {
			return nil
		}
		n = v
	}
	part, pname := "", ""
	if len(rest) == 2 {
		f, a := index(rest[1])
		switch {
		case f == "name" || f == "uri":
			part = f
		case (f == "params" || f == "param" || f == "p") && a != "":
			part, pname = "param", a
		default:
			return nil
		}
	}
	return func(c *router.Ctx) router.Value {
		v := nthValue(c.Msg, name, n)
		if v == nil || part == "" {
			return router.NonEmpty(v)
		}
		var na sip.NameAddr
		if err := sip.ParseNameAddr(v, &na); err != nil {
			return router.Value{}
		}
		switch part {
		case "name":
			return router.NonEmpty(na.Display)
		case "uri":
			return router.BytesValue(na.URI.Raw)
		}
		if p, ok := sip.Param(na.Params, pname); ok {
			return router.BytesValue(p)
		}
		return router.Value{}
	}
}

// nthValue is the n-th comma-separated value (1 the first) of the headers
// named name, outside quotes and <>.
func nthValue(m *sip.Msg, name string, n int) []byte {
	for h := 0; ; h++ {
		body, ok := headerValue(m, name, h)
		if !ok {
			return nil
		}
		quoted, angle, start := false, false, 0
		for i := 0; i <= len(body); i++ {
			if i < len(body) {
				switch ch := body[i]; {
				case ch == '"' && (i == 0 || body[i-1] != '\\'):
					quoted = !quoted
				case ch == '<' && !quoted:
					angle = true
				case ch == '>' && !quoted:
					angle = false
				}
				if body[i] != ',' || quoted || angle {
					continue
				}
			}
			if n--; n == 0 {
				return bytes.TrimSpace(body[start:i])
			}
			start = i + 1
		}
	}
}

// authSel reads the credentials of the first Authorization (or
// Proxy-Authorization) header: username (and its .user, .domain), realm,
// nonce, uri, cnonce, nc, response, opaque, algorithm, qop.
func authSel(hname string, rest []string) selGet {
	if len(rest) == 0 || len(rest) > 2 {
		return nil
	}
	field, sub := rest[0], ""
	if len(rest) == 2 {
		if field != "username" || rest[1] != "user" && rest[1] != "domain" {
			return nil
		}
		sub = rest[1]
	}
	// The field, chosen when the script loads.
	pick := map[string]func(d *sip.Digest) []byte{
		"username": func(d *sip.Digest) []byte { return d.Username }, "realm": func(d *sip.Digest) []byte { return d.Realm },
		"nonce": func(d *sip.Digest) []byte { return d.Nonce }, "uri": func(d *sip.Digest) []byte { return d.URI },
		"cnonce": func(d *sip.Digest) []byte { return d.CNonce }, "nc": func(d *sip.Digest) []byte { return d.NC },
		"response": func(d *sip.Digest) []byte { return d.Response }, "opaque": func(d *sip.Digest) []byte { return d.Opaque },
		"algorithm": func(d *sip.Digest) []byte { return d.Algorithm }, "qop": func(d *sip.Digest) []byte { return d.QOP },
	}[field]
	if pick == nil {
		return nil
	}
	return func(c *router.Ctx) router.Value {
		v, ok := headerValue(c.Msg, hname, 0)
		var d sip.Digest
		if !ok || sip.ParseDigest(v, &d) != nil {
			return router.Value{}
		}
		val := pick(&d)
		switch sub {
		case "user":
			u, _, _ := bytes.Cut(val, []byte("@"))
			return router.NonEmpty(u)
		case "domain":
			_, dom, _ := bytes.Cut(val, []byte("@"))
			return router.NonEmpty(dom)
		}
		return router.NonEmpty(val)
	}
}

// contactParamSel reads a Contact's q, expires, methods, received,
// instance (+sip.instance) or display name.
func contactParamSel(field string, n int) selGet {
	if n != 1 {
		return nil
	}
	pname := map[string]string{"q": "q", "expires": "expires", "methods": "methods", "received": "received", "instance": "+sip.instance"}[field]
	if pname == "" && field != "name" {
		return nil
	}
	return func(c *router.Ctx) router.Value {
		ct, err := c.Msg.Contact()
		if err != nil || ct == nil || ct.Star {
			return router.Value{}
		}
		if field == "name" {
			return router.NonEmpty(ct.Display)
		}
		if v, ok := sip.Param(ct.Params, pname); ok {
			return router.BytesValue(bytes.Trim(v, `"`))
		}
		return router.Value{}
	}
}

// nameAddrSel reads the first value of a name-addr header (Record-Route,
// Refer-To, Remote-Party-ID): whole, or its uri (and the uri's parts),
// name, tag or params["x"].
func nameAddrSel(base string, rest []string) selGet {
	h := map[string]string{"rr": "Record-Route", "record_route": "Record-Route", "refer_to": "Refer-To",
		"remote_party_id": "Remote-Party-ID", "rpid": "Remote-Party-ID"}[base]
	var read func(na *sip.NameAddr) router.Value
	switch {
	case len(rest) == 0:
		read = func(na *sip.NameAddr) router.Value { return router.BytesValue(na.Raw) }
	case rest[0] == "name" && len(rest) == 1:
		read = func(na *sip.NameAddr) router.Value { return router.NonEmpty(na.Display) }
	case rest[0] == "tag" && len(rest) == 1:
		read = func(na *sip.NameAddr) router.Value { return router.NonEmpty(na.Tag) }
	case rest[0] == "uri" && len(rest) <= 2:
		part := ""
		if len(rest) == 2 {
			part = rest[1]
		}
		f := uriPart(part)
		if f == nil {
			return nil
		}
		read = func(na *sip.NameAddr) router.Value { return f(&na.URI) }
	default:
		name, ok := param(rest[0])
		if !ok || len(rest) != 1 {
			return nil
		}
		read = func(na *sip.NameAddr) router.Value {
			if v, ok := sip.Param(na.Params, name); ok {
				return router.BytesValue(v)
			}
			return router.Value{}
		}
	}
	return func(c *router.Ctx) router.Value {
		v := nthValue(c.Msg, h, 1)
		if v == nil {
			return router.Value{}
		}
		var na sip.NameAddr
		if err := sip.ParseNameAddr(v, &na); err != nil {
			return router.Value{}
		}
		return read(&na)
	}
}
