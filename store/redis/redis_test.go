package redis_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/redis"
	"github.com/heraldsse/herald/store/storetest"
)

// wait bounds each wait of these tests; it turns a hang into a failure.
const wait = 20 * time.Second

var streams atomic.Int64

// streamName returns a stream key used by no other test of this process.
func streamName(t testing.TB) string {
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return fmt.Sprintf("herald:test:%s:%d", name, streams.Add(1))
}

// newLog opens a Log on addr with opts, closed when t ends.
func newLog(t testing.TB, addr string, opts redis.Options) *redis.Log {
	t.Helper()
	opts.Addr = addr
	if opts.Stream == "" {
		opts.Stream = streamName(t)
	}
	if opts.Backoff == 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	l, err := redis.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("redis.New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	addr := testenv.StartRedis(t)
	storetest.Run(t, func(t *testing.T) store.Log {
		return newLog(t, addr, redis.Options{})
	})
}

func TestRetention(t *testing.T) {
	addr := testenv.StartRedis(t)
	storetest.RunRetention(t, func(t *testing.T, maxEntries int) store.Log {
		return newLog(t, addr, redis.WithExactTrim(redis.Options{MaxLen: int64(maxEntries)}))
	})
}

func TestNewUnreachable(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	l, err := redis.New(ctx, redis.Options{Addr: srv.Addr()})
	if !errors.Is(err, store.ErrUnavailable) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("New with Redis down = %v, want an error wrapping ErrUnavailable", err)
	}
}

func TestRetentionByAge(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.WithExactTrim(redis.Options{MaxAge: 50 * time.Millisecond}))
	ctx := t.Context()
	old, err := l.Append(ctx, "t", sse.Event{Data: "old"})
	if err != nil {
		t.Fatal(err)
	}
	// Stream IDs carry Redis's clock in milliseconds: wait until an entry
	// appended now is older than MaxAge by the IDs' own measure.
	deadline := time.Now().Add(wait)
	var last store.Entry
	for {
		if last, err = l.Append(ctx, "t", sse.Event{Data: "new"}); err != nil {
			t.Fatal(err)
		}
		if last.Time.Sub(old.Time) > 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream IDs did not advance")
		}
		time.Sleep(10 * time.Millisecond) // let Redis's clock move on
	}
	var got []store.Entry
	for e, err := range l.After(ctx, store.ID{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) == 0 || got[0].ID == old.ID {
		t.Fatalf("After(zero) = %d entries starting %v; want the entry older than MaxAge (%v) trimmed", len(got), got, old.ID)
	}
	for _, err := range l.After(ctx, old.ID) {
		if !errors.Is(err, store.ErrEvicted) {
			t.Fatalf("After(trimmed %v) = %v, want ErrEvicted", old.ID, err)
		}
	}
}

// follower collects what a Follow iteration yields, in its own goroutine.
type follower struct {
	entries chan store.Entry
	errs    chan error
	done    chan struct{}
	cancel  context.CancelFunc
}

