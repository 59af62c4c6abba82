package rtpengine

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Bencode, the ng protocol's encoding: strings, integers, lists and
// dictionaries. Small enough to write here; values are string, int64,
// []any and map[string]any.

func encode(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		return append(append(dst, ':'), v...), nil
	case []byte:
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		return append(append(dst, ':'), v...), nil
	case int:
		return append(strconv.AppendInt(append(dst, 'i'), int64(v), 10), 'e'), nil
	case int64:
		return append(strconv.AppendInt(append(dst, 'i'), v, 10), 'e'), nil
	case []string:
		dst = append(dst, 'l')
		for _, s := range v {
			dst, _ = encode(dst, s)
		}
		return append(dst, 'e'), nil
	case []any:
		dst = append(dst, 'l')
		for _, x := range v {
			var err error
			if dst, err = encode(dst, x); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // bencode dictionaries are sorted
		dst = append(dst, 'd')
		for _, k := range keys {
			dst, _ = encode(dst, k)
			var err error
			if dst, err = encode(dst, v[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	}
	return nil, fmt.Errorf("bencode: cannot encode %T", v)
}

var errBencode = errors.New("bencode: malformed")

// decode reads one value from b and returns the rest.
func decode(b []byte, depth int) (any, []byte, error) {
	if len(b) == 0 || depth > 32 {
		return nil, nil, errBencode
	}
	switch c := b[0]; {
	case c == 'i':
		end := indexByte(b, 'e')
		if end < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.ParseInt(string(b[1:end]), 10, 64)
		if err != nil {
			return nil, nil, errBencode
		}
		return n, b[end+1:], nil
	case c == 'l':
		var list []any
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			v, rest, err := decode(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			list, b = append(list, v), rest
		}
		if len(b) == 0 {
			return nil, nil, errBencode
		}
		return list, b[1:], nil
	case c == 'd':
		m := map[string]any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			k, rest, err := decode(b, depth+1)
			ks, ok := k.(string)
			if err != nil || !ok {
				return nil, nil, errBencode
			}
			v, rest, err := decode(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			m[ks], b = v, rest
		}
		if len(b) == 0 {
			return nil, nil, errBencode
		}
		return m, b[1:], nil
	case c >= '0' && c <= '9':
		colon := indexByte(b, ':')
		if colon < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n < 0 || colon+1+n > len(b) {
			return nil, nil, errBencode
		}
		return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
	}
	return nil, nil, errBencode
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
