package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/store"
)

// Read returns a page of history after after: see [store.Log.Read]. The
// log keeps one history for every topic.
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (store.Page, error) {
	return wake.ReadPage(ctx, after, q, l.After)
}

// After yields, in log order, the entries kept after the one with ID after,
// up to the newest entry when After was called (XINFO STREAM's
// last-generated-id, read by the call); the zero ID yields all that is
// kept. Entries are read with XRANGE, 256 at a time. See [store.Log] for
// the contract.
//
// Errors: after beyond the newest ID the stream generated gives one error
// wrapping [store.ErrUnknownID]; after older than the newest trimmed entry
// gives one wrapping [store.ErrEvicted] (the oldest entry kept names the
// one before it, so the ID of the newest trimmed entry still resumes), and so does reaching entries that
// were trimmed while the iteration was paused. Redis failing gives an error
// wrapping [store.ErrUnavailable]; ctx ending, one wrapping ctx.Err(); after
// [Log.Close], one wrapping [store.ErrClosed]. Iteration ends after any
// error.
func (l *Log) After(ctx context.Context, after store.ID) iter.Seq2[store.Entry, error] {
	op := "after " + after.String()
	if l.isClosed() {
		return fail(fmt.Errorf("redis: %s: %w", op, store.ErrClosed))
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("redis: %s: %w", op, err))
	}
	info, err := l.info(ctx, l.rdb)
	if err != nil {
		return fail(l.fail(op, err))
	}
	head := info.last
	if !after.IsZero() {
		switch {
		case after.Compare(head) > 0:
			return fail(fmt.Errorf("redis: %s: newest in stream %q is %v: %w", op, l.stream, head, store.ErrUnknownID))
		case info.evicted(after):
			return fail(fmt.Errorf("redis: %s: stream %q trimmed up to %v: %w", op, l.stream, info.newestEvicted(), store.ErrEvicted))
		}
	}
	return func(yield func(store.Entry, error) bool) {
		cursor := after
		for cursor.Compare(head) < 0 {
			if l.isClosed() {
				yield(store.Entry{}, fmt.Errorf("redis: %s: %w", op, store.ErrClosed))
				return
			}
			if err := ctx.Err(); err != nil {
				yield(store.Entry{}, fmt.Errorf("redis: %s: %w", op, err))
				return
			}
			entries, missed, err := l.chunk(ctx, l.rdb, cursor, head.String(), afterChunk)
			if err != nil {
				yield(store.Entry{}, l.fail(op, err))
				return
			}
			if !missed.IsZero() {
				yield(store.Entry{}, fmt.Errorf("redis: %s: entries after %v up to %v were trimmed before they were read: %w", op, cursor, missed, store.ErrEvicted))
				return
			}
			for _, e := range entries {
				if !yield(e, nil) {
					return
				}
			}
			if len(entries) < afterChunk {
				return
			}
			cursor = entries[len(entries)-1].ID
		}
	}
}

// chunk reads up to n entries after cursor and up to end (a stream ID, or
// "+") from c. A nonzero missed reports that entries right after cursor,
// up to missed (the newest trimmed), were trimmed; the entries returned
// then start at the oldest kept. A zero cursor reads from the start and
// misses nothing.
//
// The common case takes one XRANGE from cursor inclusive: when cursor's own
// entry is still there, nothing after it was trimmed. Otherwise XINFO STREAM
// and XRANGE run in one MULTI, and the oldest entry's fieldPrev decides.
func (l *Log) chunk(ctx context.Context, c goredis.Cmdable, cursor store.ID, end string, n int64) (entries []store.Entry, missed store.ID, err error) {
	if cursor.IsZero() {
		msgs, err := c.XRangeN(ctx, l.stream, "-", end, n).Result()
		if err != nil {
			return nil, store.ID{}, err
		}
		entries, err = decodeAll(msgs)
		return entries, store.ID{}, err
	}
	start := cursor.String()
	msgs, err := c.XRangeN(ctx, l.stream, start, end, n+1).Result()
	if err != nil {
		return nil, store.ID{}, err
	}
	if len(msgs) > 0 && msgs[0].ID == start {
		entries, err = decodeAll(msgs[1:])
		return entries, store.ID{}, err
	}
	var infoCmd *goredis.XInfoStreamCmd
	var rangeCmd *goredis.XMessageSliceCmd
	_, err = c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		infoCmd = p.XInfoStream(ctx, l.stream)
		rangeCmd = p.XRangeN(ctx, l.stream, "("+start, end, n)
		return nil
	})
	if err != nil && (infoCmd == nil || !isNoSuchKey(infoCmd.Err()) || rangeCmd.Err() != nil) {
		return nil, store.ID{}, err
	}
	info, err := parseInfo(infoCmd)
	if err != nil {
		return nil, store.ID{}, err
	}
	msgs, err = rangeCmd.Result()
	if err != nil {
		return nil, store.ID{}, err
	}
	if entries, err = decodeAll(msgs); err != nil || !info.evicted(cursor) {
		return entries, store.ID{}, err
	}
	return entries, info.newestEvicted(), nil
}

