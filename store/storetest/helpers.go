package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// wait bounds every wait of the suite. It is not a pace: nothing sleeps; it
// only turns a hang into a failure that says what was awaited.
const wait = 10 * time.Second

// within runs f in its own goroutine and returns its result, failing the
// test if f has not returned within the timeout, so that a call that
// blocks, which no Log method may do for long, fails the test and names
// what hung instead of hanging the suite. f must not use t.
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return await(t, ch, what)
}

// appendN appends n events with data "prefix/0" ... on topic and returns
// the entries Append returned.
func appendN(t *testing.T, l store.Log, topic, prefix string, n int) []store.Entry {
	t.Helper()
	events := make([]sse.Event, n)
	for i := range events {
		events[i].Data = prefix + "/" + strconv.Itoa(i)
	}
	return appendAll(t, l, topic, events...)
}

// appendAll appends events on topic and returns the entries Append
// returned, failing the test on an error or a blocked Append.
func appendAll(t *testing.T, l store.Log, topic string, events ...sse.Event) []store.Entry {
	t.Helper()
	type result struct {
		entries []store.Entry
		err     error
	}
	ctx := t.Context()
	r := within(t, fmt.Sprintf("Append of %d entries to %q", len(events), topic), func() result {
		entries := make([]store.Entry, 0, len(events))
		for i, ev := range events {
			e, err := l.Append(ctx, store.Entry{Topic: topic, Event: ev})
			if err != nil {
				return result{entries, fmt.Errorf("Append(%q, %+v), #%d: %w", topic, ev, i, err)}
			}
			entries = append(entries, e)
		}
		return result{entries, nil}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.entries
}

// appendConcurrently appends n events with data "prefix/0" ... on topic
// from 8 goroutines, as a busy publisher's requests do (a log that syncs
// each commit to disk then shares syncs), and returns the entries Append
// returned in log order.
func appendConcurrently(t *testing.T, l store.Log, topic, prefix string, n int) []store.Entry {
	t.Helper()
	const workers = 8
	ctx := t.Context()
	type result struct {
		entries []store.Entry
		err     error
	}
	r := within(t, fmt.Sprintf("%d concurrent Appends to %q", n, topic), func() result {
		var mu sync.Mutex
		var r result
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					e, err := l.Append(ctx, store.Entry{Topic: topic, Event: sse.Event{Data: prefix + "/" + strconv.Itoa(i)}})
					mu.Lock()
					if err != nil && r.err == nil {
						r.err = fmt.Errorf("Append(%q), #%d: %w", topic, i, err)
					}
					r.entries = append(r.entries, e)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		return r
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	slices.SortFunc(r.entries, func(a, b store.Entry) int { return a.ID.Compare(b.ID) })
	return r.entries
}

// read calls l.Read, failing the test if it blocks.
func read(t *testing.T, l store.Log, after store.ID, q store.Query) (store.Page, error) {
	t.Helper()
	type result struct {
		page store.Page
		err  error
	}
	ctx := t.Context()
	r := within(t, fmt.Sprintf("Read(%v, %q)", after, q.Patterns), func() result {
		p, err := l.Read(ctx, after, q)
		return result{p, err}
	})
	return r.page, r.err
}

// history reads every page after after, pageSize entries at a time, of the
// entries matching patterns ("**" when none is given), and returns their
// entries and whether any page said Evicted. It fails the test on an error
// and on a page that breaks the rules every page keeps: entries in log
// order, after the page's start and up to its Next; Next never going back;
// the last page Done.
func history(t *testing.T, l store.Log, after store.ID, pageSize int, patterns ...string) (entries []store.Entry, evicted bool) {
	t.Helper()
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	q := store.Query{Patterns: patterns, Max: pageSize}
	from := after
	for range 100_000 {
		p, err := read(t, l, from, q)
		if err != nil {
			t.Fatalf("Read(%v, %q) after %d entries: %v", from, patterns, len(entries), err)
		}
		checkPage(t, from, q, p)
		entries = append(entries, p.Entries...)
		evicted = evicted || p.Evicted
		if p.Done {
			return entries, evicted
		}
		from = p.Next
	}
	t.Fatalf("Read(%v, %q): 100,000 pages without Done", after, patterns)
	return nil, false
}

// checkPage fails the test unless page, read after after with q, keeps the
// rules of every page.
func checkPage(t *testing.T, after store.ID, q store.Query, page store.Page) {
	t.Helper()
	what := fmt.Sprintf("Read(%v, %q, max %d)", after, q.Patterns, q.Max)
	if len(page.Entries) > q.Limit() {
		t.Fatalf("%s returned %d entries, more than the page's %d", what, len(page.Entries), q.Limit())
	}
	if page.Next.Compare(after) < 0 {
		t.Fatalf("%s: Next %v goes back before %v", what, page.Next, after)
	}
	prev := after
	for i, e := range page.Entries {
		switch {
		case e.ID.Compare(prev) <= 0:
			t.Fatalf("%s: entry %d has ID %v, not after %v", what, i, e.ID, prev)
		case e.ID.Compare(page.Next) > 0:
			t.Fatalf("%s: entry %d has ID %v, after the page's Next %v", what, i, e.ID, page.Next)
		case !q.MatchesAny(e.Topic, e.Also):
			t.Fatalf("%s: entry %d is on %q, which no pattern matches", what, i, e.Topic)
		}
		prev = e.ID
	}
	if !page.Done && len(page.Entries) == 0 && page.Next == after {
		t.Fatalf("%s: a page that is not Done, holds nothing and does not move Next", what)
	}
}

// kept is history(t, l, after, 7, patterns...), failing the test if a page
// says Evicted.
func kept(t *testing.T, l store.Log, after store.ID, patterns ...string) []store.Entry {
	t.Helper()
	entries, evicted := history(t, l, after, 7, patterns...)
	if evicted {
		t.Fatalf("Read(%v, %q) says Evicted; nothing was", after, patterns)
	}
	return entries
}

// same reports whether two entries are the same stored entry.
func same(a, b store.Entry) bool {
	return a.ID == b.ID && a.Topic == b.Topic && a.Event == b.Event && a.Time.Equal(b.Time) &&
		a.Private == b.Private && slices.Equal(a.Also, b.Also)
}

func show(e store.Entry) string {
	return fmt.Sprintf("{%v %q also %q private %v %+v %v}", e.ID, e.Topic, e.Also, e.Private, e.Event, e.Time)
}

// checkEntries fails the test unless got and want hold the same entries in
// the same order.
func checkEntries(t *testing.T, what string, got, want []store.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d entries, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !same(got[i], want[i]) {
			t.Errorf("%s: entry %d = %s, want %s", what, i, show(got[i]), show(want[i]))
			return
		}
	}
}

// ids returns the IDs of entries, for messages.
func ids(entries []store.Entry) []store.ID {
	out := make([]store.ID, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// item is what a Follow iteration yielded.
type item struct {
	entry store.Entry
	err   error
}

// follower ranges over a Follow sequence in its own goroutine and hands
// each item over an unbuffered channel, so it is as slow as the test reads.
type follower struct {
	items  chan item
	done   chan struct{}
	cancel context.CancelFunc
}

// startFollow calls l.Follow in the calling goroutine, which fixes the
// starting point, and starts ranging over it. The test's cleanup stops it.
func startFollow(t *testing.T, l store.Log) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	seq := l.Follow(ctx)
	f := &follower{items: make(chan item), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(f.done)
		for e, err := range seq {
			select {
			case f.items <- item{e, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// take receives n entries, failing the test on an error or a timeout.
func (f *follower) take(t *testing.T, n int) []store.Entry {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	entries := make([]store.Entry, 0, n)
	for len(entries) < n {
		select {
		case it := <-f.items:
			if it.err != nil {
				t.Fatalf("Follow yielded an error after %d of %d entries: %v", len(entries), n, it.err)
			}
			entries = append(entries, it.entry)
		case <-f.done:
			t.Fatalf("Follow ended after %d of %d entries", len(entries), n)
		case <-timeout.C:
			t.Fatalf("Follow yielded %d of %d entries within %v", len(entries), n, wait)
		}
	}
	return entries
}

// stop cancels the follower's context and waits for its iteration to end.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(wait):
		t.Errorf("Follow did not end within %v of its context being cancelled", wait)
	}
}

// puller steps through a sequence with iter.Pull2, with a timeout on each
// step; between steps the iteration is paused inside its yield.
type puller struct {
	t     *testing.T
	what  string
	next  func() (store.Entry, error, bool)
	stop  func()
	stuck bool // a step timed out: next is still running, so stop must not be called
}

func pull(t *testing.T, what string, seq iter.Seq2[store.Entry, error]) *puller {
	next, stop := iter.Pull2(seq)
	p := &puller{t: t, what: what, next: next, stop: stop}
	t.Cleanup(func() {
		if !p.stuck {
			p.stop()
		}
	})
	return p
}

// step returns the next item, or ok false at the end of the sequence.
func (p *puller) step() (it item, ok bool) {
	p.t.Helper()
	type result struct {
		it item
		ok bool
	}
	ch := make(chan result, 1)
	go func() {
		e, err, ok := p.next()
		ch <- result{item{e, err}, ok}
	}()
	select {
	case r := <-ch:
		return r.it, r.ok
	case <-time.After(wait):
		p.stuck = true
		p.t.Fatalf("%s yielded nothing within %v", p.what, wait)
		return item{}, false
	}
}

// entry returns the next item, failing the test unless it is an entry.
func (p *puller) entry() store.Entry {
	p.t.Helper()
	it, ok := p.step()
	if !ok {
		p.t.Fatalf("%s ended, want an entry", p.what)
	}
	if it.err != nil {
		p.t.Fatalf("%s yielded %v, want an entry", p.what, it.err)
	}
	return it.entry
}

// await waits for ch to deliver, failing with what on a timeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("%s: nothing within %v", what, wait)
		var zero T
		return zero
	}
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

// ReadAll reads every page of q after after, from one Read to the next
// page's Next until a page is Done, and returns the entries, whether any
// page said Evicted, and the first error. It is what a replay does with a
// log, for tests and benchmarks of one.
func ReadAll(ctx context.Context, l store.Log, after store.ID, q store.Query) (entries []store.Entry, evicted bool, err error) {
	for {
		p, err := l.Read(ctx, after, q)
		if err != nil {
			return entries, evicted, err
		}
		entries = append(entries, p.Entries...)
		evicted = evicted || p.Evicted
		if p.Done {
			return entries, evicted, nil
		}
		after = p.Next
	}
}

// CountPages reads every page of q from the zero ID, as a replay does, and
// returns how many entries they held, failing b on an error. Benchmarks
// measure Read with it: it keeps no entry, so it measures the log, not
// the collecting.
func CountPages(b *testing.B, l store.Log, q store.Query) int {
	b.Helper()
	n := 0
	for after := (store.ID{}); ; {
		p, err := l.Read(b.Context(), after, q)
		if err != nil {
			b.Fatal(err)
		}
		n += len(p.Entries)
		if p.Done {
			return n
		}
		after = p.Next
	}
}
