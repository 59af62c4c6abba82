package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// failures counts wrong passwords per user (username@realm), for kemi's
// failed_auth_limit: past the limit within the window, the user's
// credentials are not checked until the window ends, and auth_check
// answers as for a wrong password — a guesser learns nothing, not even
// that it was stopped. Unknown users are counted the same way, so that the
// stop does not tell them apart either. The table is bounded: past
// maxFailUsers users, new ones are not counted.
type failures struct {
	refused *atomic.Uint64 // the module's count of checks refused
	limit   int
	window  time.Duration
	mu      sync.Mutex
	m       map[string]*failCount
}

type failCount struct {
	start int64 // the window's start, unix ns
	n     int
}

const maxFailUsers = 1 << 17

func newFailures(limit int, window time.Duration, counter *atomic.Uint64) *failures {
	if limit <= 0 {
		return nil
	}
	return &failures{limit: limit, window: window, m: map[string]*failCount{}, refused: counter}
}

// blocked reports whether user@realm is past the limit now.
func (f *failures) blocked(user, realm []byte, now time.Time) bool {
	if f == nil {
		return false
	}
	var kb [128]byte
	k := failKey(kb[:0], user, realm)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[string(k)] // a lookup by converted bytes does not allocate
	if e == nil || now.UnixNano()-e.start >= f.window.Nanoseconds() {
		return false
	}
	if e.n >= f.limit {
		f.refused.Add(1)
		return true
	}
	return false
}

// fail records a wrong password for user@realm.
func (f *failures) fail(user, realm []byte, now time.Time) {
	if f == nil {
		return
	}
	t := now.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	var kb [128]byte
	kb2 := failKey(kb[:0], user, realm)
	e := f.m[string(kb2)]
	if e == nil {
		if len(f.m) >= maxFailUsers {
			f.sweep(t)
			if len(f.m) >= maxFailUsers {
				return
			}
		}
		e = &failCount{start: t}
		f.m[string(kb2)] = e
	}
	if t-e.start >= f.window.Nanoseconds() {
		e.start, e.n = t, 0
	}
	e.n++
}

// sweep forgets users whose window has ended; f.mu is held.
func (f *failures) sweep(now int64) {
	for k, e := range f.m {
		if now-e.start >= f.window.Nanoseconds() {
			delete(f.m, k)
		}
	}
}

// failKey is user@realm appended to dst.
func failKey(dst, user, realm []byte) []byte {
	return append(append(append(dst, user...), '@'), realm...)
}
