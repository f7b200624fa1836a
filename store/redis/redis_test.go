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

func TestConformanceBatch(t *testing.T) {
	addr := testenv.StartRedis(t)
	storetest.RunBatch(t, func(t *testing.T) store.Log {
		return newLog(t, addr, redis.Options{})
	})
}

func TestRetention(t *testing.T) {
	addr := testenv.StartRedis(t)
	storetest.RunRetention(t, func(t *testing.T, r store.Retention) store.Log {
		return newLog(t, addr, redis.WithExactTrim(redis.Options{Retention: r}))
	})
}

// TestLaggingFollower checks the shared stream's bound: a node's follower
// that falls further behind is told it missed entries and goes on.
func TestLaggingFollower(t *testing.T) {
	addr := testenv.StartRedis(t)
	storetest.RunLaggingFollower(t, func(t *testing.T, maxEntries int) store.Log {
		return newLog(t, addr, redis.WithExactTrim(redis.Options{StreamLen: int64(maxEntries)}))
	})
}

// readAll reads every page after id of the entries matching patterns
// ("**" when none is given), in pages of 7.
func readAll(t *testing.T, l *redis.Log, id store.ID, patterns ...string) (entries []store.Entry, evicted bool, err error) {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	return storetest.ReadAll(t.Context(), l, id, store.Query{Patterns: patterns, Max: 7})
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
	l := newLog(t, addr, redis.WithExactTrim(redis.Options{Retention: store.Retention{MaxAge: 50 * time.Millisecond}}))
	ctx := t.Context()
	old, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "old"}})
	if err != nil {
		t.Fatal(err)
	}
	// Stream IDs carry Redis's clock in milliseconds: wait until an entry
	// appended now is older than MaxAge by the IDs' own measure.
	deadline := time.Now().Add(wait)
	var last store.Entry
	for {
		if last, err = l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "new"}}); err != nil {
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
	got, _, err := readAll(t, l, store.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ID == old.ID {
		t.Fatalf("Read(zero) = %d entries starting %v; want the entry older than MaxAge (%v) trimmed", len(got), got, old.ID)
	}
	if _, evicted, err := readAll(t, l, old.ID); err != nil || !evicted {
		t.Fatalf("Read(trimmed %v) = evicted %v, %v; want Evicted", old.ID, evicted, err)
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
		e, err := a.Append(t.Context(), store.Entry{Topic: "chat/" + strconv.Itoa(i%3), Event: sse.Event{Data: strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	checkSame(t, "Follow on node B of appends on node A", fb.take(t, len(want)), want)
	checkSame(t, "Follow on node A of its own appends", fa.take(t, len(want)), want)
	// Exactly once: the next entry B yields is one appended on B now.
	e, err := b.Append(t.Context(), store.Entry{Topic: "chat/0", Event: sse.Event{Data: "sentinel"}})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, "Follow on node B after its own append", fb.take(t, 1), []store.Entry{e})
	checkSame(t, "Follow on node A of an append on node B", fa.take(t, 1), []store.Entry{e})
	// Replay on B of what A appended.
	got, _, err := readAll(t, b, want[99].ID)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, "Read on node B", got, append(want[100:], e))
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
		e, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: data}})
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
			e, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: "across/" + strconv.Itoa(i)}})
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
		_, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "during/" + strconv.Itoa(i)}})
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
	all, _, err := readAll(t, l, store.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < len(acked)+len(r.acked) {
		t.Errorf("Read(zero) after the restart: %d entries, want at least the %d acknowledged", len(all), len(acked)+len(r.acked))
	}
}

