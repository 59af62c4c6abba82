// Package enginetest runs golden files against the routing engines: a
// config (and script), SIP messages in, the expected messages out, over
// real UDP sockets. Every engine runs the same files. It also gives the
// engines' own tests one fixture: a worker of an engine and a parsed
// REGISTER to run routes on.
package enginetest

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/core/sip"
	"github.com/kemi-sip/kemi/core/transport"
)

// Register is the REGISTER the route benchmarks of every engine run on.
const Register = "REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-524287-1---d8f8e2b1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"Contact: <sip:alice@127.0.0.1:5070;rinstance=6b2b2f5f;transport=UDP>\r\n" +
	"To: <sip:alice@127.0.0.1>\r\n" +
	"From: <sip:alice@127.0.0.1>;tag=4f1c7a3b\r\n" +
	"Call-ID: OWY0NjE1ZjZhOGE0YTc0YjZjZTY5N2U2M2QzYjg0NzI\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Expires: 3600\r\n" +
	"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n" +
	"User-Agent: Z 5.5.13 v2.10.19.9\r\n" +
	"Content-Length: 0\r\n\r\n"

// Fixture is a worker of an engine with Register parsed, as received over
// UDP from 127.0.0.1:5070 by a proxy that is 127.0.0.1:5060.
type Fixture struct {
	W   *router.Worker
	Msg *sip.Msg
	Pkt *transport.Packet
}

// NewFixture makes the worker; logs go to logTo (nil: discarded).
func NewFixture(tb testing.TB, e router.Engine, logTo io.Writer) *Fixture {
	tb.Helper()
	if logTo == nil {
		logTo = io.Discard
	}
	env := &router.Env{Engine: e, Log: slog.New(slog.NewTextHandler(logTo, nil)),
		Myself: transport.NewMyself(nil, []string{"127.0.0.1:5060"})}
	w, err := env.NewWorker(1)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fixture{W: w, Msg: new(sip.Msg), Pkt: &transport.Packet{Src: netip.MustParseAddrPort("127.0.0.1:5070"), Proto: sip.TransportUDP}}
	if err := f.Msg.Parse([]byte(Register)); err != nil {
		tb.Fatal(err)
	}
	return f
}

// Run runs request_route on the message, its edits from the last run
// dropped first.
func (f *Fixture) Run() (int, error) {
	f.Msg.ResetEdits()
	return f.W.RunRequest(f.Pkt, f.Msg)
}
