package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/store"
)

const (
	// DefaultMaxLag is how many entries the slowest follower may have left
	// unread when Options.MaxLag is zero.
	DefaultMaxLag = 8192

	// DefaultMaxBatch is the most appends committed in one transaction when
	// Options.MaxBatch is zero or negative.
	DefaultMaxBatch = 1000

	// DefaultCleanupInterval is how often the cleanup looks for entries
	// beyond their policy's MaxAge when Options.CleanupInterval is zero.
	DefaultCleanupInterval = time.Second

	// lockTimeout bounds how long Open waits for another process to release
	// the file.
	lockTimeout = 2 * time.Second

	// scanLimit is the most entries one Read considers in its read
	// transaction (unless the query asks for more): a page of a rare topic
	// in a busy policy then ends early, not Done, and the next one reads
	// on.
	scanLimit = 1024

	// cleanupChunk is the most entries one cleanup transaction deletes, so
	// cleanup never holds bbolt's single writer lock for long.
	cleanupChunk = 512
)

// Options configures a [Log]. The zero value gives the defaults.
type Options struct {
	// Retention is how much history each topic keeps: one bucket per
	// policy of the file. The zero value keeps 10,000 events of every
	// topic for an hour. When it differs from the policies the file was
	// last opened with, Open files the kept events again under the new
	// policies (see [Open]).
	Retention store.Retention

	// MaxLag is how many committed entries the slowest running Follow
	// iteration may have left unread: an Append beyond that waits until it
	// reads (see [Log.Append]). It is the size of the in-memory ring that
	// carries entries to followers. Zero or negative means DefaultMaxLag.
	MaxLag int

	// MaxBatch is the most appends committed together in one transaction
	// (one disk sync). Appends that arrive while a transaction commits wait
	// for the next one, so under concurrent load many share a sync. Zero or
	// negative means 1000; 1 commits every append on its own.
	MaxBatch int

	// BatchDelay is how long the log waits, once an append arrives, for
	// more to join its batch before committing, unless MaxBatch are already
	// waiting. It trades latency for fewer syncs when appends arrive one at
	// a time. Zero means no wait: a batch is whatever arrived while the
	// previous one committed.
	BatchDelay time.Duration

	// CleanupInterval is how often the background cleanup looks for
	// entries older than their policy's MaxAge to delete from the file.
	// Entries beyond a policy's MaxEntries are deleted by the commit that
	// appends their successors, whatever this is. Zero means one second.
	CleanupInterval time.Duration

	// Logger receives failures of the background cleanup. Nil discards
	// them.
	Logger *slog.Logger

	// now returns the current time: the epoch of a new file, each entry's
	// Time and the age of entries. Nil means [time.Now]. Only tests set it
	// (export_test.go).
	now func() time.Time
}

// Log is a [store.Log] kept in one bbolt file, so that its events and IDs
// survive a restart of the process. It also implements [io.Closer] and
// [store.Pinger]. A Log must be created with [Open] (the zero value is not
// usable) and released with [Log.Close]; it is safe for concurrent use by
// any number of goroutines.
type Log struct {
	db              *bbolt.DB
	path            string
	epoch           uint64
	retention       store.Retention
	policies        []policy // in the order of Retention.Resolved
	maxBatch        int
	batchDelay      time.Duration
	cleanupInterval time.Duration
	now             func() time.Time
	logger          *slog.Logger
	transport       *wake.Transport

	kick chan struct{} // buffered 1: requests are queued
	stop chan struct{} // closed by Close: the goroutines finish
	wg   sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	queue     []*request // appends waiting for the batcher

	// counts is how many entries each policy's bucket holds; countMu is
	// held by every write transaction that changes them (commits and the
	// cleanup), across the transaction, so a failed one can put them back.
	countMu sync.Mutex
	counts  []uint64

	// Owned by the batcher goroutine (and by Open before it starts).
	head      uint64 // sequence of the newest committed entry; 0 before the first
	lastNanos int64  // time of the newest entry, so times never decrease
	arena     []byte // keys and values of the batch being committed
}

