package wake

import "context"

// Chunk is what one read from a follower's cursor found.
type Chunk[E any] struct {
	Entries []E    // read, in log order
	Missed  uint64 // entries right after the cursor that were evicted unread
	Next    uint64 // the cursor for the next read: every sequence before it is dealt with
}

// Follower is what [Follow] needs from a log.
type Follower[E any] struct {
	// Cursor is the sequence to read after.
	Cursor uint64
	// Read appends to buf the entries after cursor, a chunk at a time. Its
	// error is yielded as is and ends the loop.
	Read func(buf []E, cursor uint64) (Chunk[E], error)
	// Evicted makes the error yielded when missed entries, up to sequence
	// upTo, were evicted before they were read. The loop goes on after it.
	Evicted func(missed, upTo uint64) error
	// Wake has a value when something was appended; Done is closed when
	// the log closes (the next Read then reports it).
	Wake <-chan struct{}
	Done <-chan struct{}
}

// Follow is a log follower's loop, shared by the stores: read a chunk from
// the cursor, report what was evicted unread, yield the entries, and wait
// for a wake-up when there was nothing new. It returns when yield asks to
// stop, when ctx ends (checked between chunks), or after yielding Read's
// error.
func Follow[E any](ctx context.Context, f Follower[E], yield func(E, error) bool) {
	var zero E
	var buf []E
	cursor := f.Cursor
	for {
		c, err := f.Read(buf[:0], cursor)
		if err != nil {
			yield(zero, err)
			return
		}
		buf = c.Entries
		if c.Missed > 0 && !yield(zero, f.Evicted(c.Missed, cursor+c.Missed)) {
			return
		}
		for i := range buf {
			if !yield(buf[i], nil) {
				return
			}
		}
		clear(buf) // drop references to data the log may evict
		if c.Next == cursor {
			select {
			case <-f.Wake:
			case <-ctx.Done():
				return
			case <-f.Done:
			}
		} else if ctx.Err() != nil {
			return
		}
		cursor = max(cursor, c.Next)
	}
}
