package sip

// CoreHash is Kamailio's core hash of a and b (core/hashes.h,
// get_hash2_raw; get_hash1_raw with b empty), byte for byte: its bytes
// are C chars, signed, as on x86. Kamailio's modules use it for table
// slots (core_hash), destination choice (dispatcher's ds_get_hash, the
// same but never 0) and digest cnonces (uac).
func CoreHash(a, b []byte) uint32 {
	var h uint32
	for _, s := range [2][]byte{a, b} {
		c := func(i int) uint32 { return uint32(int32(int8(s[i]))) }
		p := 0
		for ; p+4 <= len(s); p += 4 {
			v := c(p)<<24 + c(p+1)<<16 + c(p+2)<<8 + c(p+3)
			h += v ^ (v >> 3)
		}
		var v uint32
		for ; p < len(s); p++ {
			v = v<<8 + c(p)
		}
		h += v ^ (v >> 3)
	}
	return (h + h>>11) + (h>>13 + h>>23)
}
