package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/redis"
)

// demoRetention has a policy with history, one of size zero, and the
// default: concurrent appends to all three share batches.
var demoRetention = store.Retention{Policies: []store.Policy{
	{Pattern: "stocks/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
	{Pattern: "system/**", MaxEntries: 0},
}}

// TestConcurrentAppends checks what batching must keep: every Append gets
// the ID its entry is stored and followed under, IDs are unique, each
// publisher's appends are stored in the order it made them, every entry
// reaches a follower once, in ID order, and each policy's history holds
// exactly its own entries.
func TestConcurrentAppends(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.WithExactTrim(redis.Options{Retention: demoRetention}))
	f := startFollow(t, l)
	const publishers, each = 64, 40
	topics := []string{"stocks/ACME", "system/load", "chat/lobby"}
	got := make([][]store.Entry, publishers)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				e, err := l.Append(t.Context(), store.Entry{Topic: topics[(p+i)%3], Event: sse.Event{Data: fmt.Sprintf("%d/%d", p, i)}})
				if err != nil {
					t.Error(err)
					return
				}
				got[p] = append(got[p], e)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	byID := map[store.ID]store.Entry{}
	for p, es := range got {
		for i, e := range es {
			if i > 0 && e.ID.Compare(es[i-1].ID) <= 0 {
				t.Fatalf("publisher %d: append %d got %v, not after its append %d (%v)", p, i, e.ID, i-1, es[i-1].ID)
			}
			if _, dup := byID[e.ID]; dup {
				t.Fatalf("ID %v returned twice", e.ID)
			}
			byID[e.ID] = e
		}
	}
	followed := f.take(t, publishers*each)
	for i, e := range followed {
		if i > 0 && e.ID.Compare(followed[i-1].ID) <= 0 {
			t.Fatalf("Follow yielded %v after %v", e.ID, followed[i-1].ID)
		}
		if w, ok := byID[e.ID]; !ok || w.Event.Data != e.Event.Data || w.Topic != e.Topic {
			t.Fatalf("Follow yielded %v %q %q; Append returned %+v for that ID", e.ID, e.Topic, e.Event.Data, w)
		}
	}
	for _, tc := range []struct {
		pattern string
		want    int
	}{{"stocks/**", 200}, {"system/**", 0}, {"chat/**", publishers * each / 3}} {
		es, _, err := readAll(t, l, store.ID{}, tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != tc.want {
			t.Errorf("history of %s holds %d entries, want %d", tc.pattern, len(es), tc.want)
		}
		for _, e := range es {
			if w := byID[e.ID]; w.Event.Data != e.Event.Data || w.Topic != e.Topic {
				t.Fatalf("history of %s: %v is %q %q, Append returned %+v", tc.pattern, e.ID, e.Topic, e.Event.Data, w)
			}
		}
	}
}

// TestAppendFailsAlone breaks one policy's history (an entry far ahead of
// the shared stream, as when someone deletes keys by hand): appends to it
// fail with ErrUnavailable, while appends to other policies, made at the
// same time and so sharing batches with them, succeed.
func TestAppendFailsAlone(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.Options{Retention: demoRetention})
	_, histories, _ := l.Keys()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.XAdd(t.Context(), &goredis.XAddArgs{Stream: histories[0], ID: "99999999999999-0", Values: []string{"prev", "0-0"}}).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad, good int
	for p := range 32 {
		wg.Go(func() {
			topic := "chat/lobby"
			if p%2 == 0 {
				topic = "stocks/ACME"
			}
			_, err := l.Append(t.Context(), store.Entry{Topic: topic, Event: sse.Event{Data: "x"}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case topic == "stocks/ACME" && errors.Is(err, store.ErrUnavailable):
				bad++
			case topic == "chat/lobby" && err == nil:
				good++
			default:
				t.Errorf("Append to %s: %v", topic, err)
			}
		})
	}
	wg.Wait()
	if bad != 16 || good != 16 {
		t.Errorf("%d appends to the broken policy failed and %d others succeeded, want 16 and 16", bad, good)
	}
}

// TestAppendCanceledWhileQueued cancels appends that wait behind others:
// each returns the context's error, and whatever it returns, an entry is
// stored only when Append said so or the context ended (never twice).
func TestAppendCanceledWhileQueued(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.Options{})
	f := startFollow(t, l)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, canceled := 0, 0
	for p := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(p%5)*100*time.Microsecond)
			defer cancel()
			_, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: fmt.Sprint(p)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, context.DeadlineExceeded):
				canceled++
			default:
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	// A sentinel marks the end of what the follower can receive.
	end, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: "end"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		e := f.take(t, 1)[0]
		if e.ID == end.ID {
			break
		}
		seen = append(seen, e.Event.Data)
	}
	slices.Sort(seen)
	if len(slices.Compact(slices.Clone(seen))) != len(seen) {
		t.Fatalf("an entry was stored twice: %q", seen)
	}
	if len(seen) < ok || len(seen) > ok+canceled {
		t.Fatalf("%d entries stored; %d appends succeeded and %d were canceled", len(seen), ok, canceled)
	}
}

