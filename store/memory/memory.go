package memory

import (
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

const (
	// DefaultMaxEntries is the number of entries a Log keeps when
	// Options.MaxEntries is zero or negative.
	DefaultMaxEntries = 10_000

	// DefaultMaxAge is how long a Log keeps an entry when Options.MaxAge is
	// zero.
	DefaultMaxAge = time.Hour

	// chunk is the most entries an iterator copies out under the lock at
	// once, so a long replay never holds the lock for long.
	chunk = 256
)

// Options configures a [Log]. The zero value gives the defaults.
type Options struct {
	// MaxEntries is how many entries the log keeps; appending to a full log
	// evicts the oldest entry. The ring is allocated up front, so there is
	// no unbounded setting. Zero or negative means 10,000.
	MaxEntries int

	// MaxAge is how long an entry is kept after it was appended; an entry
	// older than MaxAge is evicted the next time the log is appended to or
	// read. Zero means one hour. Negative means entries never expire by age
	// and only MaxEntries bounds the log.
	MaxAge time.Duration

	// now returns the current time: the epoch (see [New]), each entry's
	// Time and the age of entries. It is called with the log's lock held.
	// Nil means [time.Now]. Only tests set it (export_test.go); programs
	// that want a fake clock run under testing/synctest.
	now func() time.Time
}

// Log is an in-memory [store.Log] bounded by count and age. It also
// implements [io.Closer] and [store.Pinger]. A Log must be created with
// [New] (the zero value is not usable); it is safe for concurrent use by any
// number of goroutines.
type Log struct {
	epoch     uint64
	maxAge    time.Duration // negative: no age bound
	now       func() time.Time
	followers wake.Set    // woken on every append
	reader    wake.Reader // After and Follow

	mu     sync.Mutex
	ring   []store.Entry // entry with sequence s is at ring[s%len(ring)]
	oldest uint64        // sequence of the oldest entry kept; head+1 when none is
	head   uint64        // sequence of the newest entry; 0 before the first
	closed bool
}

var (
	_ store.Log    = (*Log)(nil)
	_ io.Closer    = (*Log)(nil)
	_ store.Pinger = (*Log)(nil)
)

// New returns an empty Log configured by opts. Its epoch, the Major part of
// every ID it assigns, is the current time in Unix milliseconds; the first
// entry's Minor is 1.
func New(opts Options) *Log {
	n := opts.MaxEntries
	if n <= 0 {
		n = DefaultMaxEntries
	}
	maxAge := opts.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	now := opts.now
	if now == nil {
		now = time.Now
	}
	// Major 0 is kept for the zero ID, which means "from the start".
	epoch := uint64(max(now().UnixMilli(), 1))
	l := &Log{
		epoch:  epoch,
		maxAge: maxAge,
		now:    now,
		ring:   make([]store.Entry, n),
		oldest: 1,
	}
	l.reader = wake.Reader{Name: "memory", Epoch: epoch, MaxChunk: chunk, Head: l.state, Read: l.read, Wake: &l.followers}
	return l
}

// Append stores ev on topic as the next entry and returns it. The entry's
// Event has an empty ID (its ID is the entry's ID) and its Time is the
// log's clock at the moment of the append. Append never waits for a reader:
// followers are woken with non-blocking sends.
//
// Append returns an error wrapping ctx.Err() without storing anything when
// ctx is already done, and an error wrapping [store.ErrClosed] after
// [Log.Close].
func (l *Log) Append(ctx context.Context, topic string, ev sse.Event) (store.Entry, error) {
	if err := ctx.Err(); err != nil {
		return store.Entry{}, fmt.Errorf("memory: append to %q: %w", topic, err)
	}
	ev.ID = ""
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return store.Entry{}, fmt.Errorf("memory: append to %q: %w", topic, store.ErrClosed)
	}
	// The clock is read under the lock so that Time never decreases in log
	// order, which age eviction relies on.
	now := l.now()
	l.expireLocked(now)
	l.head++
	e := store.Entry{ID: store.ID{Major: l.epoch, Minor: l.head}, Topic: topic, Event: ev, Time: now}
	n := uint64(len(l.ring))
	l.ring[l.head%n] = e
	if l.head-l.oldest >= n {
		// The slot held the oldest entry; it was just overwritten.
		l.oldest = l.head - n + 1
	}
	l.mu.Unlock()
	l.followers.Notify()
	return e, nil
}

