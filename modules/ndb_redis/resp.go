package ndb_redis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The reply types, hiredis's numbers (what $redis(r=>type) and $redisd
// give).
const (
	replyString  = 1
	replyArray   = 2
	replyInteger = 3
	replyNil     = 4
	replyStatus  = 5
	replyError   = 6
)

// reply is one RESP2 reply as hiredis keeps it.
type reply struct {
	typ      int
	str      string // string, status, error
	integer  int64
	elements []*reply
}

// conn is one connection to a Redis server. A RESP client of kemi's own:
// the Go clients do not keep a status reply apart from a string one,
// which scripts read ($redis(r=>type) 5 or 1).
type conn struct {
	c  net.Conn
	r  *bufio.Reader
	to time.Duration
}

func dial(network, addr string, connectTO, cmdTO time.Duration) (*conn, error) {
	c, err := net.DialTimeout(network, addr, connectTO)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReader(c), to: cmdTO}, nil
}

func (c *conn) close() { c.c.Close() }

// send writes commands, each as a RESP array of bulk strings.
func (c *conn) send(cmds ...[]string) error {
	var b []byte
	for _, args := range cmds {
		b = append(b, '*')
		b = strconv.AppendInt(b, int64(len(args)), 10)
		b = append(b, "\r\n"...)
		for _, a := range args {
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(len(a)), 10)
			b = append(b, "\r\n"...)
			b = append(append(b, a...), "\r\n"...)
		}
	}
	c.c.SetDeadline(time.Now().Add(c.to))
	_, err := c.c.Write(b)
	return err
}

// do sends one command and reads its reply.
func (c *conn) do(args ...string) (*reply, error) {
	if err := c.send(args); err != nil {
		return nil, err
	}
	return c.read()
}

// read reads one reply.
func (c *conn) read() (*reply, error) {
	c.c.SetDeadline(time.Now().Add(c.to))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errors.New("redis: bad reply line")
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return &reply{typ: replyStatus, str: body}, nil
	case '-':
		return &reply{typ: replyError, str: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: bad integer %q", body)
		}
		return &reply{typ: replyInteger, integer: n}, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad bulk length %q", body)
		}
		if n == -1 {
			return &reply{typ: replyNil}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return &reply{typ: replyString, str: string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad array length %q", body)
		}
		if n == -1 {
			return &reply{typ: replyNil}, nil
		}
		r := &reply{typ: replyArray, elements: make([]*reply, n)}
		for i := range r.elements {
			if r.elements[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	return nil, fmt.Errorf("redis: unknown reply type %q", line[0])
}

// format splits a command as hiredis's redisvFormatCommand does: at
// spaces, "%s" replaced by the next parameter (within the argument it
// is in; an empty one is still an argument), "%%" a '%'.
func format(cmd string, params []string) ([]string, error) {
	var args []string
	var cur []byte
	touched := false
	p := 0
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		switch {
		case ch == ' ':
			if touched {
				args = append(args, string(cur))
				cur, touched = cur[:0], false
			}
		case ch == '%' && i+1 < len(cmd):
			i++
			switch cmd[i] {
			case 's', 'b':
				if p >= len(params) {
					return nil, errors.New("more %s than parameters")
				}
				cur = append(cur, params[p]...)
				p++
			case '%':
				cur = append(cur, '%')
			default:
				cur = append(cur, '%', cmd[i])
			}
			touched = true
		default:
			cur = append(cur, ch)
			touched = true
		}
	}
	if touched {
		args = append(args, string(cur))
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}
