package memory_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/storetest"
)

func newLog(t *testing.T, opts memory.Options) *memory.Log {
	t.Helper()
	l := memory.New(opts)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Log {
		return newLog(t, memory.Options{})
	})
}

func TestConformanceRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, maxEntries int) store.Log {
		return newLog(t, memory.Options{MaxEntries: maxEntries})
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

func appendData(t *testing.T, l *memory.Log, data ...string) []store.Entry {
	t.Helper()
	entries := make([]store.Entry, len(data))
	for i, d := range data {
		e, err := l.Append(t.Context(), "t", sse.Event{Data: d})
		if err != nil {
			t.Fatalf("Append(%q): %v", d, err)
		}
		entries[i] = e
	}
	return entries
}

// read ranges over seq and returns the data of the entries yielded and the
// last error.
func read(seq iter.Seq2[store.Entry, error]) (data []string, err error) {
	for e, e2 := range seq {
		if e2 != nil {
			err = e2
			continue
		}
		data = append(data, e.Event.Data)
	}
	return data, err
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func TestEpoch(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{}, c.Now))
	epoch := uint64(c.Now().UnixMilli())
	first := appendData(t, l, "1", "2", "3")[0]
	if want := (store.ID{Major: epoch, Minor: 1}); first.ID != want {
		t.Fatalf("first ID = %v, want %v (creation time in ms, then 1)", first.ID, want)
	}

	// Another log: a later run of the same program.
	c.Advance(time.Second)
	other := newLog(t, memory.WithClock(memory.Options{}, c.Now))
	otherFirst := appendData(t, other, "x")[0]

	for _, tc := range []struct {
		name string
		log  *memory.Log
		id   store.ID
		want []string
		err  error
	}{
		{"same_epoch_minor_zero_is_the_start", l, store.ID{Major: epoch}, numbered(1, 3), nil},
		{"earlier_epoch", l, store.ID{Major: epoch - 1, Minor: 1}, nil, store.ErrUnknownID},
		{"later_epoch", l, store.ID{Major: epoch + 1, Minor: 1}, nil, store.ErrUnknownID},
		{"zero_major", l, store.ID{Minor: 1}, nil, store.ErrUnknownID},
		{"id_from_newer_log", l, otherFirst.ID, nil, store.ErrUnknownID},
		{"id_from_older_log", other, first.ID, nil, store.ErrUnknownID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(tc.log.After(t.Context(), tc.id))
			if !slices.Equal(got, tc.want) || !errors.Is(err, tc.err) {
				t.Errorf("After(%v) = %q, %v; want %q, %v", tc.id, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCountEviction(t *testing.T) {
	l := newLog(t, memory.Options{MaxEntries: 4})
	entries := appendData(t, l, numbered(1, 10)...) // keeps 7..10
	epoch := entries[0].ID.Major
	id := func(minor uint64) store.ID { return store.ID{Major: epoch, Minor: minor} }
	for _, tc := range []struct {
		name string
		id   store.ID
		want []string
		err  error
	}{
		{"zero_yields_what_is_kept", store.ID{}, numbered(7, 10), nil},
		{"newest_evicted_resumes", id(6), numbered(7, 10), nil},
		{"oldest_kept", id(7), numbered(8, 10), nil},
		{"head", id(10), nil, nil},
		{"older_evicted", id(5), nil, store.ErrEvicted},
		{"first_evicted", id(1), nil, store.ErrEvicted},
		{"minor_zero_after_eviction", id(0), nil, store.ErrEvicted},
		{"after_head", id(11), nil, store.ErrUnknownID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(l.After(t.Context(), tc.id))
			if !slices.Equal(got, tc.want) || !errors.Is(err, tc.err) {
				t.Errorf("After(%v) = %q, %v; want %q, %v", tc.id, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestAgeEviction(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{MaxAge: time.Hour}, c.Now))
	epoch := uint64(c.Now().UnixMilli())
	id := func(minor uint64) store.ID { return store.ID{Major: epoch, Minor: minor} }
	appendData(t, l, "1") // at 0
	c.Advance(30 * time.Minute)
	appendData(t, l, "2") // at 30m
	c.Advance(20 * time.Minute)
	appendData(t, l, "3") // at 50m

	for _, tc := range []struct {
		name    string
		advance time.Duration // from the previous step
		id      store.ID
		want    []string
		err     error
	}{
		{"all_younger_than_max_age", 9 * time.Minute, store.ID{}, numbered(1, 3), nil},
		{"exactly_max_age_is_kept", time.Minute, store.ID{}, numbered(1, 3), nil},
		{"older_than_max_age_is_evicted", time.Nanosecond, store.ID{}, numbered(2, 3), nil},
		{"newest_expired_resumes", 0, id(1), numbered(2, 3), nil},
		{"minor_zero_after_expiry", 0, id(0), nil, store.ErrEvicted},
		{"all_expired", 50 * time.Minute, store.ID{}, nil, nil},
		{"head_after_all_expired", 0, id(3), nil, nil},
		{"expired_id", 0, id(2), nil, store.ErrEvicted},
		{"after_head_still_unknown", 0, id(4), nil, store.ErrUnknownID},
	} {
		c.Advance(tc.advance)
		got, err := read(l.After(t.Context(), tc.id))
		if !slices.Equal(got, tc.want) || !errors.Is(err, tc.err) {
			t.Errorf("%s: After(%v) = %q, %v; want %q, %v", tc.name, tc.id, got, err, tc.want, tc.err)
		}
	}

	// Sequence numbers go on after everything expired.
	e := appendData(t, l, "4")[0]
	if e.ID != id(4) {
		t.Errorf("Append after expiry: ID %v, want %v", e.ID, id(4))
	}
	if got, err := read(l.After(t.Context(), store.ID{})); !slices.Equal(got, []string{"4"}) || err != nil {
		t.Errorf("After(zero) = %q, %v; want [4]", got, err)
	}
}

func TestAgeEvictionIsLazy(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{MaxAge: time.Minute}, c.Now))
	appendData(t, l, "1", "2", "3")
	c.Advance(2 * time.Minute)
	if oldest, head := l.Kept(); oldest != 1 || head != 3 {
		t.Fatalf("Kept() = %d, %d before any call; want 1, 3 (nothing evicted in the background)", oldest, head)
	}
	appendData(t, l, "4")
	if oldest, head := l.Kept(); oldest != 4 || head != 4 {
		t.Errorf("Kept() = %d, %d after Append; want 4, 4 (expired entries evicted by Append)", oldest, head)
	}
	c.Advance(2 * time.Minute)
	read(l.After(t.Context(), store.ID{}))
	if oldest, head := l.Kept(); oldest != 5 || head != 4 {
		t.Errorf("Kept() = %d, %d after After; want 5, 4 (expired entries evicted by a read)", oldest, head)
	}
}

func TestAgeEvictionWithRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memory.New(memory.Options{MaxAge: time.Minute})
		defer l.Close()
		appendData(t, l, "1")
		time.Sleep(40 * time.Second) // the bubble's fake clock: returns at once
		appendData(t, l, "2")
		time.Sleep(30 * time.Second)
		if got, err := read(l.After(t.Context(), store.ID{})); !slices.Equal(got, []string{"2"}) || err != nil {
			t.Errorf("After(zero) 70s and 30s after two appends = %q, %v; want [2]", got, err)
		}
	})
}

func TestMaxAge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		age    time.Duration
		kept   bool
	}{
		{"zero_means_one_hour/kept", 0, time.Hour, true},
		{"zero_means_one_hour/evicted", 0, time.Hour + 1, false},
		{"negative_keeps_forever", -1, 100 * 365 * 24 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l := newLog(t, memory.WithClock(memory.Options{MaxAge: tc.maxAge}, c.Now))
			appendData(t, l, "x")
			c.Advance(tc.age)
			got, err := read(l.After(t.Context(), store.ID{}))
			if err != nil || (len(got) == 1) != tc.kept {
				t.Errorf("After(zero) %v after an append, MaxAge %v = %q, %v; want kept %v", tc.age, tc.maxAge, got, err, tc.kept)
			}
		})
	}
}

