package memory_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
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

func TestConformanceBatch(t *testing.T) {
	storetest.RunBatch(t, func(t *testing.T) store.Log {
		return newLog(t, memory.Options{})
	})
}

func TestConformanceRetention(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T, r store.Retention) store.Log {
		return newLog(t, memory.Options{Retention: r})
	})
}

func TestConformanceBackpressure(t *testing.T) {
	storetest.RunBackpressure(t, func(t *testing.T, maxLag int) store.Log {
		return newLog(t, memory.Options{MaxLag: maxLag})
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
		e, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: d}})
		if err != nil {
			t.Fatalf("Append(%q): %v", d, err)
		}
		entries[i] = e
	}
	return entries
}

// read reads every page after id of the entries matching patterns ("**"
// when none is given), in pages of 3, and returns their data, whether a
// page said Evicted, and the error.
func read(t *testing.T, l *memory.Log, id store.ID, patterns ...string) (data []string, evicted bool, err error) {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	entries, evicted, err := storetest.ReadAll(t.Context(), l, id, store.Query{Patterns: patterns, Max: 3})
	for _, e := range entries {
		data = append(data, e.Event.Data)
	}
	return data, evicted, err
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
			got, _, err := read(t, tc.log, tc.id)
			if !slices.Equal(got, tc.want) || !errors.Is(err, tc.err) {
				t.Errorf("Read(%v) = %q, %v; want %q, %v", tc.id, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCountEviction(t *testing.T) {
	l := newLog(t, memory.Options{Retention: store.Retention{MaxEntries: 4}})
	entries := appendData(t, l, numbered(1, 10)...) // keeps 7..10
	epoch := entries[0].ID.Major
	id := func(minor uint64) store.ID { return store.ID{Major: epoch, Minor: minor} }
	for _, tc := range []struct {
		name    string
		id      store.ID
		want    []string
		evicted bool
		err     error
	}{
		{"zero_reads_what_is_kept", store.ID{}, numbered(7, 10), false, nil},
		{"newest_evicted_resumes", id(6), numbered(7, 10), false, nil},
		{"oldest_kept", id(7), numbered(8, 10), false, nil},
		{"head", id(10), nil, false, nil},
		{"older_evicted", id(5), numbered(7, 10), true, nil},
		{"first_evicted", id(1), numbered(7, 10), true, nil},
		{"minor_zero_after_eviction", id(0), numbered(7, 10), true, nil},
		{"after_head", id(11), nil, false, store.ErrUnknownID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, evicted, err := read(t, l, tc.id)
			if !slices.Equal(got, tc.want) || evicted != tc.evicted || !errors.Is(err, tc.err) {
				t.Errorf("Read(%v) = %q, evicted %v, %v; want %q, evicted %v, %v", tc.id, got, evicted, err, tc.want, tc.evicted, tc.err)
			}
		})
	}
}

func TestAgeEviction(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{Retention: store.Retention{MaxAge: time.Hour}}, c.Now))
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
		evicted bool
		err     error
	}{
		{"all_younger_than_max_age", 9 * time.Minute, store.ID{}, numbered(1, 3), false, nil},
		{"exactly_max_age_is_kept", time.Minute, store.ID{}, numbered(1, 3), false, nil},
		{"older_than_max_age_is_evicted", time.Nanosecond, store.ID{}, numbered(2, 3), false, nil},
		{"newest_expired_resumes", 0, id(1), numbered(2, 3), false, nil},
		{"minor_zero_after_expiry", 0, id(0), numbered(2, 3), true, nil},
		{"all_expired", 50 * time.Minute, store.ID{}, nil, false, nil},
		{"head_after_all_expired", 0, id(3), nil, false, nil},
		{"expired_id", 0, id(2), nil, true, nil},
		{"after_head_still_unknown", 0, id(4), nil, false, store.ErrUnknownID},
	} {
		c.Advance(tc.advance)
		got, evicted, err := read(t, l, tc.id)
		if !slices.Equal(got, tc.want) || evicted != tc.evicted || !errors.Is(err, tc.err) {
			t.Errorf("%s: Read(%v) = %q, evicted %v, %v; want %q, evicted %v, %v", tc.name, tc.id, got, evicted, err, tc.want, tc.evicted, tc.err)
		}
	}

	// Sequence numbers go on after everything expired.
	e := appendData(t, l, "4")[0]
	if e.ID != id(4) {
		t.Errorf("Append after expiry: ID %v, want %v", e.ID, id(4))
	}
	if got, _, err := read(t, l, store.ID{}); !slices.Equal(got, []string{"4"}) || err != nil {
		t.Errorf("Read(zero) = %q, %v; want [4]", got, err)
	}
}

