package topoh

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
)

// The mask is Kamailio's: a base64 whose alphabet ("A-Za-z0-9.-", '*'
// for padding) is shuffled by the key, so that every proxy with the same
// mask_key reads what the others wrote. It hides, it does not encrypt.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"

const pad = '*'

// coder is the shuffled alphabet of one key and its reverse.
type coder struct {
	enc [64]byte
	dec [256]int8
}

// crcITT is Kamailio's crcitt_string: CRC-16/CCITT, reflected, initial
// and final value inverted.
func crcITT(s []byte) uint16 {
	crc := ^uint16(0)
	for _, c := range s {
		crc = ccittTab[byte(crc)^c] ^ crc>>8
	}
	return ^crc
}

var ccittTab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// newCoder shuffles the alphabet as Kamailio's th_shuffle does: a
// Fisher-Yates walk whose choices come from the MD5 of the key twice, the
// key's CRC and its bytes (as C's signed chars).
func newCoder(key string) *coder {
	c := &coder{}
	copy(c.enc[:], alphabet)
	if key != "" {
		sum := md5.Sum([]byte(key + key))
		var words [4]uint32
		for i := range words {
			words[i] = binary.LittleEndian.Uint32(sum[4*i:])
		}
		crc := uint32(crcITT([]byte(key)))
		n := uint32(len(key))
		for last := uint32(64); last > 1; last-- {
			k := crc + last + n
			r := (words[k%4] + uint32(int32(int8(key[k%n])))) % last
			c.enc[r], c.enc[last-1] = c.enc[last-1], c.enc[r]
		}
	}
	for i := range c.dec {
		c.dec[i] = -1
	}
	for i, b := range c.enc {
		c.dec[b] = int8(i)
	}
	return c
}

// encode appends prefix and the mask of in to dst.
func (c *coder) encode(dst []byte, prefix string, in []byte) []byte {
	dst = append(dst, prefix...)
	for i := 0; i < len(in); i += 3 {
		left := min(len(in)-i-1, 2)
		block := 0
		for j := 0; j <= left; j++ {
			block |= int(in[i+j]) << (16 - 8*j)
		}
		dst = append(dst, c.enc[block>>18&0x3f], c.enc[block>>12&0x3f])
		if left > 0 {
			dst = append(dst, c.enc[block>>6&0x3f])
		} else {
			dst = append(dst, pad)
		}
		if left > 1 {
			dst = append(dst, c.enc[block&0x3f])
		} else {
			dst = append(dst, pad)
		}
	}
	return dst
}

var errDecode = errors.New("not a masked value")

// decode appends to dst what in, prefix included, masks. Like Kamailio's
// th_mask_decode it takes the prefix's length on trust (callers check it)
// and sizes the output from the input's length less the padding.
func (c *coder) decode(dst []byte, prefix string, in []byte) ([]byte, error) {
	n := 0
	for i := len(in) - 1; i >= 0 && in[i] == pad; i-- {
		n++
	}
	size := (len(in)-len(prefix))*6>>3 - n
	if size <= 0 || len(prefix) > len(in)-n {
		return dst, errDecode
	}
	end := len(in) - n
	out := 0
	for i := len(prefix); i < end; {
		block := 0
		for j := 0; j < 4 && i < end; j++ {
			v := c.dec[in[i]]
			i++
			if v < 0 {
				return dst, errDecode
			}
			block += int(v) << (18 - 6*j)
		}
		for j, sh := 0, 16; j < 3 && out < size; j, sh = j+1, sh-8 {
			dst = append(dst, byte(block>>sh))
			out++
		}
	}
	return dst, nil
}
