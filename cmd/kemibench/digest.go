package main

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"

	"github.com/kemi-sip/kemi/core/sip"
)

// challenge is a 401's WWW-Authenticate or a 407's Proxy-Authenticate,
// copied out of the reply (the reply's buffer is reused).
type challenge struct {
	proxy                           bool // 407: answer with Proxy-Authorization
	realm, nonce, opaque, algorithm string
	qopAuth                         bool
	sha256                          bool
	cnonce                          uint64
}

// read copies the Digest challenge of m (a 401 or 407).
func (c *challenge) read(m *sip.Msg, code int) error {
	var d *sip.Digest
	var err error
	c.proxy = code == 407
	if c.proxy {
		d, err = m.ProxyAuthenticate()
	} else {
		d, err = m.WWWAuthenticate()
	}
	if err != nil {
		return err
	}
	if d == nil || !strings.EqualFold(string(d.Scheme), "digest") {
		return errors.New("no Digest challenge")
	}
	c.realm, c.nonce, c.opaque, c.algorithm = string(d.Realm), string(d.Nonce), string(d.Opaque), string(d.Algorithm)
	switch strings.ToUpper(c.algorithm) {
	case "", "MD5":
		c.sha256 = false
	case "SHA-256":
		c.sha256 = true
	default:
		return errors.New("algorithm " + c.algorithm + " not supported")
	}
	c.qopAuth = false
	for _, q := range strings.Split(string(d.QOP), ",") {
		if strings.TrimSpace(q) == "auth" {
			c.qopAuth = true
		}
	}
	if c.nonce == "" {
		return errors.New("no nonce")
	}
	return nil
}

// authorize appends the Authorization (or Proxy-Authorization) header
// answering c for u's REGISTER to uri (RFC 2617 / RFC 7616, qop=auth when
// offered, nc 1: each challenge is answered once).
func (c *challenge) authorize(b []byte, u *userState, uri string) []byte {
	var h hash.Hash
	if c.sha256 {
		h = sha256.New()
	} else {
		h = md5.New()
	}
	sum := func(parts ...string) string {
		h.Reset()
		for i, p := range parts {
			if i > 0 {
				h.Write([]byte{':'})
			}
			h.Write([]byte(p))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	ha1 := sum(u.Name, c.realm, u.Password)
	ha2 := sum("REGISTER", uri)
	c.cnonce++
	cnonce := hex.EncodeToString([]byte{byte(c.cnonce >> 24), byte(c.cnonce >> 16), byte(c.cnonce >> 8), byte(c.cnonce)}) + u.tag
	var resp string
	if c.qopAuth {
		resp = sum(ha1, c.nonce, "00000001", cnonce, "auth", ha2)
	} else {
		resp = sum(ha1, c.nonce, ha2)
	}
	if c.proxy {
		b = append(b, "Proxy-Authorization: "...)
	} else {
		b = append(b, "Authorization: "...)
	}
	b = append(b, `Digest username="`+u.Name+`", realm="`+c.realm+`", nonce="`+c.nonce+`", uri="`+uri+`", response="`+resp+`"`...)
	if c.algorithm != "" {
		b = append(b, ", algorithm="+c.algorithm...)
	}
	if c.qopAuth {
		b = append(b, `, cnonce="`+cnonce+`", nc=00000001, qop=auth`...)
	}
	if c.opaque != "" {
		b = append(b, `, opaque="`+c.opaque+`"`...)
	}
	return append(b, "\r\n"...)
}
