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
// open, with the default [store.Retention] or bounds loose enough to keep
// 5,000 small entries (and one of 64 KiB) of every topic for as long as the
// subtest runs. It registers whatever releases the log with t.Cleanup. If
// the log implements [io.Closer], a subtest closes it itself, so Close must
// tolerate being called again by that cleanup. If it implements
// [store.Pinger], Ping must succeed while open.
//
// Besides the contract written on [store.Log], the suite requires that:
//   - Append with a context that is already done returns an error wrapping
//     the context's error and stores nothing;
//   - the entry Append returns is the entry Read and Follow give, Time
//     included (compared with [time.Time.Equal]);
//   - Read with a context that is already done fails with an error
//     wrapping the context's error;
//   - after Close, Append, Read and Ping fail with errors wrapping
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
		{"entries_keep_their_alternate_topics_privacy_and_own_id", testEntryExtras},
		{"append_with_done_context_stores_nothing", testAppendDoneContext},
		{"read_zero_gives_everything_in_order_whatever_the_page_size", testReadZero},
		{"read_after_id_gives_exactly_the_entries_after_it", testReadAfterID},
		{"read_head_is_done_and_empty", testReadHead},
		{"read_stops_at_head_when_called", testReadStopsAtHead},
		{"read_pages_cover_the_log_once", testReadPages},
		{"read_filters_by_patterns", testReadPatterns},
		{"read_on_empty_log", testReadEmpty},
		{"read_unknown_id_is_ErrUnknownID", testReadUnknown},
		{"read_invalid_query_is_ErrInvalidQuery", testReadInvalidQuery},
		{"read_with_done_context_fails", testReadDoneContext},
		{"follow_yields_appends_after_the_call_once_in_order", testFollow},
		{"follow_with_8_concurrent_appenders", testFollowConcurrent},
		{"two_followers_each_see_everything", testTwoFollowers},
		{"follow_stopped_early", testFollowBreak},
		{"follow_ends_when_context_cancelled", testFollowCancel},
		{"follow_with_done_context_ends_at_once", testFollowDoneContext},
		{"paused_follow_does_not_block_300_appends", testFollowPaused},
		{"ping_succeeds_while_open", testPing},
		{"closed_log_fails_with_ErrClosed", testClosed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newLog(t)) })
	}
}

// RunRetention runs the tests of history kept per policy as subtests of t.
//
// newLog is called once per subtest and returns an empty log with the
// retention r that evicts exactly: a policy keeps its newest MaxEntries
// entries and evicts older ones as soon as more are appended (a log that
// trims lazily or approximately, such as Redis "MAXLEN ~", is configured to
// trim exactly here). The suite's policies leave MaxAge zero and the
// Retention's MaxAge at its default, an hour, which no subtest comes near.
// newLog registers whatever releases the log with t.Cleanup.
//
// Besides the contract written on [store.Log], the suite requires that a
// Read after the ID of the newest evicted entry of a policy does not say
// Evicted, since nothing after it is missing.
func RunRetention(t *testing.T, newLog func(t *testing.T, r store.Retention) store.Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		r    store.Retention
		test func(*testing.T, store.Log)
	}{
		{"within_bound_nothing_is_evicted", store.Retention{MaxEntries: 8}, testWithinBound},
		{"keeps_the_newest_entries", store.Retention{MaxEntries: 8}, testKeepsNewest},
		{"evicted_id_reads_what_is_kept_and_says_Evicted", store.Retention{MaxEntries: 8}, testEvictedID},
		{"id_of_newest_evicted_entry_resumes_without_Evicted", store.Retention{MaxEntries: 8}, testNewestEvicted},
		{"quiet_topic_survives_3000_events_of_a_noisy_one", store.Retention{
			Policies: []store.Policy{{Pattern: "stocks/**", MaxEntries: 100}}, MaxEntries: 10,
		}, testQuietSurvivesNoisy},
		{"evicted_only_for_policies_that_can_hold_the_query", store.Retention{
			Policies: []store.Policy{{Pattern: "chat/**", MaxEntries: 100}}, MaxEntries: 5,
		}, testEvictedOnlyForHolders},
		{"first_matching_policy_wins", store.Retention{
			Policies: []store.Policy{{Pattern: "a/x", MaxEntries: 2}, {Pattern: "a/*", MaxEntries: 100}},
		}, testFirstMatchWins},
		{"size_zero_policy_is_followed_never_read", store.Retention{
			Policies: []store.Policy{{Pattern: "system/**", MaxEntries: 0}},
		}, testSizeZero},
		{"resume_across_policies_has_no_gap_and_no_duplicate", store.Retention{
			Policies: []store.Policy{{Pattern: "a/**", MaxEntries: 50}, {Pattern: "b/**", MaxEntries: 50}}, MaxEntries: 50,
		}, testAcrossPolicies},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newLog(t, tc.r)) })
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
	{"a/b/c", sse.Event{ID: "set-by-publisher", Type: "update", Data: "the publisher's ID is kept"}},
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
		e, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "never stored"}})
		return item{e, err}
	})
	if !errors.Is(it.err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %s, %v; want an error wrapping context.Canceled", show(it.entry), it.err)
	}
	if got := kept(t, l, store.ID{}); len(got) != 0 {
		t.Errorf("Read(zero) after an Append with a cancelled context = %v, want nothing stored", ids(got))
	}
}

