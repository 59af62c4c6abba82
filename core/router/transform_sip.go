package router

import (
	"bytes"
	"strconv"

	"github.com/kemi-sip/kemi/core/sip"
)

// The {uri.*}, {param.*}, {nameaddr.*}, {tobody.*} and {line.*}
// transformations, as Kamailio 5.6's pv module computes them: the value
// must be a string that is not empty and parses as the class says (else
// Null); a part that is missing is "".

// textIn adds a transformation of the class whose parameters are kinds;
// run gets the value's text, never empty, and writes the result's text
// (false: Null), or returns an integer when isInt.
func textIn(name, kinds string, run func(c *Ctx, ps []tparam, dst, in []byte) tres) {
	transNames[name] = func(sc *tscan) (transform, error) {
		ps, err := sc.params(kinds)
		if err != nil {
			return nil, err
		}
		b, bIn := newBuf(), newBuf()
		return func(c *Ctx, v Value) Value {
			in := c.textOf(v, bIn)
			if len(in) == 0 {
				return Value{}
			}
			return c.finish(b, run(c, ps, (*c.tbuf(b))[:0], in))
		}, nil
	}
}

// tres is what a transformation computed from a text: a string written
// into its buffer, an integer, or a failure (Null).
type tres struct {
	out   []byte
	n     int64
	isInt bool
	ok    bool
}

// textOut is a string result: s written after dst.
func textOut(dst, s []byte) tres { return tres{out: append(dst, s...), ok: true} }

// intOut is an integer result.
func intOut(n int64) tres { return tres{n: n, isInt: true, ok: true} }

// failed is a failure: the transformation gives Null.
func failed() tres { return tres{} }

// finish is r as a value, its text kept in the worker's buffer b.
func (c *Ctx) finish(b int, r tres) Value {
	switch {
	case !r.ok:
		return Value{}
	case r.isInt:
		return IntValue(r.n)
	}
	*c.tbuf(b) = r.out
	return BytesValue(r.out)
}

