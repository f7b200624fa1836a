package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
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
			e, err := l.Append(ctx, topic, ev)
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

// readAll ranges over an After sequence to its end. It returns the entries
// yielded and the error, if one was; it fails the test if anything is
// yielded after an error, which ends an After iteration.
func readAll(t *testing.T, seq iter.Seq2[store.Entry, error]) ([]store.Entry, error) {
	t.Helper()
	type result struct {
		entries []store.Entry
		err     error
		extra   *item // yielded after err
	}
	r := within(t, "After iteration", func() result {
		var r result
		for e, err := range seq {
			if r.err != nil {
				r.extra = &item{e, err}
				break
			}
			if err != nil {
				r.err = err
				continue
			}
			r.entries = append(r.entries, e)
		}
		return r
	})
	if r.extra != nil {
		t.Errorf("After yielded (%s, %v) after the error %v; iteration must end after an error", show(r.extra.entry), r.extra.err, r.err)
	}
	return r.entries, r.err
}

// after is readAll(l.After(ctx, id)) failing the test on an error.
func after(t *testing.T, l store.Log, id store.ID) []store.Entry {
	t.Helper()
	entries, err := readAll(t, l.After(t.Context(), id))
	if err != nil {
		t.Fatalf("After(%v): %v", id, err)
	}
	return entries
}

// same reports whether two entries are the same stored entry.
func same(a, b store.Entry) bool {
	return a.ID == b.ID && a.Topic == b.Topic && a.Event == b.Event && a.Time.Equal(b.Time)
}

func show(e store.Entry) string {
	return fmt.Sprintf("{%v %q %+v %v}", e.ID, e.Topic, e.Event, e.Time)
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
