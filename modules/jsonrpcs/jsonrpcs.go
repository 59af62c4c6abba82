// Package jsonrpcs is Kamailio's jsonrpcs module: the RPC commands as
// JSON-RPC 2.0 over HTTP (POST to any path; GET /metrics is the
// Prometheus exporter, what xhttp_prom serves in Kamailio), over a FIFO
// (fifo_name; replies go to fifo_reply_dir + the request's "reply_name")
// and over a unix datagram socket (dgram_socket; replies go to the
// sender). `kemi rpc` is the client of all three.
//
// With xhttp loaded, HTTP is served on the SIP TCP ports as in Kamailio
// (jsonrpc_dispatch in event_route[xhttp:request]); without it, kemi
// listens on its own address (http_listen, 127.0.0.1:5071 by default, ""
// for none):
// RPC commands change the running proxy, so they stay on loopback unless
// the config says otherwise. The FIFO and the datagram socket are made
// only when their parameter names them (Kamailio makes both in its
// runtime directory by default).
package jsonrpcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
	"github.com/kemi-sip/kemi/modules/xhttp"
)

// Transport bits of the "transport" parameter, as Kamailio's.
const (
	transportHTTP  = 1
	transportFIFO  = 2
	transportDgram = 4
)

type settings struct {
	transport          int
	httpListen         string
	httpDefault        bool // http_listen not set: a busy address is a warning
	fifo, fifoReplyDir string
	fifoMode           os.FileMode
	dgram              string
	dgramMode          os.FileMode
	prettyFormat       int
}

// Module is the jsonrpcs module of one proxy: its parameters and, once
// started, its listeners.
type Module struct {
	set     settings
	running *server
	xhttp   *xhttp.Module // when loaded: JSON-RPC over HTTP on the SIP streams
}

var (
	_ dispatch.Initializer = (*Module)(nil)
	_ dispatch.Starter     = (*Module)(nil)
	_ dispatch.Stopper     = (*Module)(nil)
)

// Exports are KSR.jsonrpcs: dispatch answers the HTTP request being routed
// (xhttp) with the JSON-RPC command in its body; exec and execx run a
// JSON-RPC document from the script, response is its answer.
func (m *Module) Exports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "dispatch", Native: "jsonrpc_dispatch", Ret: dispatch.Int, Fn: dispatch.F0(m.dispatch)},
		{Name: "exec", Native: "jsonrpc_exec", Ret: dispatch.Int, Fn: dispatch.FS(m.exec)},
		{Name: "execx", Ret: dispatch.Int, Fn: dispatch.FS(m.exec)},
		{Name: "response", Ret: dispatch.XVal, Fn: dispatch.V0(func(c *router.Ctx) router.Value {
			if r := execResults.Of(c); r.set {
				return router.BytesValue(r.body)
			}
			return router.Value{}
		})},
	}
}

// execResult is the answer of the last jsonrpc_exec of the message.
type execResult struct {
	body []byte
	set  bool
}

func (r *execResult) Reset() { r.body, r.set = r.body[:0], false }

var execResults = router.NewSlot[execResult]()

func (m *Module) dispatch(c *router.Ctx) int {
	s := m.running
	if m.xhttp == nil || s == nil || !c.Msg.IsHTTP() {
		c.Log().Error("jsonrpc_dispatch: not an HTTP request (xhttp's event route)", "route", c.Route)
		return -1
	}
	out, _ := s.handle(c.Msg.Body())
	if out == nil {
		return m.xhttp.Reply(c, 204, "No Content", "", "")
	}
	return m.xhttp.Reply(c, 200, "OK", "application/json", string(out))
}

func (m *Module) exec(c *router.Ctx, doc string) int {
	s := m.running
	if s == nil {
		return -1
	}
	out, _ := s.handle([]byte(doc))
	r := execResults.Of(c)
	r.body, r.set = append(r.body[:0], out...), true
	return 1
}