// TestStreamEmptied checks eviction when something outside the Log trims
// a whole history stream: the last ID it was given is then the newest
// evicted.
func TestStreamEmptied(t *testing.T) {
	addr := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	l := newLog(t, addr, redis.Options{Client: rdb})
	_, histories, _ := l.Keys()
	ctx := t.Context()
	var entries []store.Entry
	for i := range 3 {
		e, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if err := rdb.XTrimMaxLen(ctx, histories[0], 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, evicted, err := readAll(t, l, entries[0].ID); err != nil || !evicted || len(got) != 0 {
		t.Fatalf("Read(%v) on a history emptied after it = %v, evicted %v, %v; want nothing, Evicted", entries[0].ID, got, evicted, err)
	}
	if got, evicted, err := readAll(t, l, entries[2].ID); err != nil || evicted || len(got) != 0 {
		t.Fatalf("Read(newest, trimmed %v) on an emptied history = %v, evicted %v, %v; want nothing", entries[2].ID, got, evicted, err)
	}
	e, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "next"}})
	if err != nil {
		t.Fatal(err)
	}
	got, evicted, err := readAll(t, l, entries[2].ID)
	if err != nil || evicted {
		t.Fatalf("Read(newest trimmed) once appended to again: evicted %v, %v", evicted, err)
	}
	checkSame(t, "Read(newest trimmed) once appended to again", got, []store.Entry{e})
}

// TestKeys pins the Redis keys of a log: operators read and delete them.
func TestKeys(t *testing.T) {
	addr := testenv.StartRedis(t)
	l := newLog(t, addr, redis.Options{Stream: "herald:events", Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 100}, {Pattern: "system/**"}},
	}})
	stream, histories, policies := l.Keys()
	got := fmt.Sprintf("%s %v %s", stream, histories, policies)
	want := "herald:events [herald:events:history:stocks/** herald:events:history:system/** herald:events:history] herald:events:policies"
	if got != want {
		t.Errorf("Keys() = %s, want %s", got, want)
	}
}

// TestClusterNeedsHashTag checks that a cluster client is refused with a
// stream whose keys would fall in different slots.
func TestClusterNeedsHashTag(t *testing.T) {
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer c.Close()
	for _, stream := range []string{"", "herald:events", "{}:events", "herald{:events"} {
		l, err := redis.New(t.Context(), redis.Options{Client: c, Stream: stream})
		if err == nil || !strings.Contains(err.Error(), "hash tag") {
			if l != nil {
				l.Close()
			}
			t.Errorf("New with a cluster client and stream %q = %v, want an error about the hash tag", stream, err)
		}
	}
}

// TestPoliciesChange checks what a change of policies does to a Redis log
// in use: new events go to the new histories, a resume from before the
// change is told it lost events, and the old histories are deleted.
func TestPoliciesChange(t *testing.T) {
	addr := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	stream := streamName(t)
	ctx := t.Context()
	first := newLog(t, addr, redis.Options{Stream: stream, Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 100}},
	}})
	before, err := first.Append(ctx, store.Entry{Topic: "chat/a", Event: sse.Event{Data: "before"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Append(ctx, store.Entry{Topic: "stocks/a", Event: sse.Event{Data: "tick"}}); err != nil {
		t.Fatal(err)
	}
	_, oldHistories, _ := first.Keys()
	// The same policies again: nothing changes.
	same := newLog(t, addr, redis.Options{Stream: stream, Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 100}},
	}})
	if got, evicted, err := readAll(t, same, before.ID); err != nil || evicted || len(got) != 1 {
		t.Fatalf("Read(%v) with the same policies = %v, evicted %v, %v; want the tick", before.ID, got, evicted, err)
	}

	l := newLog(t, addr, redis.Options{Stream: stream, Retention: store.Retention{
		Policies: []store.Policy{{Pattern: "chat/**", MaxEntries: 100}},
	}})
	if n, err := rdb.Exists(ctx, oldHistories[0]).Result(); err != nil || n != 0 {
		t.Errorf("the history of the dropped policy stocks/** exists (%d, %v), want it deleted", n, err)
	}
	after, err := l.Append(ctx, store.Entry{Topic: "chat/a", Event: sse.Event{Data: "after"}})
	if err != nil {
		t.Fatal(err)
	}
	got, evicted, err := readAll(t, l, before.ID, "chat/*")
	if err != nil || !evicted {
		t.Errorf("Read(%v) across the change = evicted %v, %v; want Evicted", before.ID, evicted, err)
	}
	checkSame(t, "Read across the change", got, []store.Entry{after})
	if got, evicted, err := readAll(t, l, after.ID, "chat/*"); err != nil || evicted || len(got) != 0 {
		t.Errorf("Read(%v) after the change = %v, evicted %v, %v; want nothing", after.ID, got, evicted, err)
	}
}

