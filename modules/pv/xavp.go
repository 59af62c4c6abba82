package pv

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kemi-sip/kemi/core/router"
)

// $xavp(name[idx]=>key[kidx]): Kamailio's extended AVPs. Without an index
// the item is the most recent and so is the key's value; $xavp(name) = v
// gives a new item a value of its own ($xavp(name[i]) = v replaces item
// i's), $xavp(name=>key) = v starts a new item of fields,
// $xavp(name[0]=>key) = v adds to the most recent; $null removes one item
// (the most recent without an index) or one value of a key. $xavu is the same with one item
// per name and one value per key (assigning replaces; no indexes), $xavi
// with names and keys compared without case.
type xavpSpec struct {
	kind          router.XKind
	name, key     string
	idx, kidx     int
	hasIdx, whole bool // an index was given; no key: the item itself
}

func parseXAVP(k router.XKind) func(pv *router.PV) error {
	return func(pv *router.PV) error {
		bad := errors.New("want $" + pv.Class + "(name), $" + pv.Class + "(name[i]) or $" + pv.Class + "(name[i]=>key[j]) (indexes optional)")
		root, key, hasKey := strings.Cut(pv.Arg, "=>")
		sp := &xavpSpec{kind: k, whole: !hasKey}
		var err error
		var kIdx bool
		if sp.name, sp.idx, sp.hasIdx, err = splitIndex(root); err != nil || sp.name == "" {
			return bad
		}
		if hasKey {
			if sp.key, sp.kidx, kIdx, err = splitIndex(key); err != nil || sp.key == "" {
				return bad
			}
		}
		if k == router.XAVU && (sp.hasIdx || kIdx) {
			return errors.New("$xavu(" + pv.Arg + "): $xavu takes no index (one value per name and key)")
		}
		pv.Data = sp
		return nil
	}
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
		v, list, ok := c.XValue(sp.kind, sp.name, sp.idx)
		switch {
		case !ok:
			return router.Value{}
		case list:
			// Kamailio prints the list's address; here its name
			return router.StrValue("<<xavp:" + sp.name + ">>")
		}
		return v
	}
	return c.XGet(sp.kind, sp.name, sp.idx, sp.key, sp.kidx)
}

func setXAVP(c *router.Ctx, pv *router.PV, v router.Value) error {
	sp := pv.Data.(*xavpSpec)
	if v.Kind == router.Null {
		// as Kamailio: the item (the most recent without an index), or
		// one value of the key
		if sp.whole {
			c.XDel(sp.kind, sp.name, sp.idx, "")
		} else {
			c.XDelField(sp.kind, sp.name, sp.idx, sp.key, sp.kidx)
		}
		return nil
	}
	idx := -1 // a new item
	if sp.hasIdx {
		idx = sp.idx
	}
	if sp.whole {
		if !c.XSet(sp.kind, sp.name, idx, v) {
			return errors.New("$" + pv.Class + "(" + pv.Arg + "): no such item")
		}
		return nil
	}
	if !c.XAdd(sp.kind, sp.name, idx, sp.key, v) {
		return errors.New("$" + pv.Class + "(" + pv.Arg + "): no such item")
	}
	return nil
}
