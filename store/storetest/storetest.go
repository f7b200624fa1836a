package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// Run runs the conformance suite for [store.Log] as subtests of t.
//
// newLog is called once per subtest and returns an empty log, reachable and
// open, with bounds loose enough to keep 5,000 small entries (and one of
// 64 KiB) for as long as the subtest runs. It registers whatever releases
// the log with t.Cleanup. If the log implements [io.Closer], a subtest
// closes it itself, so Close must tolerate being called again by that
// cleanup. If it implements [store.Pinger], Ping must succeed while open.
//
// Besides the contract written on [store.Log], the suite requires that:
//   - Append with a context that is already done returns an error wrapping
//     the context's error and stores nothing;
//   - the entry Append returns is the entry After and Follow yield, Time
//     included (compared with [time.Time.Equal]);
//   - after Close, Append, After and Ping fail with errors wrapping
//     [store.ErrClosed], and Follow iterations end, any error they yield
//     wrapping [store.ErrClosed].
func Run(t *testing.T, newLog func(t *testing.T) store.Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(*testing.T, store.Log)
	}{
		{"append_assigns_increasing_parseable_ids", testIDs},
		{"append_returns_entry_as_stored", testAppendEntry},
		{"append_with_done_context_stores_nothing", testAppendDoneContext},
		{"after_zero_yields_everything_in_order", testAfterZero},
		{"after_id_yields_exactly_the_entries_after_it", testAfterID},
		{"after_head_yields_nothing", testAfterHead},
		{"after_stops_at_head_when_called", testAfterStopsAtHead},
		{"after_on_empty_log", testAfterEmpty},
		{"after_unknown_id_is_ErrUnknownID", testAfterUnknown},
		{"after_stopped_early", testAfterBreak},
		{"paused_after_does_not_block_append", testAfterPaused},
		{"follow_yields_appends_after_the_call_once_in_order", testFollow},
		{"follow_with_8_concurrent_appenders", testFollowConcurrent},
		{"two_followers_each_see_everything", testTwoFollowers},
		{"follow_stopped_early", testFollowBreak},
		{"follow_ends_when_context_cancelled", testFollowCancel},
		{"follow_with_done_context_ends_at_once", testFollowDoneContext},
		{"paused_follow_does_not_block_append", testFollowPaused},
		{"ping_succeeds_while_open", testPing},
		{"closed_log_fails_with_ErrClosed", testClosed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newLog(t)) })
	}
}

// RunRetention runs the tests of count-bounded history as subtests of t.
//
// newLog is called once per subtest and returns an empty log that keeps the
// newest maxEntries entries and evicts older ones as soon as more are
// appended, exactly: a log that trims lazily or approximately (Redis
// "MAXLEN ~") is configured to trim exactly here. It registers whatever
// releases the log with t.Cleanup.
//
// Besides the contract written on [store.Log], the suite requires that
// After with the ID of the newest evicted entry resumes without error,
// since nothing after it is missing.
func RunRetention(t *testing.T, newLog func(t *testing.T, maxEntries int) store.Log) {
	t.Helper()
	const maxEntries = 8
	for _, tc := range []struct {
		name string
		test func(*testing.T, store.Log, int)
	}{
		{"within_bound_nothing_is_evicted", testWithinBound},
		{"keeps_the_newest_entries", testKeepsNewest},
		{"evicted_id_is_ErrEvicted", testEvictedID},
		{"id_of_newest_evicted_entry_resumes", testNewestEvicted},
		{"lagging_follower_gets_ErrEvicted_then_resumes", testLaggingFollower},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newLog(t, maxEntries), maxEntries) })
	}
}

// events covers what an event may hold: types, multi-line and empty data,
// CR/LF, non-ASCII, NUL, a large payload, retry hints, and a client-set ID
// that the log must drop.
var events = []struct {
	topic string
	ev    sse.Event
}{
	{"chat/lobby", sse.Event{Data: "hello"}},
	{"chat/lobby", sse.Event{Type: "message", Data: "two\nlines"}},
	{"tasks/42", sse.Event{Type: "progress", Data: `{"status":"running","progress":50}`, Retry: 3 * time.Second}},
	{"a/b/c", sse.Event{ID: "set-by-publisher", Type: "update", Data: "the ID is dropped"}},
	{"chat/lobby", sse.Event{}},
	{"intl/ü", sse.Event{Type: "grüße", Data: "héllo, 世界 🎉\r\ncr lf\rcr"}},
	{"bytes", sse.Event{Data: "nul\x00inside"}},
	{"big", sse.Event{Data: strings.Repeat("0123456789abcdef", 4096)}},
	{"chat/lobby", sse.Event{Data: "retry", Retry: 1500 * time.Millisecond}},
}