// TestSingleStreamDeployment opens a log on a stream written by the single
// history of earlier versions: it serves, IDs go on, new events are
// replayed, and a resume from before the upgrade is told it lost events.
func TestSingleStreamDeployment(t *testing.T) {
	addr := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	stream := streamName(t)
	ctx := t.Context()
	var old []string
	for i, prev := range []string{"0-0", "", ""} {
		if prev == "" {
			prev = old[i-1]
		}
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"prev", prev, "topic", "chat/a", "data", strconv.Itoa(i)}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, id)
	}
	l := newLog(t, addr, redis.Options{Stream: stream})
	e, err := l.Append(ctx, store.Entry{Topic: "chat/a", Event: sse.Event{Data: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := store.ParseID(old[2])
	if e.ID.Compare(last) <= 0 {
		t.Errorf("the first ID after the upgrade is %v, not after %v", e.ID, last)
	}
	first, _ := store.ParseID(old[0])
	got, evicted, err := readAll(t, l, first)
	if err != nil || !evicted {
		t.Errorf("Read(%v, from before the upgrade) = evicted %v, %v; want Evicted", first, evicted, err)
	}
	checkSame(t, "Read from before the upgrade", got, []store.Entry{e})
	if got, evicted, err := readAll(t, l, last); err != nil || evicted || len(got) != 1 {
		t.Errorf("Read(%v, the last ID before the upgrade) = %v, evicted %v, %v; want the new event alone", last, got, evicted, err)
	}
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
		e, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: "probe"}})
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
		e, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: strconv.Itoa(i)}})
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
	e, err := l.Append(t.Context(), store.Entry{Topic: "t", Event: sse.Event{Data: "x"}})
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

// BenchmarkAppend measures one publisher's appends: to the default policy,
// to a policy among the demo's, and to one of size zero.
func BenchmarkAppend(b *testing.B) {
	addr := testenv.StartRedis(b)
	demo := store.Retention{Policies: []store.Policy{
		{Pattern: "stocks/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
		{Pattern: "system/**", MaxEntries: 0},
		{Pattern: "chat/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
	}}
	for _, bc := range []struct{ name, topic string }{
		{"default", "bench"},
		{"policy", "stocks/ACME"},
		{"size_zero", "system/metrics"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := newLog(b, addr, redis.Options{Retention: demo})
			ctx := b.Context()
			ev := sse.Event{Type: "message", Data: strings.Repeat("x", 100)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(ctx, store.Entry{Topic: bc.topic, Event: ev}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead measures reading a 2,000-event history in pages of 64:
// one policy, and one chat room whose policy the ticker never touches.
func BenchmarkRead(b *testing.B) {
	addr := testenv.StartRedis(b)
	for _, bc := range []struct {
		name, pattern string
		r             store.Retention
		want          int
	}{
		{"one_policy", "**", store.Retention{}, 2000},
		{"chat_among_policies", "chat/lobby", store.Retention{Policies: []store.Policy{
			{Pattern: "stocks/**", MaxEntries: 200}, {Pattern: "chat/**", MaxEntries: 5000},
		}}, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := newLog(b, addr, redis.Options{Retention: bc.r})
			ctx := b.Context()
			ev := sse.Event{Data: strings.Repeat("x", 200)}
			for i := range 1000 {
				for _, topic := range []string{"chat/lobby", "stocks/" + strconv.Itoa(i%20)} {
					if _, err := l.Append(ctx, store.Entry{Topic: topic, Event: ev}); err != nil {
						b.Fatal(err)
					}
				}
			}
			q := store.Query{Patterns: []string{bc.pattern}}
			b.ReportAllocs()
			for b.Loop() {
				if n := storetest.CountPages(b, l, q); n != bc.want {
					b.Fatalf("read %d entries, want %d", n, bc.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bc.want), "ns/entry")
		})
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
			if _, err := l.Append(context.Background(), store.Entry{Topic: "bench", Event: ev}); err != nil {
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
		e, err := pub.Append(ctx, store.Entry{Topic: "bench", Event: ev})
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
