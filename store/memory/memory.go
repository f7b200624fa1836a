package memory

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/store"
)

const (
	// DefaultMaxLag is how many entries the slowest follower may have left
	// unread when Options.MaxLag is zero.
	DefaultMaxLag = 8192

	// scanLimit is the most entries one Read considers under the lock
	// (unless the query asks for more), so that a page of a rare topic in
	// a busy policy never holds the lock for long: the page then ends
	// early, not Done, and the next one reads on.
	scanLimit = 1024
)

// Options configures a [Log]. The zero value gives the defaults.
type Options struct {
	// Retention is how much history each topic keeps: one ring per policy,
	// allocated up front, so every policy is bounded by count. The zero
	// value keeps 10,000 events of every topic for an hour.
	Retention store.Retention

	// MaxLag is how many entries the slowest running Follow iteration may
	// have left unread: an Append beyond that waits until it reads (see
	// [Log.Append]). It is the size of the ring that carries entries to
	// followers, allocated up front. Zero or negative means
	// DefaultMaxLag.
	MaxLag int

	// now returns the current time: the epoch (see [New]), each entry's
	// Time and the age of entries. It is called with the log's lock held.
	// Nil means [time.Now]. Only tests set it (export_test.go); programs
	// that want a fake clock run under testing/synctest.
	now func() time.Time
}

// Log is an in-memory [store.Log]: one ring per history policy, and a ring
// that carries every entry to the followers. It also implements
// [io.Closer] and [store.Pinger]. A Log must be created with [New] (the
// zero value is not usable); it is safe for concurrent use by any number
// of goroutines.
type Log struct {
	epoch     uint64
	now       func() time.Time
	retention store.Retention
	invalid   error // the Retention is not valid: every method fails with it
	transport *wake.Transport

	mu        sync.Mutex
	head      uint64    // sequence of the newest entry; 0 before the first
	histories []history // one per policy, in the order of Retention.Resolved
	closed    bool
}

// history is the kept events of one policy: entry k (counted from 1 in
// this policy) is at ring[k%len(ring)].
type history struct {
	maxAge  time.Duration // negative: no bound by age
	ring    []store.Entry // nil for a policy of size zero
	count   uint64        // entries ever added
	oldest  uint64        // k of the oldest entry kept; count+1 when none is
	evicted store.ID      // the newest entry evicted, or never kept
}

var (
	_ store.Log    = (*Log)(nil)
	_ io.Closer    = (*Log)(nil)
	_ store.Pinger = (*Log)(nil)
)

// New returns an empty Log configured by opts. Its epoch, the Major part of
// every ID it assigns, is the current time in Unix milliseconds; the first
// entry's Minor is 1.
//
// When opts.Retention is not valid ([store.Retention.Validate]), New still
// returns a Log, every method of which fails with that error, wrapping
// [store.ErrInvalidPolicy]: a program that takes policies from its users
// validates them first, as herald serve does.
func New(opts Options) *Log {
	now := opts.now
	if now == nil {
		now = time.Now
	}
	lag := opts.MaxLag
	if lag <= 0 {
		lag = DefaultMaxLag
	}
	// Major 0 is kept for the zero ID, which means "from the start".
	epoch := uint64(max(now().UnixMilli(), 1))
	l := &Log{
		epoch:     epoch,
		now:       now,
		retention: opts.Retention,
		transport: wake.NewTransport("memory", epoch, lag, 0),
	}
	if err := opts.Retention.Validate(); err != nil {
		l.invalid = fmt.Errorf("memory: %w", err)
		l.transport.Close()
		return l
	}
	for _, p := range opts.Retention.Resolved() {
		h := history{maxAge: p.MaxAge, oldest: 1}
		if p.MaxEntries > 0 {
			h.ring = make([]store.Entry, p.MaxEntries)
		}
		l.histories = append(l.histories, h)
	}
	return l
}