// appendEvents appends events and returns what Append returned.
func appendEvents(t *testing.T, l store.Log) []store.Entry {
	t.Helper()
	entries := make([]store.Entry, 0, len(events))
	for _, c := range events {
		entries = append(entries, appendAll(t, l, c.topic, c.ev)...)
	}
	return entries
}

func testIDs(t *testing.T, l store.Log) {
	entries := appendN(t, l, "t", "e", 300)
	var prev store.ID
	for i, e := range entries {
		if e.ID.IsZero() {
			t.Fatalf("entry %d has the zero ID", i)
		}
		if i > 0 && e.ID.Compare(prev) <= 0 {
			t.Fatalf("entry %d: ID %v does not come after %v", i, e.ID, prev)
		}
		prev = e.ID
		s := e.ID.String()
		got, err := store.ParseID(s)
		if err != nil || got != e.ID {
			t.Fatalf("ParseID(%q) = %v, %v; want %v", s, got, err, e.ID)
		}
	}
}

func testAppendEntry(t *testing.T, l store.Log) {
	entries := appendEvents(t, l)
	for i, e := range entries {
		want := events[i].ev
		want.ID = ""
		if e.Topic != events[i].topic || e.Event != want {
			t.Errorf("Append(%q, %+v) = %s, want topic %q and event %+v", events[i].topic, events[i].ev, show(e), events[i].topic, want)
		}
		if e.Time.IsZero() {
			t.Errorf("Append(%q, ...) returned an entry with a zero Time", events[i].topic)
		}
	}
}

func testAppendDoneContext(t *testing.T, l store.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	it := within(t, "Append with a cancelled context", func() item {
		e, err := l.Append(ctx, "t", sse.Event{Data: "never stored"})
		return item{e, err}
	})
	if !errors.Is(it.err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %s, %v; want an error wrapping context.Canceled", show(it.entry), it.err)
	}
	if got := after(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("After(zero) after an Append with a cancelled context = %v, want nothing stored", ids(got))
	}
}

func testAfterZero(t *testing.T, l store.Log) {
	want := appendEvents(t, l)
	checkEntries(t, "After(zero)", after(t, l, store.ID{}), want)
}

func testAfterID(t *testing.T, l store.Log) {
	want := appendN(t, l, "t", "e", 40)
	for i, e := range want {
		checkEntries(t, fmt.Sprintf("After(%v), entry %d", e.ID, i), after(t, l, e.ID), want[i+1:])
	}
}

func testAfterHead(t *testing.T, l store.Log) {
	entries := appendN(t, l, "t", "e", 3)
	head := entries[len(entries)-1].ID
	if got := after(t, l, head); len(got) != 0 {
		t.Errorf("After(head %v) = %v, want nothing", head, ids(got))
	}
}

func testAfterStopsAtHead(t *testing.T, l store.Log) {
	want := appendN(t, l, "t", "before", 5)
	seq := l.After(t.Context(), store.ID{})
	appendN(t, l, "t", "after", 5)
	got, err := readAll(t, seq)
	if err != nil {
		t.Fatalf("After(zero): %v", err)
	}
	checkEntries(t, "After(zero) called before 5 more appends", got, want)
}

func testAfterEmpty(t *testing.T, l store.Log) {
	if got := after(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("After(zero) on an empty log = %v, want nothing", ids(got))
	}
	for _, id := range []store.ID{{Major: 1, Minor: 1}, {Major: math.MaxUint64, Minor: math.MaxUint64}} {
		got, err := readAll(t, l.After(t.Context(), id))
		if len(got) != 0 || !errors.Is(err, store.ErrUnknownID) {
			t.Errorf("After(%v) on an empty log = %v, %v; want only an error wrapping ErrUnknownID", id, ids(got), err)
		}
	}
}

