package router

import "strconv"

// Kind is the kind of a Value.
type Kind uint8

const (
	Null Kind = iota // $null, an unset variable, a missing header
	Int
	Str
	// Tree is an xval result that is a dict or an array (Kamailio's
	// SR_KEMIP_DICT and SR_KEMIP_ARRAY: KSR.pvx.xavp_getd,
	// xavp_get_keys): the export leaves it in Ctx.Tree, and the engine
	// makes a table, an object or a dict of it. Nothing else holds one.
	Tree
)

// Node is a dict, an array or a scalar of a Tree result.
type Node struct {
	Key   string // the key of a dict's entry
	Dict  bool   // Items are the entries, each with its Key
	Array bool   // Items are the elements
	Val   Value  // a scalar (Null, Int or Str) when neither
	Items []Node
}

// Value is what a pseudo-variable holds and what an xval export returns:
// null, an int or a string. A string is S or, to spare a copy, B (a view
// into the message or a worker buffer, valid until the next message).
type Value struct {
	Kind Kind
	I    int64
	S    string
	B    []byte
}

// IntValue, StrValue and BytesValue make Values.
func IntValue(i int64) Value    { return Value{Kind: Int, I: i} }
func StrValue(s string) Value   { return Value{Kind: Str, S: s} }
func BytesValue(b []byte) Value { return Value{Kind: Str, B: b} }
func (v Value) IsNull() bool    { return v.Kind == Null }
func (v Value) IsStr() bool     { return v.Kind == Str }
func (v Value) strLen() int     { return len(v.S) + len(v.B) }
func (v Value) Empty() bool     { return v.Kind == Null || (v.Kind == Str && v.strLen() == 0) }
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind {
		return false
	}
	if v.Kind == Int {
		return v.I == o.I
	}
	return v.String() == o.String()
}

// String is the string form: an int in decimal, null as "".
func (v Value) String() string {
	switch v.Kind {
	case Int:
		return strconv.FormatInt(v.I, 10)
	case Str:
		if v.B != nil {
			return string(v.B)
		}
		return v.S
	}
	return ""
}

// AppendTo appends the string form to dst.
func (v Value) AppendTo(dst []byte) []byte {
	switch v.Kind {
	case Int:
		return strconv.AppendInt(dst, v.I, 10)
	case Str:
		if v.B != nil {
			return append(dst, v.B...)
		}
		return append(dst, v.S...)
	}
	return dst
}

// Int64 is the int form: a string is parsed as a decimal (false when it
// is not one), as Kamailio's str-to-int conversion.
func (v Value) Int64() (int64, bool) {
	switch v.Kind {
	case Int:
		return v.I, true
	case Str:
		if v.B != nil {
			return atoi(v.B)
		}
		return atoi(v.S)
	}
	return 0, false
}

func atoi[T string | []byte](s T) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// NonEmpty is b as a string value, or null when b is empty: a field that
// is absent reads as null.
func NonEmpty(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	return BytesValue(b)
}

// Or is v, or the string def when v is null (the gete/getw faces of the
// KSR getters).
func (v Value) Or(def string) Value {
	if v.Kind == Null {
		return StrValue(def)
	}
	return v
}

// IntParam reads a value given for an int parameter of a function: an int,
// or a string in decimal or, as Kamailio's flag parameters are written, in
// hex with 0x ("0x02").
func (v Value) IntParam() (int64, bool) {
	switch {
	case v.Kind != Str:
		return v.Int64()
	case v.B != nil:
		return intParam(v.B)
	}
	return intParam(v.S)
}

func intParam[T string | []byte](s T) (int64, bool) {
	if len(s) < 3 || s[0] != '0' || s[1]|0x20 != 'x' {
		return atoi(s)
	}
	if len(s) > 17 {
		return 0, false
	}
	var n int64
	for i := 2; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
