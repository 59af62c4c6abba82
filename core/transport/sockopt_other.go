//go:build !linux

package transport

import (
	"net"
	"net/netip"
)

func setRecvBuffer(c *net.UDPConn, n int) { c.SetReadBuffer(n) }

// RecvBuffer is 0 where the system's receive buffer is not read.
func (l *Listener) RecvBuffer() int { return 0 }

// backlogOver is false where the backlog is not read.
func (l *Listener) backlogOver(int) (bool, int) { return false, 0 }

func socketFD(*net.UDPConn) int { return -1 }

// backlog is 0 where the backlog is not read.
func (l *Listener) backlog() int { return 0 }

// adaptiveReaders is false: every worker reads its socket.
const adaptiveReaders = false

// udpReader reads one worker's datagrams through the net package.
type udpReader struct {
	u   *udpSocket
	buf []byte
}

func newUDPReader(u *udpSocket, size int) *udpReader {
	return &udpReader{u: u, buf: make([]byte, size)}
}

// read returns the next datagram's length and source (never -1 here).
func (r *udpReader) read() (int, netip.AddrPort, error) {
	return r.u.l.udp.ReadFromUDPAddrPort(r.buf)
}

// sendTo sends b to dst from l's UDP socket.
func (l *Listener) sendTo(b []byte, dst netip.AddrPort) error {
	_, err := l.udp.WriteToUDPAddrPort(b, dst)
	return err
}
