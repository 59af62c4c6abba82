package transport

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CtlClient sends control commands to media relays over UDP the way both
// rtpproxy's and rtpengine's protocols frame them: "COOKIE PAYLOAD", the
// answer carrying the same cookie. Commands from many workers share one
// socket; each waits for its own cookie.
type CtlClient struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	pending map[string]chan []byte
	seq     atomic.Uint64
	prefix  string
	done    chan struct{}
}

// ErrNoAnswer: no answer after every try.
var ErrNoAnswer = errors.New("no answer")

// NewCtlClient opens the socket.
func NewCtlClient() (*CtlClient, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	c := &CtlClient{conn: conn, pending: map[string]chan []byte{}, prefix: hex.EncodeToString(rnd[:]) + "_", done: make(chan struct{})}
	go c.read()
	return c, nil
}

// Close closes the socket; commands waiting fail.
func (c *CtlClient) Close() {
	c.conn.Close()
	<-c.done
}

func (c *CtlClient) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		sp := 0
		for sp < len(b) && b[sp] != ' ' {
			sp++
		}
		if sp == len(b) {
			continue
		}
		c.mu.Lock()
		ch := c.pending[string(b[:sp])]
		delete(c.pending, string(b[:sp]))
		c.mu.Unlock()
		if ch != nil {
			ch <- append([]byte(nil), b[sp+1:]...)
		}
	}
}

// Ask sends payload to addr, again after each timeout up to tries times,
// and returns the answer's payload (after the cookie).
func (c *CtlClient) Ask(addr *net.UDPAddr, payload []byte, timeout time.Duration, tries int) ([]byte, error) {
	cookie := c.prefix + strconv.FormatUint(c.seq.Add(1), 10)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[cookie] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cookie)
		c.mu.Unlock()
	}()
	msg := append([]byte(cookie+" "), payload...)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for try := 0; try < tries; try++ {
		if _, err := c.conn.WriteToUDP(msg, addr); err != nil {
			return nil, err
		}
		t.Reset(timeout)
		select {
		case b := <-ch:
			return b, nil
		case <-t.C:
		}
	}
	return nil, ErrNoAnswer
}

// CtlNode is one media relay of a set.
type CtlNode struct {
	Addr     *net.UDPAddr
	Weight   int
	disabled atomic.Int64 // unix nanoseconds until which it is skipped
}

// ParseCtlSock reads a relay set as rtpproxy_sock and rtpengine_sock
// write it: "udp:host:port udp:host2:port=2", or "N == ..." for set N.
func ParseCtlSock(param, v string) (int, []*CtlNode, error) {
	id := 0
	if l, r, ok := strings.Cut(v, "=="); ok {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || n < 0 {
			return 0, nil, fmt.Errorf("%s %q: want SET == udp:host:port", param, v)
		}
		id, v = n, r
	}
	var nodes []*CtlNode
	for _, f := range strings.Fields(v) {
		w := 1
		if a, b, ok := strings.Cut(f, "="); ok {
			n, err := strconv.Atoi(b)
			if err != nil || n < 1 {
				return 0, nil, fmt.Errorf("%s %q: weight %q", param, f, b)
			}
			f, w = a, n
		}
		addr := f
		switch {
		case strings.HasPrefix(f, "udp:"):
			addr = f[4:]
		case strings.HasPrefix(f, "udp6:"):
			addr = f[5:]
		case strings.Contains(f, "://") || strings.HasPrefix(f, "unix:"):
			return 0, nil, fmt.Errorf("%s %q: only udp: nodes are supported", param, f)
		}
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %q: %v", param, f, err)
		}
		nodes = append(nodes, &CtlNode{Addr: ua, Weight: w})
	}
	if len(nodes) == 0 {
		return 0, nil, fmt.Errorf("%s %q: no node", param, v)
	}
	return id, nodes, nil
}

// CtlConfig is a media relay module's sets of nodes and how it asks them.
type CtlConfig struct {
	Sets       map[int][]*CtlNode
	Default    int // the set used when the script chose none
	Timeout    time.Duration
	Retries    int
	DisableFor time.Duration
}