func decodeAll(msgs []goredis.XMessage) ([]store.Entry, error) {
	entries := make([]store.Entry, 0, len(msgs))
	for _, m := range msgs {
		e, err := decode(m)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Follow yields, in log order and exactly once each, every entry appended
// to the stream (by any node) after Follow was called, until ctx ends; then
// the iteration ends without an error. The call resolves the starting point
// to the stream's last generated ID; each range over the returned sequence
// starts from there. See [store.Log] for the contract.
//
// Each iteration reads with XRANGE and, when it has caught up, waits with
// XREAD BLOCK on a connection of its own, which ctx ending or [Log.Close]
// interrupts. When Redis fails, it yields an error wrapping
// [store.ErrUnavailable], waits (50ms doubling up to Options.Backoff) and
// tries again from the last entry it yielded, for as long as ctx lasts. If
// Redis cannot be reached when Follow is called, the iteration yields that
// error first and starts from the last ID once Redis answers. A follower so
// slow that entries it has not read were trimmed gets an error wrapping
// [store.ErrEvicted] and goes on with the oldest entry kept. After
// [Log.Close], the iteration yields an error wrapping [store.ErrClosed] and
// ends.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	if l.isClosed() {
		return fail(fmt.Errorf("redis: follow: %w", store.ErrClosed))
	}
	if ctx.Err() != nil {
		return func(func(store.Entry, error) bool) {}
	}
	info, startErr := l.info(ctx, l.rdb)
	return func(yield func(store.Entry, error) bool) {
		if ctx.Err() != nil {
			return
		}
		r := &reader{l: l}
		if !l.addReader(r) {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return
		}
		defer l.removeReader(r)
		stop := context.AfterFunc(ctx, r.kick)
		defer stop()
		l.follow(ctx, r, yield, info.last, startErr)
	}
}

// follow is the loop of one Follow iteration. startErr is the error that
// kept Follow from resolving the starting point, if one did.
func (l *Log) follow(ctx context.Context, r *reader, yield func(store.Entry, error) bool, cursor store.ID, startErr error) {
	resolved := startErr == nil
	var delay time.Duration
	failed := false
	// retry yields err, then waits before the next attempt; it reports
	// whether to go on.
	retry := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if l.isClosed() {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return false
		}
		r.reset()
		delay = min(max(2*delay, minBackoff), l.backoff)
		if !failed {
			l.logger.LogAttrs(ctx, slog.LevelWarn, "redis store: follow lost Redis; retrying",
				slog.String("stream", l.stream), slog.String("after", cursor.String()), slog.Any("error", err))
		}
		failed = true
		if !yield(store.Entry{}, l.fail("follow after "+cursor.String(), err)) {
			return false
		}
		wait := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-l.done:
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return false
		}
	}
	if !resolved && !retry(startErr) {
		return
	}
	for {
		if ctx.Err() != nil {
			return
		}
		if l.isClosed() {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return
		}
		c, err := r.conn(ctx)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if !resolved {
			info, err := l.info(ctx, c)
			if err != nil {
				if !retry(err) {
					return
				}
				continue
			}
			cursor, resolved = info.last, true
		}
		entries, missed, err := l.chunk(ctx, c, cursor, "+", followChunk)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if failed {
			failed, delay = false, 0
			l.logger.LogAttrs(ctx, slog.LevelInfo, "redis store: follow reached Redis again",
				slog.String("stream", l.stream), slog.String("after", cursor.String()))
		}
		if !missed.IsZero() {
			err := fmt.Errorf("redis: follow: entries after %v up to %v in stream %q were trimmed before they were read: %w", cursor, missed, l.stream, store.ErrEvicted)
			if missed.Compare(cursor) > 0 {
				cursor = missed
			}
			if !yield(store.Entry{}, err) {
				return
			}
		}
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
			cursor = e.ID
		}
		if len(entries) == followChunk || !missed.IsZero() {
			continue // there may be more right away
		}
		if err := r.wait(ctx, c, cursor); err != nil && !retry(err) {
			return
		}
	}
}

