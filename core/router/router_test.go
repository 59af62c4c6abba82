package router

import (
	"strings"
	"testing"
	"time"
)

func init() {
	RegisterPV("rt_const", PVClass{Get: func(c *Ctx, pv *PV) Value { return StrValue("K") }})
	RegisterPV("rt_arg", PVClass{Arg: true, Get: func(c *Ctx, pv *PV) Value { return StrValue(pv.Arg) }})
}

func TestParsePV(t *testing.T) {
	cases := []struct {
		in, class, arg, err string
	}{
		{"$rt_const", "rt_const", "", ""},
		{"rt_const", "rt_const", "", ""},
		{"$(rt_const)", "rt_const", "", ""},
		{"$rt_arg(a(b))", "rt_arg", "a(b)", ""},
		{"$rt_arg", "", "", "needs a name"},
		{"$rt_const(x)", "", "", "takes no name"},
		{"$rt_arg(x", "", "", "unclosed"},
		{"$nosuch", "", "", "unknown pseudo-variable"},
	}
	for i, c := range cases {
		pv, err := ParsePV(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d (%s): got %v, want error %q", i, c.in, err, c.err)
			}
			continue
		}
		if err != nil || pv.Class != c.class || pv.Arg != c.arg {
			t.Errorf("case %d (%s): got %+v, %v", i, c.in, pv, err)
		}
	}
}

func TestFormat(t *testing.T) {
	f, err := ParseFormat("a $rt_const b $rt_arg(x y) $$ $ end\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Append(nil, &Ctx{})); got != "a K b x y $ $ end\n" {
		t.Errorf("got %q", got)
	}
	if _, err := ParseFormat("bad $nosuch here"); err == nil {
		t.Errorf("an unknown pseudo-variable in a format is not an error")
	}
	if s, ok := mustFormat(t, "plain").Constant(); !ok || s != "plain" {
		t.Errorf("constant format: %q %v", s, ok)
	}
}

func mustFormat(t *testing.T, s string) *Format {
	f, err := ParseFormat(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestValueInt(t *testing.T) {
	cases := []struct {
		v    Value
		n    int64
		isOK bool
	}{
		{IntValue(-4), -4, true}, {StrValue("42"), 42, true}, {BytesValue([]byte("-7")), -7, true},
		{StrValue("4x"), 0, false}, {StrValue(""), 0, false}, {Value{}, 0, false}, {StrValue("+3"), 3, true},
	}
	for i, c := range cases {
		n, ok := c.v.Int64()
		if n != c.n || ok != c.isOK {
			t.Errorf("case %d: got %d %v, want %d %v", i, n, ok, c.n, c.isOK)
		}
	}
}

func TestAVP(t *testing.T) {
	c := &Ctx{}
	c.AddAVP("a", StrValue("1"))
	c.AddAVP("b", StrValue("2"))
	c.AddAVP("a", StrValue("3"))
	if v := c.AVP("a"); v.String() != "3" {
		t.Errorf("last a = %q", v.String())
	}
	c.DelAVP("a")
	if v := c.AVP("a"); !v.IsNull() {
		t.Errorf("a after delete = %q", v.String())
	}
	c.AddAVP("c", StrValue("4")) // reuses a slot: b must keep its value
	if c.AVP("b").String() != "2" || c.AVP("c").String() != "4" {
		t.Errorf("b %q c %q", c.AVP("b").String(), c.AVP("c").String())
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var l Latency
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Microsecond)
	}
	s := l.Snapshot()
	if s.Count != 1000 || s.Min != uint64(time.Microsecond) || s.Max != uint64(1000*time.Microsecond) {
		t.Fatalf("count %d min %d max %d", s.Count, s.Min, s.Max)
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := s.Quantile(q.q)
		if d := float64(got-q.want) / float64(q.want); d < -0.07 || d > 0.07 {
			t.Errorf("p%v = %v, want %v within 7%%", q.q*100, got, q.want)
		}
	}
	if s.Avg() != 500500*time.Nanosecond {
		t.Errorf("avg %v", s.Avg())
	}
	var m LatencySnapshot
	m.Merge(s)
	m.Merge(s)
	if m.Count != 2000 || m.Quantile(0.5) != s.Quantile(0.5) {
		t.Errorf("merge: count %d", m.Count)
	}
}

func TestIntParam(t *testing.T) {
	for i, tc := range []struct {
		v    Value
		want int64
		ok   bool
	}{
		{StrValue("12"), 12, true}, {StrValue("-3"), -3, true}, {StrValue("0x02"), 2, true}, {StrValue("0X1f"), 31, true},
		{BytesValue([]byte("0x10")), 16, true}, {IntValue(7), 7, true}, {StrValue("0x"), 0, false}, {StrValue("0xg"), 0, false},
		{StrValue("ten"), 0, false}, {Value{}, 0, false},
	} {
		if n, ok := tc.v.IntParam(); n != tc.want || ok != tc.ok {
			t.Errorf("case %d (%v): got %d %v, want %d %v", i, tc.v, n, ok, tc.want, tc.ok)
		}
	}
}