// TestAgePerPolicy checks that each policy ages its own events: its own
// MaxAge, or the Retention's when it has none.
func TestAgePerPolicy(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/*", MaxEntries: 10, MaxAge: time.Minute}, {Pattern: "chat/*", MaxEntries: 10}},
		MaxAge:   time.Hour,
	}}, c.Now))
	for _, topic := range []string{"stocks/a", "chat/a", "news/a"} {
		if _, err := l.Append(t.Context(), store.Entry{Topic: topic, Event: sse.Event{Data: topic}}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(2 * time.Minute)
	if got, _, _ := read(t, l, store.ID{}); !slices.Equal(got, []string{"chat/a", "news/a"}) {
		t.Errorf("Read(zero) two minutes on = %q, want the stock tick gone (1m), chat and news kept (1h)", got)
	}
	c.Advance(time.Hour)
	if got, _, _ := read(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("Read(zero) an hour on = %q, want nothing", got)
	}
}

func TestAgeEvictionIsLazy(t *testing.T) {
	c := newClock()
	l := newLog(t, memory.WithClock(memory.Options{Retention: store.Retention{MaxAge: time.Minute}}, c.Now))
	appendData(t, l, "1", "2", "3")
	c.Advance(2 * time.Minute)
	if n := l.Held(0); n != 3 {
		t.Fatalf("Held(0) = %d before any call; want 3 (nothing evicted in the background)", n)
	}
	appendData(t, l, "4")
	if n := l.Held(0); n != 1 {
		t.Errorf("Held(0) = %d after Append; want 1 (expired entries evicted by Append)", n)
	}
	c.Advance(2 * time.Minute)
	read(t, l, store.ID{})
	if n := l.Held(0); n != 0 {
		t.Errorf("Held(0) = %d after Read; want 0 (expired entries evicted by a read)", n)
	}
}

func TestAgeEvictionWithRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memory.New(memory.Options{Retention: store.Retention{MaxAge: time.Minute}})
		defer l.Close()
		appendData(t, l, "1")
		time.Sleep(40 * time.Second) // the bubble's fake clock: returns at once
		appendData(t, l, "2")
		time.Sleep(30 * time.Second)
		if got, _, err := read(t, l, store.ID{}); !slices.Equal(got, []string{"2"}) || err != nil {
			t.Errorf("Read(zero) 70s and 30s after two appends = %q, %v; want [2]", got, err)
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
			l := newLog(t, memory.WithClock(memory.Options{Retention: store.Retention{MaxAge: tc.maxAge}}, c.Now))
			appendData(t, l, "x")
			c.Advance(tc.age)
			got, _, err := read(t, l, store.ID{})
			if err != nil || (len(got) == 1) != tc.kept {
				t.Errorf("Read(zero) %v after an append, MaxAge %v = %q, %v; want kept %v", tc.age, tc.maxAge, got, err, tc.kept)
			}
		})
	}
}

func TestMaxEntriesDefault(t *testing.T) {
	l := newLog(t, memory.Options{})
	entries := appendData(t, l, numbered(1, store.DefaultMaxEntries+1)...)
	got, evicted, err := read(t, l, entries[1].ID)
	if err != nil || evicted || len(got) != store.DefaultMaxEntries-1 {
		t.Errorf("Read(entry 2) = %d entries, evicted %v, %v; want %d", len(got), evicted, err, store.DefaultMaxEntries-1)
	}
	if _, evicted, _ := read(t, l, store.ID{Major: entries[0].ID.Major}); !evicted {
		t.Errorf("Read(start) does not say Evicted: %d entries kept of %d", store.DefaultMaxEntries, len(entries))
	}
}

// TestEvictedBetweenPages checks that a reader told it is not behind is
// told so on its next page when entries it had not reached were evicted
// in between.
func TestEvictedBetweenPages(t *testing.T) {
	l := newLog(t, memory.Options{Retention: store.Retention{MaxEntries: 10}})
	appendData(t, l, numbered(1, 10)...)
	q := store.Query{Patterns: []string{"**"}, Max: 3}
	p, err := l.Read(t.Context(), store.ID{}, q)
	if err != nil || len(p.Entries) != 3 || p.Evicted || p.Done {
		t.Fatalf("first page = %d entries, evicted %v, done %v, %v; want 3 of 10", len(p.Entries), p.Evicted, p.Done, err)
	}
	appendData(t, l, numbered(11, 15)...) // evicts 1..5
	p, err = l.Read(t.Context(), p.Next, q)
	if err != nil || !p.Evicted || len(p.Entries) != 3 || p.Entries[0].Event.Data != "6" {
		t.Fatalf("second page = %v, evicted %v, %v; want Evicted, then 6, 7, 8", p.Entries, p.Evicted, err)
	}
}

// TestInvalidRetention checks that a Log made with policies Validate
// refuses fails every call with that error, naming the policy.
func TestInvalidRetention(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    store.Retention
		want string
	}{
		{"negative size", store.Retention{Policies: []store.Policy{{Pattern: "x", MaxEntries: -1}}}, `policy 1 ("x") keeps -1 events`},
		{"empty pattern", store.Retention{Policies: []store.Policy{{Pattern: ""}}}, `policy 1 (""): invalid pattern "": empty`},
		{"bad pattern", store.Retention{Policies: []store.Policy{{Pattern: "a//b", MaxEntries: 1}}}, "empty segment"},
		{"pattern twice", store.Retention{Policies: []store.Policy{{Pattern: "a/*", MaxEntries: 1}, {Pattern: "a/*", MaxEntries: 2}}}, `policy 2 ("a/*"): the pattern is given twice`},
		{"negative default", store.Retention{MaxEntries: -5}, "the default keeps -5 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := memory.New(memory.Options{Retention: tc.r})
			defer l.Close()
			_, appendErr := l.Append(t.Context(), store.Entry{Topic: "x", Event: sse.Event{}})
			_, readErr := l.Read(t.Context(), store.ID{}, store.Query{Patterns: []string{"**"}})
			var followErr error
			for _, err := range l.Follow(t.Context()) {
				followErr = err
			}
			for what, err := range map[string]error{"Append": appendErr, "Read": readErr, "Follow": followErr, "Ping": l.Ping(t.Context())} {
				if !errors.Is(err, store.ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s = %v, want ErrInvalidPolicy saying %q", what, err, tc.want)
				}
			}
		})
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
	if _, _, err := read(t, l, store.ID{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if err := l.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	l := newLog(t, memory.Options{Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 10}, {Pattern: "system/**"}}, MaxEntries: 100,
	}})
	ctx := t.Context()
	ev := sse.Event{Type: "message", Data: "hello"}
	for _, topic := range []string{"chat/lobby", "stocks/ACME", "system/metrics"} {
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := l.Append(ctx, store.Entry{Topic: topic, Event: ev}); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Append to %q allocates %v times, want 0", topic, n)
		}
	}
}

var benchEvent = sse.Event{Type: "message", Data: `{"user":"ada","text":"hello, world"}`}

// demoRetention is the shape of herald serve's default policies for the
// demo apps: a few patterns before the default.
var demoRetention = store.Retention{Policies: []store.Policy{
	{Pattern: "stocks/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
	{Pattern: "system/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
	{Pattern: "chat/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
	{Pattern: "tasks/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
}}

// BenchmarkAppend measures Append alone, with the demo's policies, with a
// follower draining concurrently, and from all Ps at once.
func BenchmarkAppend(b *testing.B) {
	b.Run("followers=0", func(b *testing.B) {
		l := memory.New(memory.Options{})
		defer l.Close()
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
		}
	})
	b.Run("policies=demo", func(b *testing.B) {
		l := memory.New(memory.Options{Retention: demoRetention})
		defer l.Close()
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			l.Append(ctx, store.Entry{Topic: "news/today", Event: benchEvent}) // no pattern matches: the longest lookup
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
			l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
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
				l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
			}
		})
	})
}

// BenchmarkFollow measures appending events and delivering every one of them
// to each follower: throughput, with the time to drain included (Append
// waits for the slowest follower rather than lap it), and the latency of
// one append to one waiting follower.
func BenchmarkFollow(b *testing.B) {
	for _, followers := range []int{1, 8} {
		b.Run("followers="+strconv.Itoa(followers), func(b *testing.B) {
			l := memory.New(memory.Options{})
			defer l.Close()
			ctx := b.Context()
			var wg sync.WaitGroup
			var delivered atomic.Int64
			for range followers {
				seq := l.Follow(ctx)
				wg.Go(func() {
					n := int64(0)
					defer func() { delivered.Add(n) }()
					for e, err := range seq {
						switch {
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
				l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
			}
			l.Append(ctx, store.Entry{Topic: "stop", Event: benchEvent})
			wg.Wait()
			if got := delivered.Load(); got != int64(b.N*followers) {
				b.Fatalf("delivered %d of %d", got, b.N*followers)
			}
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
			l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
			<-got
		}
		cancel()
		wg.Wait()
	})
}

// BenchmarkRead measures replaying a full default-sized history in pages of
// 64: every topic, and one chat room among the demo's policies, whose
// history the stock ticker's never touches.
func BenchmarkRead(b *testing.B) {
	for _, tc := range []struct {
		name    string
		r       store.Retention
		pattern string
		want    int
	}{
		{"one_policy", store.Retention{}, "**", store.DefaultMaxEntries},
		{"chat_among_demo_policies", demoRetention, "chat/lobby", 5000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := memory.New(memory.Options{Retention: tc.r})
			defer l.Close()
			ctx := b.Context()
			for i := range store.DefaultMaxEntries {
				l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: benchEvent})
				l.Append(ctx, store.Entry{Topic: "stocks/" + strconv.Itoa(i%20), Event: benchEvent})
			}
			q := store.Query{Patterns: []string{tc.pattern}}
			b.ReportAllocs()
			for b.Loop() {
				if n := storetest.CountPages(b, l, q); n != tc.want {
					b.Fatalf("read %d entries, want %d", n, tc.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tc.want), "ns/entry")
		})
	}
}