func init() {
	dispatch.Register(dispatch.ModuleInfo{Name: "jsonrpcs", New: func() dispatch.Module { return &Module{} },
		Params: []dispatch.Param{
			{Name: "transport", Kind: dispatch.Int, Default: "0", Doc: "0 all; else a sum of 1 HTTP, 2 FIFO, 4 datagram"},
			{Name: "http_listen", Kind: dispatch.Str, Default: "127.0.0.1:5071", Doc: "HTTP address (without xhttp; with it, none unless set); \"\" for none. Off loopback it warns: there is no authentication"},
			{Name: "fifo_name", Kind: dispatch.Str, Doc: "path of the FIFO to make"},
			{Name: "fifo_mode", Kind: dispatch.Int, Default: "0660", Doc: "its permissions"},
			{Name: "fifo_reply_dir", Kind: dispatch.Str, Default: "/tmp/", Doc: "where reply FIFOs are"},
			{Name: "dgram_socket", Kind: dispatch.Str, Doc: "path of the unix datagram socket"},
			{Name: "dgram_mode", Kind: dispatch.Int, Default: "0660", Doc: "its permissions"},
			{Name: "pretty_format", Kind: dispatch.Int, Default: "1", Doc: "indented JSON"},
			// Accepted for Kamailio configs.
			{Name: "fifo_group", Kind: dispatch.Str},
			{Name: "fifo_user", Kind: dispatch.Str},
			{Name: "dgram_group", Kind: dispatch.Str},
			{Name: "dgram_user", Kind: dispatch.Str},
			{Name: "tcp_socket", Kind: dispatch.Str},
		},
	})
	// Modules Kamailio configs load beside jsonrpcs: their work is done
	// here (ctl's binrpc is not served: use jsonrpcs).
	dispatch.Register(dispatch.ModuleInfo{Name: "ctl", KSR: "-", New: dispatch.NewParamsOnly, Params: []dispatch.Param{
		{Name: "binrpc", Kind: dispatch.Str, Multi: true}, {Name: "mode", Kind: dispatch.Int},
		{Name: "user", Kind: dispatch.Str}, {Name: "group", Kind: dispatch.Str},
		{Name: "fifo", Kind: dispatch.Str}, {Name: "autoconversion", Kind: dispatch.Int},
		{Name: "binrpc_max_body_size", Kind: dispatch.Int}, {Name: "binrpc_struct_max_body_size", Kind: dispatch.Int},
	}})
	dispatch.Register(dispatch.ModuleInfo{Name: "cfg_rpc", KSR: "-", New: dispatch.NewParamsOnly})
}

// Init reads the parameters.
func (m *Module) Init(p *dispatch.Params) error {
	// With xhttp loaded, JSON-RPC over HTTP is on the SIP streams, as in
	// Kamailio: no listener of its own unless http_listen asks for one.
	listen := "127.0.0.1:5071"
	if x, ok := p.Module("xhttp").(*xhttp.Module); ok {
		m.xhttp, listen = x, ""
	}
	s := settings{
		transport:    p.Int("transport", 0),
		httpListen:   p.Str("http_listen", listen),
		httpDefault:  !p.IsSet("http_listen"),
		fifo:         p.Str("fifo_name", ""),
		fifoReplyDir: p.Str("fifo_reply_dir", "/tmp/"),
		fifoMode:     os.FileMode(p.Int("fifo_mode", 0o660)),
		dgram:        strings.TrimPrefix(p.Str("dgram_socket", ""), "unixs:"),
		dgramMode:    os.FileMode(p.Int("dgram_mode", 0o660)),
		prettyFormat: p.Int("pretty_format", 1),
	}
	if s.transport < 0 || s.transport > 7 {
		return fmt.Errorf("transport %d: want 0 (all) or a sum of 1 (HTTP), 2 (FIFO), 4 (datagram)", s.transport)
	}
	if s.transport == 0 {
		s.transport = transportHTTP | transportFIFO | transportDgram
	}
	if s.httpListen != "" {
		if _, err := netip.ParseAddrPort(s.httpListen); err != nil {
			return fmt.Errorf("http_listen %q: want IP:port, such as 127.0.0.1:5071", s.httpListen)
		}
	}
	m.set = s
	return nil
}

// server is the running module: its listeners.
type server struct {
	set   *settings
	rpc   router.RPCHandler
	env   *router.Env
	log   *slog.Logger
	http  *http.Server
	addr  net.Addr
	fifo  *os.File
	dgram *net.UnixConn
	wg    sync.WaitGroup
}

// HTTPAddr is where the HTTP listener is (port 0 in the config gets one),
// nil when there is none.
func (m *Module) HTTPAddr() net.Addr {
	if s := m.running; s != nil && s.addr != nil {
		return s.addr
	}
	return nil
}

// Start opens the listeners.
func (m *Module) Start(env *router.Env) error {
	set := &m.set
	s := &server{set: set, rpc: env.RPC, env: env, log: env.Log.With("module", "jsonrpcs")}
	if set.transport&transportHTTP != 0 && set.httpListen != "" {
		if err := s.startHTTP(set.httpListen); errors.Is(err, syscall.EADDRINUSE) && set.httpDefault {
			// The listener is kemi's own addition: a second kemi on the
			// host (the same config twice) starts without it.
			s.log.Warn("RPC over HTTP not started: "+set.httpListen+" is in use (another kemi?); set http_listen to serve it elsewhere", "err", err.Error())
		} else if err != nil {
			return err
		}
	}
	if set.transport&transportFIFO != 0 && set.fifo != "" {
		if err := s.startFIFO(set.fifo); err != nil {
			s.close()
			return err
		}
	}
	if set.transport&transportDgram != 0 && set.dgram != "" {
		if err := s.startDgram(set.dgram); err != nil {
			s.close()
			return err
		}
	}
	m.running = s
	return nil
}

