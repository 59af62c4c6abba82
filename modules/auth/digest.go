package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"
)

// Algorithm is a digest hash (RFC 7616 §3.3): MD5 or SHA-256, plain or
// -sess.
type Algorithm uint8

const (
	MD5 Algorithm = iota
	SHA256
	MD5Sess
	SHA256Sess
	badAlgorithm
)

// ParseAlgorithm reads the algorithm parameter; absent means MD5.
func ParseAlgorithm(b []byte) (Algorithm, bool) {
	switch {
	case len(b) == 0 || strings.EqualFold(string(b), "MD5"):
		return MD5, true
	case strings.EqualFold(string(b), "SHA-256"):
		return SHA256, true
	case strings.EqualFold(string(b), "MD5-sess"):
		return MD5Sess, true
	case strings.EqualFold(string(b), "SHA-256-sess"):
		return SHA256Sess, true
	}
	return badAlgorithm, false
}

func (a Algorithm) String() string {
	return [...]string{"MD5", "SHA-256", "MD5-sess", "SHA-256-sess", "?"}[a]
}

// sha reports whether the algorithm hashes with SHA-256.
func (a Algorithm) sha() bool { return a == SHA256 || a == SHA256Sess }

// HexLen is the length of the algorithm's hashes in hex.
func (a Algorithm) HexLen() int {
	if a.sha() {
		return 64
	}
	return 32
}

// hashHex writes the hex hash of the parts joined by ':' into dst, which
// must hold HexLen bytes, and returns it. Short inputs are joined on the
// stack: checking a response allocates nothing.
func (a Algorithm) hashHex(dst []byte, parts ...[]byte) []byte {
	var stack [512]byte
	buf := stack[:0]
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, p...)
	}
	if a.sha() {
		sum := sha256.Sum256(buf)
		hex.Encode(dst[:64], sum[:])
		return dst[:64]
	}
	sum := md5.Sum(buf)
	hex.Encode(dst[:32], sum[:])
	return dst[:32]
}

// HA1 is H(username:realm:password) (RFC 7616 §3.4.2, without -sess).
func (a Algorithm) HA1(dst []byte, user, realm, password []byte) []byte {
	return a.hashHex(dst, user, realm, password)
}

// Response computes the request-digest of RFC 2617 §3.2.2 / RFC 7616
// §3.4.1 from HA1 (hex): qop "" (RFC 2069 compatibility), "auth" or
// "auth-int" (body is then hashed into HA2).
func (a Algorithm) Response(dst []byte, ha1, nonce, nc, cnonce, qop, method, uri, body []byte) []byte {
	var sessBuf, ha2Buf, bodyBuf [64]byte
	if a == MD5Sess || a == SHA256Sess {
		ha1 = a.hashHex(sessBuf[:], ha1, nonce, cnonce)
	}
	var ha2 []byte
	if string(qop) == "auth-int" {
		ha2 = a.hashHex(ha2Buf[:], method, uri, a.hashHex(bodyBuf[:], body))
	} else {
		ha2 = a.hashHex(ha2Buf[:], method, uri)
	}
	if len(qop) == 0 {
		return a.hashHex(dst, ha1, nonce, ha2)
	}
	return a.hashHex(dst, ha1, nonce, nc, cnonce, qop, ha2)
}