func startFollow(t *testing.T, l store.Log) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	seq := l.Follow(ctx)
	f := &follower{entries: make(chan store.Entry, 100_000), errs: make(chan error, 100_000), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(f.done)
		for e, err := range seq {
			if err != nil {
				f.errs <- err
			} else {
				f.entries <- e
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// take receives n entries, failing the test on a timeout.
func (f *follower) take(t *testing.T, n int) []store.Entry {
	t.Helper()
	timeout := time.After(wait)
	var got []store.Entry
	for len(got) < n {
		select {
		case e := <-f.entries:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("Follow yielded %d of %d entries within %v", len(got), n, wait)
		}
	}
	return got
}

func checkSame(t *testing.T, what string, got, want []store.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Topic != w.Topic || g.Event != w.Event || !g.Time.Equal(w.Time) {
			t.Fatalf("%s: entry %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func TestTwoNodes(t *testing.T) {
	addr := testenv.StartRedis(t)
	stream := streamName(t)
	a := newLog(t, addr, redis.Options{Stream: stream})
	b := newLog(t, addr, redis.Options{Stream: stream})
	fb := startFollow(t, b)
	fa := startFollow(t, a)
	var want []store.Entry
	for i := range 300 {
		e, err := a.Append(t.Context(), "chat/"+strconv.Itoa(i%3), sse.Event{Data: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	checkSame(t, "Follow on node B of appends on node A", fb.take(t, len(want)), want)
	checkSame(t, "Follow on node A of its own appends", fa.take(t, len(want)), want)
	// Exactly once: the next entry B yields is one appended on B now.
	e, err := b.Append(t.Context(), "chat/0", sse.Event{Data: "sentinel"})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, "Follow on node B after its own append", fb.take(t, 1), []store.Entry{e})
	checkSame(t, "Follow on node A of an append on node B", fa.take(t, 1), []store.Entry{e})
	// Replay on B of what A appended.
	var got []store.Entry
	for e, err := range b.After(t.Context(), want[99].ID) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	checkSame(t, "After on node B", got, append(want[100:], e))
}

// TestRedisRestart takes Redis away while appends go on and a follower
// runs, then brings it back: appends during the outage fail with
// ErrUnavailable, Ping fails, the follower yields ErrUnavailable and then,
// in order and once each, every entry whose append succeeded. The server
// writes an append-only file synced on every write, so an acknowledged
// entry survives the restart.
func TestRedisRestart(t *testing.T) {
	srv := testenv.StartRedisServer(t, "--appendonly", "yes", "--appendfsync", "always")
	l := newLog(t, srv.Addr(), redis.Options{Backoff: 100 * time.Millisecond})
	ctx := t.Context()
	f := startFollow(t, l)

	var acked []store.Entry
	appendOK := func(data string) {
		t.Helper()
		e, err := l.Append(ctx, "t", sse.Event{Data: data})
		if err != nil {
			t.Fatalf("Append(%q) with Redis up: %v", data, err)
		}
		acked = append(acked, e)
	}
	for i := range 50 {
		appendOK("before/" + strconv.Itoa(i))
	}
	checkSame(t, "Follow before the outage", f.take(t, 50), acked)

	// A publisher that goes on appending across the restart, keeping what
	// was acknowledged.
	stop := make(chan struct{})
	type result struct {
		acked  []store.Entry
		failed int
		other  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- r
				return
			default:
			}
			e, err := l.Append(context.Background(), "t", sse.Event{Data: "across/" + strconv.Itoa(i)})
			switch {
			case err == nil:
				r.acked = append(r.acked, e)
			case errors.Is(err, store.ErrUnavailable):
				r.failed++
			default:
				r.other = err
			}
		}
	}()

	srv.Stop()
	for i := range 5 {
		_, err := l.Append(ctx, "t", sse.Event{Data: "during/" + strconv.Itoa(i)})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Append with Redis down = %v, want an error wrapping ErrUnavailable", err)
		}
	}
	if err := l.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with Redis down = %v, want an error wrapping ErrUnavailable", err)
	}
	select {
	case err := <-f.errs:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Follow with Redis down yielded %v, want an error wrapping ErrUnavailable", err)
		}
	case <-time.After(wait):
		t.Fatal("Follow yielded no error while Redis was down")
	}

	srv.Start()
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("Ping after Redis restarted: %v", err)
	}
	for i := range 50 {
		appendOK("after/" + strconv.Itoa(i))
	}
	close(stop)
	r := <-done
	if r.other != nil {
		t.Fatalf("Append across the restart: %v, want success or ErrUnavailable", r.other)
	}
	if r.failed == 0 {
		t.Error("no Append failed across the restart")
	}
	t.Logf("across the restart: %d appends acknowledged, %d failed with ErrUnavailable", len(r.acked), r.failed)

	// Every acknowledged entry, in log order.
	byID := make(map[store.ID]store.Entry, len(acked)+len(r.acked))
	for _, e := range append(acked[50:], r.acked...) {
		byID[e.ID] = e
	}
	timeout := time.After(wait)
	var prev store.ID
	for len(byID) > 0 {
		select {
		case e := <-f.entries:
			if e.ID.Compare(prev) <= 0 {
				t.Fatalf("Follow yielded %v after %v: out of order or twice", e.ID, prev)
			}
			prev = e.ID
			// An entry not acknowledged may exist: an append whose reply
			// was lost. Every acknowledged one must come.
			if w, ok := byID[e.ID]; ok {
				checkSame(t, "Follow across the restart", []store.Entry{e}, []store.Entry{w})
				delete(byID, e.ID)
			}
		case err := <-f.errs:
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Follow yielded %v, want only errors wrapping ErrUnavailable", err)
			}
		case <-timeout:
			t.Fatalf("Follow across the restart: %d acknowledged entries missing after %v", len(byID), wait)
		}
	}
	var all []store.Entry
	for e, err := range l.After(ctx, store.ID{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	if len(all) < len(acked)+len(r.acked) {
		t.Errorf("After(zero) after the restart: %d entries, want at least the %d acknowledged", len(all), len(acked)+len(r.acked))
	}
}

// TestStreamEmptied checks eviction when something outside the Log trims
// the whole stream: the last ID generated is then the newest evicted.
func TestStreamEmptied(t *testing.T) {
	addr := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	stream := streamName(t)
	l := newLog(t, addr, redis.Options{Stream: stream, Client: rdb})
	ctx := t.Context()
	var entries []store.Entry
	for i := range 3 {
		e, err := l.Append(ctx, "t", sse.Event{Data: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, err := range l.After(ctx, entries[0].ID) {
		if !errors.Is(err, store.ErrEvicted) {
			t.Fatalf("After(%v) on a stream emptied after it = %v, want ErrEvicted", entries[0].ID, err)
		}
	}
	for e, err := range l.After(ctx, entries[2].ID) {
		t.Fatalf("After(newest, trimmed %v) on an emptied stream = %v, %v; want nothing", entries[2].ID, e, err)
	}
	e, err := l.Append(ctx, "t", sse.Event{Data: "next"})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Entry
	for e, err := range l.After(ctx, entries[2].ID) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	checkSame(t, "After(newest trimmed) once appended to again", got, []store.Entry{e})
}

// TestFollowCalledWhileDown calls Follow while Redis is down: the
// iteration yields ErrUnavailable, then follows once Redis is back.
func TestFollowCalledWhileDown(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	l := newLog(t, srv.Addr(), redis.Options{Backoff: 100 * time.Millisecond})
	srv.Stop()
	f := startFollow(t, l)
	select {
	case err := <-f.errs:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Follow called with Redis down yielded %v, want an error wrapping ErrUnavailable", err)
		}
	case <-time.After(wait):
		t.Fatal("Follow called with Redis down yielded no error")
	}
	srv.Start()
	// The follower resolves its start when it reaches Redis; append until
	// it has, then check it yields what follows in order.
	deadline := time.After(wait)
	var first store.Entry
	for first.ID.IsZero() {
		e, err := l.Append(t.Context(), "t", sse.Event{Data: "probe"})
		if err != nil {
			t.Fatalf("Append after Redis came back: %v", err)
		}
		select {
		case first = <-f.entries:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("Follow yielded nothing within %v of Redis coming back (last append %v)", wait, e.ID)
		}
	}
	var want []store.Entry
	for i := range 20 {
		e, err := l.Append(t.Context(), "t", sse.Event{Data: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	got := f.take(t, len(want))
	for len(got) > 0 && got[0].Event.Data == "probe" {
		got = append(got[1:], f.take(t, 1)...)
	}
	checkSame(t, "Follow called while Redis was down", got, want)
}

// TestCloseInterruptsFollow closes a Log on a client it does not own while
// a Follow waits in XREAD BLOCK: the iteration must end at once with
// ErrClosed, not when the block times out, and the client stays usable.
func TestCloseInterruptsFollow(t *testing.T) {
	addr := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	l := newLog(t, addr, redis.Options{Client: rdb, Block: time.Minute})
	f := startFollow(t, l)
	e, err := l.Append(t.Context(), "t", sse.Event{Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, "Follow", f.take(t, 1), []store.Entry{e}) // now waiting for more
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-f.done:
	case <-time.After(wait):
		t.Fatalf("Follow did not end within %v of Close", wait)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Follow ended %v after Close; want it interrupted, not timed out", d)
	}
	select {
	case err := <-f.errs:
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("Follow yielded %v at Close, want ErrClosed", err)
		}
	default:
		t.Error("Follow yielded no error at Close, want ErrClosed")
	}
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Errorf("the client passed in Options.Client after Close: %v", err)
	}
}

func TestPingClosed(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.Options{})
	if err := l.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	l.Close()
	if err := l.Ping(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	addr := testenv.StartRedis(b)
	l := newLog(b, addr, redis.Options{})
	ctx := b.Context()
	ev := sse.Event{Type: "message", Data: strings.Repeat("x", 100)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(ctx, "bench", ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	addr := testenv.StartRedis(b)
	l := newLog(b, addr, redis.Options{})
	ev := sse.Event{Type: "message", Data: strings.Repeat("x", 100)}
	b.ReportAllocs()
	b.SetParallelism(8) // 8 publishers per CPU, each on its own connection
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), "bench", ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishToFollow measures the time from the start of an Append
// on one Log to the entry coming out of a Follow on another Log of the same
// stream (two nodes), one event at a time.
func BenchmarkPublishToFollow(b *testing.B) {
	addr := testenv.StartRedis(b)
	stream := streamName(b)
	pub := newLog(b, addr, redis.Options{Stream: stream})
	sub := newLog(b, addr, redis.Options{Stream: stream})
	next, stop := iter.Pull2(sub.Follow(b.Context()))
	defer stop()
	ctx := b.Context()
	ev := sse.Event{Data: strings.Repeat("x", 100)}
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		e, err := pub.Append(ctx, "bench", ev)
		if err != nil {
			b.Fatal(err)
		}
		got, err, ok := next()
		if !ok || err != nil || got.ID != e.ID {
			b.Fatalf("Follow = %v, %v, %v; want %v", got.ID, err, ok, e.ID)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/event")
}
