package transport

import (
	"errors"
	"net"
	"net/netip"
	"sync"
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
// own accounting of both), and the bytes waiting.
func (l *Listener) backlogOver(pct int) (bool, int) {
	alloc, rcvbuf := l.meminfo()
	over := rcvbuf > 0 && uint64(alloc)*100 >= uint64(rcvbuf)*uint64(pct)
	if over {
		l.srv.Stats.Overloaded.Add(1)
	}
	return over, int(alloc)
}

// backlog is the receive memory of l's UDP socket: what waits in it.
func (l *Listener) backlog() int {
	alloc, _ := l.meminfo()
	return int(alloc)
}

// meminfo is SO_MEMINFO's receive memory and receive buffer of l's UDP
// socket, zeros when unknown: one system call, nothing allocated.
func (l *Listener) meminfo() (alloc, rcvbuf uint32) {
	if l.fd < 0 {
		return 0, 0
	}
	var mem [9]uint32 // SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_RCVBUF, ...
	size := uint32(unsafe.Sizeof(mem))
	_, _, errno := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, uintptr(l.fd), syscall.SOL_SOCKET, soMeminfo,
		uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, 0
	}
	return mem[0], mem[1]
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

// adaptiveReaders: a worker can read a UDP socket without blocking and
// so stop reading when the socket is empty (udp.go).
const adaptiveReaders = true

// udpReader reads one worker's datagrams: through the runtime's poller
// (the descriptor's RawConn), with recvfrom called here so that a worker
// beyond the first learns the socket is empty and retires instead of
// waiting in the poller.
type udpReader struct {
	u   *udpSocket
	buf []byte
	sa  syscall.RawSockaddrAny
	fn  func(fd uintptr) bool // made once: RawConn.Read takes it per read
	n   int
	src netip.AddrPort
	err error
}

func newUDPReader(u *udpSocket, size int) *udpReader {
	r := &udpReader{u: u, buf: make([]byte, size)}
	r.fn = r.recv
	return r
}

var errNoRawConn = errors.New("transport: the UDP socket has no descriptor to read")

// read returns the next datagram's length and source, -1 when the worker
// retired (the socket was empty and others read it).
func (r *udpReader) read() (int, netip.AddrPort, error) {
	rc := r.u.l.rc
	if rc == nil {
		return 0, netip.AddrPort{}, errNoRawConn
	}
	r.n, r.err = 0, nil
	if err := rc.Read(r.fn); err != nil {
		return 0, netip.AddrPort{}, err
	}
	return r.n, r.src, r.err
}

// recv is one recvfrom on the non-blocking descriptor, without entering
// the runtime's system call state (see sendTo); false sends the worker to
// wait in the poller.
func (r *udpReader) recv(fd uintptr) bool {
	for {
		alen := uint32(syscall.SizeofSockaddrAny)
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0,
			uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&alen)))
		switch errno {
		case 0:
			r.n, r.src = int(n), sockaddrPort(&r.sa)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if r.u.retire() {
				r.n = -1
				return true
			}
			return false
		}
		r.err = errno
		return true
	}
}

// sockaddrPort reads the address recvfrom wrote.
func sockaddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		p := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		b := (*[2]byte)(unsafe.Pointer(&p.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(b[0])<<8|uint16(b[1]))
	case syscall.AF_INET6:
		p := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		b := (*[2]byte)(unsafe.Pointer(&p.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), uint16(b[0])<<8|uint16(b[1]))
	}
	return netip.AddrPort{}
}

// sendTo sends b to dst from l's UDP socket: sendto without entering
// the runtime's system call state (the socket does not block; a system
// call through package syscall wakes the runtime's monitor thread when it
// sleeps, about two context switches and some twenty 20 µs naps of it per
// datagram at a few hundred requests a second: BENCHMARKS.md). The
// descriptor is held by RawConn.Control, so a Close waits for the send.
// When the socket's buffer is full it waits in the poller, as the net
// package does.
func (l *Listener) sendTo(b []byte, dst netip.AddrPort) error {
	if len(b) == 0 || l.rc == nil {
		_, err := l.udp.WriteToUDPAddrPort(b, dst)
		return err
	}
	s := udpSends.Get().(*udpSend)
	s.b = b
	s.errno = 0
	v6 := !l.Addr.Addr().Is4()
	if v6 {
		s.sa6.Family = syscall.AF_INET6
		s.sa6.Addr = dst.Addr().As16()
		s.sa6.Scope_id = 0
		putPort(&s.sa6.Port, dst.Port())
		s.salen = syscall.SizeofSockaddrInet6
		s.sa = unsafe.Pointer(&s.sa6)
	} else if dst.Addr().Is4() || dst.Addr().Is4In6() {
		s.sa4.Family = syscall.AF_INET
		s.sa4.Addr = dst.Addr().Unmap().As4()
		putPort(&s.sa4.Port, dst.Port())
		s.salen = syscall.SizeofSockaddrInet4
		s.sa = unsafe.Pointer(&s.sa4)
	} else {
		udpSends.Put(s)
		_, err := l.udp.WriteToUDPAddrPort(b, dst)
		return err
	}
	err := l.rc.Control(s.fn)
	errno := s.errno
	s.b, s.sa = nil, nil
	udpSends.Put(s)
	switch {
	case err != nil:
		return err
	case errno == syscall.EAGAIN:
		_, err = l.udp.WriteToUDPAddrPort(b, dst) // waits for room
		return err
	case errno != 0:
		return &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(dst), Err: errno}
	}
	return nil
}

// udpSend is one sendto's arguments, pooled with the function that
// makes it, so that a send allocates nothing.
type udpSend struct {
	b     []byte
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	sa    unsafe.Pointer
	salen uintptr
	errno syscall.Errno
	fn    func(fd uintptr)
}

var udpSends = sync.Pool{New: func() any {
	s := &udpSend{}
	s.fn = func(fd uintptr) {
		for {
			_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.b[0])), uintptr(len(s.b)), 0,
				uintptr(s.sa), s.salen)
			if errno != syscall.EINTR {
				s.errno = errno
				return
			}
		}
	}
	return s
}}

// putPort writes port in network order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
