package wake

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/heraldsse/herald/store"
)

// chunk is the most entries a follower copies out of the ring at once.
const chunk = 256

// Transport carries a log's entries to its followers, in log order and
// exactly once each, through a ring of the newest entries, and never laps
// a follower: when the slowest running follower has a whole ring of
// entries unread, [Transport.Reserve] waits until it reads some. The log numbers its
// entries 1, 2, 3, ... (the Minor of their IDs, under one epoch, their
// Major) and puts each in the transport once it is stored.
//
// A Transport must be made with [NewTransport]. It is safe for concurrent
// use; its lock is held only to copy entries in or out of the ring, so a
// log may call [Transport.Put] with its own lock held, to keep Put in log
// order.
type Transport struct {
	name  string
	epoch uint64

	mu        sync.Mutex
	ring      []store.Entry // entry with sequence s is at ring[s%len(ring)]
	head      uint64        // sequence of the newest entry put
	reserved  int           // room promised by Reserve, not yet used by Put
	followers []*follower
	room      chan struct{} // closed when a follower reads or leaves; nil until someone waits
	done      chan struct{} // closed by Close
	closed    bool
}

// follower is one running Follow iteration.
type follower struct {
	cursor uint64        // every entry up to this sequence was read
	wake   chan struct{} // buffered 1: there may be something new
}

// NewTransport returns an empty transport for the log called name (it
// starts every error) whose IDs have the Major epoch and whose newest entry
// has the sequence head (0 before the first), holding up to size entries
// (at least 1).
func NewTransport(name string, epoch uint64, size int, head uint64) *Transport {
	return &Transport{
		name:  name,
		epoch: epoch,
		ring:  make([]store.Entry, max(size, 1)),
		head:  head,
		done:  make(chan struct{}),
	}
}

// Reserve waits until there is room for one more entry, that is until no
// running follower would have more than a ring of entries unread once
// every entry reserved so far is put, and reserves it: the caller then calls
// [Transport.Put] or, if it stores nothing after all, [Transport.Cancel].
// With no follower running there is always room.
//
// When ctx ends first, Reserve returns an error wrapping [store.ErrBusy]
// and ctx.Err(); after [Transport.Close], one wrapping [store.ErrClosed].
func (t *Transport) Reserve(ctx context.Context) error {
	t.mu.Lock()
	for {
		if t.closed {
			t.mu.Unlock()
			return store.ErrClosed
		}
		if t.head+uint64(t.reserved)+1-t.slowestLocked() <= uint64(len(t.ring)) {
			t.reserved++
			t.mu.Unlock()
			return nil
		}
		if t.room == nil {
			t.room = make(chan struct{})
		}
		room := t.room
		t.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("%w: the slowest follower has %d entries unread: %w", store.ErrBusy, len(t.ring), ctx.Err())
		}
		t.mu.Lock()
	}
}

// slowestLocked returns the cursor of the slowest follower, or the head
// when none runs. t.mu is held.
func (t *Transport) slowestLocked() uint64 {
	slowest := t.head
	for _, f := range t.followers {
		slowest = min(slowest, f.cursor)
	}
	return slowest
}

// Cancel gives back a reservation that will not be put.
func (t *Transport) Cancel() {
	t.mu.Lock()
	t.reserved = max(t.reserved-1, 0)
	t.freeLocked()
	t.mu.Unlock()
}

// Put adds e, the entry after the newest one (its Minor is the head plus
// one), using a reservation, and wakes every follower without waiting for
// any. Entries must be put in log order.
func (t *Transport) Put(e store.Entry) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.head = e.ID.Minor
	t.ring[t.head%uint64(len(t.ring))] = e
	t.reserved = max(t.reserved-1, 0)
	for _, f := range t.followers {
		select {
		case f.wake <- struct{}{}:
		default: // already due to read
		}
	}
	t.mu.Unlock()
}

// freeLocked wakes the appenders waiting for room. t.mu is held.
func (t *Transport) freeLocked() {
	if t.room != nil {
		close(t.room)
		t.room = nil
	}
}