func testReadZero(t *testing.T, l store.Log) {
	want := appendEvents(t, l)
	for _, size := range []int{1, 2, 5, 0} {
		got, evicted := history(t, l, store.ID{}, size)
		checkEntries(t, fmt.Sprintf("Read(zero) in pages of %d", size), got, want)
		if evicted {
			t.Errorf("Read(zero) in pages of %d says Evicted; the zero ID asks for what is kept", size)
		}
	}
}

func testReadAfterID(t *testing.T, l store.Log) {
	want := appendN(t, l, "t", "e", 40)
	for i, e := range want {
		checkEntries(t, fmt.Sprintf("Read(%v), entry %d", e.ID, i), kept(t, l, e.ID), want[i+1:])
	}
}

func testReadHead(t *testing.T, l store.Log) {
	entries := appendN(t, l, "t", "e", 3)
	head := entries[len(entries)-1].ID
	p, err := read(t, l, head, store.Query{Patterns: []string{"**"}})
	if err != nil || len(p.Entries) != 0 || !p.Done || p.Next != head || p.Evicted {
		t.Errorf("Read(head %v) = %d entries, Next %v, Done %v, Evicted %v, %v; want nothing, Next the head, Done",
			head, len(p.Entries), p.Next, p.Done, p.Evicted, err)
	}
}

func testReadStopsAtHead(t *testing.T, l store.Log) {
	want := appendN(t, l, "t", "before", 5)
	q := store.Query{Patterns: []string{"**"}, Max: 100}
	p, err := read(t, l, store.ID{}, q)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, "Read(zero)", p.Entries, want)
	if !p.Done || p.Next != want[4].ID {
		t.Fatalf("Read(zero) of 5 entries: Next %v, Done %v; want Next %v, Done", p.Next, p.Done, want[4].ID)
	}
	more := appendN(t, l, "t", "after", 5)
	p, err = read(t, l, p.Next, q)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, "Read(Next of the last page) after 5 more appends", p.Entries, more)
}

func testReadPages(t *testing.T, l store.Log) {
	all := appendN(t, l, "t", "e", 23)
	q := store.Query{Patterns: []string{"**"}, Max: 5}
	var got []store.Entry
	from := store.ID{}
	for pages := 1; ; pages++ {
		p, err := read(t, l, from, q)
		if err != nil {
			t.Fatal(err)
		}
		checkPage(t, from, q, p)
		got = append(got, p.Entries...)
		if p.Done {
			if p.Next != all[len(all)-1].ID {
				t.Errorf("the last page's Next is %v, want the head %v", p.Next, all[len(all)-1].ID)
			}
			if pages < 5 {
				t.Errorf("23 entries in pages of 5 took %d pages, want at least 5", pages)
			}
			break
		}
		if len(p.Entries) > 0 && p.Next != p.Entries[len(p.Entries)-1].ID {
			t.Errorf("page %d: Next is %v, want its last entry %v: every entry matches, so none after it was considered",
				pages, p.Next, p.Entries[len(p.Entries)-1].ID)
		}
		from = p.Next
	}
	checkEntries(t, "23 entries read in pages of 5", got, all)
}