func TestMaxEntriesDefault(t *testing.T) {
	for _, n := range []int{0, -1} {
		l := newLog(t, memory.Options{MaxEntries: n})
		entries := appendData(t, l, numbered(1, memory.DefaultMaxEntries+1)...)
		got, err := read(l.After(t.Context(), entries[1].ID))
		if err != nil || len(got) != memory.DefaultMaxEntries-1 {
			t.Errorf("MaxEntries %d: After(entry 2) = %d entries, %v; want %d", n, len(got), err, memory.DefaultMaxEntries-1)
		}
		if _, err := read(l.After(t.Context(), store.ID{Major: entries[0].ID.Major})); !errors.Is(err, store.ErrEvicted) {
			t.Errorf("MaxEntries %d: After(start) = %v, want ErrEvicted: %d entries kept of %d", n, err, memory.DefaultMaxEntries, len(entries))
		}
	}
}

// A follower that falls behind by age, not count, is told what it missed.
func TestFollowerFallsBehindByAge(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{MaxAge: time.Minute}, c.Now))
	next, stop := iter.Pull2(l.Follow(t.Context()))
	defer stop()
	appendData(t, l, "1")
	if e, err, _ := next(); err != nil || e.Event.Data != "1" {
		t.Fatalf("Follow = %q, %v; want 1", e.Event.Data, err)
	}
	appendData(t, l, "2", "3")
	c.Advance(2 * time.Minute)
	appendData(t, l, "4")
	_, err, _ := next()
	if !errors.Is(err, store.ErrEvicted) {
		t.Fatalf("Follow after 2 and 3 expired unread = %v, want ErrEvicted", err)
	}
	if e, err, _ := next(); err != nil || e.Event.Data != "4" {
		t.Fatalf("Follow after ErrEvicted = %q, %v; want 4", e.Event.Data, err)
	}
}