func init() {
	// uri.*: a part of the URI
	for _, name := range []string{"user", "host", "domain", "passwd", "params", "headers", "transport", "ttl", "uparam",
		"maddr", "method", "lr", "r2", "scheme", "tosocket", "saor", "suri", "duri"} {
		textIn("uri."+name, "", func(c *Ctx, _ []tparam, dst, in []byte) tres {
			var u sip.URI
			if !parseURIValue(in, &u) {
				return failed()
			}
			return tres{out: appendURIPart(dst, &u, in, name), ok: true}
		})
	}
	textIn("uri.port", "", func(c *Ctx, _ []tparam, dst, in []byte) tres {
		var u sip.URI
		if !parseURIValue(in, &u) {
			return failed()
		}
		return intOut(int64(u.Port))
	})
	textIn("uri.param", "s", func(c *Ctx, ps []tparam, dst, in []byte) tres {
		var u sip.URI
		var tmp [24]byte
		name, ok := ps[0].str(c, &tmp)
		if !ok || !parseURIValue(in, &u) {
			return failed()
		}
		v, _ := u.Param(string(name))
		return textOut(dst, v)
	})

	// param.*: a parameter list, ';' or the separator given
	for _, name := range []string{"param.value", "param.in"} {
		in := name == "param.in"
		paramClass(name, "s", func(c *Ctx, ps []tparam, list []byte, sep byte, dst []byte) tres {
			var tmp [24]byte
			want, ok := ps[0].str(c, &tmp)
			if !ok {
				return failed()
			}
			v, found := paramByName(list, sep, want)
			if in && found {
				return intOut(1)
			}
			if in {
				return intOut(0)
			}
			return textOut(dst, v)
		})
	}
	for _, name := range []string{"param.valueat", "param.name"} {
		wantName := name == "param.name"
		paramClass(name, "n", func(c *Ctx, ps []tparam, list []byte, sep byte, dst []byte) tres {
			i, ok := ps[0].num(c)
			if !ok {
				return failed()
			}
			n, v := paramAt(list, sep, i)
			if wantName {
				return textOut(dst, n)
			}
			return textOut(dst, v)
		})
	}
	transNames["param.count"] = func(sc *tscan) (transform, error) {
		var ps []tparam
		if sc.comma() {
			p, err := sc.str(true)
			if err != nil {
				return nil, err
			}
			ps = append(ps, tparam{}, p) // the separator is second, as for the others
			if err := oneChar(sc, ps, 1); err != nil {
				return nil, err
			}
		}
		if err := sc.close(); err != nil {
			return nil, err
		}
		return paramTransform(ps, func(c *Ctx, _ []tparam, list []byte, sep byte, dst []byte) tres {
			return intOut(paramCount(list, sep))
		}), nil
	}

	// nameaddr.*: "display" <uri>, or a bare URI
	nameAddr := func(name string, part func(in []byte, lt, gt int) tres) {
		textIn("nameaddr."+name, "", func(c *Ctx, _ []tparam, dst, in []byte) tres {
			lt := bytes.IndexByte(in, '<')
			gt := -1
			if lt >= 0 {
				if gt = bytes.IndexByte(in[lt:], '>'); gt < 0 {
					return failed()
				}
				gt += lt
			}
			r := part(in, lt, gt)
			if r.ok && !r.isInt {
				r.out = append(dst, r.out...)
			}
			return r
		})
	}
	nameAddr("uri", func(in []byte, lt, gt int) tres {
		if lt < 0 {
			return tres{out: in, ok: true}
		}
		return tres{out: in[lt+1 : gt], ok: true}
	})
	nameAddr("name", func(in []byte, lt, gt int) tres {
		if lt < 0 {
			return tres{ok: true}
		}
		return tres{out: in[:lt], ok: true}
	})
	nameAddr("len", func(in []byte, lt, gt int) tres {
		if lt < 0 {
			return intOut(int64(len(in)))
		}
		return intOut(int64(gt + 1))
	})

	// tobody.*: a To or From header's body
	toBody := func(name string, part func(na *sip.NameAddr, in []byte) []byte) {
		textIn("tobody."+name, "", func(c *Ctx, _ []tparam, dst, in []byte) tres {
			var na sip.NameAddr
			if sip.ParseNameAddr(in, &na) != nil {
				return failed()
			}
			return textOut(dst, part(&na, in))
		})
	}
	toBody("uri", func(na *sip.NameAddr, _ []byte) []byte { return na.URI.Raw })
	toBody("tag", func(na *sip.NameAddr, _ []byte) []byte { return na.Tag })
	toBody("user", func(na *sip.NameAddr, _ []byte) []byte { return na.URI.User })
	toBody("host", func(na *sip.NameAddr, _ []byte) []byte { return na.URI.Host })
	toBody("display", func(_ *sip.NameAddr, in []byte) []byte {
		if lt := bytes.IndexByte(in, '<'); lt >= 0 {
			return bytes.TrimSpace(in[:lt])
		}
		return nil
	})
	toBody("params", func(na *sip.NameAddr, _ []byte) []byte {
		return bytes.TrimLeft(na.Params, "; \t")
	})

	// line.*: a text of lines
	lineOut := func(dst, line []byte) tres {
		return textOut(dst, bytes.TrimSuffix(line, []byte("\r")))
	}
	textIn("line.count", "", func(c *Ctx, _ []tparam, dst, in []byte) tres {
		n := bytes.Count(in, []byte("\n"))
		if in[len(in)-1] != '\n' {
			n++
		}
		return textOut(strconv.AppendInt(dst, int64(n), 10), nil) // a string, as Kamailio's
	})
	textIn("line.at", "n", func(c *Ctx, ps []tparam, dst, in []byte) tres {
		n, ok := ps[0].num(c)
		if !ok {
			return failed()
		}
		if n < 0 {
			in = bytes.TrimSuffix(in, []byte("\n"))
		}
		lines := bytes.Split(in, []byte("\n"))
		if n < 0 {
			n += int64(len(lines))
		}
		if n < 0 || n >= int64(len(lines)) {
			return textOut(dst, nil)
		}
		return lineOut(dst, lines[n])
	})
	textIn("line.sw", "s", func(c *Ctx, ps []tparam, dst, in []byte) tres {
		var tmp [24]byte
		prefix, ok := ps[0].str(c, &tmp)
		if !ok {
			return failed()
		}
		for len(in) > 0 {
			line, rest, _ := bytes.Cut(in, []byte("\n"))
			if bytes.HasPrefix(line, prefix) {
				return lineOut(dst, line)
			}
			in = rest
		}
		return textOut(dst, nil)
	})
}

