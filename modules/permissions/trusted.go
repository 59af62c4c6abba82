package permissions

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
)

// Trusted is one row of the trusted table: requests from SrcIP over Proto
// ("any" for every transport) whose From URI matches From and request URI
// matches RURI (nil: anything) are trusted, and carry Tag.
type Trusted struct {
	SrcIP      string
	Proto      string
	From, RURI *regexp.Regexp
	Tag        string
	hasTag     bool
}

// trustedConf is the trusted table's parameters.
type trustedConf struct {
	table, srcCol, protoCol, fromCol, ruriCol, tagCol, prioCol string
	tagAVP                                                     string // peer_tag_avp
	tagMode                                                    int    // peer_tag_mode: 1, every match adds its tag
	cache                                                      bool   // db_mode 1: read at start and on reload
}

// trustedStore answers allow_trusted: the rows by source address when
// cached, else a query per request on a connection kept open.
type trustedStore struct {
	conf  trustedConf
	mu    sync.RWMutex
	bySrc map[string][]Trusted
	conn  *db.DB
}

// query reads the rows of src ("" for all), the highest priority first.
func (s *trustedStore) query(ctx context.Context, d *db.DB, src string) ([]Trusted, error) {
	c := &s.conf
	q := "SELECT " + strings.Join([]string{c.srcCol, c.protoCol, c.fromCol, c.ruriCol, c.tagCol}, ", ") + " FROM " + c.table
	var args []any
	if src != "" {
		q += " WHERE " + c.srcCol + " = ?"
		args = append(args, src)
	}
	rows, err := d.Query(ctx, q+" ORDER BY "+c.prioCol+" DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("permissions: %s table: %w", c.table, err)
	}
	defer rows.Close()
	var out []Trusted
	for rows.Next() {
		var ip, proto string
		var from, ruri, tag sql.NullString
		if err := rows.Scan(&ip, &proto, &from, &ruri, &tag); err != nil {
			return nil, fmt.Errorf("permissions: %s table: %w", c.table, err)
		}
		t := Trusted{SrcIP: ip, Proto: strings.ToLower(proto), Tag: tag.String, hasTag: tag.Valid}
		for _, p := range []struct {
			re  **regexp.Regexp
			val sql.NullString
		}{{&t.From, from}, {&t.RURI, ruri}} {
			if !p.val.Valid {
				continue
			}
			if *p.re, err = regexp.Compile(p.val.String); err != nil {
				return nil, fmt.Errorf("permissions: %s table: %s: %w", c.table, ip, err)
			}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// load reads the whole table into the cache.
func (s *trustedStore) load(url string) error {
	d, err := db.Open(url)
	if err != nil {
		return fmt.Errorf("permissions: %w", err)
	}
	defer d.Close()
	all, err := s.query(context.Background(), d, "")
	if err != nil {
		return err
	}
	by := map[string][]Trusted{}
	for _, t := range all {
		by[t.SrcIP] = append(by[t.SrcIP], t)
	}
	s.mu.Lock()
	s.bySrc = by
	s.mu.Unlock()
	return nil
}

// rows are the entries of src: cached, or queried.
func (s *trustedStore) rows(c *router.Ctx, src string) ([]Trusted, error) {
	if s.conf.cache {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.bySrc[src], nil
	}
	if s.conn == nil {
		return nil, fmt.Errorf("permissions: allow_trusted: no db_url")
	}
	return s.query(context.Background(), s.conn, src)
}

// allow is allow_trusted for the message's source address and transport
// and its From URI: 1 (or, with peer_tag_mode, the number of rows that
// match) when a row trusts it, -1 when none does.
func (s *trustedStore) allow(c *router.Ctx) int {
	rows, err := s.rows(c, string(c.SrcIP()))
	if err != nil {
		c.Log().Error(err.Error(), "route", c.Route)
		return -1
	}
	if len(rows) == 0 {
		return -1
	}
	proto := ""
	if c.Pkt != nil && c.Pkt.Local != nil {
		proto = strings.ToLower(c.Pkt.Local.Proto.String())
	}
	from, ruri := c.Msg.From().URI.Raw, c.Msg.RURIText()
	n := 0
	for i := range rows {
		t := &rows[i]
		if t.Proto != "any" && t.Proto != proto {
			continue
		}
		if t.From != nil && !t.From.Match(from) || t.RURI != nil && !t.RURI.Match(ruri) {
			continue
		}
		if s.conf.tagAVP != "" && t.hasTag {
			if pv, err := c.W.PV(s.conf.tagAVP); err == nil {
				pv.Set(c, router.StrValue(t.Tag))
			}
		}
		n++
		if s.conf.tagMode == 0 {
			return 1
		}
	}
	if n == 0 {
		return -1
	}
	return n
}
