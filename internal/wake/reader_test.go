package wake_test

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"testing"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

const epoch = 7

// fakeLog is a log of numbered entries whose entries up to evicted have
// been evicted, read two at a time.
type fakeLog struct {
	mu      sync.Mutex
	head    uint64
	evicted uint64
	closed  bool
	wake    wake.Set
}

func (l *fakeLog) reader() *wake.Reader {
	return &wake.Reader{Name: "fake", Epoch: epoch, MaxChunk: 2, Head: l.state, Read: l.read, Wake: &l.wake}
}

func (l *fakeLog) state() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head, l.closed
}

func (l *fakeLog) read(buf []store.Entry, cursor, limit uint64, skip bool) (wake.Chunk, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return wake.Chunk{}, store.ErrClosed
	}
	c := wake.Chunk{Next: cursor}
	if cursor < l.evicted {
		c.Missed = l.evicted - cursor
		if !skip {
			return c, nil
		}
		cursor = l.evicted
	}
	last := min(limit, l.head, cursor+2)
	for s := cursor + 1; s <= last; s++ {
		buf = append(buf, entry(s))
	}
	c.Entries, c.Next = buf, max(cursor, last)
	return c, nil
}

func entry(seq uint64) store.Entry {
	return store.Entry{ID: store.ID{Major: epoch, Minor: seq}, Topic: "t", Event: sse.Event{Data: fmt.Sprint(seq)}}
}

// add appends n entries and evicts all but the newest keep.
func (l *fakeLog) add(n, keep uint64) {
	l.mu.Lock()
	l.head += n
	if l.head > keep {
		l.evicted = max(l.evicted, l.head-keep)
	}
	l.mu.Unlock()
	l.wake.Notify()
}

func (l *fakeLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wake.Close()
}

// record ranges over seq, calling during after each value, and returns
// what it yielded: entries' data, errors as "error: ...".
func record(seq iter.Seq2[store.Entry, error], during func(n int)) []string {
	var got []string
	for e, err := range seq {
		if err != nil {
			got = append(got, "error: "+err.Error())
		} else {
			got = append(got, e.Event.Data)
		}
		if during != nil {
			during(len(got))
		}
	}
	return got
}

func TestAfter(t *testing.T) {
	tests := []struct {
		name    string
		after   store.ID
		evicted uint64
		during  func(l *fakeLog, n int) // runs after the nth value
		want    string
	}{
		{name: "zero ID yields everything kept", after: store.ID{}, evicted: 2, want: "[3 4 5]"},
		{name: "resumes after an ID, across chunks", after: store.ID{Major: epoch, Minor: 1}, want: "[2 3 4 5]"},
		{name: "newest ID yields nothing", after: store.ID{Major: epoch, Minor: 5}, want: "[]"},
		{name: "newest evicted ID resumes", after: store.ID{Major: epoch, Minor: 2}, evicted: 2, want: "[3 4 5]"},
		{name: "older evicted ID", after: store.ID{Major: epoch, Minor: 1}, evicted: 2,
			want: "[error: fake: after 7-1: 1 entries up to 7-2 evicted: store: event id evicted from history]"},
		{name: "another epoch", after: store.ID{Major: epoch + 1, Minor: 1}, want: "[error: fake: after 8-1: store: unknown event id]"},
		{name: "ahead of the head", after: store.ID{Major: epoch, Minor: 6}, want: "[error: fake: after 7-6: store: unknown event id]"},
		{name: "evicted while paused", after: store.ID{}, during: func(l *fakeLog, n int) {
			if n == 1 {
				l.add(0, 1) // keeps only entry 5: 2, 3, 4 are gone
			}
		}, want: "[1 2 error: fake: after 0-0: 2 entries up to 7-4 evicted: store: event id evicted from history]"},
		{name: "head fixed by the call", after: store.ID{Major: epoch, Minor: 3}, during: func(l *fakeLog, n int) {
			l.add(1, 10)
		}, want: "[4 5]"},
		{name: "closed while paused", after: store.ID{}, during: func(l *fakeLog, n int) {
			if n == 2 {
				l.close()
			}
		}, want: "[1 2 error: fake: after 0-0: store: closed]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &fakeLog{head: 5, evicted: tc.evicted}
			got := record(l.reader().After(t.Context(), tc.after), func(n int) {
				if tc.during != nil {
					tc.during(l, n)
				}
			})
			if fmt.Sprint(got) != tc.want {
				t.Errorf("After(%v) yielded %v, want %v", tc.after, got, tc.want)
			}
		})
	}
	t.Run("ctx ended between chunks", func(t *testing.T) {
		l := &fakeLog{head: 5}
		ctx, cancel := context.WithCancel(t.Context())
		got := record(l.reader().After(ctx, store.ID{}), func(n int) { cancel() })
		if fmt.Sprint(got) != "[1 2 error: fake: after 0-0: context canceled]" {
			t.Errorf("After after cancel yielded %v", got)
		}
	})
	t.Run("closed log", func(t *testing.T) {
		l := &fakeLog{head: 5}
		l.close()
		if got := record(l.reader().After(t.Context(), store.ID{}), nil); fmt.Sprint(got) != "[error: fake: after 0-0: store: closed]" {
			t.Errorf("After on a closed log yielded %v", got)
		}
	})
}

// TestFollow checks the follower loop: entries in order across chunks,
// an eviction reported once and then skipped, waiting for a wake-up when
// caught up, and the log's close ending it with its error.
func TestFollow(t *testing.T) {
	l := &fakeLog{head: 1}
	seq := l.reader().Follow(t.Context()) // starts after entry 1
	l.add(4, 10)                          // 2..5
	l.add(0, 3)                           // keeps 3..5: 2 is evicted unread
	got := record(seq, func(n int) {
		switch n {
		case 4: // caught up after 3, 4, 5: append while the loop runs
			go l.add(1, 10)
		case 5:
			l.close()
		}
	})
	want := "[error: fake: follow: 1 entries up to 7-2 evicted before they were read: store: event id evicted from history 3 4 5 6 error: fake: follow: store: closed]"
	if fmt.Sprint(got) != want {
		t.Errorf("yielded %v, want %v", got, want)
	}
	if n := l.wake.Len(); n != 0 {
		t.Errorf("%d followers still registered after the iteration ended", n)
	}
	if got := record(l.reader().Follow(t.Context()), nil); fmt.Sprint(got) != "[error: fake: follow: store: closed]" {
		t.Errorf("Follow on a closed log yielded %v", got)
	}
}

// TestFollowStops checks that the loop ends without an error, and
// unregisters its wake-up, when ctx ends while it waits and when yield says
// stop.
func TestFollowStops(t *testing.T) {
	t.Run("ctx ends while it waits", func(t *testing.T) {
		l := &fakeLog{}
		ctx, cancel := context.WithCancel(t.Context())
		seq := l.reader().Follow(ctx)
		l.add(2, 10)
		got := record(seq, func(n int) {
			if n == 2 {
				cancel() // the loop is about to wait: it must notice
			}
		})
		if fmt.Sprint(got) != "[1 2]" || l.wake.Len() != 0 {
			t.Errorf("yielded %v with %d followers left, want [1 2] and none", got, l.wake.Len())
		}
	})
	t.Run("yield says stop", func(t *testing.T) {
		l := &fakeLog{}
		seq := l.reader().Follow(t.Context())
		l.add(3, 10)
		n := 0
		for _, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			n++
			break
		}
		if n != 1 || l.wake.Len() != 0 {
			t.Errorf("after yield returned false: %d yielded, %d followers registered; want 1 and 0", n, l.wake.Len())
		}
	})
}