func testAfterUnknown(t *testing.T, l store.Log) {
	entries := appendN(t, l, "t", "e", 3)
	head := entries[len(entries)-1].ID
	for _, tc := range []struct {
		name, id string
	}{
		{"not_an_id", "hello"},
		{"empty", ""},
		{"one_number", strconv.FormatUint(head.Minor, 10)},
		{"trailing_dash", head.String() + "-"},
		{"leading_zero", fmt.Sprintf("0%d-%d", head.Major, head.Minor)},
		{"overflow", "18446744073709551616-1"},
		{"next_after_head", store.ID{Major: head.Major, Minor: head.Minor + 1}.String()},
		{"far_after_head", store.ID{Major: head.Major, Minor: math.MaxUint64}.String()},
		{"future_major", store.ID{Major: head.Major + 1, Minor: 0}.String()},
		{"max", store.ID{Major: math.MaxUint64, Minor: math.MaxUint64}.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := store.ParseID(tc.id)
			if err != nil {
				wantErr(t, fmt.Sprintf("ParseID(%q)", tc.id), err, store.ErrUnknownID)
				return
			}
			got, err := readAll(t, l.After(t.Context(), id))
			if len(got) != 0 || !errors.Is(err, store.ErrUnknownID) {
				t.Errorf("After(%v) with head %v = %v, %v; want only an error wrapping ErrUnknownID", id, head, ids(got), err)
			}
		})
	}
}

