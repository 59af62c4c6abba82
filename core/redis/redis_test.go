package redis_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/redis"
	"github.com/kemi-sip/kemi/engines/enginetest/kamailiotest"
)

// TestReplies: against a redis-server of the test's own, every reply type
// reads as hiredis keeps it (status apart from string, nil, integer,
// error, array), and two commands sent at once are read back in order.
func TestReplies(t *testing.T) {
	port := kamailiotest.RedisServer(t)
	c, err := redis.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "a value\r\nwith a line"}, "5 OK"},
		{[]string{"GET", "k"}, "1 a value\r\nwith a line"},
		{[]string{"GET", "none"}, "4 "},
		{[]string{"INCR", "n"}, "3 1"},
		{[]string{"RPUSH", "l", "x", "y"}, "3 2"},
		{[]string{"LRANGE", "l", "0", "-1"}, "2 [1 x] [1 y]"},
		{[]string{"NOSUCHCOMMAND"}, "6 ERR unknown command"}, // the rest of the text varies by version
	} {
		r, err := c.Do(tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := show(r); !strings.HasPrefix(got, tc.want) || r.Type != redis.Error && got != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
	if err := c.Send([]string{"INCR", "n"}, []string{"INCR", "n"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 2", "3 3"} {
		if r, err := c.Read(); err != nil || show(r) != want {
			t.Errorf("pipelined: %v %v, want %s", r, err, want)
		}
	}
}

// show is a reply as "type value", an array's elements in brackets.
func show(r *redis.Reply) string {
	switch r.Type {
	case redis.Integer:
		return fmt.Sprintf("%d %d", r.Type, r.Integer)
	case redis.Array:
		s := fmt.Sprint(r.Type)
		for _, e := range r.Elements {
			s += " [" + show(e) + "]"
		}
		return s
	}
	return fmt.Sprintf("%d %s", r.Type, r.Str)
}