// Stop closes the listeners.
func (m *Module) Stop() {
	if s := m.running; s != nil {
		m.running = nil
		s.close()
	}
}

func (s *server) close() {
	if s.http != nil {
		s.http.Close()
	}
	if s.fifo != nil {
		s.fifo.Close()
		os.Remove(s.set.fifo)
	}
	if s.dgram != nil {
		s.dgram.Close()
		os.Remove(s.set.dgram)
	}
	s.wg.Wait()
}

// request is one JSON-RPC request. reply_name is the FIFO protocol's.
type request struct {
	Version   string          `json:"jsonrpc"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	ID        json.RawMessage `json:"id"`
	ReplyName string          `json:"reply_name"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	Version string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// JSON-RPC's own error codes.
const (
	codeParse   = -32700
	codeInvalid = -32600
	codeParams  = -32602
)

// handle runs one request document (a request or a batch) and returns the
// response document, nil when nothing is to be answered (notifications).
// replyName is the FIFO reply name of the (first) request.
func (s *server) handle(doc []byte) (out []byte, replyName string) {
	doc = bytes.TrimSpace(doc)
	if len(doc) > 0 && doc[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(doc, &batch); err != nil {
			return s.encode(errResponse(nil, codeParse, "Parse error: "+err.Error())), ""
		}
		if len(batch) == 0 {
			return s.encode(errResponse(nil, codeInvalid, "Invalid Request: empty batch")), ""
		}
		var rs []*response
		for _, d := range batch {
			r, name := s.one(d)
			if replyName == "" {
				replyName = name
			}
			if r != nil {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			return nil, replyName
		}
		return s.encode(rs), replyName
	}
	r, name := s.one(doc)
	if r == nil {
		return nil, name
	}
	return s.encode(r), name
}

func (s *server) one(doc []byte) (*response, string) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return errResponse(nil, codeParse, "Parse error: "+err.Error()), ""
	}
	if req.Version != "2.0" || req.Method == "" {
		return errResponse(req.ID, codeInvalid, `Invalid Request: want "jsonrpc": "2.0" and a "method"`), req.ReplyName
	}
	params, err := decodeParams(req.Params)
	if err != nil {
		return errResponse(req.ID, codeParams, "Invalid params: "+err.Error()), req.ReplyName
	}
	res, err := s.rpc.CallRPC(req.Method, params...)
	if len(req.ID) == 0 {
		return nil, req.ReplyName // a notification: run, not answered
	}
	if err != nil {
		return errResponse(req.ID, dispatch.RPCCode(err), err.Error()), req.ReplyName
	}
	if res == nil {
		res = map[string]any{}
	}
	return &response{Version: "2.0", Result: res, ID: req.ID}, req.ReplyName
}

// decodeParams makes the positional parameters: strings, float64 numbers
// (int64 when integral), booleans as 0/1.
func decodeParams(raw json.RawMessage) ([]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		return nil, errors.New("params must be an array")
	}
	for i, v := range list {
		switch v := v.(type) {
		case json.Number:
			if n, err := v.Int64(); err == nil {
				list[i] = n
			} else if f, err := v.Float64(); err == nil {
				list[i] = f
			}
		case bool:
			list[i] = int64(0)
			if v {
				list[i] = int64(1)
			}
		case string:
		default:
			return nil, fmt.Errorf("parameter %d: want a string or a number", i+1)
		}
	}
	return list, nil
}

func errResponse(id json.RawMessage, code int, msg string) *response {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &response{Version: "2.0", Error: &rpcError{code, msg}, ID: id}
}

func (s *server) encode(v any) []byte {
	var b []byte
	var err error
	if s.set.prettyFormat != 0 {
		b, err = json.MarshalIndent(v, "", "\t")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		b, _ = json.Marshal(errResponse(nil, dispatch.RPCInternal, "cannot encode the result: "+err.Error()))
	}
	return append(b, '\n')
}

// maxRequest bounds a request document on every transport.
const maxRequest = 1 << 20

func (s *server) startHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http_listen %s: %w", addr, err)
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() {
		s.log.Warn("RPC over HTTP is reachable from outside this host and has no authentication", "listen", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(s.env))
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
		if err != nil {
			http.Error(w, "request too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		out, _ := s.handle(body)
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.addr = ln.Addr()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("RPC over HTTP stopped", "err", err.Error())
		}
	}()
	s.log.Info("RPC over HTTP", "listen", "http://"+s.addr.String()+"/RPC")
	return nil
}