// request is one Append waiting for its batch to commit.
type request struct {
	in       store.Entry // what Append was given
	policy   int         // index in Log.policies
	entry    store.Entry
	err      error
	taken    bool          // by the batcher; guarded by Log.mu
	canceled bool          // by Append before it was taken; guarded by Log.mu
	done     chan struct{} // closed once entry and err are set
}

var (
	_ store.Log    = (*Log)(nil)
	_ io.Closer    = (*Log)(nil)
	_ store.Pinger = (*Log)(nil)
)

// Open opens the log in the bbolt file at path, creating the file if it
// does not exist, and starts the goroutines that commit appends and delete
// expired entries; [Log.Close] stops them and closes the file.
//
// A new file takes as its epoch, the Major part of every ID the log
// assigns, the current time in Unix milliseconds, and keeps it for good:
// IDs keep increasing across restarts, and an ID a client got before a
// restart still resumes. The retention bounds are those of opts, whatever
// they were when the file was written.
//
// When the file was written with other policies (other patterns, or in
// another order), or in the single history of earlier versions, Open files
// every stored event again under the policy opts gives its topic, in one
// transaction, then trims each policy to its bounds. A policy whose topics
// an old policy could hold reports what that one had evicted, so a resume
// from before it is told of the loss. Nothing still kept is lost.
//
// Open fails with an error wrapping [store.ErrInvalidPolicy] for an
// invalid opts.Retention, when another process has the file open (after
// waiting two seconds for it), and with an error wrapping [ErrCorrupt]
// when the file is a bbolt file this package did not write.
func Open(path string, opts Options) (*Log, error) {
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("bolt: open %q: %w", path, err)
	}
	l := &Log{
		path:            path,
		retention:       opts.Retention,
		policies:        newPolicies(opts.Retention),
		maxBatch:        opts.MaxBatch,
		batchDelay:      max(opts.BatchDelay, 0),
		cleanupInterval: opts.CleanupInterval,
		now:             opts.now,
		logger:          opts.Logger,
		kick:            make(chan struct{}, 1),
		stop:            make(chan struct{}),
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatch
	}
	if l.cleanupInterval <= 0 {
		l.cleanupInterval = DefaultCleanupInterval
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	lag := opts.MaxLag
	if lag <= 0 {
		lag = DefaultMaxLag
	}

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %q: %w", path, err)
	}
	l.db = db
	if err := db.Update(l.init); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %q: %w", path, err)
	}
	l.transport = wake.NewTransport("bolt", l.epoch, lag, l.head)
	l.wg.Go(l.batcher)
	l.wg.Go(l.cleaner)
	return l, nil
}

// Append stores e as the next entry and returns it, once the transaction
// holding it has been committed and synced to disk, with its ID and its
// Time: the log's clock when its batch was committed, never earlier than
// the entry before.
// Concurrent appends share transactions (see [Options.MaxBatch]). The
// policy of e.Topic keeps the entry, and the same transaction deletes that
// policy's oldest entries beyond its MaxEntries; a policy of size zero
// keeps nothing. Followers are woken with non-blocking sends.
//
// When the slowest running follower has MaxLag committed entries unread,
// Append waits until it reads some before joining a batch; if ctx ends
// first, it returns an error wrapping [store.ErrBusy] and stores nothing.
// It returns an error wrapping ctx.Err() without storing anything when
// ctx is done before the entry is taken into a batch; once taken, it waits
// for the commit. It returns an error wrapping [store.ErrClosed] after
// [Log.Close], and an error from bbolt when the commit fails, in which case
// nothing of that batch is stored.
func (l *Log) Append(ctx context.Context, in store.Entry) (store.Entry, error) {
	topic := in.Topic
	if err := ctx.Err(); err != nil {
		return store.Entry{}, fmt.Errorf("bolt: append to %q: %w", topic, err)
	}
	if err := l.transport.Reserve(ctx); err != nil {
		return store.Entry{}, fmt.Errorf("bolt: append to %q: %w", topic, err)
	}
	r := &request{in: in, policy: l.retention.PolicyFor(topic), done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.transport.Cancel()
		return store.Entry{}, fmt.Errorf("bolt: append to %q: %w", topic, store.ErrClosed)
	}
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // the batcher is already due to look at the queue
	}

	select {
	case <-r.done:
	case <-ctx.Done():
		l.mu.Lock()
		if !r.taken {
			r.canceled = true
			l.mu.Unlock()
			l.transport.Cancel()
			return store.Entry{}, fmt.Errorf("bolt: append to %q: %w", topic, ctx.Err())
		}
		l.mu.Unlock()
		<-r.done // its batch is being committed; report what happened
	}
	if r.err != nil {
		return store.Entry{}, fmt.Errorf("bolt: append to %q: %w", topic, r.err)
	}
	return r.entry, nil
}

