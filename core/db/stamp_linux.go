package db

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// stamper reads a SQLite file's state (rowcache.go) with raw system
// calls: a pread of the -shm file's first bytes in WAL mode, of the
// database file's header otherwise. Raw, so that the Go runtime's monitor
// thread is not woken for it (a read of bytes that every transaction on
// the file has just touched, in the page cache).
type stamper struct {
	path string
	db   atomic.Int32 // the database file, read only; -1 once closed
	shm  atomic.Int32 // its -shm file, -1 until opened
	wal  atomic.Bool  // the last look found WAL mode
	mu   sync.Mutex   // opening shm
}

func openStamper(path string) *stamper {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	s := &stamper{path: path}
	s.db.Store(int32(fd))
	s.shm.Store(-1)
	return s
}

func (s *stamper) close() {
	for _, fd := range []*atomic.Int32{&s.db, &s.shm} {
		if f := fd.Swap(-1); f >= 0 {
			syscall.Close(int(f))
		}
	}
}

// read is the file's current state; not ok when it cannot be told.
func (s *stamper) read() (stamp, bool) {
	if s.wal.Load() {
		// A connection of ours is open, so the file stays in WAL mode
		// (leaving it takes every other connection closed).
		if st, ok := s.readWAL(); ok {
			return st, true
		}
	}
	var hdr [dbHdrSize]byte
	if pread(s.db.Load(), hdr[:]) != dbHdrSize {
		return stamp{}, false
	}
	st, wal, ok := dbStamp(hdr[:])
	if !ok {
		return st, false
	}
	s.wal.Store(wal)
	if !wal {
		return st, true
	}
	return s.readWAL()
}

func (s *stamper) readWAL() (stamp, bool) {
	fd := s.shm.Load()
	if fd < 0 {
		if fd = s.openShm(); fd < 0 {
			return stamp{}, false
		}
	}
	var b [2 * walHdrSize]byte
	if pread(fd, b[:]) != len(b) {
		return stamp{}, false
	}
	return walStamp(b[:])
}

func (s *stamper) openShm() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fd := s.shm.Load(); fd >= 0 || s.db.Load() < 0 {
		return fd
	}
	fd, err := syscall.Open(s.path+"-shm", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	s.shm.Store(int32(fd))
	return int32(fd)
}

// pread reads the first len(b) bytes of fd: the count read, -1 on error.
func pread(fd int32, b []byte) int {
	if fd < 0 {
		return -1
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if errno != 0 {
		return -1
	}
	return int(n)
}
