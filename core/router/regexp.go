package router

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	regexps     sync.Map // pattern -> *regexp.Regexp or error (case-insensitive)
	regexpsCase sync.Map // the same, case-sensitive
	nRegexps    atomic.Int64
)

// maxRegexps bounds the cache: patterns built from message data must not
// grow it without end (past it they are compiled on every use).
const maxRegexps = 4096

// Regexp compiles a POSIX-style extended regular expression as Kamailio
// does for =~ and textops (REG_EXTENDED|REG_ICASE: case-insensitive), once
// per pattern for the process: patterns built at run time are cached too.
func Regexp(pattern string) (*regexp.Regexp, error) { return cached(&regexps, pattern, "(?i)") }

// RegexpCase is Regexp matching case-sensitively (REG_EXTENDED alone:
// textops' subst without the i flag, regex_substring).
func RegexpCase(pattern string) (*regexp.Regexp, error) { return cached(&regexpsCase, pattern, "") }

func cached(cache *sync.Map, pattern, flags string) (*regexp.Regexp, error) {
	if v, ok := cache.Load(pattern); ok {
		if re, ok := v.(*regexp.Regexp); ok {
			return re, nil
		}
		return nil, v.(error)
	}
	re, err := regexp.Compile(flags + pattern)
	if nRegexps.Add(1) <= maxRegexps {
		key := strings.Clone(pattern) // the caller's string may be a view into a buffer
		if err != nil {
			cache.Store(key, err)
		} else {
			cache.Store(key, re)
		}
	}
	return re, err
}
