package wake

import (
	"context"
	"fmt"
	"iter"
	"math"

	"github.com/heraldsse/herald/store"
)

// Chunk is what one read from a cursor found.
type Chunk struct {
	Entries []store.Entry // read, in log order
	Missed  uint64        // entries right after the cursor that were evicted unread
	Next    uint64        // the cursor for the next read: every sequence up to it is dealt with
}

// Reader is a log whose entries are numbered 1, 2, 3, ... by one sequence,
// the Minor of their IDs, under one epoch, the Major of their IDs. Its
// [Reader.After] and [Reader.Follow] are the log's [store.Log] methods; the
// store supplies how to read one chunk.
type Reader struct {
	// Name names the store at the start of every error, as in "memory".
	Name string
	// Epoch is the Major of every ID the log assigns.
	Epoch uint64
	// MaxChunk is the most entries one Read returns.
	MaxChunk int
	// Head returns the sequence of the newest entry (0 before the first)
	// and whether the log is closed.
	Head func() (head uint64, closed bool)
	// Read appends to buf the entries kept after sequence cursor, up to
	// sequence limit and at most MaxChunk of them. When entries right after
	// cursor were evicted, it reports how many as Missed; with skip it then
	// reads from the oldest entry kept, else it reads nothing. It returns
	// an error wrapping [store.ErrClosed] once the log is closed.
	Read func(buf []store.Entry, cursor, limit uint64, skip bool) (Chunk, error)
	// Wake is notified after every append and closed when the log closes.
	Wake *Set
}

// After is [store.Log.After] for r's log: it yields the entries kept after
// the one with ID after, up to the newest entry when After was called, one
// chunk at a time.
//
// Errors: after that is not one of this log's IDs (another epoch, or a
// sequence beyond the newest entry) gives one error wrapping
// [store.ErrUnknownID]; after older than the entry before the oldest kept
// gives one wrapping [store.ErrEvicted], and so does reaching entries
// evicted while the consumer paused, after the entries it did receive. When
// ctx ends before the iteration does, it yields an error wrapping
// ctx.Err(); after the log closed, one wrapping [store.ErrClosed]; any other
// error of Read is yielded as it is. Iteration ends after any error.
func (r *Reader) After(ctx context.Context, after store.ID) iter.Seq2[store.Entry, error] {
	op := "after " + after.String()
	head, closed := r.Head()
	switch {
	case closed:
		return r.fail(op, store.ErrClosed)
	case after.IsZero():
	case after.Major != r.Epoch || after.Minor > head:
		return r.fail(op, store.ErrUnknownID)
	}
	return func(yield func(store.Entry, error) bool) {
		cursor, fromStart := after.Minor, after.IsZero()
		var buf []store.Entry
		for cursor < head {
			if err := ctx.Err(); err != nil {
				yield(store.Entry{}, r.errorf(op, err))
				return
			}
			if buf == nil {
				buf = make([]store.Entry, 0, min(head-cursor, uint64(r.MaxChunk)))
			}
			c, err := r.Read(buf[:0], cursor, head, fromStart)
			if err != nil {
				yield(store.Entry{}, r.errorf(op, err))
				return
			}
			if c.Missed > 0 && !fromStart {
				yield(store.Entry{}, fmt.Errorf("%s: %s: %d entries up to %d-%d evicted: %w",
					r.Name, op, c.Missed, r.Epoch, cursor+c.Missed, store.ErrEvicted))
				return
			}
			fromStart = false
			buf = c.Entries
			for i := range buf {
				if !yield(buf[i], nil) {
					return
				}
			}
			clear(buf) // drop references to data the log may evict
			if c.Next <= cursor {
				return // everything up to head was evicted meanwhile
			}
			cursor = c.Next
		}
	}
}

// Follow is [store.Log.Follow] for r's log: it yields, in log order and
// exactly once each, every entry appended after Follow was called, until
// ctx ends (checked between chunks); then the iteration ends without an
// error. Each range over the returned sequence starts from that same point.
//
// A follower so slow that entries it has not read are evicted gets an
// error wrapping [store.ErrEvicted], saying how many it missed, and goes on
// with the oldest entry kept. Once the log is closed, the iteration yields
// an error wrapping [store.ErrClosed] and ends; any other error of Read is
// yielded and ends it too.
func (r *Reader) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	const op = "follow"
	start, closed := r.Head()
	if closed {
		return r.fail(op, store.ErrClosed)
	}
	return func(yield func(store.Entry, error) bool) {
		if ctx.Err() != nil {
			return
		}
		// Registered before the first read: whatever is appended after
		// that read wakes this follower.
		wake, done := r.Wake.add()
		defer r.Wake.remove(wake)
		var buf []store.Entry
		cursor := start
		for {
			c, err := r.Read(buf[:0], cursor, math.MaxUint64, true)
			if err != nil {
				yield(store.Entry{}, r.errorf(op, err))
				return
			}
			if c.Missed > 0 && !yield(store.Entry{}, fmt.Errorf("%s: %s: %d entries up to %d-%d evicted before they were read: %w",
				r.Name, op, c.Missed, r.Epoch, cursor+c.Missed, store.ErrEvicted)) {
				return
			}
			buf = c.Entries
			for i := range buf {
				if !yield(buf[i], nil) {
					return
				}
			}
			clear(buf) // drop references to data the log may evict
			if c.Next == cursor {
				select {
				case <-wake:
				case <-ctx.Done():
					return
				case <-done: // the next read reports the close
				}
			} else if ctx.Err() != nil {
				return
			}
			cursor = max(cursor, c.Next)
		}
	}
}

func (r *Reader) errorf(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", r.Name, op, err)
}

// fail returns a sequence that yields one error, err wrapped for op.
func (r *Reader) fail(op string, err error) iter.Seq2[store.Entry, error] {
	err = r.errorf(op, err)
	return func(yield func(store.Entry, error) bool) {
		yield(store.Entry{}, err)
	}
}
