package bolt

import (
	"context"
	"fmt"
	"iter"
	"math"
	"sort"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/store"
)

// Read returns a page of history after after: see [store.Log.Read]. The
// log keeps one history for every topic.
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (store.Page, error) {
	return wake.ReadPage(ctx, after, q, l.After)
}

// After yields, in log order, the entries kept after the one with ID after,
// up to the newest entry when After was called; the zero ID yields all that
// is kept. See [store.Log] for the contract. Entries beyond MaxEntries or
// MaxAge count as evicted as soon as they are, whether or not the cleanup
// has deleted them from the file yet.
//
// Errors: after that does not belong to this log (another epoch, or a
// sequence beyond the newest entry) gives one error wrapping
// [store.ErrUnknownID]; after older than the entry before the oldest kept
// gives one error wrapping [store.ErrEvicted]. Entries are read in chunks
// of at most 256, each in its own read transaction, and no transaction is
// open while the iteration yields; a consumer so slow that entries it has
// not reached yet are evicted gets, after the entries it did receive, an
// error wrapping [store.ErrEvicted]. When ctx ends before the iteration
// does, it yields an error wrapping ctx.Err(); after [Log.Close], an error
// wrapping [store.ErrClosed]; a value it cannot decode, an error wrapping
// [ErrCorrupt]. Iteration ends after any error.
func (l *Log) After(ctx context.Context, after store.ID) iter.Seq2[store.Entry, error] {
	return l.reader.After(ctx, after)
}

// Follow yields, in log order and exactly once each, every entry appended
// after Follow was called, until ctx ends; then the iteration ends without
// an error. Each range over the returned sequence starts from that same
// point. See [store.Log] for the contract.
//
// The iteration is woken after each commit; it reads in chunks of at most
// 256 entries, each in its own read transaction, and holds none while it
// yields. A follower so slow that entries it has not read are evicted gets
// an error wrapping [store.ErrEvicted], saying how many it missed, and goes
// on with the oldest entry kept. After [Log.Close], the iteration yields an
// error wrapping [store.ErrClosed] and ends; a read that fails otherwise is
// yielded as an error and ends it too.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	return l.reader.Follow(ctx)
}

// state returns the sequence of the newest committed entry and whether the
// log is closed.
func (l *Log) state() (head uint64, closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head, l.closed
}

// read is the log's [wake.Reader.Read]: it appends to buf the entries kept after sequence cursor, up to sequence
// limit and at most chunk of them, in one read transaction. When entries
// right after cursor are evicted (deleted, beyond MaxEntries or older than
// MaxAge), it reports how many as missed; with skip it then reads from the
// oldest entry kept, else it reads nothing. It returns [store.ErrClosed]
// once the log is closed.
func (l *Log) read(buf []store.Entry, cursor, limit uint64, skip bool) (wake.Chunk, error) {
	r := wake.Chunk{Entries: buf, Next: cursor}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return r, store.ErrClosed
	}
	cutoff := l.cutoff()
	err := l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(eventsBucket)
		if b == nil {
			return fmt.Errorf("no %q bucket: %w", eventsBucket, ErrCorrupt)
		}
		head := b.Sequence()
		oldest, err := l.oldestKept(b, cursor+1, head, cutoff)
		if err != nil {
			return err
		}
		if oldest > cursor+1 {
			r.Missed = oldest - 1 - cursor
			if !skip {
				return nil
			}
			cursor = oldest - 1
			r.Next = cursor
		}
		last := min(limit, head, cursor+chunk)
		if last <= cursor {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(appendKey(nil, cursor+1)); k != nil; k, v = c.Next() {
			seq, err := keySeq(k)
			if err != nil {
				return err
			}
			if seq > last {
				break
			}
			e, err := decodeEntry(store.ID{Major: l.epoch, Minor: seq}, v)
			if err != nil {
				return err
			}
			r.Entries = append(r.Entries, e)
		}
		r.Next = last
		return nil
	})
	if err != nil {
		return r, closedErr(err)
	}
	return r, nil
}

// cutoff returns the time, in Unix nanoseconds, before which entries are
// evicted by age, or math.MinInt64 when there is no age bound.
func (l *Log) cutoff() int64 {
	if l.maxAge < 0 {
		return math.MinInt64
	}
	return l.now().Add(-l.maxAge).UnixNano()
}

// oldestKept returns the sequence of the oldest entry kept at or after
// from, given the log's head and the age cutoff: head+1 when none is. It
// relies on keys and times both growing in log order, so that the entries
// evicted by count, by age or by the cleanup are a prefix of the bucket.
func (l *Log) oldestKept(b *bbolt.Bucket, from, head uint64, cutoff int64) (uint64, error) {
	if head >= l.maxEntries {
		from = max(from, head-l.maxEntries+1)
	}
	if from > head {
		return head + 1, nil
	}
	c := b.Cursor()
	// first is the sequence of the first entry at or after seq, and
	// whether it is young enough to be kept; head+1 if there is none.
	var err error
	first := func(seq uint64) (uint64, bool) {
		k, v := c.Seek(appendKey(nil, seq))
		if k == nil {
			return head + 1, true
		}
		s, e1 := keySeq(k)
		nanos, e2 := valueNanos(v)
		if e1 != nil || e2 != nil {
			if err == nil {
				err = fmt.Errorf("entry at %d: %w", seq, ErrCorrupt)
			}
			return head + 1, true
		}
		return min(s, head+1), nanos >= cutoff
	}
	seq, kept := first(from)
	if kept || cutoff == math.MinInt64 {
		return seq, err
	}
	// Entries from seq on begin with some that are too old: find the
	// first one that is not.
	n := sort.Search(int(min(head+1-seq, math.MaxInt)), func(i int) bool {
		_, kept := first(seq + uint64(i))
		return kept
	})
	seq, _ = first(seq + uint64(n))
	return seq, err
}
