package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const rpcUsage = `Usage: kemi rpc [-s ADDRESS] [-t SECONDS] METHOD [PARAMS...]
Runs an RPC command of a running kemi (its jsonrpcs module), as kamcmd
and kamctl rpc do, and prints the result as JSON.
  -s ADDRESS  where kemi answers (default http://127.0.0.1:5071/RPC):
              http://HOST:PORT[/PATH] or HOST:PORT  JSON-RPC over HTTP
              fifo:PATH, or the path of a FIFO     jsonrpcs' fifo_name
              unix:PATH, or the path of a socket   jsonrpcs' dgram_socket
  -t SECONDS  how long to wait for the answer (default 10)
  -r DIR      where to make the reply FIFO (default /tmp; jsonrpcs' fifo_reply_dir)
PARAMS that are numbers are sent as numbers; s:VALUE forces a string,
i:VALUE an integer.
Examples: kemi rpc core.uptime
          kemi rpc stats.get_statistics all
          kemi rpc -s fifo:/run/kemi/kemi_rpc.fifo ul.dump
`

// rpcCommand is `kemi rpc`: exit 0 with the result, 1 with an error from
// the command, 2 when kemi could not be asked.
func rpcCommand(args []string, stdout, stderr io.Writer) int {
	addr, replyDir, timeout := "http://127.0.0.1:5071/RPC", "/tmp", 10*time.Second
	fail := func(code int, f string, a ...any) int {
		fmt.Fprintf(stderr, "kemi rpc: "+f+"\n", a...)
		return code
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-h", "--help":
			fmt.Fprint(stdout, rpcUsage)
			return 0
		case "-s", "-t", "-r":
			if len(args) < 2 {
				return fail(2, "%s needs a value", args[0])
			}
			switch args[0] {
			case "-s":
				addr = args[1]
			case "-r":
				replyDir = args[1]
			case "-t":
				f, err := strconv.ParseFloat(args[1], 64)
				if err != nil || f <= 0 {
					return fail(2, "-t %q: want seconds", args[1])
				}
				timeout = time.Duration(f * float64(time.Second))
			}
			args = args[2:]
		default:
			return fail(2, "unknown option %s\n%s", args[0], rpcUsage)
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, rpcUsage)
		return 2
	}
	req := map[string]any{"jsonrpc": "2.0", "method": args[0], "id": 1}
	if len(args) > 1 {
		req["params"] = rpcParams(args[1:])
	}
	out, err := rpcCall(addr, replyDir, timeout, req)
	if err != nil {
		return fail(2, "%s: %v", addr, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return fail(2, "%s: the answer is not JSON-RPC: %v: %q", addr, err, out)
	}
	if resp.Error != nil {
		return fail(1, "error: %d - %s", resp.Error.Code, resp.Error.Message)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, resp.Result, "", "  ") != nil {
		pretty.Write(resp.Result)
	}
	pretty.WriteByte('\n')
	stdout.Write(pretty.Bytes())
	return 0
}

// rpcParams types the command line's parameters as kamctl rpc does.
func rpcParams(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "s:"):
			out[i] = a[2:]
		case strings.HasPrefix(a, "i:"):
			if n, err := strconv.ParseInt(a[2:], 10, 64); err == nil {
				out[i] = n
			} else {
				out[i] = a[2:]
			}
		default:
			if n, err := strconv.ParseInt(a, 10, 64); err == nil {
				out[i] = n
			} else {
				out[i] = a
			}
		}
	}
	return out
}

// rpcCall sends one request to addr and returns the response document.
func rpcCall(addr, replyDir string, timeout time.Duration, req map[string]any) ([]byte, error) {
	kind, target := rpcTarget(addr)
	switch kind {
	case "fifo":
		return rpcFIFO(target, replyDir, timeout, req)
	case "unix":
		return rpcDgram(target, timeout, req)
	}
	body, _ := json.Marshal(req)
	c := &http.Client{Timeout: timeout}
	resp, err := c.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// rpcTarget tells the transport of an address.
func rpcTarget(addr string) (kind, target string) {
	switch {
	case strings.HasPrefix(addr, "fifo:"):
		return "fifo", addr[5:]
	case strings.HasPrefix(addr, "unix:"):
		return "unix", addr[5:]
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		return "http", addr
	}
	if fi, err := os.Stat(addr); err == nil {
		switch {
		case fi.Mode()&os.ModeNamedPipe != 0:
			return "fifo", addr
		case fi.Mode()&os.ModeSocket != 0:
			return "unix", addr
		}
	}
	return "http", "http://" + addr + "/RPC"
}

// rpcFIFO writes the request into kemi's FIFO with the name of a reply
// FIFO made for it, and reads the answer there.
func rpcFIFO(fifo, replyDir string, timeout time.Duration, req map[string]any) ([]byte, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	name := "kemi_rpc_reply_" + hex.EncodeToString(rnd[:])
	reply := filepath.Join(replyDir, name)
	if err := syscall.Mkfifo(reply, 0o600); err != nil {
		return nil, fmt.Errorf("reply FIFO: %w", err)
	}
	defer os.Remove(reply)
	// Open the reply FIFO first (read and write, so the open returns at
	// once): kemi's answer then never waits for us.
	r, err := os.OpenFile(reply, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("reply FIFO: %w", err)
	}
	defer r.Close()
	req["reply_name"] = name
	body, _ := json.Marshal(req)
	fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return nil, errors.New("no kemi is reading this FIFO")
		}
		return nil, err
	}
	w := os.NewFile(uintptr(fd), fifo)
	_, err = w.Write(append(body, '\n'))
	w.Close()
	if err != nil {
		return nil, err
	}
	r.SetReadDeadline(time.Now().Add(timeout))
	var buf []byte
	tmp := make([]byte, 65536)
	for {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if json.Valid(bytes.TrimSpace(buf)) {
			return buf, nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("no answer in %v", timeout)
			}
			return nil, err
		}
	}
}

// rpcDgram sends the request as one datagram from a socket of our own and
// reads the answer.
func rpcDgram(sock string, timeout time.Duration, req map[string]any) ([]byte, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	local := filepath.Join(os.TempDir(), "kemi_rpc_"+hex.EncodeToString(rnd[:])+".sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	defer os.Remove(local)
	defer c.Close()
	body, _ := json.Marshal(req)
	if _, err := c.WriteToUnix(body, &net.UnixAddr{Name: sock, Net: "unixgram"}); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1<<20)
	n, err := c.Read(buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no answer in %v", timeout)
		}
		return nil, err
	}
	return buf[:n], nil
}
