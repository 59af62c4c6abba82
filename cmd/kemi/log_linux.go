package main

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// fileWriter is w, written without entering the runtime's system call
// state when it is a regular file (a log line per request under
// latency_cfg_log): a write through package syscall wakes the runtime's
// monitor thread when it sleeps, a few context switches per line. A
// write to a regular file does not block on its reader, as a pipe's or a
// terminal's can: those keep the usual path.
func fileWriter(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return w
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return w
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return w
	}
	r := &rawFile{f: f}
	rc.Control(func(fd uintptr) { r.fd = fd })
	return r
}

// rawFile writes to a regular file with write(2) made directly.
type rawFile struct {
	f  *os.File // kept open as long as the writer lives
	fd uintptr
}

func (r *rawFile) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, r.fd, uintptr(unsafe.Pointer(&b[done])), uintptr(len(b)-done))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return done, &os.PathError{Op: "write", Path: r.f.Name(), Err: errno}
		}
		done += int(n)
	}
	return done, nil
}