func testReadPatterns(t *testing.T, l store.Log) {
	var all []store.Entry
	for i := range 4 {
		for _, topic := range []string{"chat/lobby", "chat/other", "tasks/1", "a/b/c"} {
			all = append(all, appendAll(t, l, topic, sse.Event{Data: topic + "#" + strconv.Itoa(i)})...)
		}
	}
	all = append(all, appendN(t, l, "zzz", "tail", 3)...) // matches none below
	only := func(keep func(string) bool) []store.Entry {
		var out []store.Entry
		for _, e := range all {
			if keep(e.Topic) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, tc := range []struct {
		patterns []string
		want     []store.Entry
	}{
		{[]string{"chat/*"}, only(func(t string) bool { return strings.HasPrefix(t, "chat/") })},
		{[]string{"chat/lobby"}, only(func(t string) bool { return t == "chat/lobby" })},
		{[]string{"tasks/1", "a/**"}, only(func(t string) bool { return t == "tasks/1" || t == "a/b/c" })},
		{[]string{"*/*/*"}, only(func(t string) bool { return t == "a/b/c" })},
		{[]string{"nothing/here"}, nil},
	} {
		for _, size := range []int{1, 3, 0} {
			got, _ := history(t, l, store.ID{}, size, tc.patterns...)
			checkEntries(t, fmt.Sprintf("Read(zero, %q) in pages of %d", tc.patterns, size), got, tc.want)
		}
	}
	// The last page reaches the head, past entries no pattern matches.
	p, err := read(t, l, all[len(all)-5].ID, store.Query{Patterns: []string{"chat/*"}, Max: 10})
	if err != nil || len(p.Entries) != 0 || !p.Done || p.Next != all[len(all)-1].ID {
		t.Errorf("Read after the last chat entry = %d entries, Next %v, Done %v, %v; want none, Next the head %v, Done",
			len(p.Entries), p.Next, p.Done, err, all[len(all)-1].ID)
	}
}

func testReadEmpty(t *testing.T, l store.Log) {
	p, err := read(t, l, store.ID{}, store.Query{Patterns: []string{"**"}})
	if err != nil || len(p.Entries) != 0 || !p.Done || !p.Next.IsZero() || p.Evicted {
		t.Errorf("Read(zero) on an empty log = %d entries, Next %v, Done %v, Evicted %v, %v; want nothing, Next zero, Done",
			len(p.Entries), p.Next, p.Done, p.Evicted, err)
	}
	for _, id := range []store.ID{{Major: 1, Minor: 1}, {Major: math.MaxUint64, Minor: math.MaxUint64}} {
		_, err := read(t, l, id, store.Query{Patterns: []string{"**"}})
		wantErr(t, fmt.Sprintf("Read(%v) on an empty log", id), err, store.ErrUnknownID)
	}
}

func testReadUnknown(t *testing.T, l store.Log) {
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
			p, err := read(t, l, id, store.Query{Patterns: []string{"**"}})
			if len(p.Entries) != 0 || !errors.Is(err, store.ErrUnknownID) {
				t.Errorf("Read(%v) with head %v = %v, %v; want only an error wrapping ErrUnknownID", id, head, ids(p.Entries), err)
			}
		})
	}
}

func testReadInvalidQuery(t *testing.T, l store.Log) {
	appendN(t, l, "t", "e", 3)
	for _, tc := range []struct {
		name     string
		patterns []string
	}{
		{"no_pattern", nil},
		{"empty_pattern", []string{""}},
		{"empty_segment", []string{"a//b"}},
		{"double_star_not_last", []string{"**/a"}},
		{"one_bad_among_good", []string{"t", "x/y*"}},
	} {
		_, err := read(t, l, store.ID{}, store.Query{Patterns: tc.patterns})
		wantErr(t, fmt.Sprintf("Read(zero, %q)", tc.patterns), err, store.ErrInvalidQuery)
	}
}

