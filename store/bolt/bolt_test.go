package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/storetest"
)

// open opens a log at path, failing the test on an error, and closes it in
// the test's cleanup.
func open(t testing.TB, path string, opts bolt.Options) *bolt.Log {
	t.Helper()
	l, err := bolt.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "herald.db")
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Log {
		return open(t, tempPath(t), bolt.Options{})
	})
}

func TestConformanceRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, maxEntries int) store.Log {
		return open(t, tempPath(t), bolt.Options{MaxEntries: maxEntries})
	})
}

// clock is a manual clock for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func appendData(t testing.TB, l *bolt.Log, data ...string) []store.Entry {
	t.Helper()
	entries := make([]store.Entry, len(data))
	for i, d := range data {
		e, err := l.Append(context.Background(), "t", sse.Event{Data: d})
		if err != nil {
			t.Fatalf("Append(%q): %v", d, err)
		}
		entries[i] = e
	}
	return entries
}

func dataN(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// readAll ranges over seq and returns the entries yielded and the last
// error.
func readAll(seq iter.Seq2[store.Entry, error]) (entries []store.Entry, err error) {
	for e, e2 := range seq {
		if e2 != nil {
			err = e2
			continue
		}
		entries = append(entries, e)
	}
	return entries, err
}

func same(a, b store.Entry) bool {
	return a.ID == b.ID && a.Topic == b.Topic && a.Event == b.Event && a.Time.Equal(b.Time)
}

func checkEntries(t *testing.T, what string, got, want []store.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !same(got[i], want[i]) {
			t.Fatalf("%s: entry %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestRestart(t *testing.T) {
	path := tempPath(t)
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	before := appendData(t, first, dataN("before/", 10)...)
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l := open(t, path, bolt.Options{})
	// A client that saw the fifth event before the restart resumes after it.
	got, err := readAll(l.After(t.Context(), before[4].ID))
	if err != nil {
		t.Fatalf("After(%v) after a restart: %v", before[4].ID, err)
	}
	checkEntries(t, "After(fifth) after a restart", got, before[5:])
	if got, err := readAll(l.After(t.Context(), before[9].ID)); err != nil || len(got) != 0 {
		t.Fatalf("After(last before restart) = %d entries, %v; want none and no error", len(got), err)
	}

	after := appendData(t, l, dataN("after/", 3)...)
	for i, e := range after {
		if e.ID.Compare(before[9].ID) <= 0 {
			t.Errorf("entry %d after the restart has ID %v, not after %v", i, e.ID, before[9].ID)
		}
	}
	if after[0].ID.Major != before[0].ID.Major {
		t.Errorf("epoch after restart = %d, want %d as before", after[0].ID.Major, before[0].ID.Major)
	}
	got, err = readAll(l.After(t.Context(), before[7].ID))
	if err != nil {
		t.Fatalf("After(%v): %v", before[7].ID, err)
	}
	checkEntries(t, "After(eighth) across the restart", got, append(before[8:], after...))
}

func TestRetentionByCount(t *testing.T) {
	const maxEntries = 100
	l := open(t, tempPath(t), bolt.Options{MaxEntries: maxEntries, MaxAge: -1})
	all := appendData(t, l, dataN("e/", 5*maxEntries)...)
	if _, err := l.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if n, err := l.Stored(); err != nil || n != maxEntries {
		t.Errorf("after cleanup the file holds %d entries (%v), want %d", n, err, maxEntries)
	}
	got, err := readAll(l.After(t.Context(), store.ID{}))
	if err != nil {
		t.Fatalf("After(zero): %v", err)
	}
	checkEntries(t, "After(zero)", got, all[len(all)-maxEntries:])
}

func TestRetentionByAge(t *testing.T) {
	c := newClock()
	path := tempPath(t)
	opts := bolt.WithClock(bolt.Options{MaxAge: time.Minute, CleanupInterval: time.Hour}, c.Now)
	l := open(t, path, opts)
	old := appendData(t, l, dataN("old/", 5)...)
	c.Advance(30 * time.Second)
	young := appendData(t, l, dataN("young/", 5)...)
	c.Advance(31 * time.Second) // old is now 61s old, young 31s

	got, err := readAll(l.After(t.Context(), store.ID{}))
	if err != nil {
		t.Fatalf("After(zero): %v", err)
	}
	checkEntries(t, "After(zero) once the first 5 expired", got, young)
	if got, err := readAll(l.After(t.Context(), old[0].ID)); len(got) != 0 || !errors.Is(err, store.ErrEvicted) {
		t.Errorf("After(expired %v) = %d entries, %v; want only an error wrapping ErrEvicted", old[0].ID, len(got), err)
	}
	got, err = readAll(l.After(t.Context(), old[4].ID))
	if err != nil {
		t.Fatalf("After(newest expired %v): %v", old[4].ID, err)
	}
	checkEntries(t, "After(newest expired)", got, young)

	// Reads count them evicted before the cleanup runs; then it deletes them.
	if n, err := l.Stored(); err != nil || n != 10 {
		t.Errorf("before cleanup the file holds %d entries (%v), want 10", n, err)
	}
	if n, err := l.Cleanup(); err != nil || n != 5 {
		t.Errorf("Cleanup() = %d, %v; want 5 deleted", n, err)
	}
	if n, err := l.Stored(); err != nil || n != 5 {
		t.Errorf("after cleanup the file holds %d entries (%v), want 5", n, err)
	}

	c.Advance(time.Minute)
	if got, err := readAll(l.After(t.Context(), store.ID{})); err != nil || len(got) != 0 {
		t.Errorf("After(zero) once all expired = %d entries, %v; want none", len(got), err)
	}
	if got, err := readAll(l.After(t.Context(), young[4].ID)); err != nil || len(got) != 0 {
		t.Errorf("After(newest, expired) = %d entries, %v; want none and no error", len(got), err)
	}
	next := appendData(t, l, "next")
	if next[0].ID.Compare(young[4].ID) <= 0 {
		t.Errorf("ID after everything expired = %v, want after %v", next[0].ID, young[4].ID)
	}
	got, err = readAll(l.After(t.Context(), young[4].ID))
	if err != nil {
		t.Fatalf("After(%v): %v", young[4].ID, err)
	}
	checkEntries(t, "After(newest expired) once one more was appended", got, next)
}

func TestLaggingFollowerByAge(t *testing.T) {
	c := newClock()
	l := open(t, tempPath(t), bolt.WithClock(bolt.Options{MaxAge: time.Minute, CleanupInterval: time.Hour}, c.Now))
	next, stop := iter.Pull2(l.Follow(t.Context()))
	defer stop()
	appendData(t, l, dataN("old/", 3)...)
	c.Advance(2 * time.Minute)
	young := appendData(t, l, "young")
	if _, err, ok := next(); !ok || !errors.Is(err, store.ErrEvicted) {
		t.Fatalf("Follow after 3 entries expired unread yielded (%v, %v), want an error wrapping ErrEvicted", ok, err)
	}
	e, err, ok := next()
	if !ok || err != nil || !same(e, young[0]) {
		t.Fatalf("Follow = %+v, %v, %v; want %+v", e, err, ok, young[0])
	}
}

func TestFileGrowthBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 4,000 entries")
	}
	const maxEntries = 200
	path := tempPath(t)
	l := open(t, path, bolt.Options{MaxEntries: maxEntries, MaxAge: -1})
	data := strings.Repeat("x", 200)
	ctx := t.Context()
	sizes := make([]int64, 0, 20)
	for range 20 {
		// Concurrent appenders, as under load: batches of several entries.
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for range maxEntries / 4 {
					if _, err := l.Append(ctx, "t/"+strconv.Itoa(g), sse.Event{Data: data}); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	t.Logf("file size after each %d appends: %v", maxEntries, sizes)
	// Without deletions and page reuse the file would pass 1 MiB; with them
	// it stops growing once warmed up, halfway at the latest.
	const limit = 512 << 10
	if half, last := sizes[len(sizes)/2-1], sizes[len(sizes)-1]; last > half || last > limit {
		t.Errorf("file size went from %d bytes after %d appends to %d after %d; want it stable and under %d (sizes %v)",
			half, len(sizes)/2*maxEntries, last, len(sizes)*maxEntries, limit, sizes)
	}
	if _, err := l.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if n, err := l.Stored(); err != nil || n != maxEntries {
		t.Errorf("after cleanup the file holds %d entries (%v), want %d", n, err, maxEntries)
	}
}

func TestCloseWhileAppending(t *testing.T) {
	path := tempPath(t)
	l, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []store.ID
		wg    sync.WaitGroup
	)
	started := make(chan struct{})
	var once sync.Once
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e, err := l.Append(context.Background(), "t", sse.Event{Data: fmt.Sprintf("%d/%d", g, i)})
				if err != nil {
					if !errors.Is(err, store.ErrClosed) {
						t.Errorf("Append while closing: %v, want nil or an error wrapping ErrClosed", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, e.ID)
				if len(acked) == 50 {
					once.Do(func() { close(started) })
				}
				mu.Unlock()
			}
		})
	}
	<-started
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	checkStored(t, path, acked)
}

