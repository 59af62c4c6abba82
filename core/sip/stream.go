package sip

import "bytes"

// FrameLen finds the first message in a stream buffer (TCP, TLS), framed by
// Content-Length as RFC 3261 §18.3 requires. skip counts leading CRLFs
// (keepalives) to discard first; n is the message's length after them, 0
// when more bytes are needed. A message without Content-Length, with a bad
// one, or larger than maxSize is an error: the stream cannot be resynced
// and should be closed.
func FrameLen(b []byte, maxSize int) (skip, n int, err error) {
	for skip < len(b) && (b[skip] == '\r' || b[skip] == '\n') {
		skip++
	}
	b = b[skip:]
	hdrEnd := -1
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			hdrEnd = i + 1
			break
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			hdrEnd = i + 2
			break
		}
	}
	if hdrEnd < 0 {
		if len(b) > maxSize {
			return skip, 0, &ParseError{Kind: ErrTooLarge, What: "message larger than the size limit"}
		}
		return skip, 0, nil
	}
	cl := -1
	for pos := bytes.IndexByte(b, '\n') + 1; pos < hdrEnd; {
		e := pos + bytes.IndexByte(b[pos:hdrEnd], '\n')
		line := b[pos:e]
		pos = e + 1
		c := bytes.IndexByte(line, ':')
		if c <= 0 || ClassifyHeader(trimLWSRight(line[:c])) != HdrContentLength {
			continue
		}
		if cl >= 0 { // as Parse does: a second one is an error, even when equal
			return skip, 0, &ParseError{Kind: ErrDuplicate, Header: HdrContentLength, What: dupMsg[HdrContentLength]}
		}
		v, ok := parseUint(trimLWS(line[c+1:]), uint64(maxSize))
		if !ok {
			return skip, 0, &ParseError{Kind: ErrContentLength, Header: HdrContentLength, What: "bad Content-Length"}
		}
		cl = int(v)
	}
	if cl < 0 {
		if !isHTTPRequest(b) {
			return skip, 0, &ParseError{Kind: ErrContentLength, Header: HdrContentLength, What: "no Content-Length on a stream"}
		}
		cl = 0 // an HTTP request without one has no body (RFC 9112 §6.3)
	}
	if hdrEnd+cl > maxSize {
		return skip, 0, &ParseError{Kind: ErrTooLarge, What: "message larger than the size limit"}
	}
	if len(b) < hdrEnd+cl {
		return skip, 0, nil
	}
	return skip, hdrEnd + cl, nil
}

// isHTTPRequest reports whether b starts with an HTTP/1.x request line
// (xhttp's requests on a SIP stream).
func isHTTPRequest(b []byte) bool {
	line := b[:max(bytes.IndexByte(b, '\n'), 0)]
	line = bytes.TrimRight(line, "\r")
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	v := line[sp+1:]
	return equalFold(v, "HTTP/1.1") || equalFold(v, "HTTP/1.0")
}
