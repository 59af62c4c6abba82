package usrloc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kemi-sip/kemi/core/db"
	"github.com/kemi-sip/kemi/core/router"
	"github.com/kemi-sip/kemi/dispatch"
)

// startMode sets the module's parameters as modparam would and starts it.
func startMode(t *testing.T, url string, mode int) *Module {
	t.Helper()
	set := []dispatch.Setting{{Module: "usrloc", Name: "db_mode", Value: router.IntValue(int64(mode))},
		{Module: "usrloc", Name: "timer_interval", Value: router.IntValue(3600)}}
	if url != "" {
		set = append(set, dispatch.Setting{Module: "usrloc", Name: "db_url", Value: router.StrValue(url)})
	}
	tab, err := dispatch.Build([]dispatch.Load{{Name: "usrloc"}}, set)
	if err != nil {
		t.Fatal(err)
	}
	u := tab.Module("usrloc").(*Module)
	if err := u.Start(&router.Env{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	return u
}

func newDB(t *testing.T) string {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "loc.db")
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return url
}

func register(t *testing.T, u *Module, aor, uri string, expires int64, cseq int) {
	t.Helper()
	d, err := u.Get("location")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(aor, func(r *Record) error {
		if i := r.Find(uri, "", false); i >= 0 {
			c := r.Contacts[i]
			c.Expires, c.CSeq, c.LastModified = expires, cseq, time.Now().Unix()
			r.Updated(c)
			return nil
		}
		r.Insert(&Contact{URI: uri, Expires: expires, Q: 500, CallID: "cid-" + aor, CSeq: cseq, Methods: -1,
			UserAgent: "test", Socket: "udp:127.0.0.1:5060", LastModified: time.Now().Unix()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fetch(t *testing.T, u *Module, aor string, now time.Time) []Contact {
	t.Helper()
	d, err := u.Get("location")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := d.Fetch(aor, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func rows(t *testing.T, url string) int {
	t.Helper()
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(context.Background(), "SELECT COUNT(*) FROM location").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A restart keeps the bindings: db_mode 1 writes each change at once,
// db_mode 2 at the timer and at a clean stop; db_mode 3 reads the table.
func TestPersistenceAcrossRestart(t *testing.T) {
	for _, mode := range []int{WriteThrough, WriteBack, DBOnly} {
		t.Run(fmt.Sprintf("db_mode=%d", mode), func(t *testing.T) {
			url := newDB(t)
			u := startMode(t, url, mode)
			exp := time.Now().Add(time.Hour).Unix()
			register(t, u, "alice", "sip:alice@10.0.0.1:5060", exp, 1)
			register(t, u, "alice", "sip:alice@10.0.0.2:5060", exp, 1)
			register(t, u, "bob", "sip:bob@10.0.0.3:5060", exp, 1)
			register(t, u, "bob", "sip:bob@10.0.0.3:5060", exp+60, 2) // an update
			want := 3
			if mode == WriteBack {
				want = 0 // nothing written before the timer or the stop
			}
			if n := rows(t, url); n != want {
				t.Errorf("before stop: %d rows, want %d", n, want)
			}
			u.Stop()
			if n := rows(t, url); n != 3 {
				t.Errorf("after stop: %d rows, want 3", n)
			}
			u = startMode(t, url, mode)
			defer u.Stop()
			if cs := fetch(t, u, "alice", time.Now()); len(cs) != 2 {
				t.Errorf("alice after restart: %d contacts, want 2", len(cs))
			}
			cs := fetch(t, u, "bob", time.Now())
			if len(cs) != 1 || cs[0].CSeq != 2 || cs[0].Expires != exp+60 || cs[0].Q != 500 || cs[0].UserAgent != "test" || cs[0].RUID == "" {
				t.Errorf("bob after restart: %+v", cs)
			}
		})
	}
}

// db_mode 2 loses at most what changed since the last timer run when
// the process dies: a Tick writes everything pending.
func TestWriteBackTimer(t *testing.T) {
	url := newDB(t)
	u := startMode(t, url, WriteBack)
	defer u.Stop()
	exp := time.Now().Add(time.Hour).Unix()
	register(t, u, "carol", "sip:carol@10.0.0.9", exp, 1)
	u.Tick(time.Now())
	if n := rows(t, url); n != 1 {
		t.Fatalf("after the timer: %d rows, want 1", n)
	}
	d, _ := u.Get("location")
	d.Update("carol", func(r *Record) error { r.Delete(0); return nil })
	u.Tick(time.Now())
	if n := rows(t, url); n != 0 {
		t.Errorf("after delete and timer: %d rows, want 0", n)
	}
}

// Contacts past their expiry are not returned, and the timer removes them
// from memory and from the table.
func TestContactExpiry(t *testing.T) {
	for _, mode := range []int{NoDB, WriteThrough, DBOnly} {
		t.Run(fmt.Sprintf("db_mode=%d", mode), func(t *testing.T) {
			url := ""
			if mode != NoDB {
				url = newDB(t)
			}
			u := startMode(t, url, mode)
			defer u.Stop()
			now := time.Now()
			register(t, u, "dave", "sip:dave@10.0.0.1", now.Add(10*time.Second).Unix(), 1)
			register(t, u, "dave", "sip:dave@10.0.0.2", now.Add(100*time.Second).Unix(), 1)
			if cs := fetch(t, u, "dave", now); len(cs) != 2 {
				t.Fatalf("now: %d contacts, want 2", len(cs))
			}
			later := now.Add(11 * time.Second)
			cs := fetch(t, u, "dave", later)
			if len(cs) != 1 || cs[0].URI != "sip:dave@10.0.0.2" {
				t.Fatalf("after 11 s: %+v, want the 100 s contact only", cs)
			}
			u.Tick(later)
			if mode != DBOnly && u.Stats.Contacts.Load() != 1 {
				t.Errorf("contacts in memory after the timer: %d, want 1", u.Stats.Contacts.Load())
			}
			if mode != NoDB {
				if n := rows(t, url); n != 1 {
					t.Errorf("rows after the timer: %d, want 1", n)
				}
			}
			u.Tick(now.Add(101 * time.Second))
			if cs := fetch(t, u, "dave", now.Add(101*time.Second)); len(cs) != 0 {
				t.Errorf("after 101 s: %d contacts, want 0", len(cs))
			}
		})
	}
}

// Every worker writing at once through db_mode 1 loses nothing: SQLite
// takes one writer, and kemi queues writers instead of failing them.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	url := newDB(t)
	u := startMode(t, url, WriteThrough)
	defer u.Stop()
	const workers, each = 16, 100
	exp := time.Now().Add(time.Hour).Unix()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _ := u.Get("location")
			for i := range each {
				aor := fmt.Sprintf("u%02d-%03d", w, i)
				errs <- d.Update(aor, func(r *Record) error {
					r.Insert(&Contact{URI: "sip:" + aor + "@10.1.1.1", Expires: exp, Q: -1, Methods: -1, CallID: aor, CSeq: 1})
					return nil
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a write failed: %v", err)
		}
	}
	if n := rows(t, url); n != workers*each {
		t.Errorf("location table: %d rows, want %d", n, workers*each)
	}
}

// Kamailio's db_sqlite writes DATETIME columns as Julian day numbers
// (REAL); a location table it wrote preloads here with the same times.
func TestPreloadKamailioSQLiteTimes(t *testing.T) {
	url := newDB(t)
	d, err := db.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	julian := func(t time.Time) float64 { return (float64(t.Unix())-0.5)/86400 + 2440587.5 } // db_sqlite's timet_to_sqlite
	_, err = d.Exec(context.Background(), `INSERT INTO location (ruid, username, contact, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods)
		VALUES ('uloc-1', 'carol', 'sip:carol@10.0.0.9:5060', ?, -1, 'cid-carol', 7, ?, 0, 0, 'kamailio wrote me', 'udp:127.0.0.1:5060', 8191)`,
		julian(exp), julian(exp.Add(-time.Hour)))
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	u := startMode(t, url, WriteThrough)
	defer u.Stop()
	cs := fetch(t, u, "carol", time.Now())
	if len(cs) != 1 {
		t.Fatalf("carol: %d contacts, want 1", len(cs))
	}
	if cs[0].Expires != exp.Unix() || cs[0].LastModified != exp.Add(-time.Hour).Unix() || cs[0].CSeq != 7 {
		t.Errorf("carol: expires %d (want %d), last_modified %d (want %d), cseq %d",
			cs[0].Expires, exp.Unix(), cs[0].LastModified, exp.Add(-time.Hour).Unix(), cs[0].CSeq)
	}
}

// TestFindInstance: a binding with a +sip.instance is found by its
// instance (with or without <>) and reg-id whatever the URI; without an
// instance, by the URI.
func TestFindInstance(t *testing.T) {
	r := &Record{Contacts: []*Contact{
		{URI: "sip:a@10.0.0.1:5071", Instance: "<urn:uuid:1>", RegID: 1},
		{URI: "sip:a@10.0.0.1:5072", Instance: "<urn:uuid:1>", RegID: 2},
		{URI: "sip:b@10.0.0.2"},
	}}
	for _, tc := range []struct {
		uri, inst string
		regID     int
		want      int
	}{
		{"sip:a@10.0.0.1:6000", "<urn:uuid:1>", 1, 0},
		{"sip:a@10.0.0.1:6000", "urn:uuid:1", 2, 1},
		{"sip:a@10.0.0.1:5071", "<urn:uuid:1>", 3, -1},
		{"sip:a@10.0.0.1:5071", "<urn:uuid:2>", 1, -1},
		{"sip:b@10.0.0.2", "", 0, 2},
		{"sip:c@10.0.0.3", "", 0, -1},
	} {
		if got := r.FindInstance(tc.uri, tc.inst, tc.regID, "", false); got != tc.want {
			t.Errorf("FindInstance(%s, %s, %d) = %d, want %d", tc.uri, tc.inst, tc.regID, got, tc.want)
		}
	}
}
