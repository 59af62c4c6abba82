package db

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestMain lets a test run this binary as another process that writes the
// database (as kamctl or a Kamailio beside kemi would).
func TestMain(m *testing.M) {
	if path := os.Getenv("KEMI_DB_TEST_WRITE"); path != "" {
		os.Exit(otherWriter(path, os.Getenv("KEMI_DB_TEST_SQL")))
	}
	os.Exit(m.Run())
}

func otherWriter(path, q string) int {
	d, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err == nil {
		_, err = d.Exec(q)
		d.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// writeFromOtherProcess runs q on the file from a process of its own.
func writeFromOtherProcess(t *testing.T, path, q string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KEMI_DB_TEST_WRITE="+path, "KEMI_DB_TEST_SQL="+q)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the other process: %v\n%s", err, out)
	}
}

func openTestDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.db")
	d, err := Open("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.ExecScript(context.Background(), "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, w TEXT);"+
		"INSERT INTO t VALUES ('alice', 'a0', NULL);"); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// openOther opens path on a connection of its own, as another program
// would.
func openOther(t *testing.T, path string) *sql.DB {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

const lookupQ = "SELECT v, w FROM t WHERE k = ?"

func lookup(t testing.TB, d *DB, k string) (string, bool) {
	t.Helper()
	var row [2]sql.NullString
	found, err := d.QueryStrings(context.Background(), lookupQ, []string{k}, row[:])
	if err != nil {
		t.Fatal(err)
	}
	if found && row[1].Valid {
		t.Fatalf("w is NULL, read %q", row[1].String)
	}
	return row[0].String, found
}

// TestQueryStringsSeesEveryWrite: a row answered from memory is never
// older than the last write that ended before the lookup began, whoever
// wrote it: kemi's own writer, another connection, another process.
func TestQueryStringsSeesEveryWrite(t *testing.T) {
	d, path := openTestDB(t)
	other := openOther(t, path)
	ctx := context.Background()
	want := "a0"
	check := func(what string) {
		t.Helper()
		for range 3 { // the first asks SQLite, the others memory
			got, found := lookup(t, d, "alice")
			if want == "" && found {
				t.Fatalf("after %s: alice found (%q), deleted", what, got)
			}
			if want != "" && (!found || got != want) {
				t.Fatalf("after %s: alice is %q (found %v), want %q", what, got, found, want)
			}
		}
	}
	check("the insert")
	for i := range 300 {
		want = "a" + strconv.Itoa(i+1)
		var what string
		var err error
		switch i % 4 {
		case 0:
			what = "kemi's write"
			_, err = d.Exec(ctx, "UPDATE t SET v = ? WHERE k = 'alice'", want)
		case 1:
			what = "another connection's write"
			_, err = other.Exec("UPDATE t SET v = ? WHERE k = 'alice'", want)
		case 2:
			what = "a delete"
			_, err = other.Exec("DELETE FROM t WHERE k = 'alice'")
			want = ""
		case 3:
			what = "an insert"
			_, err = d.Exec(ctx, "INSERT INTO t VALUES ('alice', ?, NULL)", want)
		}
		if err != nil {
			t.Fatal(err)
		}
		check(what)
	}
	want = "from afar"
	writeFromOtherProcess(t, path, "UPDATE t SET v = 'from afar' WHERE k = 'alice'")
	check("another process's write")
	// A checkpoint and a WAL started anew by the other process.
	writeFromOtherProcess(t, path, "PRAGMA wal_checkpoint(TRUNCATE); UPDATE t SET v = 'after a checkpoint' WHERE k = 'alice'")
	want = "after a checkpoint"
	check("a checkpoint and a write")

	if _, found := lookup(t, d, "bob"); found {
		t.Fatal("bob found")
	}
	writeFromOtherProcess(t, path, "INSERT INTO t VALUES ('bob', 'b', NULL)")
	if got, found := lookup(t, d, "bob"); !found || got != "b" {
		t.Fatalf("bob after its insert: %q, found %v", got, found)
	}
	hits, misses := d.CacheCounts()
	t.Logf("lookups answered from memory %d, from SQLite %d", hits, misses)
	if hits < 600 || misses < 300 {
		t.Fatalf("hits %d, misses %d: want each state read once and then answered from memory", hits, misses)
	}
}

// TestQueryStringsConcurrent: readers on four goroutines while another
// connection writes a counter: no reader sees the counter go back, and
// each sees the last value once the writes end.
func TestQueryStringsConcurrent(t *testing.T) {
	d, path := openTestDB(t)
	other := openOther(t, path)
	const writes = 200
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			last := -1
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				var row [2]sql.NullString
				found, err := d.QueryStrings(context.Background(), lookupQ, []string{"alice"}, row[:])
				if err != nil || !found {
					errs <- fmt.Errorf("found %v, err %v", found, err)
					return
				}
				n, _ := strconv.Atoi(row[0].String)
				if n < last {
					errs <- fmt.Errorf("read %d after %d", n, last)
					return
				}
				last = n
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		if _, err := other.Exec("UPDATE t SET v = ? WHERE k = 'alice'", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := lookup(t, d, "alice"); got != strconv.Itoa(writes) {
		t.Fatalf("after the writes: %q, want %d", got, writes)
	}
}

// TestStampRollbackJournal: in a file with a rollback journal the state
// is the change counter, which every write moves.
func TestStampRollbackJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	d, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec("CREATE TABLE t (k TEXT)"); err != nil {
		t.Fatal(err)
	}
	st := openStamper(path)
	if st == nil {
		t.Skip("no stamper on this platform: every lookup asks SQLite")
	}
	defer st.close()
	s1, ok := st.read()
	if !ok || s1[0] != 1 {
		t.Fatalf("state %v, ok %v: want a rollback-journal state", s1[:5], ok)
	}
	if s, _ := st.read(); s != s1 {
		t.Fatal("the state moved without a write")
	}
	if _, err := d.Exec("INSERT INTO t VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	if s, ok := st.read(); !ok || s == s1 {
		t.Fatalf("the state did not move with a write (ok %v)", ok)
	}
}

// TestWALStamp: a WAL-index header is a state only when both copies agree,
// it is initialised and its checksum holds.
func TestWALStamp(t *testing.T) {
	var b [2 * walHdrSize]byte
	h := b[:walHdrSize]
	binary.NativeEndian.PutUint32(h[0:], 3007000)
	binary.NativeEndian.PutUint32(h[8:], 7) // iChange
	h[12] = 1                               // isInit
	binary.NativeEndian.PutUint32(h[16:], 42)
	var s1, s2 uint32
	for i := 0; i < walCksumOff; i += 8 {
		s1 += binary.NativeEndian.Uint32(h[i:]) + s2
		s2 += binary.NativeEndian.Uint32(h[i+4:]) + s1
	}
	binary.NativeEndian.PutUint32(h[walCksumOff:], s1)
	binary.NativeEndian.PutUint32(h[walCksumOff+4:], s2)
	copy(b[walHdrSize:], h)
	if s, ok := walStamp(b[:]); !ok || s[0] != 2 {
		t.Fatal("a good header refused")
	}
	torn := b
	torn[walHdrSize+16] = 43
	if _, ok := walStamp(torn[:]); ok {
		t.Error("copies that differ accepted")
	}
	bad := b
	bad[16], bad[walHdrSize+16] = 43, 43
	if _, ok := walStamp(bad[:]); ok {
		t.Error("a wrong checksum accepted")
	}
	unset := b
	unset[12], unset[walHdrSize+12] = 0, 0
	if _, ok := walStamp(unset[:]); ok {
		t.Error("an uninitialised header accepted")
	}
}

// BenchmarkQueryStrings is the subscriber lookup's shape, answered from
// memory (cached) and by SQLite (the file changes before each lookup).
func BenchmarkQueryStrings(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "sqlite"}[cached], func(b *testing.B) {
			d, _ := openTestDB(b)
			ctx := context.Background()
			var row [2]sql.NullString
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if !cached {
					b.StopTimer()
					if _, err := d.Exec(ctx, "UPDATE t SET v = ? WHERE k = 'alice'", i); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if found, err := d.QueryStrings(ctx, lookupQ, []string{"alice"}, row[:]); err != nil || !found {
					b.Fatal(found, err)
				}
			}
			hits, misses := d.CacheCounts()
			b.ReportMetric(float64(misses)/float64(hits+misses), "misses/op")
		})
	}
}