// AppendBatch stores es in order, as Append would each: they are queued
// together, so no other entry lands between them, and commit in as few
// transactions as the batch size allows (usually one). Errors are
// Append's; a commit failing after an earlier one of the same call leaves
// the entries of the earlier one stored.
func (l *Log) AppendBatch(ctx context.Context, es []store.Entry) ([]store.Entry, error) {
	if err := store.CheckBatch(es); err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	op := func() string { return fmt.Sprintf("append %d entries to %q and others", len(es), es[0].Topic) }
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt: %s: %w", op(), err)
	}
	for i := range es {
		if err := l.transport.Reserve(ctx); err != nil {
			for range i {
				l.transport.Cancel()
			}
			return nil, fmt.Errorf("bolt: %s: %w", op(), err)
		}
	}
	rs := make([]request, len(es))
	for i := range es {
		rs[i] = request{in: es[i], policy: l.retention.PolicyFor(es[i].Topic), done: make(chan struct{})}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		for range es {
			l.transport.Cancel()
		}
		return nil, fmt.Errorf("bolt: %s: %w", op(), store.ErrClosed)
	}
	for i := range rs {
		l.queue = append(l.queue, &rs[i])
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	out := make([]store.Entry, len(rs))
	for i := range rs {
		r := &rs[i]
		select {
		case <-r.done:
		case <-ctx.Done():
			// Withdraw what the batcher has not taken; what it has is
			// being committed: wait for it, and report the context.
			var committing []*request
			withdrawn := 0
			l.mu.Lock()
			for j := i; j < len(rs); j++ {
				if rs[j].taken {
					committing = append(committing, &rs[j])
				} else {
					rs[j].canceled = true
					withdrawn++
				}
			}
			l.mu.Unlock()
			for range withdrawn {
				l.transport.Cancel()
			}
			for _, c := range committing {
				<-c.done
			}
			return nil, fmt.Errorf("bolt: %s: %w", op(), ctx.Err())
		}
		if r.err != nil {
			return nil, fmt.Errorf("bolt: %s: %w", op(), r.err)
		}
		out[i] = r.entry
	}
	return out, nil
}

// batcher commits queued appends in batches until Close, then commits what
// is still queued and returns.
//
// Why not bbolt's DB.Batch: it forms a batch by time, not by load. A batch
// collects the calls made within MaxBatchDelay of its first, then commits.
// With no delay each call commits nearly alone: measured with 16 parallel
// appenders, 14-21 times slower than this batcher (3.6-7.4 ms against
// 0.22-0.36 ms per append). With a delay every lone append waits it (10 ms
// by default) before its sync. This batcher commits, as soon as the
// previous commit ends, whatever arrived during it: no added latency for a
// lone publisher, large batches under load. DB.Batch also cannot withdraw
// a call, so a cancelled Append would need a goroutine per call, and a
// call that fails makes bbolt roll back and re-run the whole batch. See
// docs/bolt-store.md for the numbers.
func (l *Log) batcher() {
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			l.flush()
			return
		}
		if l.batchDelay > 0 {
			l.gather()
		}
		l.flush()
	}
}

// gather waits up to BatchDelay for MaxBatch appends to be queued.
func (l *Log) gather() {
	timer := time.NewTimer(l.batchDelay)
	defer timer.Stop()
	for {
		l.mu.Lock()
		n := len(l.queue)
		l.mu.Unlock()
		if n >= l.maxBatch {
			return
		}
		select {
		case <-l.kick:
		case <-timer.C:
			return
		case <-l.stop:
			return
		}
	}
}