// BenchmarkAppendConcurrent measures appends per second through one Log
// (one node) with 1, 16 and 256 publishers at once: concurrent appends
// share script calls.
func BenchmarkAppendConcurrent(b *testing.B) {
	addr := testenv.StartRedis(b)
	for _, publishers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			l := newLog(b, addr, redis.Options{Retention: demoRetention})
			ev := sse.Event{Type: "message", Data: strings.Repeat("x", 100)}
			topics := []string{"bench", "stocks/ACME"}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range publishers {
				n := b.N/publishers + min(1, max(0, b.N%publishers-p))
				wg.Go(func() {
					for i := range n {
						if _, err := l.Append(context.Background(), store.Entry{Topic: topics[i%2], Event: ev}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// TestFollowerNeverSkipsSilently appends in concurrent batches to a shared
// stream of 5 entries while a follower runs: entries may be trimmed before
// it reads them, but then it says so (ErrEvicted) before the next entry it
// yields; it never passes over an appended entry without an error, whether
// it read them with XRANGE or from the XREAD that woke it.
func TestFollowerNeverSkipsSilently(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.WithExactTrim(redis.Options{StreamLen: 5}))
	type step struct {
		e   store.Entry
		err error
	}
	steps := make(chan step, 10_000) // in the order Follow yields them
	ctx, cancel := context.WithCancel(t.Context())
	seq := l.Follow(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range seq {
			steps <- step{e, err}
		}
	}()
	defer func() { cancel(); <-done }()
	var mu sync.Mutex
	var appended []store.ID
	for round := range 20 {
		var wg sync.WaitGroup
		for p := range 30 {
			wg.Go(func() {
				e, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: fmt.Sprint(round, p)}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				appended = append(appended, e.ID)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	end, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: "end"}})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(appended, store.ID.Compare)
	var last store.ID // the last entry yielded, or the newest one reported evicted
	timeout := time.After(wait)
	for last != end.ID {
		select {
		case st := <-steps:
			if st.err != nil {
				if !errors.Is(st.err, store.ErrEvicted) {
					t.Fatalf("Follow: %v", st.err)
				}
				// The error names the newest trimmed ID: "up to X".
				_, after, _ := strings.Cut(st.err.Error(), " up to ")
				id, perr := store.ParseID(strings.Fields(after)[0])
				if perr != nil {
					t.Fatalf("ErrEvicted without the ID it reached: %v", st.err)
				}
				last = id
				continue
			}
			e := st.e
			// Everything appended between last and e must have been
			// reported evicted, which moves last past it.
			for _, id := range appended {
				if id.Compare(last) > 0 && id.Compare(e.ID) < 0 {
					t.Fatalf("Follow yielded %v after %v without an error: %v was passed over", e.ID, last, id)
				}
			}
			last = e.ID
		case <-timeout:
			t.Fatalf("Follow did not reach the last entry within %v (at %v)", wait, last)
		}
	}
}