// NewCtlConfig reads the module parameters: every socks value (sockParam
// names them in errors), the default set (-1: the first one given), the
// time to wait for an answer, the tries, how long a silent node is left
// alone.
func NewCtlConfig(sockParam string, socks []string, defaultSet int, timeout time.Duration, retries int, disableFor time.Duration) (*CtlConfig, error) {
	cfg := &CtlConfig{Sets: map[int][]*CtlNode{}, Timeout: timeout, Retries: retries, DisableFor: disableFor}
	if timeout <= 0 || retries < 1 {
		return nil, errors.New("the timeout and the number of tries must be more than 0")
	}
	first := -1
	for _, v := range socks {
		id, nodes, err := ParseCtlSock(sockParam, v)
		if err != nil {
			return nil, err
		}
		if first < 0 {
			first = id
		}
		cfg.Sets[id] = append(cfg.Sets[id], nodes...)
	}
	if len(cfg.Sets) == 0 {
		return nil, fmt.Errorf(`no %s: want one, such as "udp:127.0.0.1:2223"`, sockParam)
	}
	cfg.Default = defaultSet
	if defaultSet < 0 {
		cfg.Default = first
	}
	if cfg.Sets[cfg.Default] == nil {
		return nil, fmt.Errorf("default_set %d: no such set", cfg.Default)
	}
	return cfg, nil
}

// CtlRelay is a media relay module's running state: its configuration
// (from Init), the sets scripts chose, and once started the client and
// the log.
type CtlRelay struct {
	Config *CtlConfig
	cl     atomic.Pointer[CtlClient]
	log    atomic.Pointer[slog.Logger]
	mu     sync.Mutex
	chosen map[any]ctlChoice
}

type ctlChoice struct {
	key  string
	sets [2]int
}

// Start opens the client's socket.
func (r *CtlRelay) Start(log *slog.Logger) error {
	c, err := NewCtlClient()
	if err != nil {
		return err
	}
	r.log.Store(log)
	r.cl.Store(c)
	return nil
}

// Stop closes it.
func (r *CtlRelay) Stop() {
	if c := r.cl.Swap(nil); c != nil {
		c.Close()
	}
}

// Choose records the sets a script picked (set_rtpengine_set,
// set_rtpproxy_set) for the messages of call key handled on ctx (a
// worker's context): first for offers and the other commands, second for
// answers. It holds until ctx handles another call.
func (r *CtlRelay) Choose(ctx any, key string, first, second int) error {
	for _, n := range []int{first, second} {
		if r.Config.Sets[n] == nil {
			return fmt.Errorf("no set %d", n)
		}
	}
	r.mu.Lock()
	if r.chosen == nil {
		r.chosen = map[any]ctlChoice{}
	}
	r.chosen[ctx] = ctlChoice{key, [2]int{first, second}}
	r.mu.Unlock()
	return nil
}

// Set is the set of ctx's message of call key: the chosen one, else the
// default.
func (r *CtlRelay) Set(ctx any, key string, answer bool) int {
	r.mu.Lock()
	ch, ok := r.chosen[ctx]
	r.mu.Unlock()
	if !ok || ch.key != key {
		return r.Config.Default
	}
	if answer {
		return ch.sets[1]
	}
	return ch.sets[0]
}

// Ask sends payload to one node of set, picked by a hash of key
// (a call's Call-ID: its commands all go to the same node) and weight.
// A node that does not answer is skipped for disableFor and the next one
// is asked; the node that answered is returned with the answer.
func (r *CtlRelay) Ask(set int, key string, payload []byte) ([]byte, *CtlNode, error) {
	c := r.cl.Load()
	if c == nil {
		return nil, nil, errors.New("not running")
	}
	cfg, log := r.Config, r.log.Load()
	nodes := cfg.Sets[set]
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("no set %d", set)
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	total := 0
	for _, n := range nodes {
		total += n.Weight
	}
	pick, start := int(h.Sum32()%uint32(total)), 0
	for i, n := range nodes {
		if pick -= n.Weight; pick < 0 {
			start = i
			break
		}
	}
	now := time.Now().UnixNano()
	for k := range nodes {
		n := nodes[(start+k)%len(nodes)]
		if n.disabled.Load() > now {
			continue
		}
		out, err := c.Ask(n.Addr, payload, cfg.Timeout, cfg.Retries)
		if errors.Is(err, ErrNoAnswer) {
			n.disabled.Store(time.Now().Add(cfg.DisableFor).UnixNano())
			log.Error("media relay does not answer: left alone", "node", n.Addr.String(), "for", cfg.DisableFor.String())
			continue
		}
		return out, n, err
	}
	return nil, nil, errors.New("no media relay of the set answered")
}