// flush commits batches until the queue is empty.
func (l *Log) flush() {
	var batch []*request
	for {
		batch = l.take(batch[:0])
		if len(batch) == 0 {
			return
		}
		l.commit(batch)
		clear(batch)
	}
}

// take moves up to MaxBatch queued requests that were not canceled into
// batch.
func (l *Log) take(batch []*request) []*request {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.queue {
		n++
		if r.canceled {
			continue
		}
		r.taken = true
		batch = append(batch, r)
		if len(batch) == l.maxBatch {
			break
		}
	}
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	return batch
}

// commit stores batch in one transaction, each entry in the bucket of its
// policy, deleting what falls beyond each policy's MaxEntries; then it hands
// the entries to the followers and releases each request's Append.
func (l *Log) commit(batch []*request) {
	nanos := max(l.now().UnixNano(), l.lastNanos)
	seq := l.head
	l.countMu.Lock()
	counts := slices.Clone(l.counts)
	err := l.db.Update(func(tx *bbolt.Tx) error {
		// bbolt keeps the key and value slices until the commit; the arena
		// is only appended to, so earlier slices stay intact.
		arena := l.arena[:0]
		for _, r := range batch {
			seq++
			r.entry = r.in
			r.entry.ID = store.ID{Major: l.epoch, Minor: seq}
			p := &l.policies[r.policy]
			b, err := p.bucket(tx)
			if err != nil {
				return err
			}
			if p.MaxEntries == 0 {
				if err := evict(b, seq); err != nil {
					return err
				}
				continue
			}
			// Keys only ever grow: fill pages instead of splitting them in half.
			b.FillPercent = 0.95
			start := len(arena)
			arena = appendKey(arena, seq)
			k := arena[start:len(arena):len(arena)]
			start = len(arena)
			arena = appendValue(arena, r.in, nanos)
			if err := b.Put(k, arena[start:len(arena):len(arena)]); err != nil {
				return fmt.Errorf("put entry %d-%d: %w", l.epoch, seq, err)
			}
			if l.counts[r.policy], err = p.trim(b, l.counts[r.policy]+1); err != nil {
				return err
			}
		}
		if cap(arena) <= 1<<20 {
			l.arena = arena // keep a modest buffer for the next batch
		}
		return nil
	})
	if err != nil {
		copy(l.counts, counts)
	}
	l.countMu.Unlock()
	if err == nil {
		l.lastNanos, l.head = nanos, seq
	} else {
		err = fmt.Errorf("commit %d entries: %w", len(batch), err)
	}
	t := time.Unix(0, nanos)
	for _, r := range batch {
		if err != nil {
			r.entry, r.err = store.Entry{}, err
			l.transport.Cancel()
		} else {
			r.entry.Time = t
			l.transport.Put(r.entry)
		}
		close(r.done)
	}
}

// Close commits the appends already accepted, hands them to the followers,
// stops the log's goroutines, ends running Follow iterations and closes the
// file. Afterwards Append, Read, Follow and Ping fail with errors wrapping
// [store.ErrClosed], and Follow iterations yield such an error and end,
// as do Appends waiting for room. Close is idempotent: later calls wait
// for the first to finish and return nil. It returns an error when closing
// the file fails.
func (l *Log) Close() (err error) {
	l.closeOnce.Do(func() { err = l.close() })
	return err
}

func (l *Log) close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
	l.transport.Close()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %q: %w", l.path, err)
	}
	return nil
}

// Ping reports whether the log can be used: nil while it is open, an error
// wrapping [store.ErrClosed] after [Log.Close], or the error of a read
// transaction on the file.
func (l *Log) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: ping: %w", err)
	}
	if l.isClosed() {
		return fmt.Errorf("bolt: ping: %w", store.ErrClosed)
	}
	err := l.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(metaBucket) == nil {
			return fmt.Errorf("no %q bucket: %w", metaBucket, ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: ping: %w", closedErr(err))
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// closedErr maps bbolt's error for a closed database to [store.ErrClosed].
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w (%w)", store.ErrClosed, err)
	}
	return err
}
