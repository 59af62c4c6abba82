// Package redis is kemi's RESP2 client: one connection to a Redis server,
// commands written as arrays of bulk strings, replies read as hiredis keeps
// them. ndb_redis (scripts' commands) and core/db's redis:// databases
// (db_redis) use it.
package redis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The reply types, hiredis's numbers (what ndb_redis's $redis(r=>type)
// and $redisd give).
const (
	String  = 1
	Array   = 2
	Integer = 3
	Nil     = 4
	Status  = 5
	Error   = 6
)

// Reply is one RESP2 reply as hiredis keeps it.
type Reply struct {
	Type     int
	Str      string // string, status, error
	Integer  int64
	Elements []*Reply
}

// Conn is one connection to a Redis server. A RESP client of kemi's own:
// the Go clients do not keep a status reply apart from a string one,
// which scripts read ($redis(r=>type) 5 or 1).
type Conn struct {
	c  net.Conn
	r  *bufio.Reader
	to time.Duration
}

// Dial connects; each command then has cmdTO to be written and answered.
func Dial(network, addr string, connectTO, cmdTO time.Duration) (*Conn, error) {
	c, err := net.DialTimeout(network, addr, connectTO)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c), to: cmdTO}, nil
}

// Close closes the connection.
func (c *Conn) Close() { c.c.Close() }

// Send writes commands, each as a RESP array of bulk strings.
func (c *Conn) Send(cmds ...[]string) error {
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

// Do sends one command and reads its reply.
func (c *Conn) Do(args ...string) (*Reply, error) {
	if err := c.Send(args); err != nil {
		return nil, err
	}
	return c.Read()
}

// Read reads one reply.
func (c *Conn) Read() (*Reply, error) {
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
		return &Reply{Type: Status, Str: body}, nil
	case '-':
		return &Reply{Type: Error, Str: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: bad integer %q", body)
		}
		return &Reply{Type: Integer, Integer: n}, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad bulk length %q", body)
		}
		if n == -1 {
			return &Reply{Type: Nil}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return &Reply{Type: String, Str: string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad array length %q", body)
		}
		if n == -1 {
			return &Reply{Type: Nil}, nil
		}
		r := &Reply{Type: Array, Elements: make([]*Reply, n)}
		for i := range r.Elements {
			if r.Elements[i], err = c.Read(); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	return nil, fmt.Errorf("redis: unknown reply type %q", line[0])
}