// Append stores e as the next entry and returns it, with its ID and its
// Time, the log's clock at the moment of the append. The policy of e.Topic
// keeps it in
// its ring, evicting that ring's oldest entry when it is full; every
// running follower is woken with a non-blocking send.
//
// When the slowest running follower has MaxLag entries unread, Append waits
// until it reads some; if ctx ends first, it returns an error wrapping
// [store.ErrBusy] and stores nothing. It returns an error wrapping
// ctx.Err() without storing anything when ctx is already done, and an
// error wrapping [store.ErrClosed] after [Log.Close].
func (l *Log) Append(ctx context.Context, in store.Entry) (store.Entry, error) {
	topic := in.Topic
	if l.invalid != nil {
		return store.Entry{}, l.invalid
	}
	if err := ctx.Err(); err != nil {
		return store.Entry{}, fmt.Errorf("memory: append to %q: %w", topic, err)
	}
	policy := l.retention.PolicyFor(topic)
	if err := l.transport.Reserve(ctx); err != nil {
		return store.Entry{}, fmt.Errorf("memory: append to %q: %w", topic, err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.transport.Cancel()
		return store.Entry{}, fmt.Errorf("memory: append to %q: %w", topic, store.ErrClosed)
	}
	e := l.store(in, policy)
	l.mu.Unlock()
	return e, nil
}

// AppendBatch stores es in order, as Append would each, under one lock:
// no other entry lands between them. It waits for room for all of them
// first (see Append); if ctx ends first it stores nothing.
func (l *Log) AppendBatch(ctx context.Context, es []store.Entry) ([]store.Entry, error) {
	if l.invalid != nil {
		return nil, l.invalid
	}
	if err := store.CheckBatch(es); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: append %d entries: %w", len(es), err)
	}
	for i := range es {
		if err := l.transport.Reserve(ctx); err != nil {
			for range i {
				l.transport.Cancel()
			}
			return nil, fmt.Errorf("memory: append %d entries: %w", len(es), err)
		}
	}
	out := make([]store.Entry, len(es))
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		for range es {
			l.transport.Cancel()
		}
		return nil, fmt.Errorf("memory: append %d entries: %w", len(es), store.ErrClosed)
	}
	for i, in := range es {
		out[i] = l.store(in, l.retention.PolicyFor(in.Topic))
	}
	l.mu.Unlock()
	return out, nil
}

// store gives in the next ID and the time, keeps it under policy and hands
// it to the followers. l.mu is held, and a place in the transport reserved.
func (l *Log) store(in store.Entry, policy int) store.Entry {
	// The clock is read under the lock so that Time never decreases in log
	// order, which age eviction relies on.
	now := l.now()
	l.head++
	e := in
	e.ID, e.Time = store.ID{Major: l.epoch, Minor: l.head}, now
	for i := range l.histories {
		l.histories[i].expire(now)
	}
	l.histories[policy].add(e)
	l.transport.Put(e) // under the lock: in log order
	return e
}

// add keeps e, evicting the oldest entry if the ring is full.
func (h *history) add(e store.Entry) {
	h.count++
	n := uint64(len(h.ring))
	if n == 0 {
		h.evicted = e.ID
		h.oldest = h.count + 1
		return
	}
	slot := &h.ring[h.count%n]
	if h.count-h.oldest >= n {
		// The slot holds the oldest entry kept.
		h.evicted = slot.ID
		h.oldest = h.count - n + 1
	}
	*slot = e
}

// expire evicts the entries older than maxAge at now.
func (h *history) expire(now time.Time) {
	if h.maxAge < 0 || h.ring == nil {
		return
	}
	cutoff := now.Add(-h.maxAge)
	n := uint64(len(h.ring))
	for h.oldest <= h.count && h.ring[h.oldest%n].Time.Before(cutoff) {
		h.evicted = h.ring[h.oldest%n].ID
		h.ring[h.oldest%n] = store.Entry{} // release the event's strings now
		h.oldest++
	}
}

// at returns the entry k of h.
func (h *history) at(k uint64) *store.Entry { return &h.ring[k%uint64(len(h.ring))] }

// firstAfter returns the k of the oldest entry kept whose ID comes after
// id; count+1 when none does.
func (h *history) firstAfter(id store.ID) uint64 {
	if h.ring == nil {
		return h.count + 1
	}
	n := sort.Search(int(h.count+1-h.oldest), func(i int) bool {
		return h.at(h.oldest+uint64(i)).ID.Compare(id) > 0
	})
	return h.oldest + uint64(n)
}