func (s *server) startFIFO(name string) error {
	if fi, err := os.Lstat(name); err == nil {
		if fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("fifo_name %s: exists and is not a FIFO", name)
		}
		os.Remove(name) // a previous run's
	}
	if err := syscall.Mkfifo(name, uint32(s.set.fifoMode.Perm())); err != nil {
		return fmt.Errorf("fifo_name %s: %w", name, err)
	}
	os.Chmod(name, s.set.fifoMode.Perm()) // not narrowed by the umask
	// Opened for reading and writing: the open does not wait for a
	// writer, and a writer closing does not end the stream.
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("fifo_name %s: %w", name, err)
	}
	s.fifo = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.readFIFO(f)
	}()
	s.log.Info("RPC over a FIFO", "fifo", name, "reply_dir", s.set.fifoReplyDir)
	return nil
}

// readFIFO reads request documents one after the other. A document that
// does not parse is answered nowhere (it names no reply FIFO we can
// trust) and the stream resumes at the next line.
func (s *server) readFIFO(f *os.File) {
	buf := newDocReader(f)
	for {
		doc, err := buf.next()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Error("RPC FIFO read failed", "err", err.Error())
			}
			return
		}
		out, replyName := s.handle(doc)
		if out == nil {
			continue
		}
		if replyName == "" {
			s.log.Warn("RPC FIFO request without reply_name: not answered")
			continue
		}
		if strings.ContainsAny(replyName, "/\x00") || replyName == ".." || replyName == "." {
			s.log.Warn("RPC FIFO reply_name is not a plain file name: not answered", "reply_name", replyName)
			continue
		}
		go s.replyFIFO(filepath.Join(s.set.fifoReplyDir, replyName), out)
	}
}

// replyFIFO writes a response into the client's FIFO, waiting up to 2 s
// for the client to open it.
func (s *server) replyFIFO(path string, out []byte) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		s.log.Warn("RPC FIFO reply: not a FIFO", "path", path)
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			w := os.NewFile(uintptr(fd), path)
			syscall.SetNonblock(fd, false)
			if _, err := w.Write(out); err != nil {
				s.log.Warn("RPC FIFO reply failed", "path", path, "err", err.Error())
			}
			w.Close()
			return
		}
		if err != syscall.ENXIO || time.Now().After(deadline) {
			s.log.Warn("RPC FIFO reply: the client is not reading", "path", path, "err", err.Error())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) startDgram(name string) error {
	if fi, err := os.Lstat(name); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("dgram_socket %s: exists and is not a socket", name)
		}
		os.Remove(name)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("dgram_socket %s: %w", name, err)
	}
	os.Chmod(name, s.set.dgramMode.Perm())
	s.dgram = c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUnix(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.log.Error("RPC datagram read failed", "err", err.Error())
				}
				return
			}
			out, _ := s.handle(buf[:n])
			if out == nil {
				continue
			}
			if from == nil || from.Name == "" {
				s.log.Warn("RPC datagram from an unbound socket: not answered")
				continue
			}
			if _, err := c.WriteToUnix(out, from); err != nil {
				s.log.Warn("RPC datagram reply failed", "to", from.Name, "err", err.Error())
			}
		}
	}()
	s.log.Info("RPC over a datagram socket", "socket", name)
	return nil
}

// docReader splits a byte stream into JSON documents.
type docReader struct {
	r        io.Reader
	buf, tmp []byte
}

func newDocReader(r io.Reader) *docReader { return &docReader{r: r, tmp: make([]byte, 4096)} }

// next returns the next complete JSON document. Bytes that cannot start
// one are skipped to the next line.
func (d *docReader) next() ([]byte, error) {
	for {
		d.buf = bytes.TrimLeft(d.buf, " \t\r\n")
		if len(d.buf) > 0 {
			if d.buf[0] != '{' && d.buf[0] != '[' {
				if i := bytes.IndexByte(d.buf, '\n'); i >= 0 {
					d.buf = d.buf[i+1:]
					continue
				}
			} else if n := docEnd(d.buf); n > 0 {
				doc := d.buf[:n:n]
				d.buf = append([]byte(nil), d.buf[n:]...)
				return doc, nil
			} else if len(d.buf) > maxRequest {
				d.buf = nil // too large: drop it
			}
		}
		n, err := d.r.Read(d.tmp)
		d.buf = append(d.buf, d.tmp[:n]...)
		if err != nil {
			return nil, err
		}
	}
}

// docEnd is the length of the JSON object or array at the start of b, 0
// when it is not complete yet.
func docEnd(b []byte) int {
	depth, inStr, esc := 0, false, false
	for i, c := range b {
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}