// appendURIPart writes the part of u (raw its text) uri.which names.
// uri.saor, uri.suri and uri.duri are written as Kamailio documents them:
// 5.6.3 writes a byte of its buffer's old contents after the scheme's
// ':' (one length increment too many).
func appendURIPart(dst []byte, u *sip.URI, raw []byte, which string) []byte {
	param := func(name string) []byte { v, _ := u.Param(name); return v }
	switch which {
	case "user":
		return append(dst, u.User...)
	case "host", "domain":
		return append(dst, u.Host...)
	case "passwd":
		return append(dst, u.Password...)
	case "params":
		return append(dst, u.Params...)
	case "headers":
		return append(dst, u.Headers...)
	case "uparam":
		return append(dst, param("user")...)
	case "transport", "ttl", "maddr", "method", "lr", "r2":
		return append(dst, param(which)...)
	case "tosocket":
		// the transport Kamailio's URI parser knows, lower case; none: ""
		at := len(dst)
		for _, c := range u.TransportParam() {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		switch string(dst[at:]) {
		case "udp", "tcp", "tls", "sctp", "ws":
		default:
			return dst[:at]
		}
		port := u.Port
		if port == 0 {
			port = 5060
		}
		dst = append(append(append(dst, ':'), u.Host...), ':')
		return strconv.AppendInt(dst, int64(port), 10)
	}
	scheme := raw[:max(bytes.IndexByte(raw, ':'), 0)]
	dst = append(dst, scheme...)
	if which == "scheme" {
		return dst
	}
	dst = append(dst, ':')
	if which != "duri" && len(u.User) > 0 {
		dst = append(append(dst, u.User...), '@')
	}
	dst = append(dst, u.Host...)
	if which != "saor" {
		if len(u.PortText) > 0 {
			dst = append(append(dst, ':'), u.PortText...)
		}
		if t := u.TransportParam(); len(t) > 0 {
			dst = append(append(dst, ";transport="...), t...)
		}
	}
	return dst
}

// parseURIValue parses a transformation's URI: a ';' ending it is left
// out, as Kamailio does.
func parseURIValue(in []byte, u *sip.URI) bool {
	if len(in) > 4 && in[len(in)-1] == ';' {
		in = in[:len(in)-1]
	}
	return sip.ParseURI(in, u) == nil
}

// oneChar checks that parameter i, when given as a constant, is one
// character: a parameter list's separator.
func oneChar(sc *tscan, ps []tparam, i int) error {
	if i < len(ps) && ps[i].pv == nil && len(ps[i].s) != 1 {
		return sc.errorf("the separator is one character")
	}
	return nil
}

// paramClass adds a param.* transformation whose parameter is kind ('s'
// or 'n'), with the separator as an optional second one.
func paramClass(name, kind string, run func(c *Ctx, ps []tparam, list []byte, sep byte, dst []byte) tres) {
	transNames[name] = func(sc *tscan) (transform, error) {
		ps, err := sc.paramsOpt(kind, "s")
		if err == nil {
			err = oneChar(sc, ps, 1)
		}
		if err != nil {
			return nil, err
		}
		return paramTransform(ps, run), nil
	}
}

// paramTransform runs a param.* transformation: ps[1], when given, is
// the separator.
func paramTransform(ps []tparam, run func(c *Ctx, ps []tparam, list []byte, sep byte, dst []byte) tres) transform {
	b, bIn := newBuf(), newBuf()
	return func(c *Ctx, v Value) Value {
		var stmp [24]byte
		in := c.textOf(v, bIn)
		if len(in) == 0 {
			return Value{}
		}
		sep := byte(';')
		if len(ps) > 1 {
			s, ok := ps[1].str(c, &stmp)
			if !ok {
				return Value{}
			}
			sep = s[0]
		}
		if len(in) > 1 && in[len(in)-1] == sep {
			in = in[:len(in)-1]
		}
		return c.finish(b, run(c, ps, in, sep, (*c.tbuf(b))[:0]))
	}
}

// nextParam cuts the first parameter off list: its name and value
// (spaces trimmed), and the rest after the separator; ok is false when
// list is used up.
func nextParam(list []byte, sep byte, done bool) (name, value, rest []byte, last, ok bool) {
	if done {
		return nil, nil, nil, true, false
	}
	p, rest := list, []byte(nil)
	if i := bytes.IndexByte(list, sep); i >= 0 {
		p, rest = list[:i], list[i+1:]
	} else {
		last = true
	}
	name, value, _ = bytes.Cut(p, []byte("="))
	return bytes.TrimSpace(name), bytes.TrimSpace(value), rest, last, true
}

func paramByName(list []byte, sep byte, want []byte) ([]byte, bool) {
	for n, v, rest, last, ok := nextParam(list, sep, false); ok; n, v, rest, last, ok = nextParam(rest, sep, last) {
		if bytes.EqualFold(n, want) {
			return v, true
		}
	}
	return nil, false
}

// paramCount is the number of parameters of list.
func paramCount(list []byte, sep byte) int64 {
	return int64(bytes.Count(list, []byte{sep})) + 1
}

// paramAt is the i-th parameter, from the end when i is negative (-1 the
// last).
func paramAt(list []byte, sep byte, i int64) (name, value []byte) {
	if i < 0 {
		i += paramCount(list, sep)
	}
	for n, v, rest, last, ok := nextParam(list, sep, false); ok; n, v, rest, last, ok = nextParam(rest, sep, last) {
		if i == 0 {
			return n, v
		}
		i--
	}
	return nil, nil
}
