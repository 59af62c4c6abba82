package transport

import (
	"net"
	"syscall"
)

// setRecvBuffer asks for n bytes of receive buffer: SO_RCVBUFFORCE first
// (past net.core.rmem_max, allowed to root), else SO_RCVBUF, which the
// kernel caps at rmem_max.
func setRecvBuffer(c *net.UDPConn, n int) {
	rc, err := c.SyscallConn()
	if err == nil {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
		})
		if serr == nil {
			return
		}
	}
	c.SetReadBuffer(n)
}

// RecvBuffer is the receive buffer the kernel gave l's UDP socket (the
// kernel counts its bookkeeping in: twice what was asked), 0 when unknown.
func (l *Listener) RecvBuffer() int {
	if l.udp == nil {
		return 0
	}
	rc, err := l.udp.SyscallConn()
	if err != nil {
		return 0
	}
	var n int
	rc.Control(func(fd uintptr) {
		n, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return n
}
