package bolt

import (
	"context"
	"fmt"
	"iter"
	"math"
	"sort"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/store"
)

// Read returns a page of history after after: see [store.Log.Read]. It
// reads, in one read transaction, the buckets of the policies that can keep
// q's topics, merged by ID, and considers at most 1,024 entries (or q.Max,
// if more); a page that stops there is not Done. Entries beyond their
// policy's MaxAge count as evicted as soon as they are, whether or not the
// cleanup has deleted them from the file yet.
//
// Errors: after that does not belong to this log (another epoch, or a
// sequence beyond the newest entry) gives an error wrapping
// [store.ErrUnknownID]; an invalid q, one wrapping [store.ErrInvalidQuery];
// ctx already done, one wrapping ctx.Err(); after [Log.Close], one
// wrapping [store.ErrClosed]; a value it cannot decode, one wrapping
// [ErrCorrupt].
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (store.Page, error) {
	op := "read after " + after.String()
	if err := store.CheckRead(ctx, q, l.isClosed()); err != nil {
		return store.Page{}, fmt.Errorf("bolt: %s: %w", op, err)
	}
	holding := l.retention.Holding(q.Patterns)
	var page store.Page
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		page, err = l.read(tx, after, q, holding)
		return err
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("bolt: %s: %w", op, closedErr(err))
	}
	return page, nil
}

// source is where a Read stands in one policy's bucket.
type source struct {
	c    *bbolt.Cursor
	k, v []byte // the next entry; k is nil at the end
	seq  uint64
}

func (s *source) set(k, v []byte) error {
	s.k, s.v = k, v
	if k == nil {
		return nil
	}
	var err error
	s.seq, err = keySeq(k)
	return err
}

// read is Read within tx, from the policies holding.
func (l *Log) read(tx *bbolt.Tx, after store.ID, q store.Query, holding []int) (page store.Page, err error) {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		return store.Page{}, fmt.Errorf("no %q bucket: %w", metaBucket, ErrCorrupt)
	}
	head, err := keySeq(meta.Get(headKey))
	if err != nil {
		return store.Page{}, fmt.Errorf("head: %w", err)
	}
	buckets := make([]*bbolt.Bucket, len(l.policies))
	for i := range l.policies {
		if buckets[i], err = l.policies[i].bucket(tx); err != nil {
			return store.Page{}, err
		}
		if head, err = headOf(buckets[i], head); err != nil {
			return store.Page{}, err
		}
	}
	if !after.IsZero() && (after.Major != l.epoch || after.Minor > head) {
		return store.Page{}, fmt.Errorf("newest is %d-%d: %w", l.epoch, head, store.ErrUnknownID)
	}
	page = store.Page{Next: after, Entries: make([]store.Entry, 0, min(q.Limit(), 256))}
	// lost is the oldest of the holding policies' newest evicted entries
	// after after: the page says Evicted once its Next reaches it.
	var lost uint64
	evicted := func(seq uint64) {
		if !after.IsZero() && seq > after.Minor && (lost == 0 || seq < lost) {
			lost = seq
		}
	}
	sources := make([]source, 0, len(holding))
	for _, i := range holding {
		p, b := &l.policies[i], buckets[i]
		evicted(b.Sequence())
		if p.MaxEntries == 0 {
			continue
		}
		oldest, expired, err := oldestKept(b, head, l.cutoff(p.Policy))
		if err != nil {
			return store.Page{}, err
		}
		evicted(expired)
		s := source{c: b.Cursor()}
		if err := s.set(s.c.Seek(appendKey(nil, max(after.Minor+1, oldest)))); err != nil {
			return store.Page{}, err
		}
		sources = append(sources, s)
	}
	limit := q.Limit()
	defer func() { page.Evicted = lost > 0 && lost <= page.Next.Minor }()
	for considered := 0; ; considered++ {
		var best *source
		for i := range sources {
			if s := &sources[i]; s.k != nil && (best == nil || s.seq < best.seq) {
				best = s
			}
		}
		if best == nil || best.seq > head {
			page.Done = true
			if head > 0 {
				page.Next = store.ID{Major: l.epoch, Minor: head}
			}
			return page, nil
		}
		if len(page.Entries) == limit || considered == max(scanLimit, limit) {
			return page, nil
		}
		id := store.ID{Major: l.epoch, Minor: best.seq}
		t, also, err := valueTopics(best.v)
		if err != nil {
			return store.Page{}, fmt.Errorf("entry %v: %w", id, err)
		}
		if q.MatchesAny(t, also) {
			e, err := decodeEntry(id, best.v)
			if err != nil {
				return store.Page{}, err
			}
			page.Entries = append(page.Entries, e)
		}
		page.Next = id
		if err := best.set(best.c.Next()); err != nil {
			return store.Page{}, err
		}
	}
}

// Follow yields, in log order and exactly once each, every entry committed
// after Follow was called, whatever its policy, until ctx ends; then the
// iteration ends without an error. Each range over the returned sequence
// starts from that same point. See [store.Log] for the contract.
//
// Entries reach followers through an in-memory ring of MaxLag entries,
// handed over after each commit: a follower never reads the file. A
// running iteration holds back Append: it is never lapped. An iteration
// started after more than MaxLag entries were committed since Follow was
// called yields first an error wrapping [store.ErrEvicted], saying how many
// it missed, and goes on with the oldest entry the ring holds. After
// [Log.Close], the iteration yields an error wrapping [store.ErrClosed]
// and ends.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	return l.transport.Follow(ctx)
}

// cutoff returns the time, in Unix nanoseconds, before which p's entries
// are evicted by age, or math.MinInt64 when it has no age bound.
func (l *Log) cutoff(p store.Policy) int64 {
	if p.MaxAge < 0 {
		return math.MinInt64
	}
	return l.now().Add(-p.MaxAge).UnixNano()
}

// oldestKept returns the sequence of the oldest entry of b young enough to
// be kept at the age cutoff (head+1 when none is), and the sequence of the
// newest entry b still holds that is too old (0 when none is). It relies
// on keys and times both growing in log order, so that the entries evicted
// by age are a prefix of the bucket.
func oldestKept(b *bbolt.Bucket, head uint64, cutoff int64) (oldest, expired uint64, err error) {
	c := b.Cursor()
	// at is the sequence of the first entry at or after seq, and whether
	// it is young enough to be kept; head+1 if there is none.
	at := func(seq uint64) (uint64, bool) {
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
	first, kept := at(0)
	if kept || cutoff == math.MinInt64 {
		return first, 0, err
	}
	// The first entries are too old: find the first one that is not.
	n := sort.Search(int(min(head+1-first, math.MaxInt)), func(i int) bool {
		_, kept := at(first + uint64(i))
		return kept
	})
	oldest, _ = at(first + uint64(n))
	if k, _ := c.Seek(appendKey(nil, oldest)); k != nil {
		k, _ = c.Prev()
		if k != nil {
			expired, _ = keySeq(k)
		}
	} else if k, _ := c.Last(); k != nil {
		expired, _ = keySeq(k)
	}
	return oldest, expired, err
}
