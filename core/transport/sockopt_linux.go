package transport

import (
	"net"
	"syscall"
	"unsafe"
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

// backlogOver reports whether the datagrams waiting in l's UDP socket take
// more than pct percent of its receive buffer (SO_MEMINFO: the kernel's
// own accounting of both).
func (l *Listener) backlogOver(pct int) bool {
	if l.fd < 0 {
		return false
	}
	var mem [9]uint32 // SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_RCVBUF, ...
	size := uint32(unsafe.Sizeof(mem))
	_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(l.fd), syscall.SOL_SOCKET, soMeminfo,
		uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	over := errno == 0 && mem[1] > 0 && uint64(mem[0])*100 >= uint64(mem[1])*uint64(pct)
	if over {
		l.srv.Stats.Overloaded.Add(1)
	}
	return over
}

// socketFD is c's descriptor, read once at bind time so that the backlog's
// look is one system call with nothing allocated; -1 when unknown. It is
// valid while c is open: the workers that use it stop before Close ends.
func socketFD(c *net.UDPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// soMeminfo is SO_MEMINFO (linux/socket.h), not in package syscall.
const soMeminfo = 55
