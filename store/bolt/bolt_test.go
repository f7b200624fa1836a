package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

func TestConformanceBatch(t *testing.T) {
	storetest.RunBatch(t, func(t *testing.T) store.Log {
		return open(t, tempPath(t), bolt.Options{})
	})
}

func TestConformanceRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, r store.Retention) store.Log {
		return open(t, tempPath(t), bolt.Options{Retention: r})
	})
}

func TestConformanceBackpressure(t *testing.T) {
	storetest.RunBackpressure(t, func(t *testing.T, maxLag int) store.Log {
		return open(t, tempPath(t), bolt.Options{MaxLag: maxLag})
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
		e, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: d}})
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

// readAll reads every page after id of the entries matching patterns
// ("**" when none is given), in pages of 7.
func readAll(t *testing.T, l *bolt.Log, id store.ID, patterns ...string) (entries []store.Entry, evicted bool, err error) {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	return storetest.ReadAll(t.Context(), l, id, store.Query{Patterns: patterns, Max: 7})
}

// kept is readAll failing the test on an error or Evicted.
func kept(t *testing.T, l *bolt.Log, id store.ID, patterns ...string) []store.Entry {
	t.Helper()
	entries, evicted, err := readAll(t, l, id, patterns...)
	if err != nil || evicted {
		t.Fatalf("Read(%v, %q): evicted %v, %v; want neither", id, patterns, evicted, err)
	}
	return entries
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
	checkEntries(t, "Read(fifth) after a restart", kept(t, l, before[4].ID), before[5:])
	if got := kept(t, l, before[9].ID); len(got) != 0 {
		t.Fatalf("Read(last before restart) = %d entries, want none", len(got))
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
	checkEntries(t, "Read(eighth) across the restart", kept(t, l, before[7].ID), append(before[8:], after...))
}

func TestRetentionByCount(t *testing.T) {
	const maxEntries = 100
	l := open(t, tempPath(t), bolt.Options{Retention: store.Retention{MaxEntries: maxEntries, MaxAge: -1}})
	all := appendData(t, l, dataN("e/", 5*maxEntries)...)
	// The commits delete what falls beyond MaxEntries: no cleanup needed.
	if n, err := l.Stored(); err != nil || n != maxEntries {
		t.Errorf("the file holds %d entries (%v), want %d", n, err, maxEntries)
	}
	checkEntries(t, "Read(zero)", kept(t, l, store.ID{}), all[len(all)-maxEntries:])
}

func TestRetentionByAge(t *testing.T) {
	c := newClock()
	path := tempPath(t)
	opts := bolt.WithClock(bolt.Options{Retention: store.Retention{MaxAge: time.Minute}, CleanupInterval: time.Hour}, c.Now)
	l := open(t, path, opts)
	old := appendData(t, l, dataN("old/", 5)...)
	c.Advance(30 * time.Second)
	young := appendData(t, l, dataN("young/", 5)...)
	c.Advance(31 * time.Second) // old is now 61s old, young 31s

	checkEntries(t, "Read(zero) once the first 5 expired", kept(t, l, store.ID{}), young)
	if got, evicted, err := readAll(t, l, old[0].ID); !evicted || err != nil {
		t.Errorf("Read(expired %v) = %d entries, evicted %v, %v; want Evicted", old[0].ID, len(got), evicted, err)
	}
	checkEntries(t, "Read(newest expired)", kept(t, l, old[4].ID), young)

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
	if got, evicted, err := readAll(t, l, old[3].ID); !evicted || err != nil || len(got) != 5 {
		t.Errorf("Read(deleted %v) = %d entries, evicted %v, %v; want the 5 young and Evicted", old[3].ID, len(got), evicted, err)
	}
	checkEntries(t, "Read(newest deleted)", kept(t, l, old[4].ID), young)

	c.Advance(time.Minute)
	if got := kept(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("Read(zero) once all expired = %d entries, want none", len(got))
	}
	if got := kept(t, l, young[4].ID); len(got) != 0 {
		t.Errorf("Read(newest, expired) = %d entries, want none", len(got))
	}
	next := appendData(t, l, "next")
	if next[0].ID.Compare(young[4].ID) <= 0 {
		t.Errorf("ID after everything expired = %v, want after %v", next[0].ID, young[4].ID)
	}
	checkEntries(t, "Read(newest expired) once one more was appended", kept(t, l, young[4].ID), next)
}

// TestAgePerPolicy checks that each policy ages its own events, in reads
// and in the cleanup.
func TestAgePerPolicy(t *testing.T) {
	c := newClock()
	l := open(t, tempPath(t), bolt.WithClock(bolt.Options{Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/*", MaxEntries: 10, MaxAge: time.Minute}, {Pattern: "chat/*", MaxEntries: 10}},
		MaxAge:   time.Hour,
	}, CleanupInterval: time.Hour}, c.Now))
	var all []store.Entry
	for _, topic := range []string{"stocks/a", "chat/a", "news/a"} {
		e, err := l.Append(t.Context(), store.Entry{Topic: topic, Event: sse.Event{Data: topic}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	c.Advance(2 * time.Minute)
	checkEntries(t, "Read(zero) two minutes on", kept(t, l, store.ID{}), all[1:])
	if n, err := l.Cleanup(); n != 1 || err != nil {
		t.Errorf("Cleanup() two minutes on = %d, %v; want the stock tick deleted", n, err)
	}
	c.Advance(time.Hour)
	if got := kept(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("Read(zero) an hour on = %d entries, want none", len(got))
	}
	if n, err := l.Cleanup(); n != 2 || err != nil {
		t.Errorf("Cleanup() an hour on = %d, %v; want 2 deleted", n, err)
	}
}

// TestReopenWithOtherPolicies checks that Open files the kept events again
// under new policies: nothing kept is lost, a policy's new bounds apply at
// once, and a resume that lost events to the change is told so.
func TestReopenWithOtherPolicies(t *testing.T) {
	path := tempPath(t)
	first, err := bolt.Open(path, bolt.Options{Retention: store.Retention{MaxEntries: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var chat, stocks []store.Entry
	for i := range 10 {
		for _, topic := range []string{"chat/a", "stocks/b", "system/c"} {
			e, err := first.Append(t.Context(), store.Entry{Topic: topic, Event: sse.Event{Data: strconv.Itoa(i)}})
			if err != nil {
				t.Fatal(err)
			}
			switch topic {
			case "chat/a":
				chat = append(chat, e)
			case "stocks/b":
				stocks = append(stocks, e)
			}
		}
	}
	all, _, err := readAll(t, first, store.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	reopen := func(policies ...store.Policy) *bolt.Log {
		t.Helper()
		l, err := bolt.Open(path, bolt.Options{Retention: store.Retention{Policies: policies, MaxEntries: 100}})
		if err != nil {
			t.Fatalf("Open with policies %v: %v", policies, err)
		}
		return l
	}
	l := reopen(store.Policy{Pattern: "stocks/**", MaxEntries: 3}, store.Policy{Pattern: "system/**"})
	checkEntries(t, "chat after the change", kept(t, l, chat[0].ID, "chat/*"), chat[1:])
	got, evicted, err := readAll(t, l, stocks[0].ID, "stocks/*")
	if err != nil || !evicted {
		t.Errorf("stocks resume after the change: evicted %v, %v; want Evicted (3 of 10 kept)", evicted, err)
	}
	checkEntries(t, "stocks after the change", got, stocks[7:])
	if got, evicted, _ := readAll(t, l, all[0].ID, "system/*"); len(got) != 0 || !evicted {
		t.Errorf("system resumes with %d entries, evicted %v; want none, Evicted (its policy keeps none)", len(got), evicted)
	}
	if n, err := l.Stored(); err != nil || n != 13 {
		t.Errorf("the file holds %d entries (%v), want 10 chat and 3 stocks", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to one history: chat and the 3 stocks are still there.
	l = reopen()
	defer l.Close()
	var want []store.Entry
	for _, e := range all {
		if e.Topic == "chat/a" || e.Topic == "stocks/b" && e.ID.Compare(stocks[6].ID) > 0 {
			want = append(want, e)
		}
	}
	got, _, err = readAll(t, l, store.ID{}) // a later page may say Evicted: system events were never kept
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, "every topic after going back", got, want)
	if _, evicted, _ := readAll(t, l, all[0].ID); !evicted {
		t.Error("a resume of every topic from the first event does not say Evicted; stocks and system events were lost")
	}
}

// TestOpenLayout1 checks that a file of the single history of earlier
// versions opens: its kept events filed under the policies, IDs going on,
// and what it had evicted still reported.
func TestOpenLayout1(t *testing.T) {
	path := tempPath(t)
	const epoch = 1767225600000
	nanos := time.Now().UnixNano()
	// Entries 1..4 were evicted; 5..20 are kept.
	if err := bolt.WriteLayout1(path, epoch, 5, 20, []string{"chat/a", "stocks/b"}, nanos); err != nil {
		t.Fatal(err)
	}
	l := open(t, path, bolt.Options{Retention: store.Retention{Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 2}}}})
	id := func(seq uint64) store.ID { return store.ID{Major: epoch, Minor: seq} }
	got := kept(t, l, id(10), "chat/*")
	if len(got) != 5 || got[0].ID != id(12) || got[4].ID != id(20) || got[0].Topic != "chat/a" || got[0].Event.Data != "12" {
		t.Errorf("chat after 10 = %v, want the even entries 12..20", got)
	}
	if got, evicted, _ := readAll(t, l, id(10), "stocks/*"); !evicted || len(got) != 2 || got[0].ID != id(17) {
		t.Errorf("stocks after 10 = %v, evicted %v; want 17, 19 and Evicted", got, evicted)
	}
	if _, evicted, _ := readAll(t, l, id(3), "chat/*"); !evicted {
		t.Error("chat after 3, evicted by the old layout, does not say Evicted")
	}
	e := appendData(t, l, "next")[0]
	if e.ID != id(21) {
		t.Errorf("the first append after the upgrade has ID %v, want %v", e.ID, id(21))
	}
}

func TestFileGrowthBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 4,000 entries")
	}
	const maxEntries = 200
	path := tempPath(t)
	l := open(t, path, bolt.Options{Retention: store.Retention{MaxEntries: maxEntries, MaxAge: -1}})
	data := strings.Repeat("x", 200)
	ctx := t.Context()
	sizes := make([]int64, 0, 20)
	for range 20 {
		// Concurrent appenders, as under load: batches of several entries.
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for range maxEntries / 4 {
					if _, err := l.Append(ctx, store.Entry{Topic: "t/" + strconv.Itoa(g), Event: sse.Event{Data: data}}); err != nil {
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
				e, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: fmt.Sprintf("%d/%d", g, i)}})
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
	l := open(t, path, bolt.Options{Retention: store.Retention{MaxEntries: 1 << 30, MaxAge: -1}})
	got, _, err := readAll(t, l, store.ID{})
	if err != nil {
		t.Fatalf("Read(zero) on reopening: %v", err)
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
	l, err := bolt.Open(path, bolt.Options{Retention: store.Retention{MaxEntries: 1 << 30, MaxAge: -1}})
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
				e, err := l.Append(context.Background(), store.Entry{Topic: "crash/" + strconv.Itoa(g), Event: sse.Event{Data: strings.Repeat("d", i%300)}})
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
			if _, err := l.Append(ctx, store.Entry{Topic: "bench", Event: ev}); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16) // many publishers, as on a busy hub
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(ctx, store.Entry{Topic: "bench", Event: ev}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	benchmarkAppend(b, bolt.Options{}, false)
}

// BenchmarkAppendFullPolicy measures appends to a policy that is full, so
// each commit also deletes its oldest entries.
func BenchmarkAppendFullPolicy(b *testing.B) {
	benchmarkAppend(b, bolt.Options{Retention: store.Retention{MaxEntries: 100}}, false)
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
				_, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: strconv.Itoa(i)}})
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
			_, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "cancelled"}})
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
		if got := kept(t, l, store.ID{}); len(got) != 0 {
			t.Errorf("Read(zero) = %d entries; want nothing stored", len(got))
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
				e, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: strconv.Itoa(i)}})
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

// TestEvictedBetweenPages checks that a reader is told, on its next page,
// that entries it had not reached were evicted since its last.
func TestEvictedBetweenPages(t *testing.T) {
	l := open(t, tempPath(t), bolt.Options{Retention: store.Retention{MaxEntries: 10}})
	appendData(t, l, dataN("", 10)...)
	q := store.Query{Patterns: []string{"**"}, Max: 3}
	p, err := l.Read(t.Context(), store.ID{}, q)
	if err != nil || len(p.Entries) != 3 || p.Evicted || p.Done {
		t.Fatalf("first page = %d entries, evicted %v, done %v, %v; want 3 of 10", len(p.Entries), p.Evicted, p.Done, err)
	}
	appendData(t, l, dataN("more/", 5)...) // evicts 0..4
	p, err = l.Read(t.Context(), p.Next, q)
	if err != nil || !p.Evicted || len(p.Entries) != 3 || p.Entries[0].Event.Data != "5" {
		t.Fatalf("second page = %v, evicted %v, %v; want Evicted, then 5, 6, 7", p.Entries, p.Evicted, err)
	}
}

// TestOpenRejectsInvalidPolicies names each bad policy tried.
func TestOpenRejectsInvalidPolicies(t *testing.T) {
	for _, r := range []store.Retention{
		{Policies: []store.Policy{{Pattern: "x", MaxEntries: -1}}},
		{Policies: []store.Policy{{Pattern: ""}}},
		{Policies: []store.Policy{{Pattern: "a//b"}}},
		{Policies: []store.Policy{{Pattern: "a"}, {Pattern: "a"}}},
		{MaxEntries: -1},
	} {
		if l, err := bolt.Open(tempPath(t), bolt.Options{Retention: r}); !errors.Is(err, store.ErrInvalidPolicy) {
			if err == nil {
				l.Close()
			}
			t.Errorf("Open with %+v = %v, want an error wrapping ErrInvalidPolicy", r, err)
		}
	}
}