// reader is the state of one running Follow iteration: its dedicated
// connection, and what interrupts the XREAD BLOCK it may be waiting in.
type reader struct {
	l        *Log
	blocking atomic.Bool // in wait, between its last check and XREAD's return

	mu      sync.Mutex
	c       *goredis.Conn // dedicated connection; nil until first used, or after a failure
	id      int64         // CLIENT ID of c
	exiting bool          // removeReader was called: kick starts nothing
	wg      sync.WaitGroup
}

// conn returns what the iteration sends its commands to: its dedicated
// connection when the client gives one, else the shared client.
func (r *reader) conn(ctx context.Context) (goredis.Cmdable, error) {
	client, ok := r.l.rdb.(*goredis.Client)
	if !ok {
		return r.l.rdb, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		return r.c, nil
	}
	c := client.Conn()
	id, err := c.ClientID(ctx).Result()
	if err != nil {
		c.Close()
		return nil, err
	}
	r.c, r.id = c, id
	return c, nil
}

// reset drops the dedicated connection after a failure, so the next
// attempt gets a fresh one.
func (r *reader) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		r.c.Close()
		r.c, r.id = nil, 0
	}
}

// wait blocks until the stream has entries after cursor, Block passes, or
// kick interrupts it.
func (r *reader) wait(ctx context.Context, c goredis.Cmdable, cursor store.ID) error {
	block := r.l.block
	if _, ok := c.(*goredis.Conn); !ok {
		block = min(block, time.Second) // nothing can interrupt it
	}
	r.blocking.Store(true)
	defer r.blocking.Store(false)
	if ctx.Err() != nil || r.l.isClosed() {
		return nil
	}
	err := c.XRead(ctx, &goredis.XReadArgs{
		Streams: []string{r.l.stream, cursor.String()},
		Count:   1,
		Block:   block,
	}).Err()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	return err
}

// kick interrupts the XREAD BLOCK the iteration is in or about to send, with
// CLIENT UNBLOCK from the shared client, retried until Redis reports the
// connection unblocked or the iteration leaves wait. It returns at once; the
// work runs in a goroutine that removeReader waits for.
func (r *reader) kick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exiting || r.c == nil {
		return
	}
	r.wg.Go(func() {
		for r.blocking.Load() {
			r.mu.Lock()
			id := r.id
			r.mu.Unlock()
			if id == 0 {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n, err := r.l.rdb.ClientUnblock(ctx, id).Result()
			cancel()
			if err != nil || n == 1 {
				return
			}
			time.Sleep(5 * time.Millisecond) // XREAD not arrived yet
		}
	})
}

func (l *Log) addReader(r *reader) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.readers[r] = struct{}{}
	return true
}

// removeReader ends r: it waits for a kick in progress and closes r's
// connection.
func (l *Log) removeReader(r *reader) {
	l.mu.Lock()
	delete(l.readers, r)
	l.mu.Unlock()
	r.mu.Lock()
	r.exiting = true
	r.mu.Unlock()
	r.wg.Wait()
	r.reset()
}

// fail returns a sequence that yields err alone.
func fail(err error) iter.Seq2[store.Entry, error] {
	return func(yield func(store.Entry, error) bool) {
		yield(store.Entry{}, err)
	}
}