// Read returns a page of history after after: see [store.Log.Read]. It
// reads the rings of the policies that can keep q's topics, merged by ID,
// and copies out at most q.Max entries under the log's lock, considering
// at most 1,024 (or q.Max, if more); a page that stops there is not Done.
// Entries older than their policy's MaxAge are evicted first.
//
// Errors: after that does not belong to this log (another epoch, or a
// sequence beyond the newest entry) gives an error wrapping
// [store.ErrUnknownID]; after [Log.Close], one wrapping [store.ErrClosed];
// ctx already done, one wrapping ctx.Err(); an invalid q, one wrapping
// [store.ErrInvalidQuery].
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (page store.Page, err error) {
	if l.invalid != nil {
		return store.Page{}, l.invalid
	}
	op := "read after " + after.String()
	if err := store.CheckRead(ctx, q, false); err != nil {
		return store.Page{}, fmt.Errorf("memory: %s: %w", op, err)
	}
	holding := l.retention.Holding(q.Patterns)
	limit := q.Limit()

	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return store.Page{}, fmt.Errorf("memory: %s: %w", op, store.ErrClosed)
	case after.IsZero():
	case after.Major != l.epoch || after.Minor > l.head:
		return store.Page{}, fmt.Errorf("memory: %s: newest is %d-%d: %w", op, l.epoch, l.head, store.ErrUnknownID)
	}
	now := l.now()
	page = store.Page{Next: after, Entries: make([]store.Entry, 0, min(limit, 256))}
	// lost is the oldest of the holding policies' newest evicted entries
	// after after: the page says Evicted once its Next reaches it.
	var lost store.ID
	next := make([]uint64, len(holding)) // per policy: the k to consider next
	for i, p := range holding {
		h := &l.histories[p]
		h.expire(now)
		if !after.IsZero() && h.evicted.Compare(after) > 0 && (lost.IsZero() || h.evicted.Compare(lost) < 0) {
			lost = h.evicted
		}
		next[i] = h.firstAfter(after)
	}
	defer func() { page.Evicted = !lost.IsZero() && lost.Compare(page.Next) <= 0 }()
	for considered := 0; ; considered++ {
		// The policy whose next entry comes first.
		best := -1
		for i, p := range holding {
			h := &l.histories[p]
			if next[i] <= h.count && (best < 0 || h.at(next[i]).ID.Compare(l.histories[holding[best]].at(next[best]).ID) < 0) {
				best = i
			}
		}
		if best < 0 {
			page.Done = true
			if l.head > 0 {
				page.Next = store.ID{Major: l.epoch, Minor: l.head}
			}
			return page, nil
		}
		if len(page.Entries) == limit || considered == max(scanLimit, limit) {
			return page, nil
		}
		e := l.histories[holding[best]].at(next[best])
		next[best]++
		page.Next = e.ID
		if q.MatchesAny(e.Topic, e.Also) {
			page.Entries = append(page.Entries, *e)
		}
	}
}

// Follow yields, in log order and exactly once each, every entry appended
// after Follow was called, whatever its policy, until ctx ends; then the
// iteration ends without an error. Each range over the returned sequence
// starts from that same point. See [store.Log] for the contract.
//
// A running iteration holds back Append: it is never lapped. An iteration
// started after more than MaxLag entries were appended since Follow was
// called yields first an error wrapping [store.ErrEvicted], saying how many
// it missed, and goes on with the oldest entry the ring holds. After
// [Log.Close], the iteration yields an error wrapping [store.ErrClosed]
// and ends. It checks ctx between chunks of at most 256 entries.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	if l.invalid != nil {
		return func(yield func(store.Entry, error) bool) { yield(store.Entry{}, l.invalid) }
	}
	return l.transport.Follow(ctx)
}

// Close releases the log's entries. Afterwards Append, Read, Follow and
// Ping fail with errors wrapping [store.ErrClosed], running Follow
// iterations yield such an error and end, and Appends waiting for room
// return one. Close is idempotent: later calls return nil.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.histories = nil
	l.transport.Close()
	return nil
}

// Ping reports whether the log can be used: nil, or an error wrapping
// [store.ErrClosed] after [Log.Close] (or [store.ErrInvalidPolicy] for a
// Log made with an invalid Retention). A memory log has no backing service
// to lose, so it never returns [store.ErrUnavailable].
func (l *Log) Ping(ctx context.Context) error {
	if l.invalid != nil {
		return l.invalid
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("memory: ping: %w", store.ErrClosed)
	}
	return nil
}