// An After iteration so slow that entries it has not reached are evicted is
// told so after the entries it did get.
func TestAfterEvictedMidway(t *testing.T) {
	const n = 600
	l := newLog(t, memory.Options{MaxEntries: n})
	appendData(t, l, numbered(1, n)...)
	next, stop := iter.Pull2(l.After(t.Context(), store.ID{}))
	defer stop()
	if e, err, _ := next(); err != nil || e.Event.Data != "1" {
		t.Fatalf("After(zero) = %q, %v; want 1", e.Event.Data, err)
	}
	appendData(t, l, numbered(n+1, 2*n)...) // evicts 1..600
	got := 1
	for {
		e, err, ok := next()
		if !ok {
			t.Fatalf("After(zero) ended after %d entries without an error", got)
		}
		if err != nil {
			if !errors.Is(err, store.ErrEvicted) {
				t.Errorf("After(zero) = %v after %d entries, want ErrEvicted", err, got)
			}
			if got == 1 || got == n {
				t.Errorf("After(zero) yielded %d entries before ErrEvicted; want the rest of the first chunk", got)
			}
			break
		}
		if want := strconv.Itoa(got + 1); e.Event.Data != want {
			t.Fatalf("After(zero) entry %d = %q, want %q", got, e.Event.Data, want)
		}
		got++
	}
	if _, _, ok := next(); ok {
		t.Error("After(zero) went on after an error")
	}
}

func TestAfterContext(t *testing.T) {
	l := newLog(t, memory.Options{})
	appendData(t, l, numbered(1, 1000)...)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got, err := read(l.After(ctx, store.ID{})); len(got) != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("After with a cancelled context = %d entries, %v; want only context.Canceled", len(got), err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var err error
	for _, e := range l.After(ctx, store.ID{}) {
		if e != nil {
			err = e
			continue
		}
		if n++; n == 10 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) || n >= 1000 {
		t.Errorf("After cancelled after 10 entries: %d entries, %v; want the chunk, then context.Canceled", n, err)
	}
}

func TestFollowStopReleasesFollower(t *testing.T) {
	l := newLog(t, memory.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	seq := l.Follow(ctx)
	appendData(t, l, "1")
	for range seq {
		if got := l.Followers(); got != 1 {
			t.Errorf("Followers() = %d while one iteration runs", got)
		}
		break
	}
	cancel()
	for range seq {
		t.Error("Follow yielded with a cancelled context")
	}
	if got := l.Followers(); got != 0 {
		t.Errorf("Followers() = %d after every iteration ended, want 0", got)
	}
}

func TestClose(t *testing.T) {
	l := memory.New(memory.Options{})
	appendData(t, l, numbered(1, 1000)...)

	after, stopAfter := iter.Pull2(l.After(t.Context(), store.ID{}))
	defer stopAfter()
	if _, err, _ := after(); err != nil {
		t.Fatalf("After: %v", err)
	}

	followed := make(chan error, 1)
	seq := l.Follow(t.Context())
	go func() {
		var last error
		for _, err := range seq {
			if err != nil {
				last = err
			}
		}
		followed <- last
	}()

	if err := l.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := <-followed; !errors.Is(err, store.ErrClosed) {
		t.Errorf("Follow running at Close ended with %v, want ErrClosed", err)
	}
	n := 1
	var err error
	for {
		_, e, ok := after()
		if !ok {
			break
		}
		if e != nil {
			err = e
			continue
		}
		n++
	}
	if !errors.Is(err, store.ErrClosed) || n >= 1000 {
		t.Errorf("After running at Close: %d entries, then %v; want its chunk, then ErrClosed", n, err)
	}
	if err := l.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	l := newLog(t, memory.Options{MaxEntries: 100})
	ctx := t.Context()
	ev := sse.Event{Type: "message", Data: "hello"}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := l.Append(ctx, "chat/lobby", ev); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append allocates %v times, want 0", n)
	}
}

var benchEvent = sse.Event{Type: "message", Data: `{"user":"ada","text":"hello, world"}`}

// BenchmarkAppend measures Append alone, with a follower draining
// concurrently, and from all Ps at once.
func BenchmarkAppend(b *testing.B) {
	b.Run("followers=0", func(b *testing.B) {
		l := memory.New(memory.Options{})
		defer l.Close()
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			l.Append(ctx, "chat/lobby", benchEvent)
		}
	})
	b.Run("followers=1", func(b *testing.B) {
		l := memory.New(memory.Options{})
		defer l.Close()
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		seq := l.Follow(ctx)
		wg.Go(func() {
			for range seq {
			}
		})
		b.ReportAllocs()
		for b.Loop() {
			l.Append(ctx, "chat/lobby", benchEvent)
		}
		cancel()
		wg.Wait()
	})
	b.Run("parallel", func(b *testing.B) {
		l := memory.New(memory.Options{})
		defer l.Close()
		ctx := b.Context()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Append(ctx, "chat/lobby", benchEvent)
			}
		})
	})
}