// checkStored reopens the file at path and fails the test unless every ID in
// acked is stored.
func checkStored(t *testing.T, path string, acked []store.ID) {
	t.Helper()
	l := open(t, path, bolt.Options{MaxEntries: 1 << 30, MaxAge: -1})
	got, err := readAll(l.After(t.Context(), store.ID{}))
	if err != nil {
		t.Fatalf("After(zero) on reopening: %v", err)
	}
	stored := make(map[store.ID]bool, len(got))
	for _, e := range got {
		stored[e.ID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged entry %v is not in the file (%d stored)", id, len(got))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// crashEnv names the file the helper process appends to.
const crashEnv = "HERALD_BOLT_CRASH_PATH"

// TestHelperProcess is not a test: TestCrash runs the test binary again
// with only this function and crashEnv set, and it appends from several
// goroutines until killed, printing each acknowledged ID.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrash")
	}
	l, err := bolt.Open(path, bolt.Options{MaxEntries: 1 << 30, MaxAge: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e, err := l.Append(context.Background(), "crash/"+strconv.Itoa(g), sse.Event{Data: strings.Repeat("d", i%300)})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "acked %s\n", e.ID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestCrash(t *testing.T) {
	switch runtime.GOOS {
	case "js", "wasip1", "ios", "android":
		t.Skipf("cannot run a child process on %s", runtime.GOOS)
	}
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	path := tempPath(t)
	var acked []store.ID
	for run, killAfter := range []int{1, 150, 600, 2000} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting the helper: %v", err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		killed := false
		for sc.Scan() {
			s, ok := strings.CutPrefix(sc.Text(), "acked ")
			if !ok {
				continue
			}
			id, err := store.ParseID(s)
			if err != nil {
				t.Fatalf("helper printed %q: %v", sc.Text(), err)
			}
			if len(acked) > 0 && n == 0 && id.Compare(acked[len(acked)-1]) <= 0 {
				// Not an error by itself (goroutines print out of order),
				// but the first ID of a run must follow every earlier run.
				t.Errorf("run %d: ID %v does not come after %v from the run before", run, id, acked[len(acked)-1])
			}
			acked = append(acked, id)
			if n++; n == killAfter && !killed {
				// SIGKILL mid-publish: appends are in flight.
				if err := cmd.Process.Kill(); err != nil {
					t.Fatalf("killing the helper: %v", err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("run %d: helper exited after %d acknowledged appends: %v\n%s", run, n, err, stderr.String())
		}
		t.Logf("run %d: killed after %d acknowledged appends (%d read in all)", run, killAfter, n)
		checkStored(t, path, acked)
	}
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	notBolt := filepath.Join(dir, "not-bolt")
	if err := os.WriteFile(notBolt, []byte(strings.Repeat("not a bbolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := bolt.Open(notBolt, bolt.Options{}); err == nil {
		l.Close()
		t.Errorf("Open(a text file) succeeded, want an error")
	}

	other := filepath.Join(dir, "other.db")
	db, err := bbolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone-else"))
		return err
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if l, err := bolt.Open(other, bolt.Options{}); !errors.Is(err, bolt.ErrCorrupt) {
		if err == nil {
			l.Close()
		}
		t.Errorf("Open(a bbolt file of another program) = %v, want an error wrapping ErrCorrupt", err)
	}
}

func TestAppendEntryTime(t *testing.T) {
	c := newClock()
	l := open(t, tempPath(t), bolt.WithClock(bolt.Options{}, c.Now))
	a := appendData(t, l, "a")[0]
	if !a.Time.Equal(c.Now()) {
		t.Errorf("entry Time = %v, want the clock's %v", a.Time, c.Now())
	}
	// A clock that goes back does not make times go back in log order,
	// which age retention relies on.
	c.Advance(-time.Hour)
	b := appendData(t, l, "b")[0]
	if b.Time.Before(a.Time) {
		t.Errorf("entry after the clock went back has Time %v, before %v", b.Time, a.Time)
	}
}

func benchmarkAppend(b *testing.B, opts bolt.Options, parallel bool) {
	l := open(b, tempPath(b), opts)
	ev := sse.Event{Type: "message", Data: strings.Repeat("x", 100)}
	ctx := context.Background()
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			if _, err := l.Append(ctx, "bench", ev); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16) // many publishers, as on a busy hub
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(ctx, "bench", ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	benchmarkAppend(b, bolt.Options{}, false)
}

func BenchmarkAppendParallel(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts bolt.Options
	}{
		{"group_commit", bolt.Options{}},
		{"maxbatch=1", bolt.Options{MaxBatch: 1}},
		{"delay=10ms", bolt.Options{BatchDelay: 10 * time.Millisecond}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkAppend(b, bc.opts, true) })
	}
}

func TestBatchDelay(t *testing.T) {
	t.Run("full_batch_commits_before_the_delay", func(t *testing.T) {
		l := open(t, tempPath(t), bolt.Options{MaxBatch: 4, BatchDelay: time.Hour})
		done := make(chan error, 4)
		for i := range 4 {
			go func() {
				_, err := l.Append(context.Background(), "t", sse.Event{Data: strconv.Itoa(i)})
				done <- err
			}()
		}
		for range 4 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("4 Appends with MaxBatch 4 waited for the hour-long BatchDelay")
			}
		}
	})
	t.Run("cancelled_while_waiting_stores_nothing", func(t *testing.T) {
		path := tempPath(t)
		l, err := bolt.Open(path, bolt.Options{MaxBatch: 4, BatchDelay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := l.Append(ctx, "t", sse.Event{Data: "cancelled"})
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Append cancelled while its batch waits = %v, want an error wrapping context.Canceled", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		l = open(t, path, bolt.Options{})
		if got, err := readAll(l.After(t.Context(), store.ID{})); err != nil || len(got) != 0 {
			t.Errorf("After(zero) = %d entries, %v; want nothing stored", len(got), err)
		}
	})
	t.Run("close_commits_what_waits", func(t *testing.T) {
		path := tempPath(t)
		l, err := bolt.Open(path, bolt.Options{MaxBatch: 4, BatchDelay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan store.Entry, 3)
		for i := range 3 {
			go func() {
				e, err := l.Append(context.Background(), "t", sse.Event{Data: strconv.Itoa(i)})
				if err != nil {
					t.Errorf("Append waiting when Close was called: %v", err)
				}
				done <- e
			}()
		}
		for l.Queued() < 3 {
			runtime.Gosched() // the three Appends are on their way to the queue
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		var acked []store.ID
		for range 3 {
			if e := <-done; !e.ID.IsZero() {
				acked = append(acked, e.ID)
			}
		}
		checkStored(t, path, acked)
	})
}

func TestAfterEvictedMidIteration(t *testing.T) {
	// More than one read chunk (256), so the iteration reads again after
	// the entries it has not reached were evicted.
	const maxEntries = 300
	l := open(t, tempPath(t), bolt.Options{MaxEntries: maxEntries, MaxAge: -1})
	want := appendData(t, l, dataN("before/", maxEntries)...)
	next, stop := iter.Pull2(l.After(t.Context(), store.ID{}))
	defer stop()
	var got []store.Entry
	e, err, ok := next()
	if !ok || err != nil {
		t.Fatalf("After(zero) = %v, %v, want an entry", ok, err)
	}
	got = append(got, e)
	appendData(t, l, dataN("during/", 2*maxEntries)...) // evicts every entry After has not read
	for {
		e, err, ok := next()
		if !ok {
			t.Fatalf("After(zero) ended after %d entries without an error, want one wrapping ErrEvicted", len(got))
		}
		if err != nil {
			if !errors.Is(err, store.ErrEvicted) {
				t.Fatalf("After(zero) yielded %v after %d entries, want an error wrapping ErrEvicted", err, len(got))
			}
			break
		}
		got = append(got, e)
	}
	if _, _, ok := next(); ok {
		t.Errorf("After(zero) went on after an error")
	}
	checkEntries(t, "After(zero) up to the eviction", got, want[:len(got)])
	if len(got) == 0 || len(got) == len(want) {
		t.Errorf("After(zero) yielded %d entries before ErrEvicted, want some but not all %d", len(got), len(want))
	}
}
