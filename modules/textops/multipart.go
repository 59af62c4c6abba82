package textops

import (
	"bytes"
	"encoding/hex"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/hdr"
)

// The multipart body functions follow Kamailio's textops byte for byte:
// the parts they write end with the delimiter line "--boundary" (never
// the closing "--boundary--"), a part is found by a "Content-Type: "
// line equal to the type asked for, and get_body_part returns what
// follows that line up to the next delimiter line.

// multipartState is the Content-Type a set_body_multipart of this message
// wrote, so that an append_body_part after it finds the boundary.
type multipartState struct{ ctype string }

func (s *multipartState) Reset() { s.ctype = "" }

var mpSlot = router.NewSlot[multipartState]()

const (
	defaultBoundary = "unique-boundary-1"
	crlf            = "\r\n"
)

func (m *Module) multipartExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "set_body_multipart", Ret: dispatch.Int, Fn: dispatch.FSSS(setMultipart)},
		{Name: "set_body_multipart_mode", Native: "set_body_multipart", Ret: dispatch.Int, Fn: dispatch.F0(func(c *router.Ctx) int { return setMultipart(c, "", "", "") })},
		{Name: "set_body_multipart_boundary", Native: "set_body_multipart", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, b string) int { return setMultipart(c, "", "", b) })},
		{Name: "set_body_multipart_content", Native: "set_body_multipart", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, body, ct string) int { return setMultipart(c, body, ct, "") })},
		{Name: "append_body_part", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, txt, ct string) int { return appendPart(c, txt, ct, "", false) })},
		{Name: "append_body_part_cd", Native: "append_body_part", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, txt, ct, cd string) int { return appendPart(c, txt, ct, cd, false) })},
		{Name: "append_body_part_hex", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, txt, ct string) int { return appendPart(c, txt, ct, "", true) })},
		{Name: "append_body_part_hex_cd", Native: "append_body_part_hex", Ret: dispatch.Int, Fn: dispatch.FSSS(func(c *router.Ctx, txt, ct, cd string) int { return appendPart(c, txt, ct, cd, true) })},
		{Name: "remove_body_part", Ret: dispatch.Int, Fn: dispatch.FS(removePart)},
		{Name: "filter_body", Ret: dispatch.Int, Fn: dispatch.FS(filterBody)},
		{Name: "get_body_part", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, ct, pv string) int { return getPart(c, ct, pv, true) })},
		{Name: "get_body_part_raw", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, ct, pv string) int { return getPart(c, ct, pv, false) })},
	}
}

// contentType is the message's Content-Type as this message's routes
// left it.
func contentType(c *router.Ctx) string {
	if ct := mpSlot.Of(c).ctype; ct != "" {
		return ct
	}
	i := hdr.Index(c.Msg, "Content-Type", 0)
	if i < 0 {
		return ""
	}
	return string(bytes.TrimSpace(c.Msg.Header(i).Value))
}

// boundary is the boundary parameter of a multipart Content-Type; "" when
// the type is not multipart or has none.
func boundary(ct string) string {
	typ, params, _ := strings.Cut(ct, ";")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(typ)), "multipart/") {
		return ""
	}
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "boundary") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// part writes a body part: with initial, the delimiter line before it;
// its Content-Type (and Content-Disposition), an empty line, txt ended by
// an empty line, and the delimiter line.
func part(dst []byte, txt, ct, cd, delim string, initial bool) []byte {
	if initial {
		dst = append(append(append(dst, "--"...), delim...), crlf...)
	}
	dst = append(append(append(dst, "Content-Type: "...), ct...), crlf...)
	if cd != "" {
		dst = append(append(append(dst, "Content-Disposition: "...), cd...), crlf...)
	}
	dst = append(append(dst, crlf...), txt...)
	if !strings.HasSuffix(txt, "\r\n\r\n") {
		dst = append(dst, crlf...)
	}
	return append(append(append(dst, "--"...), delim...), crlf...)
}

func logf(c *router.Ctx, fn, msg string) int {
	c.Log().Error("textops: "+fn+": "+msg, "route", c.Route)
	return -1
}

// setMultipart makes the body multipart/mixed with body (of type ct,
// text/plain by default) as its first part, or the old body when body is
// "", delimited by delim ("unique-boundary-1" by default). A body that
// is multipart already is left alone unless body is given.
func setMultipart(c *router.Ctx, body, ct, delim string) int {
	m := c.Msg
	oldCT := contentType(c)
	already := boundary(oldCT) != ""
	if already && body == "" {
		return 1
	}
	if ct == "" {
		ct = "text/plain"
	}
	if delim == "" {
		delim = defaultBoundary
	}
	if delim[0] == '-' {
		return logf(c, "set_body_multipart", "a boundary cannot start with '-'")
	}
	old := string(m.EditedBody())
	txt := body
	if txt == "" {
		if old == "" {
			return logf(c, "set_body_multipart", "no body to set")
		}
		txt = old
		if oldCT != "" {
			ct = oldCT
		}
	}
	if err := m.SetBody(part(nil, txt, ct, "", delim, true)); err != nil {
		return logf(c, "set_body_multipart", err.Error())
	}
	if !already {
		newCT := `multipart/mixed;boundary="` + delim + `"`
		hdr.Remove(c, "Content-Type")
		if m.AppendHeader([]byte("Content-Type: "+newCT)) != nil || m.AppendHeader([]byte("Mime-Version: 1.0")) != nil {
			return logf(c, "set_body_multipart", "cannot write the headers")
		}
		mpSlot.Of(c).ctype = newCT
	}
	return 1
}