// EqualHex compares two hex digests in constant time, ignoring case.
func EqualHex(got, want []byte) bool {
	if len(got) != len(want) || len(got) > 64 {
		return false
	}
	var low [64]byte
	for i, c := range got {
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return subtle.ConstantTimeCompare(low[:len(got)], want) == 1
}

// Nonces are self-contained: 4 bytes of expiry time (Unix seconds), 4
// bytes of sequence number (the nonce-count slot) and 16 bytes of
// HMAC-SHA256 over both with the process secret, base64url: 32
// characters. Any worker, or a restarted process with the same secret,
// checks one without shared state.
const (
	nonceRaw = 24
	nonceLen = 32
)

// nonces makes and checks nonces.
type nonces struct {
	ipad, opad [64]byte // HMAC-SHA256 key pads of the secret
	expire     time.Duration
	seq        atomic.Uint32
	// nc holds, per sequence slot, the sequence number (high 32 bits) and
	// the highest nonce-count seen (low 32 bits); nil when nonce_count is
	// off.
	nc []atomic.Uint64
}

// nonceState is what checking a nonce found.
type nonceState int

const (
	nonceOK nonceState = iota
	nonceBad
	nonceStale
)

func newNonces(secret []byte, expire time.Duration, ncSlots int) *nonces {
	n := &nonces{expire: expire}
	if len(secret) > 64 {
		k := sha256.Sum256(secret)
		secret = k[:]
	}
	for i := range 64 {
		var k byte
		if i < len(secret) {
			k = secret[i]
		}
		n.ipad[i], n.opad[i] = k^0x36, k^0x5c
	}
	if ncSlots > 0 {
		n.nc = make([]atomic.Uint64, ncSlots)
	}
	return n
}

// sign writes the nonce's two 8-byte MACs into raw[8:]: HMAC-SHA256 of
// raw[:8] with the process secret, then of raw[:8] and bind (a digest of
// what the nonce is bound to: source IP, Call-ID... by auth_checks_*), or
// when there is no binding the next 8 bytes of the first. A nonce whose
// first MAC fails is forged; one whose second fails was issued to another
// source or dialog. HMAC by hand (RFC 2104) on stack buffers:
// crypto/hmac would allocate per nonce.
func (n *nonces) sign(raw *[nonceRaw]byte, bind *[32]byte) {
	h := n.mac(raw[:8], nil)
	if bind == nil {
		copy(raw[8:], h[:16])
		return
	}
	copy(raw[8:16], h[:8])
	h = n.mac(raw[:8], bind)
	copy(raw[16:24], h[:8])
}

func (n *nonces) mac(head []byte, bind *[32]byte) [32]byte {
	var in [64 + 8 + 32]byte
	copy(in[:64], n.ipad[:])
	copy(in[64:], head)
	l := 64 + 8
	if bind != nil {
		l += copy(in[72:], bind[:])
	}
	inner := sha256.Sum256(in[:l])
	var out [64 + 32]byte
	copy(out[:64], n.opad[:])
	copy(out[64:], inner[:])
	return sha256.Sum256(out[:])
}

// make appends a new nonce valid until now+expire, bound to bind when it
// is not nil.
func (n *nonces) make(dst []byte, now time.Time, bind *[32]byte) []byte {
	var raw [nonceRaw]byte
	binary.BigEndian.PutUint32(raw[0:], uint32(now.Add(n.expire).Unix()))
	id := n.seq.Add(1)
	binary.BigEndian.PutUint32(raw[4:], id)
	n.sign(&raw, bind)
	if n.nc != nil {
		n.nc[int(id)&(len(n.nc)-1)].Store(uint64(id) << 32)
	}
	var enc [nonceLen]byte
	base64.RawURLEncoding.Encode(enc[:], raw[:])
	return append(dst, enc[:]...)
}

// check verifies a nonce's signature, binding and expiry: a nonce bound
// to something else (another source address, with auth_checks_*) is
// stale, as Kamailio's failed extra checks are: the client is challenged
// again.
func (n *nonces) check(nonce []byte, now time.Time, bind *[32]byte) (nonceState, uint32) {
	var raw, want [nonceRaw]byte
	if len(nonce) != nonceLen {
		return nonceBad, 0
	}
	if _, err := base64.RawURLEncoding.Decode(raw[:], nonce); err != nil {
		return nonceBad, 0
	}
	copy(want[:8], raw[:8])
	n.sign(&want, bind)
	if subtle.ConstantTimeCompare(raw[8:16], want[8:16]) != 1 {
		return nonceBad, 0
	}
	id := binary.BigEndian.Uint32(raw[4:])
	if subtle.ConstantTimeCompare(raw[16:], want[16:]) != 1 {
		return nonceStale, id
	}
	if int64(binary.BigEndian.Uint32(raw[0:])) <= now.Unix() {
		return nonceStale, id
	}
	return nonceOK, id
}

// count records a nonce-count (hex, as sent) for a nonce; false when it is
// not above every count seen for that nonce (a replay), stale when the slot
// was reused by a newer nonce (too many nonces since: ask for a new one).
func (n *nonces) count(id uint32, ncHex []byte) (ok, stale bool) {
	if n.nc == nil {
		return true, false
	}
	var nc uint64
	if len(ncHex) == 0 || len(ncHex) > 8 {
		return false, false
	}
	for _, c := range ncHex {
		v, good := unhex(c)
		if !good {
			return false, false
		}
		nc = nc<<4 | uint64(v)
	}
	slot := &n.nc[int(id)&(len(n.nc)-1)]
	for {
		old := slot.Load()
		if uint32(old>>32) != id {
			return false, true
		}
		if nc <= old&0xffffffff {
			return false, false
		}
		if slot.CompareAndSwap(old, uint64(id)<<32|nc) {
			return true, false
		}
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
