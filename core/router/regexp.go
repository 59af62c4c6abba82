package router

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	regexps  sync.Map // pattern -> *regexp.Regexp or error
	nRegexps atomic.Int64
)

// maxRegexps bounds the cache: patterns built from message data must not
// grow it without end (past it they are compiled on every use).
const maxRegexps = 4096

// Regexp compiles a POSIX-style extended regular expression as Kamailio
// does for =~ and textops (REG_EXTENDED|REG_ICASE: case-insensitive), once
// per pattern for the process: patterns built at run time are cached too.
func Regexp(pattern string) (*regexp.Regexp, error) {
	if v, ok := regexps.Load(pattern); ok {
		if re, ok := v.(*regexp.Regexp); ok {
			return re, nil
		}
		return nil, v.(error)
	}
	re, err := regexp.Compile("(?i)" + pattern)
	if nRegexps.Add(1) <= maxRegexps {
		key := strings.Clone(pattern) // the caller's string may be a view into a buffer
		if err != nil {
			regexps.Store(key, err)
		} else {
			regexps.Store(key, re)
		}
	}
	return re, err
}