// BenchmarkFollow measures appending events and delivering every one of them
// to each follower: throughput, with the time to drain included, and the
// latency of one append to one waiting follower.
func BenchmarkFollow(b *testing.B) {
	for _, followers := range []int{1, 8} {
		b.Run("followers="+strconv.Itoa(followers), func(b *testing.B) {
			l := memory.New(memory.Options{MaxEntries: 1 << 16})
			defer l.Close()
			ctx := b.Context()
			var wg sync.WaitGroup
			var evictions, delivered atomic.Int64
			for range followers {
				seq := l.Follow(ctx)
				wg.Go(func() {
					n := int64(0)
					defer func() { delivered.Add(n) }()
					for e, err := range seq {
						switch {
						case errors.Is(err, store.ErrEvicted):
							evictions.Add(1)
						case e.Topic == "stop":
							return
						case err == nil:
							n++
						}
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			// b.N rather than b.Loop: the timing must include the followers
			// draining after the last append, which b.Loop would leave out.
			for range b.N {
				l.Append(ctx, "chat/lobby", benchEvent)
			}
			l.Append(ctx, "stop", benchEvent)
			wg.Wait()
			// A follower that falls more than MaxEntries behind skips what
			// was evicted; delivered/op below 1 measures how much.
			b.ReportMetric(float64(evictions.Load()), "evictions")
			b.ReportMetric(float64(delivered.Load())/float64(b.N*followers), "delivered/op")
		})
	}
	b.Run("latency", func(b *testing.B) {
		l := memory.New(memory.Options{})
		defer l.Close()
		ctx, cancel := context.WithCancel(b.Context())
		got := make(chan struct{})
		var wg sync.WaitGroup
		seq := l.Follow(ctx)
		wg.Go(func() {
			for _, err := range seq {
				if err != nil {
					return
				}
				got <- struct{}{}
			}
		})
		b.ReportAllocs()
		for b.Loop() {
			l.Append(ctx, "chat/lobby", benchEvent)
			<-got
		}
		cancel()
		wg.Wait()
	})
}

// BenchmarkAfter measures replaying a full default-sized history.
func BenchmarkAfter(b *testing.B) {
	l := memory.New(memory.Options{})
	defer l.Close()
	ctx := b.Context()
	for range memory.DefaultMaxEntries {
		l.Append(ctx, "chat/lobby", benchEvent)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for range l.After(ctx, store.ID{}) {
			n++
		}
		if n != memory.DefaultMaxEntries {
			b.Fatalf("After(zero) yielded %d entries, want %d", n, memory.DefaultMaxEntries)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/memory.DefaultMaxEntries, "ns/entry")
}