// Read returns a page of history after after: see [store.Log.Read]. The
// log keeps one history for every topic.
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (store.Page, error) {
	return wake.ReadPage(ctx, after, q, l.After)
}

// After yields, in log order, the entries kept after the one with ID after,
// up to the newest entry when After was called; the zero ID yields all that
// is kept. See [store.Log] for the contract.
//
// Errors: after that does not belong to this log (another epoch, or a
// sequence beyond the newest entry) gives one error wrapping
// [store.ErrUnknownID]; after older than the entry before the oldest kept
// gives one error wrapping [store.ErrEvicted]. Entries are copied out in
// chunks, so a consumer that is so slow that entries it has not reached yet
// are evicted gets, after the entries it did receive, an error wrapping
// [store.ErrEvicted]. When ctx ends before the iteration does, it yields an
// error wrapping ctx.Err(); after [Log.Close], an error wrapping
// [store.ErrClosed]. Iteration ends after any error.
func (l *Log) After(ctx context.Context, after store.ID) iter.Seq2[store.Entry, error] {
	return l.reader.After(ctx, after)
}

// Follow yields, in log order and exactly once each, every entry appended
// after Follow was called, until ctx ends; then the iteration ends without
// an error. Each range over the returned sequence starts from that same
// point. See [store.Log] for the contract.
//
// A follower so slow that entries it has not read are evicted gets an error
// wrapping [store.ErrEvicted], saying how many it missed, and goes on with
// the oldest entry kept. After [Log.Close], the iteration yields an error
// wrapping [store.ErrClosed] and ends. The iteration checks ctx between
// chunks of at most 256 entries.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	return l.reader.Follow(ctx)
}

func (l *Log) state() (head uint64, closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head, l.closed
}

// read is the log's [wake.Reader.Read]: it appends to buf the entries after
// sequence cursor, up to sequence limit and at most chunk of them, after
// evicting what has expired. When entries right after cursor were evicted,
// it reports how many as missed; with skip it then reads from the oldest
// entry kept, else it reads nothing. It returns [store.ErrClosed] once the
// log is closed.
func (l *Log) read(buf []store.Entry, cursor, limit uint64, skip bool) (wake.Chunk, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := wake.Chunk{Entries: buf, Next: cursor}
	if l.closed {
		return c, store.ErrClosed
	}
	l.expireLocked(l.now())
	if cursor+1 < l.oldest {
		c.Missed = l.oldest - 1 - cursor
		if !skip {
			return c, nil
		}
		cursor = l.oldest - 1
		c.Next = cursor
	}
	last := min(limit, l.head, cursor+chunk)
	if last <= cursor {
		return c, nil
	}
	n := uint64(len(l.ring))
	first, end := (cursor+1)%n, last%n
	if first <= end {
		buf = append(buf, l.ring[first:end+1]...)
	} else {
		buf = slices.Grow(buf, int(last-cursor))
		buf = append(buf, l.ring[first:]...)
		buf = append(buf, l.ring[:end+1]...)
	}
	c.Entries, c.Next = buf, last
	return c, nil
}

// expireLocked evicts the entries older than MaxAge at now. l.mu is held.
func (l *Log) expireLocked(now time.Time) {
	if l.maxAge < 0 {
		return
	}
	cutoff := now.Add(-l.maxAge)
	n := uint64(len(l.ring))
	for l.oldest <= l.head && l.ring[l.oldest%n].Time.Before(cutoff) {
		l.ring[l.oldest%n] = store.Entry{} // release the event's strings now
		l.oldest++
	}
}

// Close releases the log's entries. Afterwards Append, After, Follow and
// Ping fail with errors wrapping [store.ErrClosed], and running Follow
// iterations yield such an error and end; After iterations do so at their
// next chunk. Close is idempotent: later calls return nil.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.ring = nil
	l.followers.Close()
	return nil
}

// Ping reports whether the log can be used: nil, or an error wrapping
// [store.ErrClosed] after [Log.Close]. A memory log has no backing service
// to lose, so it never returns [store.ErrUnavailable].
func (l *Log) Ping(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("memory: ping: %w", store.ErrClosed)
	}
	return nil
}