// appendPart adds a part (txt, hex-encoded with hex) at the end of a
// multipart body.
func appendPart(c *router.Ctx, txt, ct, cd string, isHex bool) int {
	fn := "append_body_part"
	if isHex {
		raw, err := hex.DecodeString(strings.NewReplacer(" ", "", "\t", "").Replace(txt))
		if err != nil || len(raw) == 0 {
			return logf(c, fn+"_hex", "invalid hex data")
		}
		txt = string(raw)
	}
	if txt == "" || ct == "" {
		return logf(c, fn, "the part and its content type cannot be empty")
	}
	body := c.Msg.EditedBody()
	if len(body) == 0 {
		return logf(c, fn, "the message has no body")
	}
	delim := boundary(contentType(c))
	if delim == "" {
		return logf(c, fn, "the body is not multipart (no boundary in the Content-Type)")
	}
	if err := c.Msg.SetBody(part(append([]byte(nil), body...), txt, ct, cd, delim, false)); err != nil {
		return logf(c, fn, err.Error())
	}
	return 1
}

// findPart finds the "Content-Type: ct" line of a part: where the line
// starts, where the line after it starts, and the delimiter line that ends
// the part (start and just past its end); ok false when there is none.
func findPart(body []byte, ct, delim string) (line, after, dStart, dEnd int, ok bool) {
	for off := 0; off < len(body); {
		i := bytes.Index(body[off:], []byte("Content-Type: "))
		if i < 0 {
			return
		}
		i += off
		off = i + len("Content-Type: ")
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		v := body[off:]
		if len(v) < len(ct)+2 || !bytes.EqualFold(v[:len(ct)], []byte(ct)) || string(v[len(ct):len(ct)+2]) != crlf {
			continue
		}
		after = off + len(ct) + 2
		d := bytes.Index(body[after:], []byte("--"+delim))
		for d >= 0 && after+d > 0 && body[after+d-1] != '\n' {
			n := bytes.Index(body[after+d+1:], []byte("--"+delim))
			if n < 0 {
				d = -1
				break
			}
			d += 1 + n
		}
		if d < 0 {
			return
		}
		dStart = after + d
		dEnd = len(body)
		if e := bytes.Index(body[dStart:], []byte(crlf)); e >= 0 {
			dEnd = dStart + e + 2
		}
		return i, after, dStart, dEnd, true
	}
	return
}

// removePart removes the part of type ct, from its Content-Type line to
// the end of the delimiter line that ends it.
func removePart(c *router.Ctx, ct string) int {
	body := c.Msg.EditedBody()
	delim := boundary(contentType(c))
	if len(body) == 0 || delim == "" {
		return logf(c, "remove_body_part", "no multipart body")
	}
	line, _, _, dEnd, ok := findPart(body, ct, delim)
	if !ok {
		return -1
	}
	nb := append(append([]byte(nil), body[:line]...), body[dEnd:]...)
	if err := c.Msg.SetBody(nb); err != nil {
		return logf(c, "remove_body_part", err.Error())
	}
	return 1
}

// filterBody leaves only the content of the first part of type ct.
func filterBody(c *router.Ctx, ct string) int {
	body := c.Msg.EditedBody()
	delim := boundary(contentType(c))
	if len(body) == 0 || delim == "" {
		c.Log().Warn("textops: filter_body: the body is not multipart", "route", c.Route)
		return -1
	}
	_, after, dStart, _, ok := findPart(body, ct, delim)
	if !ok {
		return -1
	}
	for after < dStart && (body[after] == '\r' || body[after] == '\n') {
		after++
	}
	end := max(dStart-2, after)
	if err := c.Msg.SetBody(append([]byte(nil), body[after:end]...)); err != nil {
		return logf(c, "filter_body", err.Error())
	}
	return 1
}

// getPart sets pv to the part of type ct: what follows its Content-Type
// line up to the delimiter (raw: the part from its Content-Type line to
// the end of the delimiter line). A body that is not multipart is given
// whole.
func getPart(c *router.Ctx, ct, pvName string, content bool) int {
	body := c.Msg.EditedBody()
	if len(body) == 0 {
		return -1
	}
	pv, err := c.W.PV(pvName)
	if err != nil {
		return logf(c, "get_body_part", err.Error())
	}
	val := body
	if delim := boundary(contentType(c)); delim != "" {
		line, after, dStart, dEnd, ok := findPart(body, ct, delim)
		if !ok {
			return -1
		}
		val = body[line:dEnd]
		if content {
			val = body[after:dStart]
		}
	}
	if err := pv.Set(c, router.StrValue(string(val))); err != nil {
		return logf(c, "get_body_part", err.Error())
	}
	return 1
}