func testAfterBreak(t *testing.T, l store.Log) {
	entries := appendN(t, l, "t", "e", 5)
	seq := l.After(t.Context(), store.ID{})
	err := within(t, "After(zero) stopped after 2 entries", func() error {
		n := 0
		for _, err := range seq {
			if err != nil {
				return err
			}
			if n++; n == 2 {
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("After(zero): %v", err)
	}
	more := appendN(t, l, "t", "more", 1)
	checkEntries(t, "After(zero) after an iteration stopped early", after(t, l, store.ID{}), append(entries, more...))
}

func testAfterPaused(t *testing.T, l store.Log) {
	// More than one chunk or batch of any reasonable implementation.
	want := appendN(t, l, "t", "before", 600)
	p := pull(t, "After(zero)", l.After(t.Context(), store.ID{}))
	got := []store.Entry{p.entry()}

	done := make(chan error, 1)
	go func() {
		for i := range 100 {
			if _, err := l.Append(context.Background(), "t", sse.Event{Data: "during/" + strconv.Itoa(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := await(t, done, "Append while an After iteration is paused"); err != nil {
		t.Fatalf("Append while an After iteration is paused: %v", err)
	}

	for {
		it, ok := p.step()
		if !ok {
			break
		}
		if it.err != nil {
			t.Fatalf("After(zero) yielded %v after %d entries", it.err, len(got))
		}
		got = append(got, it.entry)
	}
	checkEntries(t, "After(zero) paused while 100 more were appended", got, want)
}

func testFollow(t *testing.T, l store.Log) {
	appendN(t, l, "t", "before", 3)
	f := startFollow(t, l)
	// Appended after Follow returned, before the iteration reads anything.
	want := appendN(t, l, "t", "after", 5)
	checkEntries(t, "Follow", f.take(t, 5), want)
	want = appendEvents(t, l)
	checkEntries(t, "Follow", f.take(t, len(want)), want)
}

func testFollowConcurrent(t *testing.T, l store.Log) {
	const appenders, each = 8, 250
	f := startFollow(t, l)

	appended := make([][]store.Entry, appenders)
	errs := make([]error, appenders)
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			topic := "appender/" + strconv.Itoa(g)
			for i := range each {
				e, err := l.Append(context.Background(), topic, sse.Event{Data: strconv.Itoa(i)})
				if err != nil {
					errs[g] = fmt.Errorf("Append(%q, #%d): %w", topic, i, err)
					return
				}
				appended[g] = append(appended[g], e)
			}
		})
	}
	got := f.take(t, appenders*each)
	within(t, "8 concurrent appenders", func() struct{} { wg.Wait(); return struct{}{} })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	byID := make(map[store.ID]store.Entry, appenders*each)
	for _, entries := range appended {
		for _, e := range entries {
			byID[e.ID] = e
		}
	}
	next := make(map[string]int) // topic -> next data expected
	for i, e := range got {
		if i > 0 && e.ID.Compare(got[i-1].ID) <= 0 {
			t.Fatalf("Follow: entry %d has ID %v, not after %v", i, e.ID, got[i-1].ID)
		}
		want, ok := byID[e.ID]
		if !ok || !same(e, want) {
			t.Fatalf("Follow: entry %d = %s, which no Append returned (or yielded twice)", i, show(e))
		}
		delete(byID, e.ID)
		if e.Event.Data != strconv.Itoa(next[e.Topic]) {
			t.Fatalf("Follow: entry %d on %q has data %q, want %d: out of the appender's order", i, e.Topic, e.Event.Data, next[e.Topic])
		}
		next[e.Topic]++
	}
	checkEntries(t, "After(zero) after concurrent appends", after(t, l, store.ID{}), got)
}

func testTwoFollowers(t *testing.T, l store.Log) {
	a, b := startFollow(t, l), startFollow(t, l)
	want := appendEvents(t, l)
	want = append(want, appendN(t, l, "t", "e", 100)...)
	checkEntries(t, "first follower", a.take(t, len(want)), want)
	checkEntries(t, "second follower", b.take(t, len(want)), want)
}

func testFollowBreak(t *testing.T, l store.Log) {
	seq := l.Follow(t.Context())
	want := appendN(t, l, "t", "e", 5)
	got := within(t, "Follow stopped after 2 entries", func() []item {
		var got []item
		for e, err := range seq {
			if got = append(got, item{e, err}); len(got) == 2 {
				break
			}
		}
		return got
	})
	for i, it := range got {
		if it.err != nil || !same(it.entry, want[i]) {
			t.Fatalf("Follow: item %d = (%s, %v), want %s", i, show(it.entry), it.err, show(want[i]))
		}
	}
	// Appending after the break must not block or fail, and a new follower
	// works.
	f := startFollow(t, l)
	more := appendN(t, l, "t", "more", 3)
	checkEntries(t, "Follow after another was stopped early", f.take(t, 3), more)
}

func testFollowCancel(t *testing.T, l store.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	seq := l.Follow(ctx)
	entries := make(chan store.Entry)
	done := make(chan struct{})
	var errs []error
	go func() {
		defer close(done)
		for e, err := range seq {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			entries <- e
		}
	}()
	appendN(t, l, "t", "e", 1)
	await(t, entries, "Follow")
	// The follower is now waiting for the next append, or about to.
	cancel()
	await(t, done, "Follow after its context was cancelled")
	if len(errs) != 0 {
		t.Errorf("Follow yielded %v; want it to end without an error when its context ends", errs)
	}
}

func testFollowDoneContext(t *testing.T, l store.Log) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	seq := l.Follow(ctx)
	appendN(t, l, "t", "e", 3)
	done := make(chan []error, 1)
	go func() {
		var errs []error
		for _, err := range seq {
			if err != nil {
				errs = append(errs, err)
			}
		}
		done <- errs
	}()
	if errs := await(t, done, "Follow with a cancelled context"); len(errs) != 0 {
		t.Errorf("Follow with a cancelled context yielded %v; want it to end without an error", errs)
	}
}

func testFollowPaused(t *testing.T, l store.Log) {
	p := pull(t, "Follow", l.Follow(t.Context()))
	first := appendN(t, l, "t", "first", 1)
	if e := p.entry(); !same(e, first[0]) {
		t.Fatalf("Follow = %s, want %s", show(e), show(first[0]))
	}

	// The follower is paused inside its yield while 300 entries go in.
	done := make(chan []store.Entry, 1)
	go func() {
		var entries []store.Entry
		for i := range 300 {
			e, err := l.Append(context.Background(), "t", sse.Event{Data: "during/" + strconv.Itoa(i)})
			if err != nil {
				break
			}
			entries = append(entries, e)
		}
		done <- entries
	}()
	want := await(t, done, "Append while a Follow iteration is paused")
	if len(want) != 300 {
		t.Fatalf("Append failed after %d of 300 entries while a Follow iteration was paused", len(want))
	}
	got := make([]store.Entry, 0, len(want))
	for range want {
		got = append(got, p.entry())
	}
	checkEntries(t, "Follow paused while 300 were appended", got, want)
}

func testPing(t *testing.T, l store.Log) {
	p, ok := l.(store.Pinger)
	if !ok {
		t.Skip("the log does not implement store.Pinger")
	}
	if err := ping(t, p); err != nil {
		t.Errorf("Ping = %v, want nil", err)
	}
}

func testClosed(t *testing.T, l store.Log) {
	c, ok := l.(io.Closer)
	if !ok {
		t.Skip("the log does not implement io.Closer")
	}
	entries := appendN(t, l, "t", "e", 3)

	// A follower that is running when the log closes.
	seq := l.Follow(t.Context())
	first := make(chan struct{})
	done := make(chan []error, 1)
	go func() {
		var errs []error
		n := 0
		for _, err := range seq {
			if err != nil {
				errs = append(errs, err)
			} else if n++; n == 1 {
				close(first)
			}
		}
		done <- errs
	}()
	appendN(t, l, "t", "followed", 1)
	await(t, first, "Follow")

	if err := within(t, "Close", c.Close); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, err := range await(t, done, "Follow running when the log was closed") {
		wantErr(t, "Follow running when the log was closed", err, store.ErrClosed)
	}

	ctx := t.Context()
	err := within(t, "Append after Close", func() error {
		_, err := l.Append(ctx, "t", sse.Event{Data: "late"})
		return err
	})
	wantErr(t, "Append after Close", err, store.ErrClosed)
	for _, id := range []store.ID{{}, entries[0].ID} {
		got, err := readAll(t, l.After(t.Context(), id))
		if len(got) != 0 || !errors.Is(err, store.ErrClosed) {
			t.Errorf("After(%v) after Close = %v, %v; want only an error wrapping ErrClosed", id, ids(got), err)
		}
	}
	go func() {
		var errs []error
		for _, err := range l.Follow(t.Context()) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		done <- errs
	}()
	for _, err := range await(t, done, "Follow after Close") {
		wantErr(t, "Follow after Close", err, store.ErrClosed)
	}
	if p, ok := l.(store.Pinger); ok {
		wantErr(t, "Ping after Close", ping(t, p), store.ErrClosed)
	}
}

func testWithinBound(t *testing.T, l store.Log, maxEntries int) {
	want := appendN(t, l, "t", "e", maxEntries)
	checkEntries(t, fmt.Sprintf("After(zero) with %d of %d entries", maxEntries, maxEntries), after(t, l, store.ID{}), want)
	checkEntries(t, "After(first)", after(t, l, want[0].ID), want[1:])
}

func testKeepsNewest(t *testing.T, l store.Log, maxEntries int) {
	all := appendN(t, l, "t", "e", 3*maxEntries+1)
	want := all[len(all)-maxEntries:]
	checkEntries(t, fmt.Sprintf("After(zero) keeping %d of %d", maxEntries, len(all)), after(t, l, store.ID{}), want)
	for i, e := range want {
		checkEntries(t, fmt.Sprintf("After(kept entry %d)", i), after(t, l, e.ID), want[i+1:])
	}
}

func testEvictedID(t *testing.T, l store.Log, maxEntries int) {
	all := appendN(t, l, "t", "e", 3*maxEntries)
	// all[len-maxEntries-1] is the newest evicted; after any older ID,
	// something is missing.
	for _, i := range []int{0, 1, len(all) - maxEntries - 2} {
		id := all[i].ID
		got, err := readAll(t, l.After(t.Context(), id))
		if len(got) != 0 || !errors.Is(err, store.ErrEvicted) {
			t.Errorf("After(%v), evicted entry %d = %v, %v; want only an error wrapping ErrEvicted", id, i, ids(got), err)
		}
	}
}

func testNewestEvicted(t *testing.T, l store.Log, maxEntries int) {
	all := appendN(t, l, "t", "e", 3*maxEntries)
	last := len(all) - maxEntries - 1
	checkEntries(t, fmt.Sprintf("After(%v), the newest evicted", all[last].ID), after(t, l, all[last].ID), all[last+1:])
}

func testLaggingFollower(t *testing.T, l store.Log, maxEntries int) {
	p := pull(t, "Follow", l.Follow(t.Context()))
	first := appendN(t, l, "t", "first", 1)
	if e := p.entry(); !same(e, first[0]) {
		t.Fatalf("Follow = %s, want %s", show(e), show(first[0]))
	}
	// Paused in its yield, the follower falls behind by more than the log
	// keeps.
	all := appendN(t, l, "t", "e", 3*maxEntries)
	it, ok := p.step()
	if !ok {
		t.Fatal("Follow ended, want an error wrapping ErrEvicted")
	}
	if !errors.Is(it.err, store.ErrEvicted) {
		t.Fatalf("Follow yielded (%s, %v) after falling behind; want an error wrapping ErrEvicted", show(it.entry), it.err)
	}
	want := all[len(all)-maxEntries:]
	got := make([]store.Entry, 0, len(want))
	for range want {
		got = append(got, p.entry())
	}
	checkEntries(t, "Follow after ErrEvicted", got, want)
	more := appendN(t, l, "t", "more", 2)
	checkEntries(t, "Follow after catching up", []store.Entry{p.entry(), p.entry()}, more)
}

// ping calls p.Ping with a timeout.
func ping(t *testing.T, p store.Pinger) error {
	t.Helper()
	ctx := t.Context()
	return within(t, "Ping", func() error { return p.Ping(ctx) })
}
