package htable

import (
	"slices"
	"time"

	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// Iterators over a table's items, up to four per message, each known by
// its name: sht_iterator_start takes the table's keys as they are then
// (in order), sht_iterator_next moves to the next one still there;
// $shtitkey(name) and $shtitval(name) read the item, sht_iterator_rm,
// _sets, _seti and _setex change it.
const maxIterators = 4

type iterator struct {
	name string
	t    *Table
	keys []string
	pos  int
}

type iterators struct{ its []iterator }

func (it *iterators) Reset() { it.its = it.its[:0] }

var iterSlot = router.NewSlot[iterators]()

func findIter(c *router.Ctx, name string) *iterator {
	its := iterSlot.Of(c)
	for i := range its.its {
		if its.its[i].name == name {
			return &its.its[i]
		}
	}
	return nil
}

// at is the item the iterator is on: its table and key.
func at(c *router.Ctx, name string) (*Table, string, bool) {
	it := findIter(c, name)
	if it == nil || it.pos < 0 || it.pos >= len(it.keys) {
		return nil, "", false
	}
	return it.t, it.keys[it.pos], true
}

func (m *Module) iteratorExports() []dispatch.Export {
	return []dispatch.Export{
		{Name: "sht_iterator_start", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, name, table string) int {
			t := m.table(c, table, "sht_iterator_start")
			if t == nil {
				return -1
			}
			it := findIter(c, name)
			if it == nil {
				its := iterSlot.Of(c)
				if len(its.its) == maxIterators {
					c.Log().Error("htable: sht_iterator_start: four iterators are in use", "route", c.Route)
					return -1
				}
				its.its = append(its.its, iterator{name: name})
				it = &its.its[len(its.its)-1]
			}
			it.t, it.keys, it.pos = t, it.keys[:0], -1
			t.Each(func(k string, _ router.Value) bool { it.keys = append(it.keys, k); return true })
			slices.Sort(it.keys)
			return 1
		})},
		{Name: "sht_iterator_next", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			it := findIter(c, name)
			if it == nil {
				return -1
			}
			for it.pos+1 < len(it.keys) {
				it.pos++
				if _, _, ok := it.t.Get([]byte(it.keys[it.pos]), nil); ok {
					return 1
				}
			}
			it.pos = len(it.keys)
			return -1
		})},
		{Name: "sht_iterator_end", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			its := iterSlot.Of(c)
			for i := range its.its {
				if its.its[i].name == name {
					its.its = append(its.its[:i], its.its[i+1:]...)
					return 1
				}
			}
			return -1
		})},
		{Name: "sht_iterator_rm", Ret: dispatch.Int, Fn: dispatch.FS(func(c *router.Ctx, name string) int {
			t, k, ok := at(c, name)
			if !ok {
				return -1
			}
			t.Set([]byte(k), router.Value{}, 0)
			return 1
		})},
		{Name: "sht_iterator_sets", Ret: dispatch.Int, Fn: dispatch.FSS(func(c *router.Ctx, name, v string) int { return iterSet(c, name, router.StrValue(v)) })},
		{Name: "sht_iterator_seti", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, name string, v int) int {
			return iterSet(c, name, router.IntValue(int64(v)))
		})},
		{Name: "sht_iterator_setex", Ret: dispatch.Int, Fn: dispatch.FSI(func(c *router.Ctx, name string, exp int) int {
			t, k, ok := at(c, name)
			if !ok {
				return -1
			}
			v, _, found := t.Get([]byte(k), nil)
			if !found {
				return -1
			}
			t.Set([]byte(k), v, time.Duration(exp)*time.Second)
			return 1
		})},
	}
}

func iterSet(c *router.Ctx, name string, v router.Value) int {
	t, k, ok := at(c, name)
	if !ok {
		return -1
	}
	t.Set([]byte(k), v, -1)
	return 1
}

func init() {
	router.RegisterPV("shtitkey", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		if _, k, ok := at(c, pv.Arg); ok {
			return router.StrValue(k)
		}
		return router.Value{}
	}})
	router.RegisterPV("shtitval", router.PVClass{Arg: true, Get: func(c *router.Ctx, pv *router.PV) router.Value {
		t, k, ok := at(c, pv.Arg)
		if !ok {
			return router.Value{}
		}
		v, _, _ := t.Get([]byte(k), nil)
		return v
	}})
}