// Head returns the sequence of the newest entry put.
func (t *Transport) Head() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head
}

// Followers returns how many Follow iterations are running.
func (t *Transport) Followers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.followers)
}

// Close ends every Follow iteration (each yields an error wrapping
// [store.ErrClosed]) and makes Reserve fail; entries in the ring are
// dropped. Close is idempotent.
func (t *Transport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	close(t.done)
	t.freeLocked()
	t.ring = nil
}

// Follow is [store.Log.Follow] for the transport's log: it yields, in log
// order and exactly once each, every entry put after Follow was called,
// until ctx ends (checked between chunks of at most 256 entries); then the
// iteration ends without an error. Each range over the returned sequence
// starts from that same point, and counts as a follower from its start:
// Reserve waits for it.
//
// A follower's start is fixed when Follow is called, but it holds back
// appends only once its iteration runs; if more than a ring of entries
// were put in between, the iteration yields first an error wrapping
// [store.ErrEvicted], saying how many it missed, and goes on with the
// oldest entry in the ring. After [Transport.Close], the iteration yields
// an error wrapping [store.ErrClosed] and ends.
func (t *Transport) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	t.mu.Lock()
	start, closed := t.head, t.closed
	t.mu.Unlock()
	if closed {
		return func(yield func(store.Entry, error) bool) {
			yield(store.Entry{}, fmt.Errorf("%s: follow: %w", t.name, store.ErrClosed))
		}
	}
	return func(yield func(store.Entry, error) bool) {
		if ctx.Err() != nil {
			return
		}
		f := &follower{cursor: start, wake: make(chan struct{}, 1)}
		if !t.add(f) {
			yield(store.Entry{}, fmt.Errorf("%s: follow: %w", t.name, store.ErrClosed))
			return
		}
		defer t.remove(f)
		var buf []store.Entry
		for {
			var missed uint64
			var err error
			buf, missed, err = t.read(f, buf[:0])
			if err != nil {
				yield(store.Entry{}, fmt.Errorf("%s: follow: %w", t.name, err))
				return
			}
			if missed > 0 && !yield(store.Entry{}, fmt.Errorf("%s: follow: %d entries up to %d-%d were dropped before the iteration started: %w",
				t.name, missed, t.epoch, buf[0].ID.Minor-1, store.ErrEvicted)) {
				return
			}
			for i := range buf {
				if !yield(buf[i], nil) {
					return
				}
			}
			clear(buf) // drop references to data the ring may drop
			if len(buf) == 0 {
				select {
				case <-f.wake:
				case <-ctx.Done():
					return
				case <-t.done: // the next read reports the close
				}
			} else if ctx.Err() != nil {
				return
			}
		}
	}
}

func (t *Transport) add(f *follower) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.followers = append(t.followers, f)
	return true
}

func (t *Transport) remove(f *follower) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := slices.Index(t.followers, f); i >= 0 {
		t.followers = slices.Delete(t.followers, i, i+1)
	}
	t.freeLocked()
}

// read copies into buf the entries after f's cursor, at most chunk of
// them, and moves the cursor past them, which may make room for appenders.
// missed is how many entries right after the cursor the ring no longer
// holds; the entries read then start at the oldest it holds.
func (t *Transport) read(f *follower, buf []store.Entry) (out []store.Entry, missed uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return buf, 0, store.ErrClosed
	}
	n := uint64(len(t.ring))
	if t.head > n && f.cursor < t.head-n {
		missed = t.head - n - f.cursor
		f.cursor = t.head - n
	}
	last := min(t.head, f.cursor+chunk)
	if last == f.cursor {
		return buf, missed, nil
	}
	first, end := (f.cursor+1)%n, last%n
	if first <= end {
		buf = append(buf, t.ring[first:end+1]...)
	} else {
		buf = append(buf, t.ring[first:]...)
		buf = append(buf, t.ring[:end+1]...)
	}
	f.cursor = last
	t.freeLocked()
	return buf, missed, nil
}
