package pv

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
)

// $xavp(name[idx]=>key[kidx]): Kamailio's extended AVPs. Without an index
// the item is the most recent and so is the key's value; assigning to
// $xavp(name=>key) starts a new item, to $xavp(name[0]=>key) adds to the
// most recent; $null removes (the key, or with $xavp(name) every item).
type xavpSpec struct {
	name, key     string
	idx, kidx     int
	hasIdx, whole bool // an index was given; no key: the item itself
}

func parseXAVP(pv *router.PV) error {
	bad := errors.New("want $xavp(name), $xavp(name[i]) or $xavp(name[i]=>key[j]) (indexes optional)")
	root, key, hasKey := strings.Cut(pv.Arg, "=>")
	sp := &xavpSpec{whole: !hasKey}
	var err error
	if sp.name, sp.idx, sp.hasIdx, err = splitIndex(root); err != nil || sp.name == "" {
		return bad
	}
	if hasKey {
		if sp.key, sp.kidx, _, err = splitIndex(key); err != nil || sp.key == "" {
			return bad
		}
	}
	pv.Data = sp
	return nil
}

// splitIndex reads "name" or "name[n]".
func splitIndex(s string) (string, int, bool, error) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return strings.TrimSpace(s), 0, false, nil
	}
	if !strings.HasSuffix(s, "]") {
		return "", 0, false, errors.New("unclosed [")
	}
	n, err := strconv.Atoi(s[i+1 : len(s)-1])
	return strings.TrimSpace(s[:i]), n, true, err
}

func getXAVP(c *router.Ctx, pv *router.PV) router.Value {
	sp := pv.Data.(*xavpSpec)
	if sp.whole {
		// The item itself: Kamailio prints <<xavp:...>>; here whether it is.
		if c.XAVPFields(sp.name, sp.idx, func(string, router.Value) {}) {
			return router.StrValue("<<xavp:" + sp.name + ">>")
		}
		return router.Value{}
	}
	return c.XAVP(sp.name, sp.idx, sp.key, sp.kidx)
}

func setXAVP(c *router.Ctx, pv *router.PV, v router.Value) error {
	sp := pv.Data.(*xavpSpec)
	if v.Kind == router.Null {
		switch {
		case sp.whole && !sp.hasIdx:
			c.XAVPDel(sp.name, -1, "")
		case sp.whole:
			c.XAVPDel(sp.name, sp.idx, "")
		default:
			c.XAVPDel(sp.name, sp.idx, sp.key)
		}
		return nil
	}
	if sp.whole {
		return errors.New("$xavp(" + pv.Arg + "): assign to a key, $xavp(name=>key)")
	}
	idx := -1 // a new item
	if sp.hasIdx {
		idx = sp.idx
	}
	if !c.XAVPAdd(sp.name, idx, sp.key, v) {
		return errors.New("$xavp(" + pv.Arg + "): no such item")
	}
	return nil
}