func testReadDoneContext(t *testing.T, l store.Log) {
	appendN(t, l, "t", "e", 3)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := within(t, "Read with a cancelled context", func() error {
		_, err := l.Read(ctx, store.ID{}, store.Query{Patterns: []string{"**"}})
		return err
	})
	wantErr(t, "Read with a cancelled context", err, context.Canceled)
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
				e, err := l.Append(context.Background(), store.Entry{Topic: topic, Event: sse.Event{Data: strconv.Itoa(i)}})
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
	checkEntries(t, "Read(zero) after concurrent appends", kept(t, l, store.ID{}), got)
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
			e, err := l.Append(context.Background(), store.Entry{Topic: "t", Event: sse.Event{Data: "during/" + strconv.Itoa(i)}})
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
		_, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "late"}})
		return err
	})
	wantErr(t, "Append after Close", err, store.ErrClosed)
	for _, id := range []store.ID{{}, entries[0].ID} {
		p, err := read(t, l, id, store.Query{Patterns: []string{"**"}})
		if len(p.Entries) != 0 || !errors.Is(err, store.ErrClosed) {
			t.Errorf("Read(%v) after Close = %v, %v; want only an error wrapping ErrClosed", id, ids(p.Entries), err)
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

func testWithinBound(t *testing.T, l store.Log) {
	const maxEntries = 8
	want := appendN(t, l, "t", "e", maxEntries)
	checkEntries(t, fmt.Sprintf("Read(zero) with %d of %d entries", maxEntries, maxEntries), kept(t, l, store.ID{}), want)
	checkEntries(t, "Read(first)", kept(t, l, want[0].ID), want[1:])
}

func testKeepsNewest(t *testing.T, l store.Log) {
	const maxEntries = 8
	all := appendN(t, l, "t", "e", 3*maxEntries+1)
	want := all[len(all)-maxEntries:]
	checkEntries(t, fmt.Sprintf("Read(zero) keeping %d of %d", maxEntries, len(all)), kept(t, l, store.ID{}), want)
	for i, e := range want {
		checkEntries(t, fmt.Sprintf("Read(kept entry %d)", i), kept(t, l, e.ID), want[i+1:])
	}
}

func testEvictedID(t *testing.T, l store.Log) {
	const maxEntries = 8
	all := appendN(t, l, "t", "e", 3*maxEntries)
	// all[len-maxEntries-1] is the newest evicted; after any older ID,
	// something is missing.
	for _, i := range []int{0, 1, len(all) - maxEntries - 2} {
		id := all[i].ID
		got, evicted := history(t, l, id, 3)
		if !evicted {
			t.Errorf("Read(%v), evicted entry %d, does not say Evicted", id, i)
		}
		checkEntries(t, fmt.Sprintf("Read(%v), evicted entry %d", id, i), got, all[len(all)-maxEntries:])
	}
}

func testNewestEvicted(t *testing.T, l store.Log) {
	const maxEntries = 8
	all := appendN(t, l, "t", "e", 3*maxEntries)
	last := len(all) - maxEntries - 1
	checkEntries(t, fmt.Sprintf("Read(%v), the newest evicted", all[last].ID), kept(t, l, all[last].ID), all[last+1:])
	if _, evicted := history(t, l, store.ID{}, 3); evicted {
		t.Error("Read(zero) says Evicted; the zero ID asks for what is kept")
	}
}

// testQuietSurvivesNoisy is issue 13's target: after 3,000 events on a
// topic whose policy keeps 100, a quiet topic's event from before them is
// still replayed, and the noisy topic resumes with Evicted and 100 events.
func testQuietSurvivesNoisy(t *testing.T, l store.Log) {
	seen := appendAll(t, l, "chat/lobby", sse.Event{Data: "seen"})[0]
	quiet := appendAll(t, l, "chat/lobby", sse.Event{Data: "quiet"})
	noisy := appendConcurrently(t, l, "stocks/ACME", "tick", 3000)

	checkEntries(t, "Read(zero, chat/*)", kept(t, l, store.ID{}, "chat/*"), append([]store.Entry{seen}, quiet...))
	checkEntries(t, "chat resumes after the event it saw", kept(t, l, seen.ID, "chat/*"), quiet)

	got, evicted := history(t, l, noisy[0].ID, 64, "stocks/*")
	if !evicted {
		t.Error("the noisy topic resumes from its first event without Evicted")
	}
	checkEntries(t, "the noisy topic resumes from its first event", got, noisy[len(noisy)-100:])

	got, evicted = history(t, l, seen.ID, 64, "**")
	if !evicted {
		t.Error("a subscription to every topic resumes without Evicted")
	}
	checkEntries(t, "a subscription to every topic resumes", got, append(quiet, noisy[len(noisy)-100:]...))
}

// testEvictedOnlyForHolders checks that Evicted is exact: the default
// policy evicting is no loss to a subscription that only chat/** can hold.
func testEvictedOnlyForHolders(t *testing.T, l store.Log) {
	first := appendAll(t, l, "chat/lobby", sse.Event{Data: "first"})[0]
	news := appendN(t, l, "news/today", "n", 20) // the default keeps 5
	second := appendAll(t, l, "chat/lobby", sse.Event{Data: "second"})
	for _, tc := range []struct {
		patterns []string
		evicted  bool
		want     []store.Entry
	}{
		{[]string{"chat/lobby"}, false, second},
		{[]string{"chat/**"}, false, second},
		{[]string{"chat/lobby", "nothing/*"}, true, second}, // the default could hold nothing/x
		{[]string{"news/*"}, true, news[15:]},
		{[]string{"**"}, true, append(news[15:len(news):len(news)], second...)},
	} {
		got, evicted := history(t, l, first.ID, 4, tc.patterns...)
		if evicted != tc.evicted {
			t.Errorf("Read(%v, %q): Evicted %v, want %v", first.ID, tc.patterns, evicted, tc.evicted)
		}
		checkEntries(t, fmt.Sprintf("Read(%v, %q)", first.ID, tc.patterns), got, tc.want)
	}
}

func testFirstMatchWins(t *testing.T, l store.Log) {
	var x, y []store.Entry
	for i := range 5 {
		x = append(x, appendAll(t, l, "a/x", sse.Event{Data: "x" + strconv.Itoa(i)})...)
		y = append(y, appendAll(t, l, "a/y", sse.Event{Data: "y" + strconv.Itoa(i)})...)
	}
	// a/x keeps 2 (x3, x4); a/* keeps every a/y.
	want := []store.Entry{y[0], y[1], y[2], x[3], y[3], x[4], y[4]}
	checkEntries(t, "Read(zero, a/*)", kept(t, l, store.ID{}, "a/*"), want)
	checkEntries(t, "a/y resumes after its first event", kept(t, l, y[0].ID, "a/y"), y[1:])
	got, evicted := history(t, l, x[0].ID, 4, "a/x")
	if !evicted {
		t.Error("a/x resumes after its first event without Evicted; its policy kept 2 of 5")
	}
	checkEntries(t, "a/x resumes after its first event", got, x[3:])
}

func testSizeZero(t *testing.T, l store.Log) {
	f := startFollow(t, l)
	before := appendAll(t, l, "chat/lobby", sse.Event{Data: "before"})[0]
	live := appendN(t, l, "system/metrics", "sample", 3)
	after := appendAll(t, l, "chat/lobby", sse.Event{Data: "after"})[0]
	want := append(append([]store.Entry{before}, live...), after)
	checkEntries(t, "Follow", f.take(t, len(want)), want)

	checkEntries(t, "Read(zero, **)", kept(t, l, store.ID{}), []store.Entry{before, after})
	checkEntries(t, "Read(zero, system/**)", kept(t, l, store.ID{}, "system/**"), nil)
	for _, tc := range []struct {
		from     store.Entry
		patterns []string
		evicted  bool
		want     []store.Entry
	}{
		{before, []string{"system/*"}, true, nil},
		{before, []string{"chat/*"}, false, []store.Entry{after}},
		{before, []string{"**"}, true, []store.Entry{after}},
		{live[2], []string{"system/metrics"}, false, nil},
		{live[1], []string{"system/metrics"}, true, nil},
	} {
		got, evicted := history(t, l, tc.from.ID, 4, tc.patterns...)
		if evicted != tc.evicted {
			t.Errorf("Read(%v, %q) across events of a policy of size 0: Evicted %v, want %v", tc.from.ID, tc.patterns, evicted, tc.evicted)
		}
		checkEntries(t, fmt.Sprintf("Read(%v, %q)", tc.from.ID, tc.patterns), got, tc.want)
	}
}

func testAcrossPolicies(t *testing.T, l store.Log) {
	var all []store.Entry
	for i := range 30 {
		topic := []string{"a/1", "b/1", "c/1"}[i%3]
		if i%7 == 0 {
			topic = "a/2"
		}
		all = append(all, appendAll(t, l, topic, sse.Event{Data: strconv.Itoa(i)})...)
	}
	only := func(from int, keep func(string) bool) []store.Entry {
		var out []store.Entry
		for _, e := range all[from:] {
			if keep(e.Topic) {
				out = append(out, e)
			}
		}
		return out
	}
	for i, e := range all {
		checkEntries(t, fmt.Sprintf("Read(entry %d, **)", i), kept(t, l, e.ID), all[i+1:])
		checkEntries(t, fmt.Sprintf("Read(entry %d, a/*, b/*, c/*)", i), kept(t, l, e.ID, "a/*", "b/*", "c/*"), all[i+1:])
		checkEntries(t, fmt.Sprintf("Read(entry %d, a/1, c/*)", i), kept(t, l, e.ID, "a/1", "c/*"),
			only(i+1, func(t string) bool { return t == "a/1" || t == "c/1" }))
	}
}

// RunLaggingFollower runs, as a subtest of t, the test of a follower that
// falls behind a log shared by nodes, which drops entries rather than wait
// for every node: newLog returns an empty log whose followers can read the
// newest maxEntries entries, no more, exactly.
func RunLaggingFollower(t *testing.T, newLog func(t *testing.T, maxEntries int) store.Log) {
	t.Run("lagging_follower_gets_ErrEvicted_then_resumes", func(t *testing.T) {
		testLaggingFollower(t, newLog(t, 8), 8)
	})
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

// testEntryExtras checks what Mercure's updates add to an entry: alternate
// topics, a private flag and the publisher's own ID are kept, returned by
// Append, Read and Follow alike, and a query matching only an alternate
// topic finds the entry.
func testEntryExtras(t *testing.T, l store.Log) {
	f := startFollow(t, l)
	in := []store.Entry{
		{Topic: "m/a", Also: []string{"m/b", "m/c"}, Private: true, Event: sse.Event{ID: "urn:uuid:1", Type: "t", Data: "x"}},
		{Topic: "m/b", Event: sse.Event{Data: "plain"}},
		{Topic: "m/d", Also: []string{"m/e"}, Event: sse.Event{ID: "2"}},
	}
	var appended []store.Entry
	for _, e := range in {
		got, err := l.Append(t.Context(), e)
		if err != nil {
			t.Fatalf("Append(%s): %v", show(e), err)
		}
		want := e
		want.ID, want.Time = got.ID, got.Time
		if !same(got, want) {
			t.Errorf("Append(%s) = %s, want it as given", show(e), show(got))
		}
		appended = append(appended, got)
	}
	checkEntries(t, "Follow", f.take(t, len(in)), appended)
	checkEntries(t, "Read(zero, m/*)", kept(t, l, store.ID{}, "m/*"), appended)
	checkEntries(t, "Read(zero, m/c), an alternate topic only", kept(t, l, store.ID{}, "m/c"), appended[:1])
	checkEntries(t, "Read(zero, m/e)", kept(t, l, store.ID{}, "m/e"), appended[2:])
}
