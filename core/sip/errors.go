package sip

import "strconv"

// ErrKind classifies a parse error so that the transport can choose an
// answer (400, 505, 513) without reading the text.
type ErrKind uint8

const (
	ErrMalformed     ErrKind = iota + 1 // generic syntax error: answer 400
	ErrTooLarge                         // over the size limit: answer 513
	ErrTooManyHdrs                      // over the header count limit
	ErrHeaderTooLong                    // one header over the length limit
	ErrIncomplete                       // the header section is not terminated
	ErrVersion                          // not SIP/2.0: answer 505
	ErrMissing                          // a mandatory header is missing
	ErrDuplicate                        // a single-value header appears twice
	ErrBadHeader                        // a header's value does not parse
	ErrContentLength                    // Content-Length absent on a stream, bad, or past the data
	ErrCSeqMethod                       // CSeq method differs from the request method
)

var errKindNames = [...]string{"", "malformed", "too large", "too many headers", "header too long",
	"incomplete", "version", "missing header", "duplicate header", "bad header", "content-length", "cseq method"}

func (k ErrKind) String() string {
	if int(k) < len(errKindNames) {
		return errKindNames[k]
	}
	return "?"
}

// ParseError says what is wrong with a message and where: the line (1 is
// the start line; 0 for the message as a whole) and the header concerned.
type ParseError struct {
	Kind   ErrKind
	Line   int
	Header HdrType
	What   string
}

func (e *ParseError) Error() string {
	s := "sip: "
	if e.Line > 0 {
		s += "line " + strconv.Itoa(e.Line) + ": "
	}
	return s + e.What
}

// uriError is a URI syntax error; a constant converted to an interface does
// not allocate.
type uriError string

func (e uriError) Error() string { return "sip: " + string(e) }

func errURI(s string) error { return uriError(s) }

// detail returns the text of a header or URI error for a ParseError.
func detail(what string, err error) string {
	switch e := err.(type) {
	case headerError:
		return what + ": " + string(e)
	case uriError:
		return what + ": " + string(e)
	}
	return what
}

// wrapHdr names the header in a header or URI error.
func wrapHdr(t HdrType, err error) error {
	if err == nil {
		return nil
	}
	return headerError(detail(hdrNames[t], err))
}

// headerError is a structured header that does not parse.
type headerError string

func (e headerError) Error() string { return "sip: " + string(e) }
