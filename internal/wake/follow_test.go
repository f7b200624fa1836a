package wake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldsse/herald/internal/wake"
)

// fakeLog is a log of ints whose entries before first have been evicted.
type fakeLog struct {
	mu      sync.Mutex
	entries []int // entry i has sequence i+1
	first   uint64
	closed  bool
	woken   chan struct{}
	done    chan struct{}
}

var errClosed = errors.New("closed")

func (l *fakeLog) read(buf []int, cursor uint64) (wake.Chunk[int], error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return wake.Chunk[int]{}, errClosed
	}
	var missed uint64
	if cursor+1 < l.first {
		missed = l.first - 1 - cursor
		cursor += missed
	}
	end := min(uint64(len(l.entries)), cursor+2) // chunks of two
	buf = append(buf, l.entries[cursor:end]...)
	return wake.Chunk[int]{Entries: buf, Missed: missed, Next: end}, nil
}

func (l *fakeLog) append(v int) {
	l.mu.Lock()
	l.entries = append(l.entries, v)
	l.mu.Unlock()
	select {
	case l.woken <- struct{}{}:
	default:
	}
}

// TestFollow checks the shared follower loop: entries in order across
// chunks, an eviction reported once and then skipped, waiting for a
// wake-up when caught up, and the log's close ending it with its error.
func TestFollow(t *testing.T) {
	l := &fakeLog{entries: []int{1, 2, 3, 4, 5}, first: 3, woken: make(chan struct{}, 1), done: make(chan struct{})}
	f := wake.Follower[int]{
		Read:    l.read,
		Evicted: func(missed, upTo uint64) error { return fmt.Errorf("%d evicted up to %d", missed, upTo) },
		Wake:    l.woken,
		Done:    l.done,
	}
	var got []string
	wake.Follow(context.Background(), f, func(v int, err error) bool {
		if err != nil {
			got = append(got, err.Error())
		} else {
			got = append(got, fmt.Sprint(v))
		}
		switch len(got) {
		case 4: // caught up after 3, 4, 5: append while the loop runs
			go l.append(6)
		case 5:
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
			close(l.done)
		}
		return true
	})
	want := "[2 evicted up to 2 3 4 5 6 closed]"
	if fmt.Sprint(got) != want {
		t.Errorf("yielded %v, want %v", got, want)
	}
}

// TestFollowStops checks that the loop ends when ctx ends while it waits,
// and when yield says stop.
func TestFollowStops(t *testing.T) {
	l := &fakeLog{entries: []int{1, 2}, first: 1, woken: make(chan struct{}, 1), done: make(chan struct{})}
	f := wake.Follower[int]{Read: l.read, Wake: l.woken, Done: l.done}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	wake.Follow(ctx, f, func(int, error) bool {
		if n++; n == 2 {
			cancel() // the loop is about to wait: it must notice
		}
		return true
	})
	if n != 2 {
		t.Errorf("yielded %d entries, want 2", n)
	}
	n = 0
	wake.Follow(context.Background(), f, func(int, error) bool { n++; return false })
	if n != 1 {
		t.Errorf("yield returned false, yet the loop went on to %d", n)
	}
}
